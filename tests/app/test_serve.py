"""``labelhive serve`` as a person runs it: embedded mode, demo project, health and metrics."""

from __future__ import annotations

import gc
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from labelhive import server
from labelhive.cli import default_workers
from labelhive.cli import main
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server
from tests.common.processes import wait_for


def test_serve_demo_in_embedded_mode(tmp_path: Path) -> None:
    # embedded mode: no DATABASE_URL, no SECRET_KEY, no Redis; the database is created in the cwd
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    with labelhive_server(env, workers=1, extra_args=("--demo",), cwd=tmp_path) as server:
        assert (tmp_path / "labelhive.db").exists()
        assert requests.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}
        ready = requests.get(server.url + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
        image = requests.get(server.url + "/static/demo/shape-01.svg", timeout=5)
        assert image.status_code == 200 and image.text.startswith("<svg")
        # a colleague signs up through the CLI and labels one demo image through the API
        db_env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'labelhive.db'}"}
        key = labelhive_cli("users", "create", "alice", env=db_env).stdout.split()[1]
        projects = requests.get(
            server.url + "/api/project", params={"api_key": key, "all": "1"}, timeout=5
        ).json()
        demo = next(p for p in projects if p["short_name"] == "demo-shapes")
        assert demo["info"]["answers"] == ["circle", "square", "triangle"]
        task = requests.get(
            f"{server.url}/api/project/{demo['id']}/newtask", params={"api_key": key}, timeout=5
        ).json()
        assert task["info"]["url"].startswith("/static/demo/")
        answer = requests.post(
            server.url + "/api/taskrun",
            params={"api_key": key},
            json={"project_id": demo["id"], "task_id": task["id"], "info": "circle"},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        metrics = requests.get(server.url + "/metrics", timeout=5).text
        assert 'labelhive_submits_total{outcome="accepted"} 1.0' in metrics
        assert "labelhive_over_collection_total 0.0" in metrics


def test_the_access_log_names_each_request_without_its_query_string(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    with labelhive_server(env, workers=1, extra_args=("--demo",), cwd=tmp_path) as server:
        secret = "key-that-must-not-be-logged"
        listed = requests.get(server.url + "/api/project", params={"api_key": secret}, timeout=5)
        missing = requests.post(server.url + "/api/nothing-here?x=1", timeout=5)
        # a worker thread writes a request's access line after sending the response: wait
        wait_for(
            lambda: all(
                request in server.log.read_text()
                for request in ('"GET /api/project ', '"POST /api/nothing-here ')
            ),
            10,
            "both access lines",
        )
        lines = server.log.read_text().splitlines()
    assert secret not in "\n".join(lines)
    # LabelHive's format: client, request line without the query, status, bytes, milliseconds
    access = [line for line in lines if '"GET /api/project HTTP/1.1"' in line]
    assert len(access) == 1, lines
    assert re.fullmatch(
        rf'127\.0\.0\.1 "GET /api/project HTTP/1\.1" 200 {len(listed.content)} \d+ms', access[0]
    )
    assert missing.status_code == 404
    assert any(
        re.fullmatch(r'127\.0\.0\.1 "POST /api/nothing-here HTTP/1\.1" 404 \d+ \d+ms', line)
        for line in lines
    ), lines


def test_serve_a_second_time_keeps_the_data(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    with labelhive_server(env, workers=1, extra_args=("--demo",), cwd=tmp_path):
        pass
    db_env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'labelhive.db'}"}
    labelhive_cli("users", "create", "bob", env=db_env)
    with labelhive_server(env, workers=1, extra_args=("--demo",), cwd=tmp_path) as server:
        key = labelhive_cli("users", "create", "carol", env=db_env).stdout.split()[1]
        projects = requests.get(
            server.url + "/api/project", params={"api_key": key, "all": "1"}, timeout=5
        ).json()
        # the demo project is made once, in an empty database only
        assert [p["short_name"] for p in projects] == ["demo-shapes"]


def test_serve_defaults_to_one_process_per_core_of_six_threads() -> None:
    assert default_workers(embedded=False, cores=2) == 2
    assert default_workers(embedded=False, cores=8) == 8
    assert default_workers(embedded=False, cores=None) == 1
    assert default_workers(embedded=True, cores=8) == 1
    options = {p.name: p for p in main.commands["serve"].params}
    assert options["threads"].default == 6
    assert options["workers"].envvar == "LABELHIVE_WORKERS"
    assert options["threads"].envvar == "LABELHIVE_THREADS"


def _listening_sockets(port: int) -> int:
    """The sockets in LISTEN state on ``port`` (``/proc/net/tcp``, IPv4)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1
        for line in lines
        if line.split()[3] == "0A" and int(line.split()[1].rsplit(":", 1)[1], 16) == port
    )


def test_each_worker_listens_on_a_socket_of_its_own(tmp_path: Path) -> None:
    # SO_REUSEPORT: the kernel spreads new connections over the workers' sockets, instead of
    # the first worker to wake taking a burst of keep-alive connections for good
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    with labelhive_server(env, workers=3, threads=2, cwd=tmp_path) as srv:
        deadline = time.monotonic() + 30
        while _listening_sockets(srv.port) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _listening_sockets(srv.port) == 3
        for _ in range(12):
            assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200


def test_serve_refuses_a_port_something_listens_on(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "labelhive.cli", "serve", "--host", "127.0.0.1"]
            + ["--port", str(port), "--workers", "2"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}: Address already in use." in done.stderr


def test_a_worker_freezes_what_it_loaded_out_of_the_collectors_sight() -> None:
    before = gc.get_freeze_count()
    try:
        server._post_worker_init(None)
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
