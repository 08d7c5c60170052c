"""The images `pip install .` the project (not editable): the wheel carries every package file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "app" / "labelhive"


def test_the_wheel_holds_migrations_templates_and_static(tmp_path: Path) -> None:
    # exactly the image's build context (.dockerignore's allowlist)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("app", "operator"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("labelhive-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # every file of the app package: code, migrations, templates, static, demo data
    expected = {
        "labelhive/" + p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert any(n.startswith("labelhive/migrations/versions/") for n in expected)
    assert any(n.startswith("labelhive/templates/") for n in expected)
    assert expected - names == set()
    assert "labelhive_operator/cli.py" in names
