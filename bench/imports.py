"""Benchmark: a CSV of image URLs through ``labelhive import`` vs a raw PostgreSQL ``COPY``.

One ``url`` column, 1,000,000 rows by default (``--rows``, or ``BENCH_SCALE``). Ceilings, in
the same run, on copies of the same migrated database:

- ``copy_file``: ``psql \\copy`` of the very same file into a one-column table (the floor of
  any import: read, parse, write);
- ``copy_tasks``: ``psql \\copy`` of the same rows already shaped as ``task`` rows into the
  ``task`` table with all its indexes (what the app's own ``COPY`` has to do at least).

Prints one summary line ``import: key=value ...``: rows/s, the ratio to each ceiling, and the
CLI's peak RSS. Run with ``.venv/bin/python -m bench.imports --rows 1000000``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import tempfile
from pathlib import Path

from bench.common import labelhive_args
from bench.common import report
from bench.common import run_measured
from bench.common import scaled
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli
from tests.common.processes import postgres_bin


def write_source(path: Path, rows: int) -> None:
    with path.open("w") as fh:
        fh.write("url\n")
        for i in range(rows):
            fh.write(f"https://img.example.org/bench/{i:07d}.jpg\n")


def write_task_rows(path: Path, rows: int, project_id: int) -> None:
    """The same rows as the ``task`` table stores them (CSV for ``COPY``)."""
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        for i in range(rows):
            info = json.dumps({"url": f"https://img.example.org/bench/{i:07d}.jpg"})
            out.writerow([project_id, info, 3, 0.0, "ongoing", 0, 0, 0, 0, "2026-01-01 00:00:00"])


def psql(pg: PostgresServer, database: str, command: str) -> float:
    import time

    started = time.perf_counter()
    subprocess.run(
        [
            postgres_bin("psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            pg.url(database),
            "-c",
            command,
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def run(rows: int) -> str:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pg = PostgresServer()
        pg.start()
        try:
            url = pg.create_database("bench")
            env = {
                "DATABASE_URL": url,
                "SECRET_KEY": "bench",
                # the default cap is 1M rows a file; an operator raises it the same way
                "LABELHIVE_MAX_IMPORT_ROWS": str(max(rows, 1_000_000)),
            }
            labelhive_cli("db", "upgrade", env=env)
            labelhive_cli("users", "create", "owner", "--admin", env=env)
            pid = int(
                labelhive_cli(
                    "projects", "create", "bench", "--owner", "owner", "--answers", "a,b", env=env
                ).stdout
            )
            import psycopg

            with psycopg.connect(pg.admin_url, autocommit=True) as conn:
                conn.execute('CREATE DATABASE "ceiling" TEMPLATE "bench"')
            source = tmp / "images.csv"
            write_source(source, rows)
            shaped = tmp / "tasks.csv"
            write_task_rows(shaped, rows, pid)

            app_s, rss = run_measured(labelhive_args("import", "bench", str(source)), env=env)
            psql(pg, "ceiling", "CREATE TABLE raw_import (url text)")
            file_s = psql(
                pg, "ceiling", f"\\copy raw_import FROM '{source}' WITH (FORMAT csv, HEADER)"
            )
            cols = (
                "project_id, info, n_answers, priority_0, state, calibration, quorum, n_done,"
                " n_reserved, created"
            )
            tasks_s = psql(pg, "ceiling", f"\\copy task ({cols}) FROM '{shaped}' WITH (FORMAT csv)")
            with psycopg.connect(url) as conn:
                stored = conn.execute("SELECT count(*) FROM task").fetchone()[0]
            if stored != rows:
                raise RuntimeError(f"imported {stored} tasks, expected {rows}")
        finally:
            pg.stop()
    return report(
        "import",
        {
            "rows": rows,
            "seconds": app_s,
            "rows_per_s": rows / app_s,
            "copy_file_rows_per_s": rows / file_s,
            "copy_tasks_rows_per_s": rows / tasks_s,
            "ratio_copy_file": file_s / app_s,
            "ratio_copy_tasks": tasks_s / app_s,
            "peak_rss_mib": rss,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=scaled(1_000_000, 1000))
    run(parser.parse_args().rows)


if __name__ == "__main__":
    main()
