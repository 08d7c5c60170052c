"""Benchmark: how long a user's export waits behind consensus recomputations.

Two projects of 300,000 answers each (``--answers``, ``BENCH_SCALE``) in PostgreSQL, Redis, and
one ``labelhive worker`` (all queues, in their order). Three scenarios, each from empty queues:

- ``before``: the previous release's queues — consensus on ``default``, exports on ``low`` —
  with both projects' recomputations queued, then an export asked for;
- ``after``: this release's — exports on ``default``, consensus on ``low`` — the same requests;
- ``after_running``: the export is asked for while a recomputation already runs (a running job
  is never interrupted: the wait is what is left of it, one job per project at most).

The wait is the export's record ``started - created`` (the job's own work excluded). Prints one
summary line ``export-wait: key=value ...``. Run with ``.venv/bin/python -m bench.export_wait``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid

from bench.common import report
from bench.common import scaled
from bench.consensus import ANNOTATORS
from bench.consensus import OPTIONS
from bench.consensus import fill
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli
from tests.common.redis import RedisServer


def _submit(app, name: str, args: tuple, kind: str, queue: str, project_id: int) -> str:  # noqa: ANN001
    from labelhive.extensions import db
    from labelhive.jobs import records

    with app.app_context():
        job_id = f"{kind}-{project_id}-{uuid.uuid4().hex[:8]}"
        records.submit(
            job_id, name, job_id, project_id, *args, kind=kind, queue=queue, project_id=project_id
        )
        db.session.commit()
        return job_id


def _record(app, job_id: str):  # noqa: ANN001, ANN202
    from labelhive.extensions import db
    from labelhive.jobs.models import JobRecord

    with app.app_context():
        record = db.session.get(JobRecord, job_id)
        db.session.expunge(record)
        db.session.remove()
        return record


def scenario(app, env: dict[str, str], projects: list[int], mode: str) -> dict[str, float]:  # noqa: ANN001
    consensus_queue, export_queue = ("default", "low") if mode == "before" else ("low", "default")
    worker = None
    consensus = []
    if mode == "after_running":
        consensus.append(
            _submit(app, "refresh_consensus", (), "consensus", consensus_queue, projects[0])
        )
        worker = _start_worker(env)
        while _record(app, consensus[0]).status != "running":
            time.sleep(0.05)
        consensus.append(
            _submit(app, "refresh_consensus", (), "consensus", consensus_queue, projects[1])
        )
    else:
        for pid in projects:
            consensus.append(
                _submit(app, "refresh_consensus", (), "consensus", consensus_queue, pid)
            )
    export = _submit(app, "export_file", ("answers", "csv"), "export", export_queue, projects[0])
    worker = worker or _start_worker(env)
    if worker.wait(timeout=1800) != 0:
        raise RuntimeError(f"worker failed: {worker.stderr.read() if worker.stderr else ''}")
    done = _record(app, export)
    ran = [_record(app, job_id) for job_id in consensus]
    if done.status != "finished" or any(r.status != "finished" for r in ran):
        raise RuntimeError(f"{mode}: jobs did not all finish: {done.error}")
    return {
        f"{mode}_wait_s": (done.started - done.created).total_seconds(),
        f"{mode}_consensus_s": max((r.finished - r.started).total_seconds() for r in ran),
    }


def _start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "labelhive.cli", "worker", "--burst"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(answers: int) -> str:
    figures: dict[str, object] = {"answers": answers}
    pg = PostgresServer()
    redis = RedisServer()
    pg.start()
    redis.start()
    try:
        url = pg.create_database("bench")
        env = {"DATABASE_URL": url, "SECRET_KEY": "bench", **redis.config()}
        labelhive_cli("db", "upgrade", env=env)
        labelhive_cli("users", "create", "owner", "--admin", env=env)
        labelhive_cli("users", "create", *[f"a{i}" for i in range(ANNOTATORS)], env=env)
        import psycopg

        with psycopg.connect(url) as conn:
            user_ids = [
                r[0]
                for r in conn.execute("SELECT id FROM users WHERE name ~ '^a[0-9]+$' ORDER BY id")
            ]
        projects = []
        for name in ("p1", "p2"):
            pid = int(
                labelhive_cli(
                    "projects", "create", name, "--owner", "owner", "--answers",
                    ",".join(OPTIONS), env=env,
                ).stdout
            )  # fmt: skip
            with psycopg.connect(url) as conn:
                fill(conn, pid, answers, user_ids)
            projects.append(pid)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        os.environ.update(env)
        from labelhive import create_app

        app = create_app()
        for mode in ("before", "after", "after_running"):
            figures.update(scenario(app, env, projects, mode))
    finally:
        redis.stop()
        pg.stop()
    return report("export-wait", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=scaled(300_000, 3000))
    run(parser.parse_args().answers)


if __name__ == "__main__":
    main()
