"""Benchmark: answers exported as CSV and JSONL through ``labelhive export`` vs ``COPY TO``.

Two projects in one PostgreSQL database, with 100,000 and 1,000,000 answers by default
(``--small``/``--large``, or ``BENCH_SCALE``), generated in SQL. Each is exported with the CLI
(a child process: its own peak RSS) and, in the same run, with ``psql \\copy (SELECT ...) TO``
of the same columns (``row_to_json`` per row for JSONL). Streaming means the peak RSS of the
large export stays that of the small one. The same exports are also downloaded from a running
``labelhive serve`` (``GET /api/project/<id>/export/answers.<fmt>``, as a user downloads
them): the CLI's figure includes its start-up (about 0.7 s here, more than ``COPY`` takes for
a million rows), the download's does not. Prints one summary line ``export: key=value ...``.
Run with ``.venv/bin/python -m bench.exports``.
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import labelhive_args
from bench.common import report
from bench.common import run_measured
from bench.common import scaled
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server
from tests.common.processes import postgres_bin

COLUMNS = "id, created, finish_time, project_id, task_id, user_id, external_uid, info"
ANNOTATORS = 5
REDUNDANCY = 3


def fill(conn, project_id: int, answers: int, user_ids: list[int]) -> None:  # noqa: ANN001
    """``answers`` answers (REDUNDANCY per task, from the first annotators) in one project."""
    tasks = -(-answers // REDUNDANCY)
    conn.execute(
        "INSERT INTO task (project_id, info, n_answers, priority_0, state, calibration, quorum,"
        " n_done, n_reserved, created)"
        " SELECT %s, jsonb_build_object('url', 'https://img.example.org/' || g || '.jpg'),"
        " %s, 0, 'completed', 0, 0, %s, 0, now() FROM generate_series(1, %s) g",
        (project_id, REDUNDANCY, REDUNDANCY, tasks),
    )
    conn.execute(
        "INSERT INTO answer (project_id, task_id, user_id, info, created, finish_time)"
        " SELECT t.project_id, t.id, u.id,"
        " to_jsonb((ARRAY['cat', 'dog', 'bird'])[1 + (t.id + u.id) %% 3]), now(), now()"
        " FROM task t CROSS JOIN unnest(%s::int[]) AS u(id)"
        " WHERE t.project_id = %s ORDER BY t.id, u.id LIMIT %s",
        (user_ids[:REDUNDANCY], project_id, answers),
    )


def copy_out(pg: PostgresServer, query: str, target: Path, options: str = "") -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            postgres_bin("psql"),
            "-X",
            "-q",
            pg.url("bench"),
            "-c",
            f"\\copy ({query}) TO '{target}' {options}",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def download(port: int, path: str) -> tuple[float, int]:
    """GET ``path`` to the end: seconds and lines received (the body is not kept)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {response.read()[:300]!r}")
    lines = 0
    while chunk := response.read(1 << 20):
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds, lines


def download_all(
    env: dict[str, str], projects: dict[str, tuple[int, int]], key: str
) -> dict[tuple[str, str], float]:
    """Each project's answers in each format from a running server: ``(fmt, label)`` -> s."""
    seconds = {}
    with labelhive_server(env) as server:
        for fmt in ("csv", "jsonl"):
            for label, (pid, answers) in projects.items():
                path = f"/api/project/{pid}/export/answers.{fmt}?api_key={key}"
                seconds[fmt, label], lines = download(server.port, path)
                if lines - (1 if fmt == "csv" else 0) != answers:
                    raise RuntimeError(f"{fmt} download of {label}: {lines} lines, not {answers}")
    return seconds


def run(small: int, large: int) -> str:
    figures: dict[str, object] = {"small": small, "large": large}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pg = PostgresServer()
        pg.start()
        try:
            url = pg.create_database("bench")
            env = {"DATABASE_URL": url, "SECRET_KEY": "bench"}
            labelhive_cli("db", "upgrade", env=env)
            created = labelhive_cli("users", "create", "owner", "--admin", env=env)
            owner_key = created.stdout.split()[1]
            labelhive_cli("users", "create", *[f"a{i}" for i in range(ANNOTATORS)], env=env)
            import psycopg

            projects = {}
            with psycopg.connect(url) as conn:
                user_ids = [
                    r[0]
                    for r in conn.execute("SELECT id FROM users WHERE name LIKE 'a%' ORDER BY id")
                ]
            for label, answers in (("small", small), ("large", large)):
                pid = int(
                    labelhive_cli(
                        "projects",
                        "create",
                        label,
                        "--owner",
                        "owner",
                        "--answers",
                        "cat,dog,bird",
                        env=env,
                    ).stdout
                )
                with psycopg.connect(url) as conn:
                    fill(conn, pid, answers, user_ids)
                projects[label] = (pid, answers)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            downloads = download_all(env, projects, owner_key)
            for fmt in ("csv", "jsonl"):
                for label, (pid, answers) in projects.items():
                    out = tmp / f"{label}.{fmt}"
                    seconds, rss = run_measured(
                        labelhive_args(
                            "export", label, "--what", "answers", "--format", fmt, "-o", str(out)
                        ),
                        env=env,
                    )
                    lines = sum(1 for _ in out.open("rb")) - (1 if fmt == "csv" else 0)
                    if lines != answers:
                        raise RuntimeError(f"{fmt} export of {label}: {lines} rows, not {answers}")
                    out.unlink()
                    select = f"SELECT {COLUMNS} FROM answer WHERE project_id = {pid} ORDER BY id"
                    options = "WITH (FORMAT csv, HEADER)"
                    if fmt == "jsonl":
                        select, options = f"SELECT row_to_json(a) FROM ({select}) a", ""
                    copy_s = copy_out(pg, select, tmp / "copy.out", options)
                    (tmp / "copy.out").unlink()
                    figures[f"{fmt}_{label}_rows_per_s"] = answers / seconds
                    figures[f"{fmt}_{label}_copy_rows_per_s"] = answers / copy_s
                    figures[f"{fmt}_{label}_ratio"] = copy_s / seconds
                    figures[f"{fmt}_{label}_rss_mib"] = rss
                    http_s = downloads[fmt, label]
                    figures[f"{fmt}_{label}_http_rows_per_s"] = answers / http_s
                    figures[f"{fmt}_{label}_http_ratio"] = copy_s / http_s
        finally:
            pg.stop()
    return report("export", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=scaled(100_000, 1000))
    parser.add_argument("--large", type=int, default=scaled(1_000_000, 10_000))
    args = parser.parse_args()
    run(args.small, args.large)


if __name__ == "__main__":
    main()
