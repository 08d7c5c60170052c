"""Benchmark: N simulated annotators looping claim → submit over HTTP for a fixed time.

Prints one summary line ``annotate: key=value ...``. Run with ``make bench`` or
``.venv/bin/python -m bench.annotate --db postgresql --annotators 32 --seconds 20``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server

OPTIONS = ["cat", "dog", "bird"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def loop(base: str, project_id: int, key: str, stop: float, out: dict[str, list]) -> None:
    session = requests.Session()
    session.params = {"api_key": key}
    claims, submits, errors = [], [], 0
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        response = session.get(f"{base}/api/project/{project_id}/newtask", timeout=30)
        t1 = time.perf_counter()
        task = response.json() if response.status_code == 200 else None
        if not task:
            errors += response.status_code != 200
            break
        answer = session.post(
            f"{base}/api/taskrun",
            json={"project_id": project_id, "task_id": task["id"], "info": OPTIONS[task["id"] % 3]},
            timeout=30,
        )
        t2 = time.perf_counter()
        errors += answer.status_code != 200
        claims.append(t1 - t0)
        submits.append(t2 - t1)
    out["claims"].extend(claims)
    out["submits"].extend(submits)
    out["errors"].append(errors)


def run(db: str, annotators: int, seconds: float, n_tasks: int, workers: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        pg = None
        if db == "postgresql":
            pg = PostgresServer()
            pg.start()
            url = pg.create_database("bench")
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        try:
            env = {"DATABASE_URL": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": "0"}
            labelhive_cli("db", "upgrade", env=env)
            labelhive_cli("users", "create", "owner", "--admin", env=env)
            names = [f"a{i:03d}" for i in range(annotators)]
            out = labelhive_cli("users", "create", *names, env=env).stdout
            keys = [line.split()[1] for line in out.splitlines()]
            pid = int(
                labelhive_cli(
                    "projects",
                    "create",
                    "bench",
                    "--owner",
                    "owner",
                    "--answers",
                    ",".join(OPTIONS),
                    "--redundancy",
                    "3",
                    "--publish",
                    env=env,
                ).stdout
            )
            source = Path(tmp) / "tasks.csv"
            source.write_text(
                "url\n" + "".join(f"https://img.example/{i}.jpg\n" for i in range(n_tasks))
            )
            labelhive_cli("import", "bench", str(source), env=env)
            with labelhive_server(env, workers=workers, threads=16) as server:
                results: dict[str, list] = {"claims": [], "submits": [], "errors": []}
                stop = time.monotonic() + seconds
                started = time.monotonic()
                threads = [
                    threading.Thread(target=loop, args=(server.url, pid, key, stop, results))
                    for key in keys
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.monotonic() - started
        finally:
            if pg is not None:
                pg.stop()
    claims, submits = results["claims"], results["submits"]
    ms = 1000
    mean_loop = statistics.fmean(c + s for c, s in zip(claims, submits, strict=True)) * ms
    return (
        f"annotate: db={db} annotators={annotators} workers={workers} seconds={elapsed:.1f} "
        f"loops={len(submits)} loops_per_s={len(submits) / elapsed:.0f} "
        f"claim_p50_ms={percentile(claims, 0.5) * ms:.1f} "
        f"claim_p95_ms={percentile(claims, 0.95) * ms:.1f} "
        f"claim_p99_ms={percentile(claims, 0.99) * ms:.1f} "
        f"submit_p50_ms={percentile(submits, 0.5) * ms:.1f} "
        f"submit_p95_ms={percentile(submits, 0.95) * ms:.1f} "
        f"submit_p99_ms={percentile(submits, 0.99) * ms:.1f} "
        f"mean_loop_ms={mean_loop:.1f} "
        f"errors={sum(results['errors'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    workers = args.workers or (1 if args.db == "sqlite" else 5)
    print(run(args.db, args.annotators, args.seconds, args.tasks, workers))


if __name__ == "__main__":
    main()
