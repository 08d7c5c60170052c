"""Benchmark: N simulated annotators looping claim → submit over HTTP for a fixed time.

Two surfaces: the API (``--surface api``: ``newtask`` then ``POST /api/taskrun``, by API key),
and the labeling page's own JSON endpoints (``--surface page``: signed-in sessions posting
``/project/<name>/label/answer``, whose reply carries the next task, as the page's script does).

The app (``labelhive serve``: gunicorn) against PostgreSQL or SQLite, and in the same run the
ceiling: the same claim + submit SQL run straight against the database at the same
concurrency — ``pgbench`` with a custom script on PostgreSQL, threads with their own
``sqlite3`` connections (``BEGIN IMMEDIATE``) on SQLite. Prints one summary line
``annotate: key=value ...``. The annotators are keep-alive connections on one event loop per
load-generator process, one process per core (the generator shares the cores with the server:
it must cost little, and no GIL of its own may queue the responses it times).
Run with ``make bench`` or
``.venv/bin/python -m bench.annotate --db postgresql --annotators 32 --seconds 20``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import re
import selectors
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import percentile
from bench.common import report
from labelhive.cli import default_workers
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli
from tests.common.processes import labelhive_server
from tests.common.processes import postgres_bin

OPTIONS = ["cat", "dog", "bird"]
REDUNDANCY = 3
PASSWORD = "bench annotator password"
PROJECT = "bench"

# The engine's claim (one statement: pick with SKIP LOCKED, reserve the slot, insert the lease)
# and submit (task row lock, drop the lease, insert the answer, update the counters, write the
# result when complete), as raw SQL: what the database can do with no application in between.
PGBENCH_SCRIPT = """
\\set u :client_id + :ubase
BEGIN;
WITH picked AS (
  SELECT t.id FROM task t
  WHERE t.project_id = :p AND t.state = 'ongoing' AND t.gold_answer IS NULL
    AND t.n_done + t.n_reserved < t.n_answers
    AND NOT EXISTS (SELECT 1 FROM answer a WHERE a.task_id = t.id AND a.user_id = :u)
    AND NOT EXISTS (SELECT 1 FROM lease l WHERE l.task_id = t.id AND l.user_id = :u)
    AND NOT EXISTS (SELECT 1 FROM skip s WHERE s.task_id = t.id AND s.user_id = :u)
  ORDER BY t.priority_0 DESC, t.n_done + t.n_reserved DESC, t.id
  LIMIT 1 FOR UPDATE OF t SKIP LOCKED
), reserved AS (
  UPDATE task SET n_reserved = task.n_reserved + 1 FROM picked WHERE task.id = picked.id
  RETURNING task.id, task.project_id
), leased AS (
  INSERT INTO lease (project_id, task_id, user_id, created, expires_at)
  SELECT project_id, id, :u, now(), now() + interval '600 seconds' FROM reserved
  RETURNING task_id
)
SELECT task_id AS t FROM leased \\gset
COMMIT;
BEGIN;
SELECT t.n_done, t.n_answers, p.info AS options, a.id AS answered, l.created AS leased
  FROM task t JOIN project p ON p.id = t.project_id
  LEFT JOIN answer a ON a.task_id = t.id AND a.user_id = :u
  LEFT JOIN lease l ON l.task_id = t.id AND l.user_id = :u
  WHERE t.id = :t FOR UPDATE OF t \\gset
DELETE FROM lease WHERE task_id = :t AND (user_id = :u OR expires_at <= now());
INSERT INTO answer (project_id, task_id, user_id, info, created, finish_time)
  VALUES (:p, :t, :u, '"cat"', now(), now());
UPDATE task SET n_done = n_done + 1, n_reserved = n_reserved - 1,
  state = CASE WHEN n_done + 1 >= n_answers THEN 'completed' ELSE state END
  WHERE id = :t
  RETURNING (state = 'completed')::int AS done,
    (SELECT count(*) FROM answer WHERE task_id = :t) AS stored \\gset
\\if :done
INSERT INTO result (project_id, task_id, task_run_ids, last_version, created)
  SELECT :p, :t, jsonb_agg(id ORDER BY id), true, now() FROM answer WHERE task_id = :t;
\\endif
COMMIT;
"""


class _Annotator:
    """One annotator's keep-alive connection, and where it is in its claim → submit loop."""

    def __init__(self, port: int, project_id: int, key: str) -> None:
        self.port = port
        self.project_id = project_id
        host = f"Host: 127.0.0.1:{port}\r\n"
        self.claim_request = (
            f"GET /api/project/{project_id}/newtask?api_key={key} HTTP/1.1\r\n{host}\r\n"
        ).encode()
        self.submit_head = (
            f"POST /api/taskrun?api_key={key} HTTP/1.1\r\n{host}"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self.buffer = bytearray()
        self.claiming = True
        self.sent = 0.0
        self.claim_s = 0.0
        self.sock = self._connect()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def claim(self) -> None:
        self.claiming = True
        self.sent = time.perf_counter()
        self.sock.sendall(self.claim_request)

    def submit(self, task_id: int) -> None:
        answer = {"project_id": self.project_id, "task_id": task_id, "info": OPTIONS[task_id % 3]}
        body = json.dumps(answer).encode()
        self.claiming = False
        self.sent = time.perf_counter()
        self.sock.sendall(self.submit_head + str(len(body)).encode() + b"\r\n\r\n" + body)

    def response(self) -> tuple[int, bytes, bool] | None:
        """``(status, body, closing)`` once the buffer holds a whole response, else ``None``."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower()
        length = _CONTENT_LENGTH.search(head)
        if length is None:  # gunicorn sends Content-Length for every JSON answer of the API
            raise RuntimeError(f"a response without Content-Length: {head[:200]!r}")
        size = end + 4 + int(length.group(1))
        if len(self.buffer) < size:
            return None
        body = bytes(self.buffer[end + 4 : size])
        del self.buffer[:size]
        return int(head[9:12]), body, b"\r\nconnection: close" in head

    def reconnect(self, selector: selectors.BaseSelector) -> None:
        selector.unregister(self.sock)
        self.sock.close()
        self.buffer.clear()
        self.sock = self._connect()
        selector.register(self.sock, selectors.EVENT_READ, self)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)")


def annotators(port: int, project_id: int, keys: list[str], stop: float) -> dict[str, list]:
    """Annotators looping claim → submit until ``stop``, one keep-alive connection each, on
    one thread's event loop (a load-generator process runs this).

    Raw sockets and a selector rather than a client library or a thread per annotator: the
    generator shares the cores with the server, so it must cost little CPU, and a thread that
    waits for its process's GIL after its response arrived would add that wait to the latency
    it times. Loops count when their submit is answered; a claim answered with no task (the
    project is done) or an error status ends that annotator.
    """
    claims: list[float] = []
    submits: list[float] = []
    errors = 0
    selector = selectors.DefaultSelector()
    for key in keys:
        annotator = _Annotator(port, project_id, key)
        selector.register(annotator.sock, selectors.EVENT_READ, annotator)
        annotator.claim()
    active = len(keys)
    while active:
        events = selector.select(timeout=60)
        if not events:
            raise RuntimeError(f"no response in 60 s ({active} annotators waiting)")
        for selected, _ in events:
            annotator = selected.data
            data = annotator.sock.recv(1 << 16)
            if not data:
                raise RuntimeError("the server closed a connection with a request pending")
            annotator.buffer += data
            answered = annotator.response()
            if answered is None:
                continue
            now = time.perf_counter()
            status, body, closing = answered
            if closing:
                annotator.reconnect(selector)
            if annotator.claiming:
                task = json.loads(body) if status == 200 else None
                if task:
                    annotator.claim_s = now - annotator.sent
                    annotator.submit(task["id"])
                    continue
                errors += status != 200
            else:
                errors += status != 200
                claims.append(annotator.claim_s)
                submits.append(now - annotator.sent)
                if time.monotonic() < stop:
                    annotator.claim()
                    continue
            selector.unregister(annotator.sock)
            annotator.sock.close()
            active -= 1
    selector.close()
    return {"claims": claims, "submits": submits, "errors": [errors]}


class _PageAnnotator(_Annotator):
    """One signed-in annotator on the labeling page: each answer's reply names the next task."""

    def __init__(self, port: int, session: tuple[str, str]) -> None:
        # not the API annotator's set-up: only its response parsing and (re)connection
        cookie, csrf = session
        self.head = (
            f"Host: 127.0.0.1:{port}\r\nCookie: {cookie}\r\nX-CSRFToken: {csrf}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: "
        )
        self.port = port
        self.buffer = bytearray()
        self.sent = 0.0
        self.answering = False  # the first request is ``state``; the answers are timed
        self.sock = self._connect()

    def post(self, what: str, body: dict) -> None:
        data = json.dumps(body).encode()
        request = f"POST /project/{PROJECT}/label/{what} HTTP/1.1\r\n{self.head}{len(data)}"
        self.sent = time.perf_counter()
        self.sock.sendall(request.encode() + b"\r\n\r\n" + data)


def page_annotators(port: int, sessions: list[tuple[str, str]], stop: float) -> dict[str, list]:
    """Signed-in annotators answering on the labeling page until ``stop`` (as
    :func:`annotators`): the first request is ``state``, then one ``answer`` per loop."""
    answers: list[float] = []
    errors = 0
    selector = selectors.DefaultSelector()
    for session in sessions:
        annotator = _PageAnnotator(port, session)
        selector.register(annotator.sock, selectors.EVENT_READ, annotator)
        annotator.post("state", {})
    active = len(sessions)
    while active:
        events = selector.select(timeout=60)
        if not events:
            raise RuntimeError(f"no response in 60 s ({active} annotators waiting)")
        for selected, _ in events:
            annotator = selected.data
            data = annotator.sock.recv(1 << 16)
            if not data:
                raise RuntimeError("the server closed a connection with a request pending")
            annotator.buffer += data
            answered = annotator.response()
            if answered is None:
                continue
            now = time.perf_counter()
            status, body, closing = answered
            if closing:
                annotator.reconnect(selector)
            errors += status != 200
            if annotator.answering:
                answers.append(now - annotator.sent)
            annotator.answering = True
            tasks = json.loads(body).get("tasks") if status == 200 else None
            if tasks and time.monotonic() < stop:
                task_id = tasks[0]["id"]
                annotator.post("answer", {"task_id": task_id, "answer": OPTIONS[task_id % 3]})
                continue
            selector.unregister(annotator.sock)
            annotator.sock.close()
            active -= 1
    selector.close()
    return {"answers": answers, "errors": [errors]}


def sign_in(url: str, name: str) -> tuple[str, str]:
    """A signed-in session of ``name``: (its Cookie header, its CSRF token)."""
    session = requests.Session()
    page = session.get(f"{url}/account/signin", timeout=60).text
    token = _CSRF.search(page)
    if token is None:
        raise RuntimeError("no CSRF token on the sign-in page")
    signed = session.post(
        f"{url}/account/signin",
        data={"login": name, "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=60,
    )
    if signed.status_code != 302:
        raise RuntimeError(f"{name} could not sign in: {signed.status_code}")
    label = session.get(f"{url}/project/{PROJECT}/label", timeout=60)
    token = _CSRF.search(label.text)
    if label.status_code != 200 or token is None:
        raise RuntimeError(f"{name} has no labeling page: {label.status_code}")
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    return cookie, token.group(1)


_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def prepare(
    env: dict[str, str], annotators: int, n_tasks: int, tmp: Path, *, passwords: bool = False
) -> tuple[int, list]:
    """Schema, users, a published project with ``n_tasks`` image tasks: (project id, keys).

    :param passwords: give the annotators a password (the page's sessions sign in with it).
    """
    labelhive_cli("db", "upgrade", env=env)
    labelhive_cli("users", "create", "owner", "--admin", env=env)
    names = [f"a{i:03d}" for i in range(annotators)]
    extra = ["--password", PASSWORD] if passwords else []
    out = labelhive_cli("users", "create", *names, *extra, env=env).stdout
    keys = [line.split()[1] for line in out.splitlines()]
    pid = int(
        labelhive_cli(
            "projects",
            "create",
            PROJECT,
            "--owner",
            "owner",
            "--answers",
            ",".join(OPTIONS),
            "--redundancy",
            str(REDUNDANCY),
            "--publish",
            env=env,
        ).stdout
    )
    source = tmp / "tasks.csv"
    source.write_text("url\n" + "".join(f"https://img.example/{i}.jpg\n" for i in range(n_tasks)))
    labelhive_cli("import", PROJECT, str(source), env=env)
    return pid, keys


def run_app(env: dict[str, str], pid: int, keys: list[str], seconds: float, **server) -> dict:
    with labelhive_server(env, **server) as srv:
        # warm-up: every worker imports and connects before the clock starts
        for key in keys[:4]:
            requests.get(f"{srv.url}/api/project/{pid}", params={"api_key": key}, timeout=60)
        # one load-generator process per core, so no single client GIL queues the requests
        processes = min(os.cpu_count() or 1, len(keys))
        shares = [keys[i::processes] for i in range(processes)]
        started = time.monotonic()
        stop = started + seconds
        with concurrent.futures.ProcessPoolExecutor(processes) as pool:
            futures = [pool.submit(annotators, srv.port, pid, share, stop) for share in shares]
            parts = [future.result() for future in futures]
        elapsed = time.monotonic() - started
    claims = [c for part in parts for c in part["claims"]]
    submits = [s for part in parts for s in part["submits"]]
    ms = 1000
    return {
        "loops": len(submits),
        "loops_per_s": len(submits) / elapsed,
        "claim_p50_ms": percentile(claims, 0.5) * ms,
        "claim_p95_ms": percentile(claims, 0.95) * ms,
        "claim_p99_ms": percentile(claims, 0.99) * ms,
        "submit_p50_ms": percentile(submits, 0.5) * ms,
        "submit_p95_ms": percentile(submits, 0.95) * ms,
        "submit_p99_ms": percentile(submits, 0.99) * ms,
        "errors": sum(sum(part["errors"]) for part in parts),
    }


def run_page(env: dict[str, str], annotators: int, seconds: float, **server) -> dict:
    """The labeling page's loop: one ``answer`` request per loop (its reply names the next)."""
    names = [f"a{i:03d}" for i in range(annotators)]
    with labelhive_server(env, **server) as srv:
        sessions = [sign_in(srv.url, name) for name in names]
        processes = min(os.cpu_count() or 1, len(sessions))
        shares = [sessions[i::processes] for i in range(processes)]
        started = time.monotonic()
        stop = started + seconds
        with concurrent.futures.ProcessPoolExecutor(processes) as pool:
            futures = [pool.submit(page_annotators, srv.port, share, stop) for share in shares]
            parts = [future.result() for future in futures]
        elapsed = time.monotonic() - started
    answers = [a for part in parts for a in part["answers"]]
    ms = 1000
    return {
        "loops": len(answers),
        "loops_per_s": len(answers) / elapsed,
        "answer_p50_ms": percentile(answers, 0.5) * ms,
        "answer_p95_ms": percentile(answers, 0.95) * ms,
        "answer_p99_ms": percentile(answers, 0.99) * ms,
        "errors": sum(sum(part["errors"]) for part in parts),
    }


def pgbench_ceiling(pg: PostgresServer, database: str, pid: int, clients: int, seconds: float):
    """Claim + submit loops per second straight from ``pgbench`` (prepared statements)."""
    import psycopg

    with psycopg.connect(pg.url(database)) as conn:
        ubase = conn.execute("SELECT min(id) FROM users WHERE name LIKE 'a%%'").fetchone()[0]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(PGBENCH_SCRIPT)
    cmd = [
        postgres_bin("pgbench"),
        "-n",
        "-h",
        "127.0.0.1",
        "-p",
        str(pg.port),
        "-U",
        "postgres",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(max(int(seconds), 1)),
        "-D",
        f"p={pid}",
        "-D",
        f"ubase={ubase}",
        "-f",
        fh.name,
        database,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    Path(fh.name).unlink()
    match = re.search(r"tps = ([\d.]+)", out.stdout)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"pgbench failed: {out.stdout[-1500:]} {out.stderr[-1500:]}")
    return float(match.group(1))


SQLITE_CLAIM = """
SELECT t.id FROM task t
WHERE t.project_id = ? AND t.state = 'ongoing' AND t.gold_answer IS NULL
  AND t.n_done + t.n_reserved < t.n_answers
  AND NOT EXISTS (SELECT 1 FROM answer a WHERE a.task_id = t.id AND a.user_id = ?1)
  AND NOT EXISTS (SELECT 1 FROM lease l WHERE l.task_id = t.id AND l.user_id = ?1)
  AND NOT EXISTS (SELECT 1 FROM skip s WHERE s.task_id = t.id AND s.user_id = ?1)
ORDER BY t.priority_0 DESC, t.n_done + t.n_reserved DESC, t.id LIMIT 1
"""


def sqlite_ceiling(path: Path, pid: int, clients: int, seconds: float) -> float:
    """Claim + submit loops per second with raw ``sqlite3`` connections, one per annotator."""
    conn = sqlite3.connect(path)
    users = [r[0] for r in conn.execute("SELECT id FROM users WHERE name LIKE 'a%' ORDER BY id")]
    conn.close()
    done = [0] * clients
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        db = sqlite3.connect(path, timeout=60, isolation_level=None)
        user = users[i]
        claim_sql = SQLITE_CLAIM.replace("t.project_id = ?", f"t.project_id = {pid}")
        while time.monotonic() < stop:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(claim_sql, (user,)).fetchone()
            if row is None:
                db.execute("COMMIT")
                return
            task = row[0]
            db.execute("UPDATE task SET n_reserved = n_reserved + 1 WHERE id = ?", (task,))
            db.execute(
                "INSERT INTO lease (project_id, task_id, user_id, created, expires_at)"
                " VALUES (?, ?, ?, datetime('now'), datetime('now', '+600 seconds'))",
                (pid, task, user),
            )
            db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "SELECT t.n_done, p.info, a.id, l.created FROM task t"
                " JOIN project p ON p.id = t.project_id"
                " LEFT JOIN answer a ON a.task_id = t.id AND a.user_id = ?2"
                " LEFT JOIN lease l ON l.task_id = t.id AND l.user_id = ?2 WHERE t.id = ?1",
                (task, user),
            ).fetchone()
            db.execute(
                "DELETE FROM lease WHERE task_id = ? AND (user_id = ? OR expires_at <= datetime())",
                (task, user),
            )
            db.execute(
                "INSERT INTO answer (project_id, task_id, user_id, info, created, finish_time)"
                " VALUES (?, ?, ?, '\"cat\"', datetime('now'), datetime('now'))",
                (pid, task, user),
            )
            full = db.execute(
                "UPDATE task SET n_done = n_done + 1, n_reserved = n_reserved - 1, state = CASE"
                " WHEN n_done + 1 >= n_answers THEN 'completed' ELSE state END WHERE id = ?"
                " RETURNING state = 'completed'",
                (task,),
            ).fetchone()[0]
            if full:
                db.execute(
                    "INSERT INTO result (project_id, task_id, task_run_ids, last_version, created)"
                    " SELECT ?, ?, json_group_array(id), 1, datetime('now') FROM answer"
                    " WHERE task_id = ?",
                    (pid, task, task),
                )
            db.execute("COMMIT")
            done[i] += 1
        db.close()

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def run(
    db: str,
    annotators: int,
    seconds: float,
    n_tasks: int,
    workers: int,
    threads: int,
    redis: bool,
    surface: str = "api",
) -> str:
    with contextlib.ExitStack() as stack:
        env = {"SECRET_KEY": "bench", "RATELIMIT_ENABLED": "0"}
        if redis:
            from tests.common.redis import redis_cluster

            # as deployed: jobs (consensus refreshes of completed tasks) are queued through
            # Sentinel for worker Pods; none runs here, so the web tier is measured alone
            env.update(stack.enter_context(redis_cluster()).env())
        figures = _run(env, db, annotators, seconds, n_tasks, workers, threads, surface)
    return report(
        "annotate" if surface == "api" else "annotate-page",
        {
            "db": db,
            "annotators": annotators,
            "workers": workers,
            "threads": threads,
            "redis": redis,
            "seconds": seconds,
            **figures,
        },
    )


def _run(
    env: dict[str, str],
    db: str,
    annotators: int,
    seconds: float,
    n_tasks: int,
    workers: int,
    threads: int,
    surface: str = "api",
) -> dict:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pg = None
        if db == "postgresql":
            pg = PostgresServer()
            pg.start()
            url = pg.create_database("bench")
        else:
            url = f"sqlite:///{tmp / 'bench.db'}"
        try:
            env = {**env, "DATABASE_URL": url}
            pid, keys = prepare(env, annotators, n_tasks, tmp, passwords=surface == "page")
            if pg is not None:
                import psycopg

                # an identical database for the ceiling, copied before the app touches it
                with psycopg.connect(pg.admin_url, autocommit=True) as conn:
                    conn.execute('CREATE DATABASE "ceiling" TEMPLATE "bench"')
            else:
                (tmp / "ceiling.db").write_bytes((tmp / "bench.db").read_bytes())
            if surface == "page":
                app = run_page(env, annotators, seconds, workers=workers, threads=threads)
            else:
                app = run_app(env, pid, keys, seconds, workers=workers, threads=threads)
            if pg is not None:
                ceiling = pgbench_ceiling(pg, "ceiling", pid, annotators, seconds)
            else:
                ceiling = sqlite_ceiling(tmp / "ceiling.db", pid, annotators, seconds)
        finally:
            if pg is not None:
                pg.stop()
    return {**app, "ceiling_loops_per_s": ceiling, "ratio": app["loops_per_s"] / ceiling}


def main() -> None:
    from bench.common import scale

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--surface",
        choices=["api", "page"],
        default="api",
        help="the API's newtask + taskrun, or the labeling page's answer endpoint",
    )
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=max(20 * scale(), 5))
    parser.add_argument("--tasks", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=None, help="threads per process")
    parser.add_argument(
        "--redis",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="queue jobs through Redis Sentinel (default: on for PostgreSQL, off for SQLite)",
    )
    args = parser.parse_args()
    # ``labelhive serve``'s defaults: one process on SQLite (writers are serialised anyway),
    # one per core of 6 threads on PostgreSQL (the best of a sweep on 2 cores)
    workers = args.workers or default_workers(args.db == "sqlite", os.cpu_count())
    threads = args.threads or (8 if args.db == "sqlite" else 6)
    redis = args.redis if args.redis is not None else args.db == "postgresql"
    run(args.db, args.annotators, args.seconds, args.tasks, workers, threads, redis, args.surface)


if __name__ == "__main__":
    main()
