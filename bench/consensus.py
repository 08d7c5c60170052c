"""Benchmark: a consensus recomputation over 100,000 and 1,000,000 answers in PostgreSQL.

Two projects in one PostgreSQL database, filled in SQL (five answers per task from 200
annotators of mixed accuracy, four labels). For each, a child process (its own peak RSS) does
what the consensus job does, timed in phases: read the answers as arrays
(:mod:`labelhive.consensus.answer_arrays`, binary ``COPY``), aggregate them
(:func:`labelhive.consensus.consensus.aggregate_arrays`: majority vote, Dawid–Skene, agreement,
annotators), and store the result (:func:`labelhive.results.services.recompute`'s write,
:mod:`labelhive.consensus.store`: a batch of rows at a time). ``rss_compute`` is the peak before
the write, ``rss`` the child's peak overall, ``store_rss_added`` what the write added to it.
crowd-kit's own ``DawidSkene`` on the small project's answers (a pandas frame) is timed
alongside, for scale.

``BENCH_SCALE=10`` makes the sizes 1M and 10M (the issue's target: 10M answers in a 1 GiB
worker, under 2 minutes on 2 cores); ``--sizes`` picks others. Prints one summary line
``consensus: key=value ...``. Run with ``.venv/bin/python -m bench.consensus``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from bench.common import report
from bench.common import scaled
from bench.common import self_peak_rss_mib
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli

ANNOTATORS = 200
REDUNDANCY = 5
OPTIONS = ["cat", "dog", "bird", "fish"]


def fill(conn, project_id: int, answers: int, user_ids: list[int]) -> None:  # noqa: ANN001
    """``answers`` answers, REDUNDANCY distinct annotators per task, accuracy 0.55 to 0.95."""
    tasks = -(-answers // REDUNDANCY)
    conn.execute(
        "INSERT INTO task (project_id, info, n_answers, priority_0, state, calibration, quorum,"
        " n_done, n_reserved, created)"
        " SELECT %s, jsonb_build_object('url', 'https://img.example.org/' || g || '.jpg'),"
        " %s, 0, 'completed', 0, 0, %s, 0, now() FROM generate_series(1, %s) g",
        (project_id, REDUNDANCY, REDUNDANCY, tasks),
    )
    conn.execute("SELECT setseed(0.42)")
    conn.execute(
        "INSERT INTO answer (project_id, task_id, user_id, info, created, finish_time)"
        " SELECT t.project_id, t.id, u.id, to_jsonb((%s::text[])[1 + CASE"
        "   WHEN random() < 0.55 + (u.n %% 9) * 0.05 THEN t.id %% 4"
        "   ELSE floor(random() * 4)::int END]), now(), now()"
        " FROM task t CROSS JOIN generate_series(0, %s) AS k(n)"
        " JOIN LATERAL (SELECT (t.id * 7 + k.n * 13) %% %s AS n) AS pick ON true"
        " JOIN unnest(%s::int[]) WITH ORDINALITY AS u(id, n) ON u.n = pick.n + 1"
        " WHERE t.project_id = %s ORDER BY t.id, k.n LIMIT %s",
        (OPTIONS, REDUNDANCY - 1, ANNOTATORS, user_ids, project_id, answers),
    )


def child(project_id: int) -> None:
    """In a child process: one recomputation in phases; prints the timings as JSON."""
    from labelhive import create_app
    from labelhive.consensus import answer_arrays
    from labelhive.consensus import consensus
    from labelhive.extensions import db
    from labelhive.results import services

    app = create_app()
    with app.app_context():
        started = time.perf_counter()
        with db.engine.connect() as conn:
            ceiling = conn.exec_driver_sql(
                f"SELECT max(id) FROM answer WHERE project_id = {project_id}"
            ).scalar()
        arrays = answer_arrays.read(db.engine, project_id, ceiling)
        read_s = time.perf_counter() - started
        t0 = time.perf_counter()
        result = consensus.aggregate_arrays(arrays, options=OPTIONS)
        aggregate_s = time.perf_counter() - t0
        rss_compute = self_peak_rss_mib()
        t0 = time.perf_counter()
        services._store(db.engine, project_id, result, ceiling, started)
        store_s = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "read_s": read_s,
                    "aggregate_s": aggregate_s,
                    "store_s": store_s,
                    "total_s": time.perf_counter() - started,
                    "rss_compute_mib": rss_compute,
                    "items": len(result.items),
                }
            )
        )


def crowdkit_child(project_id: int) -> None:
    """crowd-kit's Dawid–Skene alone on the same answers (a pandas frame): for scale."""
    import numpy as np
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    from labelhive import create_app
    from labelhive.consensus import answer_arrays
    from labelhive.consensus import consensus
    from labelhive.extensions import db

    app = create_app()
    with app.app_context():
        arrays = answer_arrays.read(db.engine, project_id, 2**31 - 1)
    data = pd.DataFrame(
        {
            "task": arrays.task_ids[arrays.task],
            "worker": arrays.worker_ids[arrays.worker],
            "label": np.array(arrays.labels, dtype=object)[arrays.label],
        }
    )
    started = time.perf_counter()
    DawidSkene(n_iter=consensus.DS_MAX_ITERATIONS).fit(data)
    print(json.dumps({"crowdkit_ds_s": time.perf_counter() - started}))


def _measured(args: list[str], env: dict[str, str]) -> tuple[dict, float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.consensus", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"consensus child {args} failed: {out[-2000:]}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def _tag(n: int) -> str:
    return f"{n // 1_000_000}m" if n >= 1_000_000 else f"{n // 1000}k"


def run(sizes: list[int]) -> str:
    figures: dict[str, object] = {}
    pg = PostgresServer()
    pg.start()
    try:
        url = pg.create_database("bench")
        env = {"DATABASE_URL": url, "SECRET_KEY": "bench"}
        labelhive_cli("db", "upgrade", env=env)
        labelhive_cli("users", "create", "owner", "--admin", env=env)
        names = [f"a{i}" for i in range(ANNOTATORS)]
        labelhive_cli("users", "create", *names, env=env)
        import psycopg

        with psycopg.connect(url) as conn:
            user_ids = [
                r[0]
                for r in conn.execute("SELECT id FROM users WHERE name ~ '^a[0-9]+$' ORDER BY id")
            ]
        projects = []
        for n in sizes:
            pid = int(
                labelhive_cli(
                    "projects", "create", f"c{n}", "--owner", "owner", "--answers",
                    ",".join(OPTIONS), env=env,
                ).stdout
            )  # fmt: skip
            started = time.perf_counter()
            with psycopg.connect(url) as conn:
                fill(conn, pid, n, user_ids)
            figures[f"fill_{_tag(n)}_s"] = time.perf_counter() - started
            projects.append((n, pid))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        for n, pid in projects:
            timings, rss = _measured(["--child", str(pid)], env)
            tag = _tag(n)
            for key in ("read_s", "aggregate_s", "store_s", "total_s", "rss_compute_mib"):
                figures[f"{key.rsplit('_', 1)[0]}_{tag}_{key.rsplit('_', 1)[1]}"] = timings[key]
            figures[f"rss_{tag}_mib"] = rss
            figures[f"store_rss_added_{tag}_mib"] = max(rss - timings["rss_compute_mib"], 0)
        small, pid = projects[0]
        timings, rss = _measured(["--crowdkit", str(pid)], env)
        figures[f"crowdkit_ds_{_tag(small)}_s"] = timings["crowdkit_ds_s"]
        figures[f"crowdkit_rss_{_tag(small)}_mib"] = rss
    finally:
        pg.stop()
    return report("consensus", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--crowdkit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[scaled(100_000, 1000), scaled(1_000_000, 10_000)],
    )
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
    elif args.crowdkit is not None:
        crowdkit_child(args.crowdkit)
    else:
        run(args.sizes)


if __name__ == "__main__":
    main()
