"""Profile the HTTP claim → submit loop in one process (not a benchmark: prints a profile).

Flask's test client against a throw-away PostgreSQL (or SQLite), three annotators taking turns,
``--loops`` loops under pyinstrument (``.venv/bin/pip install pyinstrument``: not a project
dependency). Use it to see where a request's time goes: authentication, the project and task
loads, the engine's statements, the follow-ups of a completed task.
Run with ``.venv/bin/python -m bench.profile_loop --loops 600``.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--loops", type=int, default=600)
    parser.add_argument("--all", action="store_true", help="show library frames too")
    args = parser.parse_args()
    from pyinstrument import Profiler

    tmp = Path(tempfile.mkdtemp())
    pg = None
    if args.db == "postgresql":
        pg = PostgresServer()
        pg.start()
        url = pg.create_database("bench")
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    try:
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": "0",
            # consensus refreshes are RQ jobs on worker Pods in a deployment, not in the web tier
            "LABELHIVE_CONSENSUS_DEBOUNCE_SECONDS": "0",
        }
        os.environ.update(env)
        labelhive_cli("db", "upgrade", env=env)
        labelhive_cli("users", "create", "owner", "--admin", env=env)
        out = labelhive_cli("users", "create", "a1", "a2", "a3", env=env).stdout
        keys = [line.split()[1] for line in out.splitlines()]
        pid = int(
            labelhive_cli(
                "projects",
                "create",
                "bench",
                "--owner",
                "owner",
                "--answers",
                "cat,dog,bird",
                "--redundancy",
                "3",
                "--publish",
                env=env,
            ).stdout
        )
        source = tmp / "tasks.csv"
        n = args.loops + 100
        source.write_text("url\n" + "".join(f"https://img.example/{i}.jpg\n" for i in range(n)))
        labelhive_cli("import", "bench", str(source), env=env)
        from labelhive import create_app

        app = create_app()
        client = app.test_client()
        statements: collections.Counter[str] = collections.Counter()

        def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001, ARG001
            statements[statement.split(None, 1)[0].upper()] += 1

        with app.app_context():
            from labelhive.extensions import db

            event.listen(db.engine, "before_cursor_execute", count)

        def loop(count: int) -> None:
            for i in range(count):
                key = keys[i % 3]
                task = client.get(f"/api/project/{pid}/newtask?api_key={key}").get_json()
                answer = {"project_id": pid, "task_id": task["id"], "info": "cat"}
                response = client.post(f"/api/taskrun?api_key={key}", json=answer)
                assert response.status_code == 200, response.data

        loop(30)  # warm-up: imports, compiled-statement cache, prepared statements
        statements.clear()
        loop(30)
        per_loop = " ".join(f"{k}={v / 30:.1f}" for k, v in statements.most_common())
        print(
            f"SQL statements per claim+submit loop: {sum(statements.values()) / 30:.1f}"
            f" ({per_loop}; plus a pool pre-ping per connection checkout)"
        )
        profiler = Profiler(interval=0.0005)
        started, cpu = time.perf_counter(), time.process_time()
        profiler.start()
        loop(args.loops)
        profiler.stop()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{args.loops / wall:.0f} loops/s in one thread; "
            f"{cpu / args.loops * 1000:.2f} ms CPU per loop (this process only)"
        )
        print(profiler.output_text(unicode=False, color=False, show_all=args.all))
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
