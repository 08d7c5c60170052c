"""``labelhive serve`` as a person runs it: embedded mode, demo project, health and metrics."""

from __future__ import annotations

import os
from pathlib import Path

import requests

from labelhive.cli import default_workers
from labelhive.cli import main
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server


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


def test_serve_defaults_to_cores_plus_one_processes_of_six_threads() -> None:
    assert default_workers(embedded=False, cores=2) == 3
    assert default_workers(embedded=False, cores=8) == 9
    assert default_workers(embedded=False, cores=None) == 2
    assert default_workers(embedded=True, cores=8) == 1
    options = {p.name: p for p in main.commands["serve"].params}
    assert options["threads"].default == 6
    assert options["workers"].envvar == "LABELHIVE_WORKERS"
    assert options["threads"].envvar == "LABELHIVE_THREADS"
