"""``scripts/image-digests`` (run by ``scripts/build-images``): what pins each release image.

For real: a private Docker Engine (tests/common/docker.py), Debian's ``docker-registry`` on a
loopback port, and a one-file image imported into the engine (no build, no network). The
pushed digest is checked against the registry's own answer and fed to the chart.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chart.conftest import by_kind
from tests.chart.conftest import load
from tests.chart.conftest import render
from tests.common.docker import DockerEngine
from tests.common.docker import docker_engine
from tests.common.processes import free_port
from tests.common.processes import port_open
from tests.common.processes import stop_pid
from tests.common.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "image-digests"
BUILD_IMAGES = ROOT / "scripts" / "build-images"
SIGN_IMAGES = ROOT / "scripts" / "sign-images"
LINE = re.compile(r"^image-digests: (\S+) (\S+) (\S+) (sha256:[0-9a-f]{64})$")
MANIFESTS = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    with docker_engine() as e:
        yield e


@pytest.fixture
def imported(engine: DockerEngine) -> Iterator[list[str]]:
    """Tags the test imports; removed afterwards (the engine's data-root outlives the run)."""
    tags: list[str] = []
    yield tags
    assert engine.client is not None
    for tag in tags:
        engine.client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry (the CNCF distribution registry) on a free loopback port."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry missing: run `make test` (scripts/install-system-deps)"
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    with open(root / "registry.log", "wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        wait_for(lambda: port_open(port), 30, "docker-registry")
        yield f"127.0.0.1:{port}"
    finally:
        stop_pid(proc)


def one_file_image(engine: DockerEngine, tag: str, content: bytes) -> str:
    """Import a one-file image under ``tag``; return its image id."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("release")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    repository, version = tag.rsplit(":", 1)
    assert engine.client is not None
    engine.client.api.import_image_from_data(data.getvalue(), repository=repository, tag=version)
    return str(engine.client.images.get(tag).id)


def run(engine: DockerEngine, *pairs: str, push: bool = False) -> dict[str, tuple[str, ...]]:
    env = {**os.environ, "DOCKER_HOST": engine.host}
    env.pop("PUSH", None)
    if push:
        env["PUSH"] = "1"
    out = subprocess.run(
        [str(SCRIPT), *pairs], env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    rows = {}
    for line in out.splitlines():
        match = LINE.match(line)
        assert match, f"not machine-readable: {line!r}"
        rows[match[1]] = match.groups()[1:]
    return rows


def registry_digest(registry: str, repository: str, reference: str) -> str:
    req = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{reference}",
        method="HEAD",
        headers={"Accept": MANIFESTS},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(resp.headers["Docker-Content-Digest"])


def test_one_line_per_image_and_the_registry_digest_after_a_push(
    engine: DockerEngine, registry: str, imported: list[str]
) -> None:
    app, op = f"{registry}/labelhive/labelhive:0.1.0", f"{registry}/labelhive/operator:0.2.0"
    imported += [app, op]
    ids = {
        "app": one_file_image(engine, app, b"app 0.1.0"),
        "operator": one_file_image(engine, op, b"operator 0.2.0"),
    }
    # not pushed: no registry digest yet, and the line says so instead of passing the id off
    local = run(engine, f"app={app}", f"operator={op}")
    assert local == {"app": (app, "-", ids["app"]), "operator": (op, "-", ids["operator"])}
    pushed = run(engine, f"app={app}", f"operator={op}", push=True)
    for name, tag in (("app", app), ("operator", op)):
        got_tag, pinned, image_id = pushed[name]
        assert (got_tag, image_id) == (tag, ids[name])
        repository, digest = pinned.split("@")
        assert repository == tag.rsplit(":", 1)[0]
        path = repository.split("/", 1)[1]
        # the digest is the registry's own name of what the tag points to, and it resolves
        assert registry_digest(registry, path, tag.rsplit(":", 1)[1]) == digest
        assert registry_digest(registry, path, digest) == digest
        assert digest != image_id  # a config digest would not resolve in the registry
    # what the line pins is what the chart runs
    op_repo, op_digest = pushed["operator"][1].split("@")
    _, app_digest = pushed["app"][1].split("@")
    values = {
        "labelhive-operator": {
            "image": {"repository": op_repo, "digest": op_digest},
            "appImage": {"digest": app_digest},
        }
    }
    (deployment,) = [
        d
        for d in by_kind(render(load(), values), "Deployment")
        if "operator" in d["metadata"]["name"]
    ]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == pushed["operator"][1]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LABELHIVE_OPERATOR_APP_DIGEST"] == app_digest


def test_an_unknown_image_fails_with_a_sentence(engine: DockerEngine) -> None:
    env = {**os.environ, "DOCKER_HOST": engine.host}
    result = subprocess.run(
        [str(SCRIPT), "app=labelhive-test/absent:0"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "image-digests: no image labelhive-test/absent:0"


def test_build_images_reports_the_release_images_only() -> None:
    # build-images runs the report on both ways out (all up to date, or after building), for
    # app and operator only: PUSH=1 must never push a test stand-in to a public registry
    text = BUILD_IMAGES.read_text()
    assert text.count("report_digests\n") == 2
    assert 'case "$name" in app | operator) pairs+=' in text


# --- scripts/sign-images: what the release workflow signs ------------------------------------
# cosign itself cannot run here: it is in neither Debian nor PyPI, and keyless signing needs
# GitHub's OIDC token, Fulcio and Rekor. A stand-in on COSIGN records each call, so these tests
# cover which digests are signed and attested with which SBOM, and the refusals; not the
# signatures themselves, which the release workflow verifies right after signing.
IDENTITY = "https://github.com/labelhive/labelhive/.github/workflows/release.yml@refs/tags/v0.3.0"
ISSUER = "https://token.actions.githubusercontent.com"
STAND_IN = """#!/bin/sh
echo "$*" >>"$COSIGN_CALLS"
"""


def sign_images(lines: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run scripts/sign-images on ``lines`` with the stand-in; return the run and its calls."""
    cosign = tmp_path / "cosign"
    cosign.write_text(STAND_IN)
    cosign.chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    listing = tmp_path / "images.txt"
    listing.write_text(lines)
    env = {
        **os.environ,
        "COSIGN": str(cosign),
        "COSIGN_CALLS": str(calls),
        "SBOM_DIR": str(tmp_path / "sbom"),
        "CERTIFICATE_IDENTITY": IDENTITY,
        "CERTIFICATE_OIDC_ISSUER": ISSUER,
    }
    env.pop("COSIGN_KEY", None)
    result = subprocess.run(
        [str(SIGN_IMAGES), str(listing)], env=env, capture_output=True, text=True, timeout=60
    )
    return result, calls.read_text().splitlines()


def release_images(
    engine: DockerEngine, registry: str, imported: list[str], version: str
) -> tuple[str, str]:
    """An app and an operator image of ``version``, tagged for ``registry``, not pushed."""
    app, op = (
        f"{registry}/labelhive/labelhive:{version}",
        f"{registry}/labelhive/operator:{version}",
    )
    imported += [app, op]
    one_file_image(engine, app, f"app {version}".encode())
    one_file_image(engine, op, f"operator {version}".encode())
    return app, op


def write_sboms(tmp_path: Path, *names: str) -> None:
    (tmp_path / "sbom").mkdir(exist_ok=True)
    for name in names:
        (tmp_path / "sbom" / f"{name}.cdx.json").write_text('{"bomFormat": "CycloneDX"}\n')


def test_sign_images_signs_and_attests_each_pushed_digest(
    engine: DockerEngine, registry: str, imported: list[str], tmp_path: Path
) -> None:
    app, op = release_images(engine, registry, imported, "0.3.0")
    env = {**os.environ, "DOCKER_HOST": engine.host, "PUSH": "1"}
    lines = subprocess.run(
        [str(SCRIPT), f"app={app}", f"operator={op}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    write_sboms(tmp_path, "app", "operator")
    result, calls = sign_images(lines, tmp_path)
    assert result.returncode == 0, result.stderr
    identity = f"--certificate-identity {IDENTITY}"
    issuer = f"--certificate-oidc-issuer {ISSUER}"
    expected = []
    for name, tag in (("app", app), ("operator", op)):
        repository, version = tag.rsplit(":", 1)
        digest = registry_digest(registry, repository.split("/", 1)[1], version)
        pin = f"{repository}@{digest}"
        sbom = tmp_path / "sbom" / f"{name}.cdx.json"
        expected += [
            f"sign --yes {pin}",
            f"attest --yes --type cyclonedx --predicate {sbom} {pin}",
            f"verify {identity} {issuer} {pin}",
            f"verify-attestation --type cyclonedx {identity} {issuer} {pin}",
        ]
        assert f"sign-images: {name} {pin} signed" in result.stdout.splitlines()
    # by the registry's digest, never by the tag a later push could move
    assert calls == expected


def test_sign_images_signs_nothing_unless_every_image_is_pushed_with_its_sbom(
    engine: DockerEngine, registry: str, imported: list[str], tmp_path: Path
) -> None:
    app, op = release_images(engine, registry, imported, "0.4.0")
    pushed = run(engine, f"app={app}", push=True)
    local = run(engine, f"operator={op}")
    lines = (
        f"image-digests: app {app} {pushed['app'][1]} {pushed['app'][2]}\n"
        f"image-digests: operator {op} - {local['operator'][2]}\n"
    )
    write_sboms(tmp_path, "app", "operator")
    result, calls = sign_images(lines, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'sign-images: operator is in no registry ("-"): build with PUSH=1 first, nothing was signed'
    )
    assert calls == []
    # both pushed, one SBOM missing
    (tmp_path / "sbom" / "operator.cdx.json").unlink()
    pushed = run(engine, f"operator={op}", push=True)
    lines = lines.replace(f"{op} - ", f"{op} {pushed['operator'][1]} ")
    result, calls = sign_images(lines, tmp_path)
    assert result.returncode == 1
    assert "no SBOM for operator in " in result.stderr and "nothing was signed" in result.stderr
    assert calls == []
    # no line at all
    result, calls = sign_images("build-images: nothing\n", tmp_path)
    assert (result.returncode, calls) == (1, [])
    assert result.stderr.strip().startswith("sign-images: no image-digests line in ")
