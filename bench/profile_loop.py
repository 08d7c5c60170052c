"""Profile the HTTP claim → submit loop in one process (not a benchmark: prints a profile).

Flask's test client against a throw-away PostgreSQL (or SQLite), three annotators taking turns,
``--loops`` loops under pyinstrument (``.venv/bin/pip install pyinstrument``: not a project
dependency), or ``--functions N`` for the N functions costing most (cProfile). Use it to see
where a request's time goes: authentication, the engine's statements (on the driver, see
``labelhive.tasks.driver``), the follow-ups of a completed task, Flask itself.
Run with ``.venv/bin/python -m bench.profile_loop --loops 600``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--loops", type=int, default=600)
    parser.add_argument("--all", action="store_true", help="show library frames too")
    parser.add_argument(
        "--functions", type=int, default=0, help="print the N functions costing most CPU instead"
    )
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
        n = 2 * args.loops + 100
        source.write_text("url\n" + "".join(f"https://img.example/{i}.jpg\n" for i in range(n)))
        labelhive_cli("import", "bench", str(source), env=env)
        from labelhive import create_app

        app = create_app()
        client = app.test_client()

        def loop(count: int) -> None:
            for i in range(count):
                key = keys[i % 3]
                task = client.get(f"/api/project/{pid}/newtask?api_key={key}").get_json()
                answer = {"project_id": pid, "task_id": task["id"], "info": "cat"}
                response = client.post(f"/api/taskrun?api_key={key}", json=answer)
                assert response.status_code == 200, response.data

        loop(30)  # warm-up: imports, compiled statements, prepared statements
        started, cpu = time.perf_counter(), time.process_time()
        loop(args.loops)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{args.loops / wall:.0f} loops/s in one thread; "
            f"{cpu / args.loops * 1000:.2f} ms CPU per loop (this process only, no profiler)"
        )
        if args.functions:
            # deterministic: the functions' own time (tottime), to find the costly leaves
            profile = cProfile.Profile(time.process_time)
            profile.runcall(loop, args.loops)
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.functions)
            return
        profiler = Profiler(interval=0.0005)
        profiler.start()
        loop(args.loops)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=args.all))
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
