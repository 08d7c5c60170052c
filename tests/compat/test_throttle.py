"""``pbs`` throttles itself on LabelHive's rate-limit headers (contract §2.1, §2.4).

With a limit of 15 requests per 2 s on each API resource, 30 ``add-tasks`` rows cannot be
created in one window: pbs must read ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` from
``HEAD /api/task`` and sleep until the reset. A 429 would make pbs stop with TaskNotFound.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.common.processes import PostgresServer
from tests.compat.conftest import Compat
from tests.compat.conftest import start

LIMIT, WINDOW = 15, 2


@pytest.fixture(scope="module")
def limited(pg_server: PostgresServer) -> Iterator[Compat]:
    yield from start(pg_server, "compat_throttle", RATELIMIT_API=f"{LIMIT} per {WINDOW} seconds")


def test_pbs_add_tasks_stays_under_the_limit(limited: Compat, tmp_path: Path) -> None:
    spec = {"name": "Throttled", "short_name": "throttled", "description": "x"}
    (tmp_path / "project.json").write_text(json.dumps(spec))
    assert limited.pbs("owner", tmp_path, "create-project").returncode == 0
    rows = [{"url": f"https://img.example/{i}.png"} for i in range(30)]
    (tmp_path / "tasks.json").write_text(json.dumps(rows))

    began = time.monotonic()
    done = limited.pbs(
        "owner", tmp_path, "add-tasks", "--tasks-file", "tasks.json", "--tasks-type", "json"
    )
    took = time.monotonic() - began
    print(f"pbs add-tasks: 30 rows in {took:.1f} s at {LIMIT} per {WINDOW} s")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "30 tasks added to project: throttled" in done.stdout
    assert "TooManyRequests" not in done.stdout + done.stderr
    project = limited.api("owner", "GET", "/api/project", params={"short_name": "throttled"})
    tasks = limited.api(
        "owner", "GET", "/api/task", params={"project_id": project.json()[0]["id"], "limit": 100}
    )
    # 30 creates from one key at 15 per window: pbs waited for at least one new window
    assert len(tasks.json()) == 30


def test_headers_and_the_429_envelope(limited: Compat) -> None:
    # a fresh window for the anonymous HEAD bucket (pbs's HEAD carries no key)
    head = limited.api(None, "HEAD", "/api/task")
    assert head.headers["X-RateLimit-Limit"] == str(LIMIT)
    remaining = int(head.headers["X-RateLimit-Remaining"])
    assert 0 <= remaining < LIMIT
    reset = int(head.headers["X-RateLimit-Reset"])
    # epoch seconds of the window's end, as PYBOSSA sends it (not "seconds left")
    assert time.time() - 1 <= reset <= time.time() + WINDOW + 2

    statuses = []
    for _ in range(LIMIT + 1):
        response = limited.api("other", "GET", "/api/task")
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    body = response.json()
    assert body["status"] == "failed"
    assert body["status_code"] == 429
    assert body["exception_cls"] == "TooManyRequests"
    assert body["target"] == "/api/task"
    assert body["action"] == "GET"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    # other resources have their own bucket
    assert limited.api("other", "GET", "/api/project").status_code == 200
