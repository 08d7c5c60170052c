"""docker/sbom.py, the builder stages' SBOM step, on its own (no image, no Docker).

tests/pods/test_sbom.py checks the SBOMs of the built images against what the images hold; this
checks the cases a Debian-based build does not reach: an interpreter built outside ``dpkg`` (the
official ``python`` image) and a refused SBOM.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "sbom.py"


@pytest.fixture(scope="module")
def sbom() -> ModuleType:
    # loaded from its path: "docker" is also the name of the Docker SDK's package
    spec = importlib.util.spec_from_file_location("labelhive_image_sbom", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def venv_bom(tmp_path: Path) -> Path:
    """What ``cyclonedx-py environment`` writes, for this test run's own interpreter."""
    out = tmp_path / "venv.cdx.json"
    subprocess.run(
        [
            str(Path(sys.executable).with_name("cyclonedx-py")),
            "environment",
            "--output-reproducible",
            "--no-validate",
            "-o",
            str(out),
            sys.executable,
        ],
        check=True,
        timeout=300,
    )
    return out


def run_script(source: Path, target: Path, version: str) -> subprocess.CompletedProcess[str]:
    """docker/sbom.py as the builder stage runs it, for this test run's interpreter."""
    args = ["--name", "labelhive", "--version", version, "--python", sys.executable]
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(source), str(target), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_debian_packages_get_purls_with_arch_and_distro(sbom: ModuleType) -> None:
    component = sbom.debian_component("libpq5", "15.14-0+deb12u1", "amd64", "debian-12")
    assert component["purl"] == (
        "pkg:deb/debian/libpq5@15.14-0%2Bdeb12u1?arch=amd64&distro=debian-12"
    )
    assert component["bom-ref"] == component["purl"]
    assert component["type"] == "library"
    assert sbom.debian_component("bash", "5.2.15-2+b8", "amd64", "debian-12")["type"] == (
        "application"
    )


def test_an_interpreter_outside_dpkg_becomes_a_cpython_component(sbom: ModuleType) -> None:
    base: dict[str, Any] = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}
    outside, inside = (
        sbom.complete(
            base,
            name="labelhive",
            version="1.2.3",
            packages=[("bash", "5.2.15-2+b8", "amd64")],
            distro="debian-12",
            python=python,
        )
        for python in (("3.11.13", False), ("3.11.2", True))
    )
    assert [c["purl"] for c in outside["components"] if c["name"] == "cpython"] == [
        "pkg:generic/cpython@3.11.13"
    ]
    assert [c["name"] for c in inside["components"]] == ["bash"]
    for bom in (outside, inside):
        assert bom["metadata"]["component"]["type"] == "container"
        text = json.dumps(bom)
        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def test_the_script_completes_cyclonedx_py_output_on_this_machine(tmp_path: Path) -> None:
    """The whole step as the builder stage runs it, on the host: a Debian machine as well."""
    target = tmp_path / "out" / "labelhive.cdx.json"
    result = run_script(venv_bom(tmp_path), target, "9.9.9")
    assert result.returncode == 0, result.stderr
    bom = json.loads(target.read_text())
    names = {c["name"] for c in bom["components"]}
    # this test run's own packages, and the host's Debian packages
    assert {"pytest", "cyclonedx-python-lib"} <= names
    assert "dpkg" in names
    assert bom["metadata"]["component"]["version"] == "9.9.9"


def test_a_bom_that_breaks_the_schema_is_refused_and_not_written(tmp_path: Path) -> None:
    source = tmp_path / "venv.cdx.json"
    # a component without its required name
    source.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "version": 1,
                "components": [{"type": "library", "version": "1"}],
            }
        )
    )
    target = tmp_path / "out.cdx.json"
    result = run_script(source, target, "1")
    assert result.returncode == 1
    assert "breaks the CycloneDX 1.6 schema" in result.stderr
    assert not target.exists()
