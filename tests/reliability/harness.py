"""What the fault tests and ``bench/soak.py`` share: a crowd of annotators over HTTP, the faults
themselves (PostgreSQL crash and restart, Redis master kill, gunicorn worker SIGKILL), the check
that every accepted answer is stored, and the fault table.

Every process is one the caller started; faults signal them by PID, never by name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import select

from labelhive import create_app
from labelhive import migrate
from labelhive.accounts import services as accounts
from labelhive.answers.models import Answer
from labelhive.config import normalise_database_url
from labelhive.extensions import db
from labelhive.imports import writer as task_services
from labelhive.imports.parsers import TaskSpec
from labelhive.projects import services as projects
from tests.common.processes import PostgresServer
from tests.common.processes import wait_for

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
OPTIONS = ["cat", "dog", "bird"]
CONNECTION_ERROR = 0  # the status recorded when no HTTP answer came back at all
OWNER_PASSWORD = "owner-password-for-faults"


# --- set-up -------------------------------------------------------------------------------


def setup_database(
    url: str, annotators: int, tasks: int, redundancy: int = 3, lease_ttl: int = 600
) -> Setup:
    """Migrate ``url`` and create an owner, ``annotators`` users and a published project."""
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        migrate.upgrade(db.engine)
        owner = accounts.create_user("owner", password=OWNER_PASSWORD, admin=True)
        users = [accounts.create_user(f"annotator{i}", password=None) for i in range(annotators)]
        project = projects.create_project(
            owner,
            {
                "name": "Faults",
                "short_name": "faults",
                "info": {"question": "Which animal?", "answers": OPTIONS},
                "default_n_answers": redundancy,
                "lease_ttl": lease_ttl,
                "published": True,
            },
        )
        specs = [TaskSpec({"url": f"https://img.example/{i}.jpg"}) for i in range(tasks)]
        task_services.import_tasks(project, specs)
        db.session.commit()
        setup = Setup(project.id, owner.api_key, [user.api_key for user in users])
        db.session.remove()
        db.engine.dispose()
    return setup


@dataclasses.dataclass
class Setup:
    project_id: int
    owner_key: str
    keys: list[str]


def sign_in(base: str, name: str = "owner", password: str = OWNER_PASSWORD) -> requests.Session:
    """A browser-like session signed in through the web form (with its CSRF token)."""
    session = requests.Session()
    page = session.get(f"{base}/account/signin", timeout=15)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert token, page.text[:2000]
    response = session.post(
        f"{base}/account/signin",
        data={"csrf_token": token.group(1), "login": name, "password": password, "next": ""},
        timeout=15,
    )
    assert response.ok and "signin" not in response.url, response.url
    return session


def server_env(url: str, **extra: str) -> dict[str, str]:
    """``labelhive serve``'s environment: limits far away (the crowd is a handful of users)."""
    return {
        "DATABASE_URL": url,
        "SECRET_KEY": "reliability-test",
        "RATELIMIT_API": "1000000 per minute",
        "RATELIMIT_DEFAULT": "1000000 per minute",
        "LABELHIVE_CONSENSUS_DEBOUNCE_SECONDS": "0",
        **extra,
    }


def synchronous_commits(server: PostgresServer, database: str) -> None:
    """Turn ``synchronous_commit`` back on for ``database``.

    The test server runs with ``synchronous_commit=off`` for speed; a crash (immediate
    shutdown) then loses the last commits by design, which is PostgreSQL's documented
    trade-off, not the application's. Production runs with it on; so do these tests.
    """
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET synchronous_commit = on')


# --- the crowd ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Outcome:
    at: float  # time.monotonic() when the response (or the error) came back
    call: str  # "newtask" or "taskrun"
    status: int  # HTTP status, or CONNECTION_ERROR
    detail: str  # the API's exception_cls, or the exception's name, or ""
    json_body: bool  # a JSON body came back
    key: str = ""  # the annotator's API key
    task_id: int | None = None  # the task a taskrun answered


@dataclasses.dataclass(frozen=True)
class Accepted:
    at: float
    answer_id: int
    task_id: int
    user_id: int
    info: Any


class Crowd:
    """Annotators looping newtask → taskrun over HTTP on threads; every outcome is recorded.

    Bounded in count (``max_loops`` per annotator) as well as in time (stopped by the caller).
    A 503 or a broken connection is retried after a pause, as a client following
    ``Retry-After`` would.
    """

    def __init__(
        self,
        base: str,
        project_id: int,
        keys: list[str],
        *,
        pace: float = 0.05,
        max_loops: int = 20_000,
        timeout: float = 15,
    ) -> None:
        self.base = base
        self.project_id = project_id
        self.pace = pace
        self.max_loops = max_loops
        self.timeout = timeout
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.accepted: list[Accepted] = []
        self.idle = 0  # newtask answers with no task left for the annotator
        self.threads = [
            threading.Thread(target=self._annotate, args=(key,), daemon=True) for key in keys
        ]

    def __enter__(self) -> Crowd:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(self.timeout * 3)

    def _record(
        self,
        call: str,
        response: requests.Response | None,
        exc: Exception | None,
        key: str,
        task_id: int | None,
    ) -> Any:
        body: Any = None
        if response is not None:
            with contextlib.suppress(ValueError):
                body = response.json()
            detail = body.get("exception_cls", "") if isinstance(body, dict) else ""
            outcome = Outcome(
                time.monotonic(), call, response.status_code, detail, body is not None, key, task_id
            )
        else:
            name = type(exc).__name__
            outcome = Outcome(time.monotonic(), call, CONNECTION_ERROR, name, False, key, task_id)
        with self.lock:
            self.outcomes.append(outcome)
        return body

    def _annotate(self, key: str) -> None:
        session = requests.Session()
        session.params = {"api_key": key}
        for loop in range(self.max_loops):
            if self.stopping.is_set():
                return
            task = self._call(
                session, key, None, "newtask", "GET", f"/api/project/{self.project_id}/newtask"
            )
            if not isinstance(task, dict) or "id" not in task:
                # no work, or an error: pause (a 503 says to retry later)
                if task is not None:
                    with self.lock:
                        self.idle += 1
                self.stopping.wait(0.2)
                continue
            answer = {
                "project_id": self.project_id,
                "task_id": task["id"],
                "info": OPTIONS[(task["id"] + loop) % len(OPTIONS)],
            }
            body = self._call(
                session, key, task["id"], "taskrun", "POST", "/api/taskrun", json=answer
            )
            if isinstance(body, dict) and "id" in body and "user_id" in body:
                with self.lock:
                    self.accepted.append(
                        Accepted(
                            time.monotonic(), body["id"], body["task_id"], body["user_id"],
                            body["info"],
                        )
                    )  # fmt: skip
            self.stopping.wait(self.pace)

    def _call(
        self,
        session: requests.Session,
        key: str,
        task_id: int | None,
        call: str,
        method: str,
        path: str,
        **kw: Any,
    ) -> Any:
        try:
            response = session.request(method, self.base + path, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            self._record(call, None, exc, key, task_id)
            return None
        body = self._record(call, response, None, key, task_id)
        return body if 200 <= response.status_code < 300 else None

    # --- figures

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter:
        with self.lock:
            return Counter((o.call, o.status) for o in self.outcomes if since <= o.at <= until)

    def server_errors(self) -> list[Outcome]:
        """Responses with a 5xx other than 503 (an outage must never show as a crash)."""
        with self.lock:
            return [o for o in self.outcomes if o.status >= 500 and o.status != 503]

    def accepted_between(self, since: float, until: float) -> int:
        with self.lock:
            return sum(1 for a in self.accepted if since <= a.at <= until)

    def first_accepted_after(self, moment: float) -> float | None:
        with self.lock:
            times = [a.at for a in self.accepted if a.at >= moment]
        return min(times) if times else None

    def wait_for_answers(self, count: int, timeout: float, since: float = 0.0) -> None:
        wait_for(
            lambda: self.accepted_between(since, float("inf")) >= count,
            timeout,
            f"{count} answers accepted",
        )


def lost_answers(engine: Engine, accepted: list[Accepted]) -> list[str]:
    """Every answer a client got a 2xx for, that is not stored as it was acknowledged."""
    stored: dict[int, Any] = {}
    ids = [a.answer_id for a in accepted]
    with engine.connect() as conn:
        for start in range(0, len(ids), 1000):
            rows = conn.execute(
                select(Answer.id, Answer.task_id, Answer.user_id, Answer.info).where(
                    Answer.id.in_(ids[start : start + 1000])
                )
            )
            stored.update({row.id: (row.task_id, row.user_id, row.info) for row in rows})
    lost = []
    for answer in accepted:
        if stored.get(answer.answer_id) != (answer.task_id, answer.user_id, answer.info):
            lost.append(f"answer {answer.answer_id} (task {answer.task_id}) is not stored")
    return lost


def cut_submits_stored(engine: Engine, crowd: Crowd) -> tuple[int, int]:
    """Of the submits whose connection broke, how many had committed before the break and how
    many were rolled back: ``(committed, rolled_back)``.

    A rolled-back submit leaves the lease, so the annotator is handed the same task again and
    answers it later (a 2xx for the same task and user); a committed one is stored without a
    2xx of its own.
    """
    from labelhive.accounts.models import User
    from labelhive.accounts.models import hash_api_key

    cut = [o for o in crowd.outcomes if o.call == "taskrun" and o.status == CONNECTION_ERROR]
    with engine.connect() as conn:
        # only hashes are stored: the crowd's keys map to users through them
        hashed = dict(conn.execute(select(User.api_key_hash, User.id)).all())
        users = {key: hashed.get(hash_api_key(key)) for key in {o.key for o in crowd.outcomes}}
        stored = {
            (row.user_id, row.task_id)
            for row in conn.execute(select(Answer.user_id, Answer.task_id))
        }
    with crowd.lock:
        acknowledged = {(a.user_id, a.task_id) for a in crowd.accepted}
    committed = sum(
        1
        for o in cut
        if (users[o.key], o.task_id) in stored and (users[o.key], o.task_id) not in acknowledged
    )
    return committed, len(cut) - committed


def engine_for(url: str) -> Engine:
    """A plain engine on ``url`` for the checks (no app: the servers own theirs)."""
    return create_engine(normalise_database_url(url), pool_pre_ping=True)


# --- faults -------------------------------------------------------------------------------


def crash_postgres(server: PostgresServer) -> None:
    """Immediate shutdown of the postmaster (SIGQUIT): no checkpoint, crash recovery on start.

    This is what a killed database Pod does to the app: every connection drops at once.
    """
    assert server.proc is not None
    server.proc.send_signal(signal.SIGQUIT)
    server.proc.wait(30)


def restart_postgres(server: PostgresServer) -> None:
    """Start the crashed server again on the same port and data directory."""
    server.run_server()


def children(pid: int) -> list[int]:
    """The live direct children of ``pid`` (gunicorn's workers), oldest first, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
            # a killed worker stays a zombie until its master reaps it: not a worker any more
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append((int(fields[19]), int(entry)))  # (start time, pid)
    return [child for _, child in sorted(found)]


def gunicorn_workers(master: subprocess.Popen, count: int, timeout: float = 60) -> list[int]:
    """Wait until the gunicorn master has ``count`` workers, and return their PIDs."""
    wait_for(lambda: len(children(master.pid)) == count, timeout, f"{count} gunicorn workers")
    return children(master.pid)


def kill_worker(master: subprocess.Popen, count: int) -> tuple[int, float]:
    """SIGKILL the oldest of the gunicorn master's ``count`` workers (one that is serving, not
    one still loading the app).

    :return: its PID, and the seconds until the master had ``count`` workers again.
    """
    victim = gunicorn_workers(master, count)[0]
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: victim not in children(master.pid) and len(children(master.pid)) == count,
        60,
        "a replacement gunicorn worker",
    )
    return victim, time.monotonic() - killed


# --- the fault table ----------------------------------------------------------------------


@dataclasses.dataclass
class FaultRow:
    fault: str
    accepted_during: int  # answers acknowledged between the fault and the recovery
    lost: int
    recovery_seconds: float | None  # from the end of the fault to the next accepted answer
    outage_seconds: float  # how long the fault lasted (0 for an instant kill)
    errors_seen: str  # non-2xx outcomes during the fault window, by status
    note: str = ""


class FaultTable:
    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: list[FaultRow] = []

    def add(self, row: FaultRow) -> None:
        self.rows.append(row)

    def render(self) -> str:
        lines = [
            "| fault | answers accepted during it | answers lost | recovery (s) | outage (s) |"
            " client errors seen | note |",
            "| --- | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for row in self.rows:
            recovery = "-" if row.recovery_seconds is None else f"{row.recovery_seconds:.2f}"
            lines.append(
                f"| {row.fault} | {row.accepted_during} | {row.lost} | {recovery} |"
                f" {row.outage_seconds:.2f} | {row.errors_seen or 'none'} | {row.note} |"
            )
        return "\n".join(lines)

    def write(self) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{self.name}.md"
        path.write_text(self.render() + "\n")
        (ARTIFACTS / f"{self.name}.json").write_text(
            json.dumps([dataclasses.asdict(row) for row in self.rows], indent=2) + "\n"
        )
        return path


def describe_errors(counts: Counter) -> str:
    """``"taskrun 503 x4, newtask conn x2"`` from :meth:`Crowd.statuses` counts (non-2xx)."""
    parts = []
    for (call, status), number in sorted(counts.items()):
        if 200 <= status < 300:
            continue
        label = "conn" if status == CONNECTION_ERROR else str(status)
        parts.append(f"{call} {label} x{number}")
    return ", ".join(parts)
