"""Soak: mixed load with periodic faults, then a whole-database consistency check.

Real processes on loopback: PostgreSQL, Redis master + replica + 3 Sentinels, ``labelhive
serve`` (gunicorn, 2 workers), ``labelhive worker`` and ``labelhive scheduler``. For
``SOAK_SECONDS`` (default 1800):

- annotators loop newtask → taskrun over HTTP;
- the owner imports tasks, exports tasks/answers/results, and asks for consensus, in turn;
- every ``SOAK_FAULT_INTERVAL`` seconds (default 60) one fault, in turn: PostgreSQL crash and
  restart, Redis master SIGKILL (the killed node restarts and rejoins as a replica), a gunicorn
  worker SIGKILL.

Then the load stops, the jobs drain, and ``labelhive check`` runs. Exits with 1 when an
acknowledged answer is missing, a response was a 5xx other than 503, a long-running process
died, a job did not finish, or the check finds an inconsistency. Prints figures, never asserts
timings. ``make soak`` runs it; ``SOAK_SECONDS=180 make soak`` for a short run.
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
from collections import Counter
from pathlib import Path

import requests
from redis.exceptions import RedisError
from sqlalchemy import func
from sqlalchemy import select

from labelhive import create_app
from labelhive.extensions import db
from labelhive.jobs import services as jobs
from labelhive.jobs.models import JobRecord
from labelhive.projects import services as projects
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server
from tests.common.processes import stop_pid
from tests.common.redis import MASTER_NAME
from tests.common.redis import RedisCluster
from tests.common.redis import _binary
from tests.common.redis import redis_cluster
from tests.reliability import harness
from tests.reliability.harness import Crowd
from tests.reliability.harness import FaultRow
from tests.reliability.harness import FaultTable

ANNOTATORS = int(os.environ.get("SOAK_ANNOTATORS", "6"))
IMPORT_ROWS = 150
OPERATIONS_PAUSE = 3.0  # seconds between the owner's imports, exports and consensus runs
OUTAGE_SECONDS = 2.0  # how long PostgreSQL stays down


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Background:
    """A ``labelhive`` command (worker, scheduler) in the background, stopped by PID."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.args = args
        self.log = Path(tempfile.mkstemp(prefix=f"soak-{args[0]}-", suffix=".log")[1])
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "labelhive.cli", *args],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        horses = harness.children(self.proc.pid)
        stop_pid(self.proc, signal.SIGTERM, timeout=20)
        for pid in horses:  # an RQ work horse left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class Operations:
    """The project owner's background work: imports, exports and consensus, in turn."""

    def __init__(self, env: dict[str, str], base: str, project_id: int, owner_key: str) -> None:
        # the driver enqueues through the same Sentinel-watched Redis as the servers
        self.app = create_app(
            {
                "DATABASE_URL": env["DATABASE_URL"],
                "REDIS_SENTINELS": env["REDIS_SENTINELS"],
                "REDIS_MASTER": env["REDIS_MASTER"],
                "REDIS_PASSWORD": env["REDIS_PASSWORD"],
            }
        )
        self.base = base
        self.project_id = project_id
        self.owner_key = owner_key
        self.stopping = threading.Event()
        self.job_ids: list[str] = []
        self.errors: Counter = Counter()
        self.done: Counter = Counter()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(120)

    def _run(self) -> None:
        kinds = ["import", "export", "import", "consensus"]
        batch = 0
        while not self.stopping.wait(OPERATIONS_PAUSE):
            kind = kinds[batch % len(kinds)]
            batch += 1
            try:
                if kind == "consensus":
                    response = requests.post(
                        f"{self.base}/api/project/{self.project_id}/consensus",
                        params={"api_key": self.owner_key},
                        timeout=30,
                    )
                    if response.status_code != 202:
                        self.errors[f"consensus {response.status_code}"] += 1
                        continue
                    self.job_ids.append(response.json()["id"])
                else:
                    self.job_ids.append(self._start(kind, batch))
                self.done[kind] += 1
            except Exception as exc:  # noqa: BLE001 - an outage; counted, retried next turn
                self.errors[f"{kind} {type(exc).__name__}"] += 1

    def _start(self, kind: str, batch: int) -> str:
        with self.app.app_context():
            try:
                project = projects.get(self.project_id)
                if kind == "import":
                    rows = "".join(
                        f"https://img.example/s{batch}-{i}.jpg\n" for i in range(IMPORT_ROWS)
                    )
                    record = jobs.start_import(
                        project, None, ("url\n" + rows).encode(), "csv", key=f"soak-{batch}"
                    )
                else:
                    what = ("tasks", "answers", "results")[batch % 3]
                    record = jobs.start_export(
                        project, None, what, ("csv", "json", "jsonl")[batch % 3]
                    )
                job_id = record.id
                db.session.commit()
                return job_id
            finally:
                db.session.remove()

    def statuses(self) -> Counter:
        with self.app.app_context():
            try:
                rows = db.session.execute(
                    select(JobRecord.status, func.count())
                    .where(JobRecord.id.in_(self.job_ids))
                    .group_by(JobRecord.status)
                ).all()
                return Counter(dict(rows))
            finally:
                db.session.remove()


def restart_redis_node(cluster: RedisCluster, name: str) -> None:
    """Start a killed Redis node again; Sentinel turns it into a replica of the new master."""
    conf = cluster.dir / name / "redis.conf"
    cluster._start(name, [_binary("redis-server"), str(conf)])


def wait_for_replica(cluster: RedisCluster, timeout: float = 60) -> bool:
    sentinel = cluster.sentinel_client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sentinel.discover_slaves(MASTER_NAME):
                return True
        except RedisError:
            pass
        time.sleep(0.5)
    return False


def master_name(cluster: RedisCluster) -> str:
    _, port = cluster.master_address()
    return "master" if port == cluster.master_port else "replica"


def fault_postgres(pg: PostgresServer, crowd: Crowd, table: FaultTable) -> None:
    crashed = time.monotonic()
    harness.crash_postgres(pg)
    time.sleep(OUTAGE_SECONDS)
    harness.restart_postgres(pg)
    back = time.monotonic()
    recovered = wait_accepted(crowd, back)
    table.add(
        FaultRow(
            "PostgreSQL crash + restart",
            crowd.accepted_between(crashed, back),
            0,
            None if recovered is None else recovered - back,
            back - crashed,
            harness.describe_errors(crowd.statuses(crashed, back)),
        )
    )


def fault_redis(cluster: RedisCluster, crowd: Crowd, table: FaultTable) -> None:
    name = master_name(cluster)
    killed = time.monotonic()
    cluster.kill_master()
    sentinel = cluster.sentinel_client()
    back = None
    deadline = killed + 60
    while time.monotonic() < deadline:
        try:
            sentinel.master_for(MASTER_NAME, socket_timeout=0.2).set("labelhive:soak-probe", "1")
            back = time.monotonic()
            break
        except RedisError:
            time.sleep(0.05)
    if back is None:
        raise RuntimeError("no Redis master accepted a write within 60 s of the kill")
    recovered = wait_accepted(crowd, back)
    restart_redis_node(cluster, name)
    rejoined = wait_for_replica(cluster)
    table.add(
        FaultRow(
            "Redis master SIGKILL",
            crowd.accepted_between(killed, back),
            0,
            None if recovered is None else recovered - back,
            back - killed,
            harness.describe_errors(crowd.statuses(killed, back)),
            "killed node rejoined as replica" if rejoined else "killed node did NOT rejoin",
        )
    )


def fault_worker(server, crowd: Crowd, table: FaultTable) -> None:  # noqa: ANN001
    killed = time.monotonic()
    _, respawn = harness.kill_worker(server.proc, 2)
    back = killed + respawn
    recovered = wait_accepted(crowd, killed)
    table.add(
        FaultRow(
            "gunicorn worker SIGKILL",
            crowd.accepted_between(killed, back),
            0,
            None if recovered is None else recovered - killed,
            back - killed,
            harness.describe_errors(crowd.statuses(killed, back + 1)),
            "outage = until the master had 2 workers again",
        )
    )


def wait_accepted(crowd: Crowd, since: float, timeout: float = 60) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = crowd.first_accepted_after(since)
        if found is not None:
            return found
        time.sleep(0.05)
    return None


def soak(seconds: float, fault_interval: float) -> int:
    failures: list[str] = []
    table = FaultTable("soak-faults")
    pg = PostgresServer()
    pg.start()
    try:
        url = pg.create_database("soak")
        harness.synchronous_commits(pg, "soak")
        setup = harness.setup_database(url, annotators=ANNOTATORS, tasks=1000, lease_ttl=30)
        with redis_cluster() as cluster:
            env = harness.server_env(
                url,
                **cluster.env(),
                LABELHIVE_SCHEDULER_TICK_SECONDS="1",
                LABELHIVE_JOB_STALE_SECONDS="20",
                LABELHIVE_CONSENSUS_DEBOUNCE_SECONDS="30",
            )
            with labelhive_server(env, workers=2, threads=4) as server:
                worker = Background(env, "worker")
                scheduler = Background(env, "scheduler")
                operations = Operations(env, server.url, setup.project_id, setup.owner_key)
                try:
                    crowd = Crowd(server.url, setup.project_id, setup.keys, pace=0.05)
                    with crowd:
                        operations.start()
                        run_faults(seconds, fault_interval, pg, cluster, server, crowd, table)
                        operations.stop()
                    log("load stopped; waiting for the jobs to drain")
                    drained = drain(operations, timeout=180)
                    for process in (worker, scheduler):
                        if not process.alive():
                            failures.append(
                                f"`labelhive {process.args[0]}` exited:\n{process.tail()}"
                            )
                finally:
                    for process in (worker, scheduler):
                        process.stop()
                statuses = operations.statuses()
                if not drained:
                    failures.append(f"jobs did not finish: {dict(statuses)}")
                server_errors = crowd.server_errors()
            failures.extend(report(crowd, operations, statuses, server_errors, table, url))
    finally:
        pg.stop()
    for failure in failures:
        log(f"FAILED: {failure}")
    log("result: " + ("FAILED" if failures else "OK"))
    return 1 if failures else 0


def run_faults(seconds, fault_interval, pg, cluster, server, crowd, table) -> None:  # noqa: ANN001
    faults = [
        ("PostgreSQL crash + restart", lambda: fault_postgres(pg, crowd, table)),
        ("Redis master SIGKILL", lambda: fault_redis(cluster, crowd, table)),
        ("gunicorn worker SIGKILL", lambda: fault_worker(server, crowd, table)),
    ]
    started = time.monotonic()
    end = started + seconds
    number = 0
    next_fault = started + min(fault_interval, seconds / 2)
    while time.monotonic() < end:
        if time.monotonic() >= next_fault:
            name, inject = faults[number % len(faults)]
            number += 1
            log(f"fault {number}: {name}")
            inject()
            next_fault = time.monotonic() + fault_interval
        time.sleep(0.2)
        elapsed = time.monotonic() - started
        if int(elapsed) % 30 == 0 and elapsed % 30 < 0.2:
            log(f"{elapsed:.0f} s: {len(crowd.accepted)} answers accepted")


def drain(operations: Operations, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            statuses = operations.statuses()
        except Exception:  # noqa: BLE001 - keep waiting
            statuses = Counter({"?": 1})
        if not statuses.get("queued") and not statuses.get("running") and not statuses.get("?"):
            return True
        time.sleep(1)
    return False


def report(crowd, operations, statuses, server_errors, table, url) -> list[str]:  # noqa: ANN001
    failures = []
    engine = harness.engine_for(url)
    try:
        lost = harness.lost_answers(engine, crowd.accepted)
    finally:
        engine.dispose()
    calls = Counter()
    for (call, status), number in crowd.statuses().items():
        calls[f"{call} {status or 'conn'}"] += number
    log(f"answers acknowledged: {len({a.answer_id for a in crowd.accepted})}; lost: {len(lost)}")
    log(f"responses: {dict(sorted(calls.items()))}; no task left for the annotator: {crowd.idle}")
    log(
        f"owner operations: {dict(operations.done)};"
        f" refused during faults: {dict(operations.errors)}"
    )
    log(f"jobs: {dict(statuses)}")
    for row in table.rows:
        row.lost = len(lost)  # every acknowledged answer is checked once, at the end
    path = table.write()
    print(f"\nfaults ({path}):\n{table.render()}\n", flush=True)
    if lost:
        failures.append(f"{len(lost)} acknowledged answers are missing: {lost[:5]}")
    if server_errors:
        failures.append(
            f"{len(server_errors)} responses were 5xx other than 503: {server_errors[:5]}"
        )
    if statuses.get("failed"):
        failures.append(f"{statuses['failed']} jobs failed")
    env = {"DATABASE_URL": url, "SECRET_KEY": "soak"}
    check = labelhive_cli("check", "--lease-grace", "120", env=env, check=False)
    log(f"labelhive check (exit {check.returncode}): {(check.stdout + check.stderr).strip()}")
    if check.returncode != 0:
        failures.append("labelhive check found inconsistencies")
    return failures


def main() -> None:
    seconds = float(os.environ.get("SOAK_SECONDS", "1800"))
    fault_interval = float(os.environ.get("SOAK_FAULT_INTERVAL", "60"))
    log(f"soak for {seconds:.0f} s, a fault every {fault_interval:.0f} s, {ANNOTATORS} annotators")
    sys.exit(soak(seconds, fault_interval))


if __name__ == "__main__":
    main()
