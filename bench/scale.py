"""Claims and submits as one project grows from ten thousand to ten million tasks (PostgreSQL).

One project is grown in place to each size in turn (``BENCH_SCALE`` multiplies the sizes:
10k, 1M and 10M at 1; 1k, 100k and 1M at 0.1). Half of every size's tasks are complete, with
their two answers by two earlier annotators, so at 10M tasks the answer table holds 10M rows.
Rows are written by ``INSERT … SELECT FROM generate_series`` (the bench measures the claims,
not the import), then ``ANALYZE``.

At each size, fresh annotators claim and answer tasks one after another through the
annotation service in this process (the code ``newtask`` and ``POST /api/taskrun`` call; the
consensus jobs their answers ask for are queued on a Redis server that no worker reads, as in
``annotate``: without Redis they would run on a thread of this process, beside the claims),
and the periodic queries run: the scheduler's active projects, the metrics' project
collector, the lease sweep; two more annotators answer as the labeling page does (submit, then
``service.hold`` of the next tasks, whose reply carries the annotator's progress "of N tasks").
Figures per size: claim, submit and the page's hold p50/p99 in milliseconds and
each periodic query's time; then the ratio of the largest size's p99 to the smallest's,
which the design asks to stay within 1.5. Printed, never asserted.
"""

from __future__ import annotations

import datetime as dt
import time

import psycopg

from bench.common import percentile
from bench.common import report
from bench.common import scale
from bench.common import scaled
from tests.common.processes import PostgresServer
from tests.common.redis import RedisServer

SIZES = (10_000, 1_000_000, 10_000_000)
OPTIONS = ("cat", "dog", "bird")


def _grow(pg_url: str, project_id: int, users: tuple[int, int], start: int, stop: int) -> None:
    """Tasks ``start``..``stop-1`` of the project: even ones complete with two answers."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO task (id, project_id, info, n_answers, priority_0, state, calibration,"
            " quorum, n_done, n_reserved, created)"
            " SELECT g, %(p)s, jsonb_build_object('url', 'https://img.example/' || g || '.jpg'),"
            " 2, 0, CASE WHEN g %% 2 = 0 THEN 'completed' ELSE 'ongoing' END, 0, 0,"
            " CASE WHEN g %% 2 = 0 THEN 2 ELSE 0 END, 0, now() AT TIME ZONE 'utc'"
            " FROM generate_series(%(a)s::bigint, %(b)s::bigint) AS g",
            {"p": project_id, "a": start, "b": stop - 1},
        )
        for user in users:
            conn.execute(
                "INSERT INTO answer (project_id, task_id, user_id, info, created, finish_time)"
                " SELECT %(p)s, g, %(u)s, to_jsonb('cat'::text),"
                " now() AT TIME ZONE 'utc' - interval '2 days',"
                " now() AT TIME ZONE 'utc' - interval '2 days'"
                " FROM generate_series(%(a)s::bigint, %(b)s::bigint) AS g WHERE g %% 2 = 0",
                {"p": project_id, "u": user, "a": start, "b": stop - 1},
            )
        conn.execute("SELECT setval('task_id_seq', %s)", (stop,))
        conn.execute("ANALYZE task")
        conn.execute("ANALYZE answer")


def _timed(fn) -> float:  # noqa: ANN001
    """The median of five runs after one to warm (a periodic query runs again and again: its
    first run in a process also compiles the statement)."""
    fn()
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return sorted(runs)[2]


def _measure(app, project_id: int, annotators: list[int], loops: int) -> dict[str, float]:  # noqa: ANN001
    from labelhive.annotation import service
    from labelhive.annotation.core import Caller
    from labelhive.extensions import db
    from labelhive.jobs import scheduler
    from labelhive.projects.monitoring import ProjectCollector

    claims: list[float] = []
    submits: list[float] = []
    with app.app_context():
        # warm: each annotator's first claim reads the project's settings
        for user in annotators:
            first = service.claim(project_id, Caller(user))
            assert first is not None
            service.submit(first.task["id"], Caller(user), "cat")
        for i in range(loops):
            caller = Caller(annotators[i % (len(annotators) - 2)])
            t0 = time.perf_counter()
            claim = service.claim(project_id, caller)
            t1 = time.perf_counter()
            assert claim is not None, "the project ran out of open tasks"
            service.submit(claim.task["id"], caller, OPTIONS[i % len(OPTIONS)])
            t2 = time.perf_counter()
            claims.append((t1 - t0) * 1000)
            submits.append((t2 - t1) * 1000)
        # the labeling page's answer: submit the task on screen, then hold the next two
        # (service.hold: the leases held, the annotator's progress, a look-ahead claim). Two
        # annotators take turns, as the claims' four do: one alone would leave every task
        # they answered half done at the front of the depth-first order, walked past by each
        # claim (a cost of the order with one annotator, not of the project's size)
        pages = [Caller(user) for user in annotators[-2:]]
        holds: list[float] = []
        shown = {page.id: service.hold(project_id, page).tasks for page in pages}
        for i in range(loops // 2):
            page = pages[i % 2]
            service.submit(shown[page.id][0]["id"], page, OPTIONS[i % len(OPTIONS)])
            t0 = time.perf_counter()
            shown[page.id] = service.hold(project_id, page).tasks
            holds.append((time.perf_counter() - t0) * 1000)
            assert shown[page.id], "the project ran out of open tasks"
        since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5)
        active = _timed(lambda: scheduler.active_projects(since))  # type: ignore[misc]
        collect = _timed(lambda: list(ProjectCollector().collect()))
        sweep = _timed(service.sweep_expired)
        # the task counts' fold (run by the lease sweep job): the rows this size's answers
        # added, once (a repeat finds one row per project)
        from labelhive.tasks import counts

        with db.engine.begin() as conn:
            t0 = time.perf_counter()
            folded = counts.fold(conn)
            fold_ms = (time.perf_counter() - t0) * 1000
        db.session.remove()
    return {
        "claim_p50_ms": percentile(claims, 0.5),
        "claim_p99_ms": percentile(claims, 0.99),
        "submit_p50_ms": percentile(submits, 0.5),
        "submit_p99_ms": percentile(submits, 0.99),
        "page_hold_p50_ms": percentile(holds, 0.5),
        "page_hold_p99_ms": percentile(holds, 0.99),
        "active_projects_ms": active,
        "project_collector_ms": collect,
        "lease_sweep_ms": sweep,
        "counts_fold_ms": fold_ms,
        "counts_folded_rows": folded,
    }


def main() -> None:
    from labelhive import create_app
    from labelhive import migrate
    from labelhive.accounts.services import create_user
    from labelhive.extensions import db
    from labelhive.projects.services import create_project
    from labelhive.wiring import register_jobs

    sizes = [scaled(n, 1000) for n in SIZES]
    # each size's loops fit in the open slots the smallest size has (half its tasks, two each)
    loops = min(scaled(2000, 200), sizes[0] // 4)
    pg, redis = PostgresServer(), RedisServer()
    pg.start()
    redis.start()
    try:
        url = pg.create_database("scale")
        app = create_app({"DATABASE_URL": url, **redis.config()})
        register_jobs()
        with app.app_context():
            migrate.upgrade(db.engine)
            owner = create_user("owner", email="owner@example.org")
            past = [create_user(f"past{i}", email=f"past{i}@example.org") for i in range(2)]
            project = create_project(
                owner,
                {
                    "name": "Scale",
                    "short_name": "scale",
                    "info": {"question": "Which animal?", "answers": list(OPTIONS)},
                    "default_n_answers": 2,
                    "published": True,
                },
            )
            db.session.commit()
            project_id, users = project.id, (past[0].id, past[1].id)
            db.session.remove()
        grown, figures = 1, {}
        for n, size in enumerate(sizes):
            t0 = time.perf_counter()
            _grow(url, project_id, users, grown, size + 1)
            grown = size + 1
            fill_s = time.perf_counter() - t0
            with app.app_context():
                fresh = [create_user(f"s{n}a{i}", email=f"s{n}a{i}@example.org") for i in range(6)]
                db.session.commit()
                annotators = [u.id for u in fresh]
                db.session.remove()
            measured = _measure(app, project_id, annotators, loops)
            figures[size] = measured
            report(
                "scale",
                {"tasks": size, "answers": size, "fill_s": fill_s, "loops": loops, **measured},
            )
        smallest, largest = figures[sizes[0]], figures[sizes[-1]]
        report(
            "scale-ratio",
            {
                "from_tasks": sizes[0],
                "to_tasks": sizes[-1],
                "claim_p99_ratio": largest["claim_p99_ms"] / smallest["claim_p99_ms"],
                "submit_p99_ratio": largest["submit_p99_ms"] / smallest["submit_p99_ms"],
                "page_hold_p99_ratio": largest["page_hold_p99_ms"] / smallest["page_hold_p99_ms"],
                "scale": scale(),
            },
        )
    finally:
        redis.stop()
        pg.stop()


if __name__ == "__main__":
    main()
