"""The operator's HAProxy ConfigMap with the sidecar's env passes `haproxy -c`.

The file is the project's own ``haproxy/haproxy.cfg`` (the integration tests run it for real);
here HAProxy checks it with exactly the environment the operator sets on the sidecar container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from labelhive_operator.render import render_project

ROOT = Path(__file__).resolve().parents[2]


def haproxy_binary() -> str:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(haproxy).exists(), "haproxy missing: scripts/install-system-deps installs it"
    return haproxy


def sidecar(example: str, **storage: Any) -> tuple[str, dict[str, str]]:
    """Return the ConfigMap's haproxy.cfg and the haproxy container's env for an example."""
    body = yaml.safe_load((ROOT / "operator" / "examples" / f"{example}.yaml").read_text())
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    if storage:
        body["spec"]["storage"] = {**body["spec"]["storage"], **storage}
    objs = {(o["kind"], o["metadata"]["name"]): o for o in render_project(body)}
    name = body["metadata"]["name"]
    cfg = objs[("ConfigMap", f"{name}-haproxy")]["data"]["haproxy.cfg"]
    pod = objs[("Deployment", f"{name}-web")]["spec"]["template"]["spec"]
    (container,) = [c for c in pod["initContainers"] if c["name"] == "haproxy"]
    return cfg, {e["name"]: e["value"] for e in container["env"]}


def check(tmp_path: Path, cfg: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg)
    # only the container's variables: nothing leaks in from the test's environment
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG")}
    return subprocess.run(
        [haproxy_binary(), "-c", "-f", str(path)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("example", "storage"),
    [
        ("minimal", {}),
        ("full", {}),
        ("full", {"endpointURL": "http://localstack.labelhive.svc:4566"}),
    ],
    ids=["no-s3", "vpce-tls", "http-endpoint"],
)
def test_haproxy_accepts_the_configmap_with_the_sidecar_env(
    tmp_path: Path, example: str, storage: dict[str, Any]
) -> None:
    cfg, env = sidecar(example, **storage)
    result = check(tmp_path, cfg, env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_check_fails_on_a_broken_config(tmp_path: Path) -> None:
    cfg, env = sidecar("minimal")
    result = check(tmp_path, cfg + "  bogus-directive on\n", env)
    assert result.returncode != 0


def test_haproxy_check_reads_the_sidecar_env(tmp_path: Path) -> None:
    # the env is load-bearing: drop the CA file and HAProxy refuses the TLS server line
    cfg, env = sidecar("full")
    env["S3_UPSTREAM_CA_FILE"] = str(tmp_path / "missing-ca.pem")
    result = check(tmp_path, cfg, env)
    assert result.returncode != 0
