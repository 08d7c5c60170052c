"""End-to-end on a kind cluster: the chart, the operator and the app, for real.

``tests/e2e/run.sh`` (``make e2e``) creates the cluster, builds and loads the images, installs
PostgreSQL, MinIO, the chart and the ``LabelingProject``, waits for ``condition=Ready``, then runs
this test with ``LABELHIVE_E2E=1``. Anywhere else (``make test``, a machine without Docker) it is
the one skipped test of the suite, and says why.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import csv
import io
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.kind

NS = os.environ.get("E2E_NAMESPACE", "labelhive-e2e")
PROJECT = os.environ.get("E2E_PROJECT", "e2e")
HOST = os.environ.get("E2E_HOST", "labelhive.e2e.test")
URL = os.environ.get("E2E_URL", "http://127.0.0.1:18080")
BUCKET = "labelhive-e2e"
S3_KEYS = ("e2e-access-key", "e2e-secret-key-0123456789")  # tests/e2e/manifests/deps.yaml
N_IMAGES = 6
REDUNDANCY = 2  # manifests/project.yaml spec.labeling.redundancy
LABELERS = ("alice", "bob", "carol")


def why_skip() -> str | None:
    """Return why the kind e2e cannot run here, or ``None`` when it can."""
    missing = [tool for tool in ("docker", "kind", "kubectl", "helm") if not shutil.which(tool)]
    reasons = [f"not installed: {', '.join(missing)}"] if missing else []
    if "docker" not in missing:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
        if info.returncode != 0:
            last = (info.stderr.strip().splitlines() or ["docker info failed"])[-1]
            reasons.append(f"no Docker engine ({last})")
    if os.environ.get("LABELHIVE_E2E") != "1":
        reasons.append("not started by `make e2e` (tests/e2e/run.sh sets LABELHIVE_E2E=1)")
    if reasons:
        return "kind e2e skipped: " + "; ".join(reasons) + ". See tests/e2e/README.md."
    return None


def kubectl(*args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["kubectl", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result


def secret_value(name: str, key: str) -> str:
    raw = kubectl("-n", NS, "get", "secret", name, "-o", f"jsonpath={{.data.{key}}}").stdout
    return base64.b64decode(raw).decode()


def png(rgb: tuple[int, int, int]) -> bytes:
    """Return a valid 8x8 single-colour PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * 8 for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@contextlib.contextmanager
def port_forward(namespace: str, target: str, port: int) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
    proc = subprocess.Popen(
        ["kubectl", "-n", namespace, "port-forward", target, f"{local}:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", local), 1):
                break
            time.sleep(0.5)
        yield local
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fill_private_bucket() -> None:
    import boto3

    with port_forward("e2e-deps", "svc/minio", 9000) as port:
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=S3_KEYS[0],
            aws_secret_access_key=S3_KEYS[1],
            region_name="us-east-1",
        )
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=BUCKET)  # MinIO buckets are private unless a policy says so
        for i in range(N_IMAGES):
            colour = (40 * i % 256, 200, 90)
            s3.put_object(Bucket=BUCKET, Key=f"images/{i:03d}.png", Body=png(colour))


def in_web(*command: str, env: dict[str, str] | None = None) -> str:
    prefix = ["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []
    return kubectl(
        "-n", NS, "exec", f"deploy/{PROJECT}-web", "-c", "web", "--", *prefix, *command
    ).stdout


class Site:
    """HTTP through the Ingress (the controller's hostPort, mapped by kind to 127.0.0.1)."""

    def __init__(self) -> None:
        import requests

        self.http = requests.Session()
        self.http.headers["Host"] = HOST

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(URL + path, timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.http.post(URL + path, timeout=30, **kw)


def sign_up(site: Site, name: str) -> None:
    page = site.get("/account/signup")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert token, "no CSRF token on the sign-up page"
    password = "e2e-password-123"
    done = site.post(
        "/account/signup",
        data={
            "csrf_token": token[1],
            "name": name,
            "email": f"{name}@example.com",
            "fullname": name.title(),
            "password": password,
            "confirm": password,
        },
        allow_redirects=False,
    )
    assert done.status_code == 302, done.text


def label_everything(site: Site, project: dict[str, Any], keys: dict[str, str]) -> int:
    """Every labeler claims and answers until the project has nothing left; returns answers."""
    answers = 0
    for user, key in keys.items():
        while True:
            task = site.get(
                f"/api/project/{project['short_name']}/newtask", headers={"Authorization": key}
            ).json()
            if not task:
                break
            if "image_url" in task:
                # the private image through HAProxy's /s3/ proxy, presigned for this host
                image = site.get(task["image_url"].removeprefix(URL))
                assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
            sent = site.post(
                "/api/taskrun",
                json={
                    "project_id": project["id"],
                    "task_id": task["id"],
                    "info": "circle" if user != "bob" else "square",
                },
                headers={"Authorization": key},
            )
            assert sent.status_code == 200, sent.text
            answers += 1
    return answers


def redis_master(password: str) -> str:
    out = kubectl(
        "-n",
        NS,
        "exec",
        f"{PROJECT}-sentinel-0",
        "--",
        "redis-cli",
        "-p",
        "26379",
        "--no-auth-warning",
        "-a",
        password,
        "sentinel",
        "get-master-addr-by-name",
        "mymaster",
    ).stdout.split()
    return out[0]


def kill_until_failover(pod: str, failed_over: Any, timeout: float = 180) -> None:
    """Delete the master's Pod and keep it from coming back until Sentinel names another master.

    The StatefulSet re-creates the Pod at once; back within ``downAfterMilliseconds`` it would
    still be the master and no failover would happen. Its node is cordoned meanwhile: the Pod's
    volume (kind's local-path) binds it to that node, so the new Pod stays Pending until the
    Sentinels have elected another master (bounded by ``timeout``); then the node is uncordoned.
    """
    node = kubectl("-n", NS, "get", "pod", pod, "-o", "jsonpath={.spec.nodeName}").stdout.strip()
    assert node, f"no node for Pod {pod}"
    kubectl("cordon", node)
    try:
        kubectl("-n", NS, "delete", "pod", pod, "--grace-period=0", "--force", "--wait=false")
        wait_for("Sentinel to elect a new Redis master", failed_over, timeout=timeout)
    finally:
        kubectl("uncordon", node)
    # the old master comes back as a replica of the new one
    kubectl("-n", NS, "wait", "--for=condition=Ready", f"pod/{pod}", "--timeout=180s")


def wait_for(what: str, check: Any, timeout: float = 300, every: float = 3) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = check()
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def test_end_to_end_on_kind() -> None:
    reason = why_skip()
    if reason:
        pytest.skip(reason)
    site = Site()
    assert site.get("/healthz").status_code == 200

    # sign up through the Ingress: the first account becomes the admin
    sign_up(site, "e2e-admin")

    # import the private bucket's images into the project the operator created from spec.labeling
    fill_private_bucket()
    in_web("labelhive", "import-s3", PROJECT, f"s3://{BUCKET}/images/", "--redundancy", "2")
    admin_key = secret_value(f"{PROJECT}-app-secrets", "admin-api-key")
    found = site.get(
        "/api/project",
        params={"short_name": PROJECT, "all": 1},
        headers={"Authorization": admin_key},
    ).json()
    assert len(found) == 1
    project = found[0]

    keys = {}
    for user in LABELERS:
        keys[user] = f"e2e-key-{user}-0123456789"
        in_web(
            "labelhive",
            "users",
            "create",
            user,
            "--exist-ok",
            "--api-key-from-env",
            "E2E_KEY",
            env={"E2E_KEY": keys[user]},
        )
    answered = label_everything(site, project, keys)

    # redundancy met exactly: every task has exactly REDUNDANCY answers, never more
    assert answered == N_IMAGES * REDUNDANCY
    stats = site.get(
        f"/api/project/{project['id']}", params={"stats": 1}, headers={"Authorization": admin_key}
    ).json()["stats"]
    assert (stats["n_tasks"], stats["n_completed_tasks"], stats["n_answers"]) == (
        N_IMAGES,
        N_IMAGES,
        N_IMAGES * REDUNDANCY,
    )

    # export the labeled dataset
    export = site.get(
        f"/api/project/{project['id']}/export/answers.csv", headers={"Authorization": admin_key}
    )
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == N_IMAGES * REDUNDANCY
    per_task = collections.Counter(row["task_id"] for row in rows)
    assert set(per_task.values()) == {REDUNDANCY}

    # the scale subresource: three worker Pods
    kubectl("-n", NS, "scale", f"lp/{PROJECT}", "--replicas=3")
    selector = f"app.kubernetes.io/instance={PROJECT},app.kubernetes.io/component=worker"

    def ready_workers() -> bool:
        out = kubectl(
            "-n",
            NS,
            "get",
            "pods",
            "-l",
            selector,
            "-o",
            "jsonpath={range .items[*]}{.status.containerStatuses[0].ready}{'\\n'}{end}",
        ).stdout.split()
        return out == ["true"] * 3

    wait_for("three ready worker Pods", ready_workers)

    # kill the Redis master: Sentinel fails over and the app keeps working
    password = secret_value(f"{PROJECT}-redis-auth", "password")
    old_master = redis_master(password)
    kill_until_failover(old_master.split(".")[0], lambda: redis_master(password) != old_master)
    wait_for(
        "the app after the failover",
        lambda: (
            site.get(
                f"/api/project/{project['id']}", headers={"Authorization": admin_key}
            ).status_code
            == 200
            and site.get("/readyz").status_code == 200
        ),
        timeout=180,
    )
    sign_up(Site(), "after-failover")

    # a foreign Pod cannot reach Redis (RQ unpickles what it finds there)
    target = f"{PROJECT}-redis-0.{PROJECT}-redis-headless.{NS}.svc"
    probe = kubectl(
        "-n",
        "e2e-deps",
        "run",
        "netpol-probe",
        "--image=redis:7.4.2-alpine",
        "--restart=Never",
        "--rm",
        "-i",
        "--quiet",
        "--command",
        "--",
        "sh",
        "-c",
        f"getent hosts {target} >/dev/null || exit 3; "
        f"timeout 5 redis-cli -h {target} -p 6379 ping && exit 1; exit 0",
        check=False,
        timeout=120,
    )
    assert probe.returncode == 0, (probe.stdout, probe.stderr)
