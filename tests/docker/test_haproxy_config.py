"""The operator's HAProxy ConfigMap with the sidecar's env passes `haproxy -c`, and the real
HAProxy running it is Ready only while its app backend is up and keeps the probe paths in.

The file is the project's own ``haproxy/haproxy.cfg`` (the integration tests run it for real);
here HAProxy checks it with exactly the environment the operator sets on the sidecar container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labelhive_operator.render import render_project
from tests.common.haproxy import HAProxyServer
from tests.common.haproxy import haproxy
from tests.common.processes import LabelhiveServer
from tests.common.processes import wait_for

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


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


@pytest.fixture
def sidecar_proxy(tmp_path: Path) -> Iterator[tuple[HAProxyServer, LabelhiveServer]]:
    """The real HAProxy with haproxy/haproxy.cfg in front of a real ``labelhive serve`` that is
    not started yet (embedded mode, its SQLite file under ``tmp_path``)."""
    app = LabelhiveServer({}, workers=1, threads=2, cwd=tmp_path)
    with haproxy({"S3_ENDPOINT_URL": "http://127.0.0.1:9"}, app.port) as proxy:
        try:
            yield proxy, app
        finally:
            app.stop()


def test_haproxy_health_follows_the_app_backend(
    sidecar_proxy: tuple[HAProxyServer, LabelhiveServer],
) -> None:
    proxy, app = sidecar_proxy
    health = proxy.url + "/haproxy-health"
    # the first check fails at once (nothing listens): not ready while gunicorn is down
    wait_for(lambda: status(health) == 503, 15, "/haproxy-health 503 without a backend")
    assert status(proxy.url + "/") == 503
    app.start()
    wait_for(lambda: status(health) == 200, 15, "/haproxy-health 200 with gunicorn up")
    # the Pod is Ready now: the very first request must reach gunicorn, not a 503
    assert status(proxy.url + "/healthz") == 200
    app.stop()
    wait_for(lambda: status(health) == 503, 15, "/haproxy-health 503 once gunicorn stops")


@pytest.mark.parametrize("path", ["/metrics", "/readyz", "/%6detrics", "/ready%7A"])
def test_probe_and_scrape_paths_are_not_served_through_haproxy(
    sidecar_proxy: tuple[HAProxyServer, LabelhiveServer], path: str
) -> None:
    proxy, app = sidecar_proxy
    app.start()
    wait_for(lambda: status(proxy.url + "/haproxy-health") == 200, 15, "gunicorn up")
    assert status(proxy.url + path) == 404
    assert status(proxy.url + "/healthz") == 200
    # gunicorn's own port still answers them (the kubelet and Prometheus go there)
    assert status(app.url + path) == 200


# --- the S3 prefix: only well-formed presigned URLs of an object in an allowed bucket ---------

SIGNED = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=" + "ab" * 32
)
PARAMS = [p.partition("=")[0] for p in SIGNED.split("&")]


def raw_get(base_port: int, target: str) -> tuple[int, str]:
    """GET with the request target exactly as given (no client-side normalisation)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", base_port, timeout=5)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def hostile_s3_targets(bucket: str, key: str, signed: str) -> dict[str, str]:
    """Requests that must not reach S3, built around a genuine object path and signed query."""
    without = {
        f"missing {name}": "&".join(p for p in signed.split("&") if not p.startswith(name + "="))
        for name in [p.partition("=")[0] for p in signed.split("&")]
    }
    return {
        "semicolon": f"/s3/{bucket}/{key}?a=;X-Amz-Signature={'0' * 64}"
        "&b=;X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "question mark": f"/s3/{bucket}/{key}?a=?X-Amz-Signature={'0' * 64}"
        "&b=?X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "semicolon after a signed query": f"/s3/{bucket}/{key}?{signed}&a=;b",
        "second question mark": f"/s3/{bucket}/{key}?{signed}&a=?b",
        "duplicated signature": f"/s3/{bucket}/{key}?{signed}&X-Amz-Signature={'0' * 64}",
        "duplicated date, other case": f"/s3/{bucket}/{key}?{signed}&x-amz-date=20260101T000000Z",
        "encoded parameter name": f"/s3/{bucket}/{key}?{signed}&X%2DAmz-Signature={'0' * 64}",
        "wrong algorithm": f"/s3/{bucket}/{key}?"
        + signed.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256X"),
        "lower-case names": f"/s3/{bucket}/{key}?{signed.lower()}",
        **{name: f"/s3/{bucket}/{key}?{query}" for name, query in without.items()},
        "another bucket": f"/s3/other-bucket/{key}?{signed}",
        "a bucket whose name has the allowed one as prefix": f"/s3/{bucket}x/{key}?{signed}",
        "dot segments": f"/s3/{bucket}/../other-bucket/{key}?{signed}",
        "encoded dot segments": f"/s3/{bucket}/%2e%2e/other-bucket/{key}?{signed}",
        "bucket listing": f"/s3/{bucket}/?{signed}",
        "bucket listing without slash": f"/s3/{bucket}?{signed}",
        "service listing": f"/s3/?{signed}",
    }


def test_the_sidecar_knows_the_buckets() -> None:
    config = {"S3_ENDPOINT_URL": "http://127.0.0.1:9", "S3_BUCKET": "images"}
    with haproxy({**config, "S3_BUCKETS": "more.images"}, 9) as proxy:
        assert proxy.env["S3_PROXY_BUCKETS"] == "images more.images"


def test_without_buckets_the_s3_prefix_is_closed() -> None:
    # HAProxy's own refusal: the request never leaves for the (absent) endpoint
    with haproxy({"S3_ENDPOINT_URL": "http://127.0.0.1:9"}, 9) as px:
        assert "S3_PROXY_BUCKETS" not in px.env
        code, body = raw_get(px.port, f"/s3/images/pets/a.png?{SIGNED}")
        assert (code, "administrative rules" in body) == (403, True)
