"""Each release image carries a CycloneDX SBOM of exactly what it ships.

The images are the ones ``scripts/build-images`` builds (``make images``) in the private engine of
:mod:`tests.common.docker`; docker/sbom.py writes the SBOM in the builder stage. What the SBOM
says is compared with what the image holds, read by the image's own interpreter and ``dpkg``.
Built here from the Debian base; the official ``python`` base (the Dockerfiles' default, where a
registry is reachable) builds its interpreter outside ``dpkg``, which the ``cpython`` component
covers (tests/docker/test_sbom.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packaging.utils import canonicalize_name

from tests.common.docker import DockerEngine
from tests.common.docker import Images
from tests.pods.test_images import run

ROOT = Path(__file__).resolve().parents[2]
# the first test may build every image (minutes on a cold cache)
pytestmark = pytest.mark.timeout(1800)

IMAGES = {
    # name in scripts/build-images: (the image's title, its virtualenv)
    "app": ("labelhive", "/opt/labelhive"),
    "operator": ("labelhive-operator", "/opt/labelhive-operator"),
}
DISTRIBUTIONS = (
    "import importlib.metadata as m, json, platform; print(json.dumps({"
    "'python': platform.python_version(),"
    "'dists': sorted([d.metadata['Name'], d.version] for d in m.distributions())}))"
)
DPKG = "dpkg-query -W -f '${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n'"


def tag_of(images: Images, name: str) -> str:
    return images.app if name == "app" else images.operator


def sbom_in(engine: DockerEngine, tag: str) -> str:
    labels = engine.client.images.get(tag).attrs["Config"]["Labels"]
    code, out = run(engine, tag, [labels["org.labelhive.sbom"]], entrypoint=["cat"])
    assert code == 0, out
    return out


def by_purl_type(bom: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in bom["components"] if c.get("purl", "").startswith(f"pkg:{kind}/")]


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_the_sbom_lists_every_python_and_debian_package_of_the_image(
    docker_engine: DockerEngine, pod_images: Images, name: str
) -> None:
    title, venv = IMAGES[name]
    tag = tag_of(pod_images, name)
    text = sbom_in(docker_engine, tag)
    # build-images copied the same file out of the image, for the release to attach
    assert (ROOT / "build" / "sbom" / f"{name}.cdx.json").read_text() == text
    assert f"{tag} SBOM in build/sbom/{name}.cdx.json" in pod_images.report
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    version = tag.rsplit(":", 1)[1]
    assert bom["metadata"]["component"] == {
        "type": "container",
        "bom-ref": f"image:{title}@{version}",
        "name": title,
        "version": version,
    }

    code, out = run(docker_engine, tag, ["-c", DISTRIBUTIONS], entrypoint=[f"{venv}/bin/python"])
    assert code == 0, out
    held = json.loads(out)
    installed = {(canonicalize_name(n), v) for n, v in held["dists"]}
    python_components = [
        c
        for c in bom["components"]
        if not c.get("purl", "").startswith(("pkg:deb/", "pkg:generic/cpython@"))
    ]
    listed = {(canonicalize_name(c["name"]), c["version"]) for c in python_components}
    assert listed == installed
    # the image's own code is there (installed from the sources: no PyPI purl), and the SBOM tool
    # is not
    assert ("labelhive", version) in installed
    (own,) = [c for c in python_components if c["name"] == "labelhive"]
    assert "purl" not in own
    assert all(c["purl"].startswith("pkg:pypi/") for c in python_components if c is not own)
    assert not any(n.startswith("cyclonedx") for n, _ in installed)

    code, out = run(docker_engine, tag, ["-c", DPKG], entrypoint=["sh"])
    assert code == 0, out
    rows = [line.split("\t") for line in out.splitlines()]
    debs = {(n, v) for status, n, v, _arch in rows if status == "ii "}
    assert len(debs) > 50
    assert {(c["name"], c["version"]) for c in by_purl_type(bom, "deb")} == debs
    for component in by_purl_type(bom, "deb"):
        assert "distro=debian-12" in component["purl"]

    # the interpreter: a Debian package here (the Debian base), else the cpython component
    python = held["python"]
    generic = [c for c in bom["components"] if c["name"] == "cpython"]
    if generic:
        assert [c["version"] for c in generic] == [python]
    else:
        minimal = [v for n, v in debs if n.startswith("python3.") and n.endswith("-minimal")]
        assert minimal and all(v.startswith(python) for v in minimal)
