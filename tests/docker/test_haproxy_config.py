"""The haproxy.cfg the operator renders for the official HAProxy image passes `haproxy -c`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from labelhive_operator.builders import web
from labelhive_operator.spec import Project

ROOT = Path(__file__).resolve().parents[2]


def project(example: str) -> Project:
    body = yaml.safe_load((ROOT / "operator" / "examples" / f"{example}.yaml").read_text())
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    return Project.from_body(body)


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_haproxy_accepts_the_rendered_config(tmp_path: Path, example: str) -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(haproxy).exists(), "haproxy missing: scripts/install-system-deps installs it"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(web.haproxy_config(project(example)))
    result = subprocess.run(
        [haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_check_fails_on_a_broken_config(tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(web.haproxy_config(project("minimal")) + "  bogus-directive on\n")
    result = subprocess.run(
        [haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
