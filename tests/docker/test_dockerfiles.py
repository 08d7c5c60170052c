"""What the Dockerfiles promise and what the rest of the project expects of the images."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from labelhive_operator import settings
from labelhive_operator.builders import common

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
APP = DOCKER / "app.Dockerfile"
OPERATOR = DOCKER / "operator.Dockerfile"
#: where `labelhive serve --with-proxy` finds the sidecar's configuration in the app image
HAPROXY_COPY = "haproxy/haproxy.cfg /etc/labelhive/haproxy.cfg"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """Return ``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


@pytest.mark.parametrize("dockerfile", [APP, OPERATOR], ids=lambda p: p.name)
def test_multi_stage_pinned_non_root_no_healthcheck(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    bases = [args for word, args in steps if word == "FROM"]
    assert bases == ["${BASE} AS builder", "${BASE}"]
    # the base is a build argument (scripts/build-images passes a Debian one where no registry is
    # reachable) declared before the first FROM; its default is a full version tag (patch release
    # and Debian release): never `latest`, never a minor
    assert steps[0][0] == "ARG"
    default = steps[0][1].removeprefix("BASE=")
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+", default), steps[0]
    # the classic builder builds them: no BuildKit front-end to fetch from a registry
    assert not dockerfile.read_text().startswith("# syntax=")
    final = final_stage(dockerfile)
    assert ("USER", f"{common.APP_UID}:{common.APP_UID}") in final
    assert all(word != "HEALTHCHECK" for word, _ in steps)
    # only the virtualenv and the SBOM file cross into the final stage: no sources, no build
    # tools, no pip cache, not the SBOM tool (plus, in the app image, the one HAProxy
    # configuration file)
    copies = [args for word, args in final if word == "COPY"]
    copies = [c for c in copies if not (dockerfile == APP and c == HAPROXY_COPY)]
    venv, sbom = copies
    assert venv.startswith("--from=builder /opt/") and "sbom" not in venv
    (label,) = re.findall(r'org\.labelhive\.sbom="([^"]+)"', dockerfile.read_text())
    assert re.fullmatch(
        r"--from=builder /sbom/[a-z-]+\.cdx\.json /usr/share/sbom/[a-z-]+\.cdx\.json", sbom
    )
    assert sbom.split()[-1] == label
    runs = " ".join(args for word, args in final if word == "RUN")
    assert "pip" not in runs and "apt-get" not in runs
    builder_runs = [a for w, a in steps[: len(steps) - len(final)] if w == "RUN" and "pip" in a]
    assert builder_runs and all("--no-cache-dir" in a for a in builder_runs)
    # an offline install from the wheel directory when WHEELS names one, the index otherwise
    install, sbom_tool = builder_runs
    assert 'if [ -n "$WHEELS" ]; then set -- --no-index --find-links "$WHEELS"; fi' in install
    # the SBOM tool from its own wheels (resolved apart), into its own virtualenv
    assert 'set -- --no-index --find-links "$WHEELS/sbom"; fi' in sbom_tool
    assert "python3 -m venv /opt/sbom-tool" in sbom_tool
    assert "-r docker/sbom-requirements.txt" in sbom_tool and "docker/sbom.py" in sbom_tool
    assert ("ARG", "WHEELS=") in steps[: len(steps) - len(final)]
    assert "python3 -m venv" in " ".join(a for w, a in steps if w == "RUN")
    assert f"--uid {common.APP_UID}" in runs and f"--gid {common.APP_UID}" in runs


def test_the_app_image_runs_the_labelhive_command() -> None:
    # the operator's containers set command: [labelhive] and pass the role as args
    final = dict(final_stage(APP))
    assert final["ENTRYPOINT"] == '["labelhive"]'
    assert "labelhive" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_the_app_image_carries_the_haproxy_configuration() -> None:
    final = final_stage(APP)
    assert ("COPY", HAPROXY_COPY) in final
    # root-owned: the app's user (10001) can read it, not rewrite it
    assert not [a for w, a in final if w == "COPY" and "--chown" in a]
    # the place `labelhive serve --with-proxy` looks when there is no checkout around it
    proxy_source = (ROOT / "app" / "labelhive" / "storage" / "proxy.py").read_text()
    assert 'Path("/etc/labelhive/haproxy.cfg")' in proxy_source
    assert ("COPY", HAPROXY_COPY) not in final_stage(OPERATOR)


def test_the_operator_image_runs_what_the_chart_runs() -> None:
    final = dict(final_stage(OPERATOR))
    assert final["ENTRYPOINT"] == '["labelhive-operator"]' and final["CMD"] == '["run"]'
    deployment = (ROOT / "charts/labelhive-operator/templates/deployment.yaml").read_text()
    assert "command: [labelhive-operator]" in deployment and "args: [run]" in deployment
    values = yaml.safe_load((ROOT / "charts/labelhive-operator/values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == common.APP_UID


def test_operator_requirements_match_the_operator_extra() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["operator"]
    lines = (DOCKER / "operator-requirements.txt").read_text().splitlines()
    wanted = {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}
    assert wanted <= set(extra)
    # every module the operator imports at run time is covered
    names = {re.split(r"[<>=\[]", w)[0].lower() for w in wanted}
    assert {"kopf", "kubernetes", "pydantic", "pyyaml"} <= names


def test_the_build_context_lets_in_what_the_dockerfiles_copy() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = [ln[1:].rstrip("/") for ln in lines if ln.startswith("!")]
    # everything else is left out
    assert "*" in lines
    # the builder stages copy the whole (allowlisted) context: the distribution's sources, the
    # operator's requirements, the HAProxy file, and the wheel directory of scripts/build-images
    assert set(allowed) == {
        "pyproject.toml",
        "README.md",
        "app",
        "operator",
        "docker/operator-requirements.txt",
        "docker/sbom-requirements.txt",
        "docker/sbom.py",
        "haproxy/haproxy.cfg",
        "build/wheels",
    }
    for dockerfile in (APP, OPERATOR):
        copies = [a for w, a in instructions(dockerfile) if w == "COPY"]
        assert copies[0] == ". ."
        for args in copies[1:]:
            if not args.startswith("--from"):
                *sources, _ = args.split()
                for src in sources:
                    assert src.rstrip("/") in allowed, (dockerfile.name, src)
                    assert (ROOT / src).exists(), src
    assert "-r docker/operator-requirements.txt" in OPERATOR.read_text()
    build_images = (ROOT / "scripts" / "build-images").read_text()
    assert "WHEELS=build/wheels" in build_images


def test_make_images_builds_both_with_the_names_the_chart_and_operator_use() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^images:\n\t.*scripts/build-images app operator$", makefile, re.M)
    build_images = (ROOT / "scripts" / "build-images").read_text()
    assert '-f "docker/$name.Dockerfile"' in build_images
    assert f"APP_IMAGE ?= {settings.DEFAULT_APP_REPOSITORY}:$(VERSION)" in makefile
    values = yaml.safe_load((ROOT / "charts/labelhive-operator/values.yaml").read_text())
    assert f"OPERATOR_IMAGE ?= {values['image']['repository']}:$(VERSION)" in makefile


def test_the_sbom_tool_is_the_same_for_the_images_and_the_tests() -> None:
    lines = (DOCKER / "sbom-requirements.txt").read_text().splitlines()
    (wanted,) = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    test_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["test"]
    assert wanted in test_extra
    assert wanted.startswith("cyclonedx-bom")
