"""Faults under load, against real processes on loopback (issue #12).

- PostgreSQL crashes (immediate shutdown) and is started again while annotators claim and
  submit over HTTP: clients see 503 with the JSON envelope (never 500), the app recovers without
  a restart, every acknowledged answer is stored.
- The Redis master is SIGKILLed (Sentinel configured) under the same load: no answer refused,
  none lost.
- gunicorn workers are SIGKILLed while submits are in flight: no half-written answer (counters
  agree with the rows), no task over its redundancy, every acknowledged answer stored.
- The database's disk fills up while an export job stores its file (export files live in the
  database): the job fails with a clear message and keeps no partial file; and ``labelhive
  export -o`` hitting a file-size limit exits 1 with a sentence and leaves no file.

Each test adds a row to the fault table (``test-artifacts/fault-table.md``, printed with ``-s``);
the load tests end with the whole-database check of :mod:`labelhive.annotation.consistency`. The
disk-full test mounts a 1 MiB tmpfs, so the suite runs as root (as ``make test`` and CI do).
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from redis.exceptions import RedisError

from labelhive import create_app
from labelhive.annotation import consistency
from labelhive.extensions import db
from labelhive.imports import writer as task_services
from labelhive.imports.parsers import TaskSpec
from labelhive.projects import services as projects
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_server
from tests.common.processes import postgres
from tests.common.redis import MASTER_NAME
from tests.common.redis import RedisCluster
from tests.common.redis import redis_cluster
from tests.reliability import harness
from tests.reliability.harness import Crowd
from tests.reliability.harness import FaultRow
from tests.reliability.harness import FaultTable

pytestmark = pytest.mark.slow

ANNOTATORS = 4
TASKS = 300


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    # a server of our own: these tests crash it
    with postgres() as server:
        yield server


@pytest.fixture(scope="module")
def table() -> Iterator[FaultTable]:
    table = FaultTable("fault-table")
    yield table
    path = table.write()
    print(f"\nfault table ({path}):\n{table.render()}")


def fresh_database(
    pg: PostgresServer, name: str, tasks: int = TASKS, annotators: int = ANNOTATORS
) -> tuple[str, harness.Setup]:
    url = pg.create_database(name)
    harness.synchronous_commits(pg, name)
    return url, harness.setup_database(url, annotators=annotators, tasks=tasks)


def assert_consistent(url: str, crowd: Crowd) -> int:
    """No acknowledged answer lost, and the whole database consistent; returns lost (0)."""
    engine = harness.engine_for(url)
    try:
        lost = harness.lost_answers(engine, crowd.accepted)
        report = consistency.check(engine)
    finally:
        engine.dispose()
    assert lost == [], lost[:10]
    assert report.ok, "\n".join(report.problems)
    # a retried submit is acknowledged with the same answer: count answers, not responses
    assert report.answers >= len({a.answer_id for a in crowd.accepted})
    return len(lost)


def test_postgres_crash_and_restart_under_annotate_load(pg, table):
    url, setup = fresh_database(pg, "pg_restart")
    *crowd_keys, late_key = setup.keys
    with (
        labelhive_server(harness.server_env(url), workers=2, threads=4) as server,
        Crowd(server.url, setup.project_id, crowd_keys) as crowd,
    ):
        workers = harness.gunicorn_workers(server.proc, 2)
        browser = harness.sign_in(server.url)
        # an annotator who claimed a task before the crash and submits during the outage
        late = requests.Session()
        late.params = {"api_key": late_key}
        claimed = late.get(f"{server.url}/api/project/{setup.project_id}/newtask", timeout=15)
        answer = {"project_id": setup.project_id, "task_id": claimed.json()["id"], "info": "cat"}
        crowd.wait_for_answers(20, 60)
        crashed = time.monotonic()
        harness.crash_postgres(pg)
        # the outage, seen by the annotators, a late submit, a browser and an API reader
        time.sleep(1.0)
        refused = late.post(f"{server.url}/api/taskrun", json=answer, timeout=15)
        page = browser.get(f"{server.url}/", timeout=15, allow_redirects=False)
        api = requests.get(f"{server.url}/api/project/{setup.project_id}", timeout=15)
        harness.restart_postgres(pg)
        back = time.monotonic()
        # the client retries its refused submit once the database is back
        retried = late.post(f"{server.url}/api/taskrun", json=answer, timeout=15)
        if retried.ok:  # checked with the crowd's answers below
            stored = retried.json()
            crowd.accepted.append(
                harness.Accepted(
                    time.monotonic(), stored["id"], stored["task_id"], stored["user_id"], "cat"
                )
            )
        crowd.wait_for_answers(20, 60, since=back)
        crowd.stop()
        # recovered without a restart: the same worker processes serve
        assert harness.gunicorn_workers(server.proc, 2) == workers
    during = crowd.statuses(crashed, back)
    lost = assert_consistent(url, crowd)
    recovered = crowd.first_accepted_after(back)
    table.add(
        FaultRow(
            "PostgreSQL crash (SIGQUIT) + restart",
            crowd.accepted_between(crashed, back),
            lost,
            recovered - back,
            back - crashed,
            harness.describe_errors(during),
            f"app not restarted; a submit during the outage got {refused.status_code},"
            f" its retry {retried.status_code}",
        )
    )
    assert crowd.server_errors() == []
    unavailable = [o for o in crowd.outcomes if o.status == 503]
    assert unavailable, during
    assert all(o.json_body and o.detail == "ServiceUnavailable" for o in unavailable)
    assert refused.status_code == 503, refused.text
    assert refused.json()["exception_cls"] == "ServiceUnavailable"
    assert retried.status_code == 200, retried.text
    assert page.status_code == 503 and "unavailable" in page.text, page.text[:500]
    assert page.headers["Retry-After"]
    assert api.status_code == 503
    assert api.json()["exception_msg"].startswith("The database is unavailable")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with redis_cluster() as cluster:
        yield cluster


def wait_for_failover(cluster: RedisCluster, killed_at: float, timeout: float = 30) -> float:
    """Seconds from the kill to the first write accepted by the new master."""
    sentinel = cluster.sentinel_client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sentinel.master_for(MASTER_NAME, socket_timeout=0.2).set("labelhive:probe", "1")
            return time.monotonic() - killed_at
        except RedisError:
            time.sleep(0.05)
    raise AssertionError("no Redis master accepted a write after the failover")


def test_redis_master_killed_under_annotate_load(pg, cluster, table):
    url, setup = fresh_database(pg, "redis_kill", tasks=150)
    # consensus is requested through Redis as tasks complete (debounced): answers meet Redis
    env = harness.server_env(url, **cluster.env(), LABELHIVE_CONSENSUS_DEBOUNCE_SECONDS="1")
    with (
        labelhive_server(env, workers=2, threads=4) as server,
        Crowd(server.url, setup.project_id, setup.keys) as crowd,
    ):
        crowd.wait_for_answers(20, 60)
        killed = time.monotonic()
        cluster.kill_master()
        failover = wait_for_failover(cluster, killed)
        back = killed + failover
        crowd.wait_for_answers(20, 60, since=back)
        crowd.stop()
    lost = assert_consistent(url, crowd)
    recovered = crowd.first_accepted_after(back)
    accepted = crowd.accepted_between(killed, back)
    table.add(
        FaultRow(
            "Redis master SIGKILL (Sentinel failover)",
            accepted,
            lost,
            recovered - back,
            failover,
            harness.describe_errors(crowd.statuses(killed, back)),
            "outage = kill to first write on the new master",
        )
    )
    # answers never wait for Redis: the failover refuses none
    assert [o for o in crowd.outcomes if not 200 <= o.status < 300] == []
    assert accepted > 0


def cut_submits(crowd: Crowd) -> int:
    return crowd.statuses()[("taskrun", harness.CONNECTION_ERROR)]


def test_gunicorn_worker_killed_mid_request(pg, table):
    url, setup = fresh_database(pg, "worker_kill", tasks=200, annotators=8)
    kills = []
    with (
        labelhive_server(harness.server_env(url), workers=2, threads=4) as server,
        Crowd(server.url, setup.project_id, setup.keys, pace=0) as crowd,
    ):
        crowd.wait_for_answers(20, 60)
        first = time.monotonic()
        # kill while requests are in flight (the crowd never pauses), at least 3 times and
        # until a submit was cut (bounded); each time the master respawns the worker
        for number in range(10):
            kills.append(harness.kill_worker(server.proc, 2))
            crowd.wait_for_answers(5, 60, since=time.monotonic())
            if number >= 2 and cut_submits(crowd):
                break
        last = time.monotonic()
        crowd.stop()
        assert server.proc.poll() is None
    lost = assert_consistent(url, crowd)
    engine = harness.engine_for(url)
    try:
        committed, rolled_back = harness.cut_submits_stored(engine, crowd)
    finally:
        engine.dispose()
    during = crowd.statuses(first, last)
    table.add(
        FaultRow(
            f"gunicorn worker SIGKILL x{len(kills)} mid-request",
            crowd.accepted_between(first, last),
            lost,
            None,
            max(respawn for _, respawn in kills),
            harness.describe_errors(during),
            f"{committed + rolled_back} submits cut: {committed} had committed,"
            f" {rolled_back} rolled back whole; outage = longest wait for a replacement worker",
        )
    )
    assert len({pid for pid, _ in kills}) == len(kills) >= 3
    assert cut_submits(crowd) >= 1
    assert crowd.server_errors() == []
    # every request either failed visibly (connection reset) or got a definite answer
    assert all(o.status in (200, 409, harness.CONNECTION_ERROR) for o in crowd.outcomes), {
        (o.call, o.status, o.detail) for o in crowd.outcomes
    }


EXPORT = """
import json, time
from labelhive import create_app
from labelhive import starters
from labelhive.extensions import db
from labelhive.jobs import services as jobs
from labelhive.projects import services as projects

app = create_app()
out = {}
with app.app_context():
    for what in ("tasks", "results"):
        faults = projects.by_id_or_short_name("faults")
        job_id = starters.start_export(faults, None, what, "json").id
        db.session.commit()
        for _ in range(1200):
            db.session.rollback()
            record = jobs.get_record(job_id)
            if record.status in ("finished", "failed"):
                break
            time.sleep(0.05)
        stored = jobs.export_file(record)
        out[what] = {"id": job_id, "status": record.status, "error": record.error,
                     "bytes": None if stored is None else stored.size}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def export_database(pg: PostgresServer) -> str:
    """A project whose task export is about 2.5 MB of barely compressible JSON."""
    url = pg.create_database("disk_full")
    setup = harness.setup_database(url, annotators=1, tasks=0)
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        noise = [base64.b64encode(os.urandom(300)).decode() for _ in range(6000)]
        specs = [
            TaskSpec({"url": f"https://img.example/{i}.jpg", "noise": n})
            for i, n in enumerate(noise)
        ]
        task_services.import_tasks(projects.get(setup.project_id), specs)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return url


def mount_tmpfs(path: Path, size: str, owner: tuple[int, int] | None = None) -> None:
    """A tiny tmpfs: a volume that really fills up (``make test`` runs as root, as CI does)."""
    path.mkdir()
    options = f"size={size},mode=0700"
    if owner is not None:
        options += f",uid={owner[0]},gid={owner[1]}"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {done.stderr}"


def test_database_disk_full_while_storing_an_export(pg, export_database, table):
    # export files are stored in the database (labelhive.jobs.exportfiles): its chunk table
    # goes on a 1 MiB volume; the write-ahead log stays on the big one, as a DBA would have it
    import psycopg

    # beside the cluster's data: the postgres user cannot enter pytest's root-only tmp_path
    space = pg.dir / "tablespace"
    postgres_user = pwd.getpwnam("postgres")
    mount_tmpfs(space, "1m", (postgres_user.pw_uid, postgres_user.pw_gid))
    admin = pg.url("disk_full")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE small LOCATION '{space}'")
            conn.execute("ALTER TABLE export_chunk SET TABLESPACE small")
        started = time.monotonic()
        env = {
            **os.environ,
            **harness.server_env(export_database),
            "LABELHIVE_EXPORT_CHUNK_BYTES": str(64 * 1024),
        }
        done = subprocess.run(
            [sys.executable, "-c", EXPORT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        took = time.monotonic() - started
        with psycopg.connect(admin, autocommit=True) as conn:
            files = conn.execute("SELECT job_id, complete FROM export_file").fetchall()
            chunks = conn.execute("SELECT count(*) FROM export_chunk").fetchone()[0]
            conn.execute("ALTER TABLE export_chunk SET TABLESPACE pg_default")
            conn.execute("DROP TABLESPACE small")
    finally:
        subprocess.run(["umount", str(space)], check=True)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    full, small = out["tasks"], out["results"]
    table.add(
        FaultRow(
            "database disk full while storing an export job (1 MiB tablespace)",
            0,
            0,
            None,
            took,
            "",
            f"job failed: {full['error']!r}; files kept: {files}",
        )
    )
    assert full["status"] == "failed", out
    assert full["error"].startswith("The database ran out of disk space"), full
    assert full["bytes"] is None
    # the partial file was deleted, and the space with it: a small export still works
    assert small["status"] == "finished" and small["bytes"], out
    assert files == [(small["id"], True)]
    assert chunks == 1


def limit_file_size() -> None:
    # the kernel refuses writes past 64 KiB (EFBIG; SIGXFSZ ignored so the write fails)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_file_size_limit_while_the_cli_writes_an_export(export_database, table, tmp_path):
    target = tmp_path / "tasks.json"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "labelhive.cli", "export", "faults", "--what", "tasks",
         "--format", "json", "-o", str(target)],
        env={**os.environ, **harness.server_env(export_database)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit_file_size,
    )  # fmt: skip
    left = sorted(p.name for p in tmp_path.iterdir())
    table.add(
        FaultRow(
            "file too large while `labelhive export -o` writes (RLIMIT_FSIZE 64 KiB)",
            0,
            0,
            None,
            time.monotonic() - started,
            "",
            f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1]!r}; files left: {left}",
        )
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"Could not write {target}: File too large" in done.stderr
    assert left == []
