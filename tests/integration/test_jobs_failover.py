"""Background jobs against a real Redis master + replica + three Sentinels, real workers.

- 200 import jobs run while the Redis master is SIGKILLed: Sentinel promotes the replica, the
  worker rides through without a restart, every job completes exactly once in effect, and
  answers submitted over HTTP during the failover are all accepted and stored.
- A worker SIGKILLed in the middle of a 20k-row import: after a restart the import completes
  with exactly 20k tasks.

Figures (failover time, jobs lost, answers accepted) are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import func
from sqlalchemy import select

from labelhive import create_app
from labelhive import migrate
from labelhive import starters
from labelhive.accounts import services as accounts
from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.jobs import services as jobs
from labelhive.jobs.models import JobRecord
from labelhive.projects import services as projects
from labelhive.tasks.models import Task
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server
from tests.common.processes import stop_pid
from tests.common.redis import MASTER_NAME
from tests.common.redis import RedisCluster
from tests.common.redis import redis_cluster

pytestmark = pytest.mark.slow

JOBS = 200
ROWS_PER_JOB = 20


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    # shared: the kill test runs first and needs no replica; the failover test leaves none
    with redis_cluster() as cluster:
        yield cluster


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the worker's work horse), read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


class Process:
    """A ``labelhive`` command run in the background, logged to a file, stopped by PID."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.log = Path(tempfile.mkstemp(prefix=f"labelhive-{args[0]}-", suffix=".log")[1])
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "labelhive.cli", *args],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill_with_horse(self) -> None:
        """SIGKILL the worker and its work horse, as a Pod being killed would."""
        for pid in children(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stop_pid(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        stop_pid(self.proc, signal.SIGTERM, timeout=20)
        for pid in children(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def running(env: dict[str, str], *args: str) -> Iterator[Process]:
    process = Process(env, *args)
    try:
        yield process
    finally:
        process.stop()
        if os.environ.get("LABELHIVE_KEEP_LOGS") != "1":
            process.log.unlink(missing_ok=True)


def make_env(pg_url: str, cluster: RedisCluster, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": pg_url,
        "SECRET_KEY": "jobs-failover-test",
        **cluster.env(),
        "LABELHIVE_SCHEDULER_TICK_SECONDS": "0.5",
        **extra,
    }


def client_app(env: dict[str, str]) -> Flask:
    return create_app(
        {
            "DATABASE_URL": env["DATABASE_URL"],
            "REDIS_SENTINELS": env["REDIS_SENTINELS"],
            "REDIS_PASSWORD": env["REDIS_PASSWORD"],
            "REDIS_MASTER": MASTER_NAME,
        }
    )


def counts_by_status() -> dict[str, int]:
    db.session.rollback()
    return dict(
        db.session.execute(
            select(JobRecord.status, func.count())
            .where(JobRecord.kind == "import")
            .group_by(JobRecord.status)
        ).all()
    )


def wait_until(check, timeout: float, what: str, step: float = 0.1, detail=None) -> None:  # noqa: ANN001
    """Poll ``check``; the timeout is generous (a shared 2-core machine), never a measurement."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(step)
    raise AssertionError(
        f"{what} not reached within {timeout} s" + (f": {detail()}" if detail else "")
    )


class Answers:
    """Annotators looping newtask → taskrun over HTTP; every outcome is tallied."""

    def __init__(self, base: str, project_id: int, keys: list[str], deadline: float) -> None:
        self.base = base
        self.project_id = project_id
        self.keys = keys
        self.deadline = deadline
        self.stop = threading.Event()
        self.accepted: list[int] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._annotate, args=(k,)) for k in keys]

    def __enter__(self) -> Answers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _annotate(self, key: str) -> None:
        session = requests.Session()
        session.params = {"api_key": key}
        for _ in range(2000):  # bounded in count as well as in time
            if self.stop.is_set() or time.monotonic() > self.deadline:
                return
            try:
                response = session.get(
                    f"{self.base}/api/project/{self.project_id}/newtask", timeout=15
                )
                task = response.json() if response.status_code == 200 else None
                if not task:
                    if response.status_code != 200:
                        self.errors.append(f"newtask {response.status_code}")
                    time.sleep(0.1)
                    continue
                body = {"project_id": self.project_id, "task_id": task["id"], "info": "robin"}
                response = session.post(f"{self.base}/api/taskrun", json=body, timeout=15)
            except requests.RequestException as exc:
                self.errors.append(f"request failed: {exc}")
                continue
            with self.lock:
                if response.status_code == 200:
                    self.accepted.append(response.json()["id"])
                else:
                    self.errors.append(f"taskrun {response.status_code} {response.text[:120]}")
            # a calm pace: the API's per-account limit (300 per 900 s) stays far away
            time.sleep(0.2)


def measure_failover(cluster: RedisCluster, killed_at: float, timeout: float = 30) -> float:
    """Seconds from the kill to the first write accepted by the (new) master."""
    sentinel = cluster.sentinel_client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client = sentinel.master_for(MASTER_NAME, socket_timeout=0.2)
            client.set("labelhive:failover-probe", str(time.time()))
            return time.monotonic() - killed_at
        except RedisError:
            time.sleep(0.02)
    raise AssertionError("no Redis master accepted a write after the failover")


def setup_projects(env: dict[str, str], tmp_path: Path) -> list[str]:
    labelhive_cli("db", "upgrade", env=env)
    labelhive_cli("users", "create", "owner", "--admin", env=env)
    names = [f"annotator{i}" for i in range(4)]
    out = labelhive_cli("users", "create", *names, env=env).stdout
    keys = [line.split()[1] for line in out.splitlines()]
    for short_name, publish in (("answers", ("--publish",)), ("bulk", ())):
        labelhive_cli(
            "projects", "create", short_name, "--owner", "owner", "--answers", "robin,wren",
            "--redundancy", "4", *publish, env=env,
        )  # fmt: skip
    tasks = tmp_path / "tasks.csv"
    tasks.write_text("url\n" + "".join(f"https://img.example/{i}.jpg\n" for i in range(300)))
    labelhive_cli("import", "answers", str(tasks), env=env)
    return keys


def test_worker_killed_mid_import_resumes_to_exactly_20k_tasks(pg_url, cluster, tmp_path):
    env = make_env(
        pg_url, cluster, LABELHIVE_JOB_STALE_SECONDS="2", LABELHIVE_IMPORT_BATCH_SIZE="500"
    )
    app = client_app(env)
    with app.app_context():
        migrate.upgrade(db.engine)
        owner = accounts.create_user("owner", password=None)
        projects.create_project(owner, {"name": "Bulk", "short_name": "bulk", "info": {}})
        db.session.commit()
    data = ("url\n" + "".join(f"https://img.example/k{i}.jpg\n" for i in range(20_000))).encode()
    with app.app_context():
        bulk = projects.by_id_or_short_name("bulk")
        with running(env, "worker") as first:
            record = starters.start_import(bulk, None, data, "csv")
            job_id = record.id
            db.session.commit()

            def partly_done() -> bool:
                db.session.rollback()
                return 0 < jobs.get_record(job_id).done < 20_000

            wait_until(partly_done, 30, "the import's first batch", step=0.005)
            first.kill_with_horse()
        db.session.rollback()
        at_kill = db.session.scalar(
            select(func.count()).select_from(Task).where(Task.import_id == job_id)
        )
        assert 0 < at_kill < 20_000, at_kill
        with running(env, "worker"), running(env, "scheduler"):

            def finished() -> bool:
                db.session.rollback()
                return jobs.get_record(job_id).status == "finished"

            wait_until(finished, 40, "the resumed import")
        record = jobs.get_record(job_id)
        total = db.session.scalar(
            select(func.count()).select_from(Task).where(Task.project_id == bulk.id)
        )
    print(
        f"\nkilled import: {at_kill} tasks at the kill, {total} after the restart,"
        f" attempts {record.attempts}, result {record.result}"
    )
    assert total == 20_000
    assert record.attempts >= 2
    assert record.result["imported"] == 20_000
    assert record.result["inserted_by_this_run"] == 20_000 - at_kill


def test_failover_mid_run_loses_no_job_and_no_answer(pg_url, cluster, tmp_path):
    env = make_env(
        pg_url,
        cluster,
        LABELHIVE_JOB_STALE_SECONDS="8",
        RATELIMIT_DEFAULT="100000 per minute",
    )
    keys = setup_projects(env, tmp_path)
    app = client_app(env)
    with (
        app.app_context(),
        labelhive_server(env, workers=2, threads=8) as server,
        running(env, "worker") as worker,
        running(env, "scheduler") as scheduler,
    ):
        answers_project = projects.by_id_or_short_name("answers").id
        bulk = projects.by_id_or_short_name("bulk")
        job_ids = []
        for number in range(JOBS):
            rows = "".join(f"https://img.example/b{number}-{i}.jpg\n" for i in range(ROWS_PER_JOB))
            record = starters.start_import(bulk, None, ("url\n" + rows).encode(), "csv")
            job_ids.append(record.id)
            db.session.commit()
        worker_pid = worker.proc.pid
        with Answers(server.url, answers_project, keys, time.monotonic() + 60) as crowd:
            wait_until(lambda: counts_by_status().get("finished", 0) >= 30, 40, "30 jobs done")
            accepted_before = len(crowd.accepted)
            killed_at = time.monotonic()
            cluster.kill_master()
            failover_seconds = measure_failover(cluster, killed_at)
            wait_until(
                lambda: counts_by_status().get("finished", 0) == JOBS,
                240,
                "all jobs finished",
                detail=lambda: (
                    f"jobs by status {counts_by_status()}; worker log: {worker.text()[-2000:]}"
                    f"; scheduler log: {scheduler.text()[-2000:]}"
                ),
            )
            # answers keep flowing after the failover too
            time.sleep(0.5)
        assert worker.proc.poll() is None and worker.proc.pid == worker_pid, worker.text()[-3000:]
        assert scheduler.proc.poll() is None, scheduler.text()[-3000:]
        reenqueued = scheduler.text().count("enqueueing job import-")
        db.session.rollback()
        statuses = counts_by_status()
        per_import = dict(
            db.session.execute(
                select(Task.import_id, func.count())
                .where(Task.project_id == bulk.id)
                .group_by(Task.import_id)
            ).all()
        )
        stored = db.session.scalar(
            select(func.count()).select_from(Task).where(Task.project_id == answers_project)
        )
        stored_answers = set(
            db.session.scalars(select(Answer.id).where(Answer.project_id == answers_project))
        )
    print(
        f"\nfailover: master killed -> first successful write {failover_seconds:.2f} s;"
        f" jobs {statuses}; lost 0 of {JOBS} (re-enqueued from the database: {reenqueued});"
        f" answers accepted {len(crowd.accepted)} ({len(crowd.accepted) - accepted_before}"
        f" after the kill), errors {len(crowd.errors)}"
    )
    assert statuses == {"finished": JOBS}
    assert per_import == {job_id: ROWS_PER_JOB for job_id in job_ids}
    assert crowd.errors == []
    assert len(crowd.accepted) > accepted_before, "no answer was submitted during the failover"
    assert set(crowd.accepted) <= stored_answers
    assert len(set(crowd.accepted)) == len(crowd.accepted)
    assert stored == 300
