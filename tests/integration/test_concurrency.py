"""Exact redundancy under concurrency, over HTTP, against gunicorn and a real database.

Many annotators (distinct users) loop newtask → taskrun at once; some abandon their lease, some
submit twice, some submit after their lease expired. At the end every task has exactly
``n_answers`` answers from distinct users, every acknowledged submit is stored exactly once, and
the over-collection counter is 0.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import random
import threading
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy import text

from labelhive.config import normalise_database_url
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server

LEASE_TTL = 10
OPTIONS = ["cat", "dog", "bird"]


@dataclasses.dataclass
class Tally:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    acknowledged: dict[int, tuple[int, str]] = dataclasses.field(default_factory=dict)
    duplicates_ok: int = 0
    late_accepted: int = 0
    late_refused: int = 0
    refusals: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    loops: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)


def metric_values(base: str) -> dict[str, float]:
    values: dict[str, float] = {}
    body = requests.get(base + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def annotate(
    base: str,
    project_id: int,
    name: str,
    key: str,
    role: str,
    tally: Tally,
    finished: threading.Event,
    deadline: float,
) -> None:
    session = requests.Session()
    session.params = {"api_key": key}
    rng = random.Random(name)
    late_left = 2 if role == "late" else 0
    while not finished.is_set() and time.monotonic() < deadline:
        response = session.get(f"{base}/api/project/{project_id}/newtask", timeout=30)
        if response.status_code != 200:
            tally.errors.append(f"{name} newtask {response.status_code} {response.text[:200]}")
            return
        task = response.json()
        if not task:
            time.sleep(0.2)  # others hold the last leases; they answer or expire
            continue
        if role == "abandon":
            return  # walks away holding the lease: it must expire and go to someone else
        late = late_left > 0
        if late:
            late_left -= 1
            time.sleep(LEASE_TTL + 1)
        payload = {"project_id": project_id, "task_id": task["id"], "info": rng.choice(OPTIONS)}
        response = session.post(f"{base}/api/taskrun", json=payload, timeout=30)
        with tally.lock:
            tally.loops += 1
        if response.status_code == 200:
            answer = response.json()
            with tally.lock:
                tally.acknowledged[answer["id"]] = (task["id"], name)
                tally.late_accepted += late
            if role == "double":
                again = session.post(f"{base}/api/taskrun", json=payload, timeout=30)
                if again.status_code != 200 or again.json()["id"] != answer["id"]:
                    tally.errors.append(f"{name} retry gave {again.status_code} {again.text[:200]}")
                else:
                    with tally.lock:
                        tally.duplicates_ok += 1
        elif response.status_code == 409:
            with tally.lock:
                tally.refusals[response.json()["exception_msg"][:60]] += 1
                tally.late_refused += late
        else:
            tally.errors.append(f"{name} taskrun {response.status_code} {response.text[:200]}")
            return


def run_crowd(url: str, tmp_path: Path, *, annotators: int, n_tasks: int, workers: int) -> None:
    env = {"DATABASE_URL": url, "SECRET_KEY": "concurrency-test", "RATELIMIT_ENABLED": "0"}
    labelhive_cli("db", "upgrade", env=env)
    owner_key = labelhive_cli("users", "create", "owner", "--admin", env=env).stdout.split()[1]
    names = [f"annotator{i:02d}" for i in range(annotators)]
    keys = dict(
        line.split()
        for line in labelhive_cli("users", "create", *names, env=env).stdout.splitlines()
    )
    assert sorted(keys) == names

    tasks_csv = tmp_path / "tasks.csv"
    with tasks_csv.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["url", "name"])
        writer.writerows([f"https://images.example/{i}.jpg", f"img{i}"] for i in range(n_tasks))

    with labelhive_server(env, workers=workers, threads=16) as server:
        owner = requests.Session()
        owner.params = {"api_key": owner_key}
        created = owner.post(
            server.url + "/api/project",
            json={
                "name": "Crowd",
                "short_name": "crowd",
                "description": "concurrency test",
                "info": {"question": "Which animal?", "answers": OPTIONS},
                "lease_ttl": LEASE_TTL,
            },
            timeout=10,
        )
        assert created.status_code == 200, created.text
        project_id = created.json()["id"]
        published = owner.put(
            f"{server.url}/api/project/{project_id}", json={"published": True}, timeout=10
        )
        assert published.status_code == 200, published.text
        imported = labelhive_cli("import", "crowd", str(tasks_csv), "--redundancy", "3", env=env)
        assert f"Imported {n_tasks} tasks" in imported.stdout

        roles = ["abandon"] * 4 + ["double"] * 4 + ["late"] * 2
        roles += ["normal"] * (annotators - len(roles))
        tally = Tally()
        finished = threading.Event()
        started = time.monotonic()
        deadline = started + 300
        threads = [
            threading.Thread(
                target=annotate,
                args=(server.url, project_id, name, keys[name], role, tally, finished, deadline),
            )
            for name, role in zip(names, roles, strict=True)
        ]
        for thread in threads:
            thread.start()
        engine = create_engine(normalise_database_url(url))
        with engine.connect() as conn:
            while time.monotonic() < deadline and not tally.errors:
                open_tasks = conn.execute(
                    text("SELECT count(*) FROM task WHERE state = 'ongoing'")
                ).scalar()
                conn.rollback()
                if open_tasks == 0:
                    break
                time.sleep(0.25)
        finished.set()
        for thread in threads:
            thread.join(60)
        duration = time.monotonic() - started
        metrics = metric_values(server.url)

    assert not tally.errors, tally.errors[:5]
    with engine.connect() as conn:
        per_task = conn.execute(
            text(
                "SELECT t.id, count(a.id), count(DISTINCT a.user_id) FROM task t "
                "LEFT JOIN answer a ON a.task_id = t.id GROUP BY t.id"
            )
        ).all()
        stored = {
            row.id: (row.task_id, row.name)
            for row in conn.execute(
                text(
                    "SELECT a.id, a.task_id, u.name FROM answer a JOIN users u ON u.id = a.user_id"
                )
            )
        }
    engine.dispose()
    assert len(per_task) == n_tasks
    assert all(count == 3 and distinct == 3 for _, count, distinct in per_task), [
        row for row in per_task if row[1] != 3 or row[2] != 3
    ][:5]
    # every acknowledged submit is in the database exactly once, as acknowledged
    assert stored == tally.acknowledged
    assert tally.duplicates_ok > 0
    over = metrics.get("labelhive_over_collection_total{}", 0.0)
    assert over == 0
    refused = {k: v for k, v in metrics.items() if k.startswith("labelhive_refusals_total")}
    print(
        f"\nconcurrency: annotators={annotators} tasks={n_tasks} answers={len(stored)} "
        f"acknowledged={len(tally.acknowledged)} idempotent_retries={tally.duplicates_ok} "
        f"late_accepted={tally.late_accepted} late_refused={tally.late_refused} "
        f"refusals={dict(tally.refusals)} refusals_metric={refused} over_collection={over} "
        f"loops={tally.loops} duration={duration:.1f}s loops_per_s={tally.loops / duration:.0f}"
    )


@pytest.mark.slow
def test_exact_redundancy_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    run_crowd(pg_url, tmp_path, annotators=32, n_tasks=500, workers=3)


@pytest.mark.slow
def test_exact_redundancy_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    run_crowd(sqlite_url, tmp_path, annotators=12, n_tasks=80, workers=2)
