"""Benchmark: the results browser's and the review queue's pages at 1,000,000 items.

One PostgreSQL project filled in SQL with 1M tasks and their stored consensus rows (four
labels, confidence spread over 0.25-1, 2% ties, ~5% needing review, 1% gold). In one process
(the app's own query, :func:`labelhive.review.browse.page`), each filter's first page and a
page near the end (``last_id`` at 99% of the ids) are timed, median of several runs; the
ceiling measured in the same run is the same deep page read with ``OFFSET`` (what keyset
paging avoids). Prints one summary line ``review: key=value ...``.

``BENCH_SCALE=0.1`` for 100k items. Run with ``.venv/bin/python -m bench.review_browse``.
"""

from __future__ import annotations

import statistics
import time

from bench.common import report
from bench.common import scaled
from tests.common.processes import PostgresServer
from tests.common.processes import labelhive_cli

PAGE = 50
REPEAT = 7
FILTERS = {
    "all": {},
    "tie": {"tie": "1"},
    "needs_review": {"state": "needs_review"},
    "label": {"label": "dog"},
    "confidence_below": {"confidence_below": "0.5"},
    "disagreement": {"disagreement": "1"},
    "gold": {"gold": "1"},
}


def fill(conn, project_id: int, items: int) -> None:  # noqa: ANN001
    conn.execute(
        "INSERT INTO task (project_id, info, n_answers, priority_0, state, calibration, quorum,"
        " n_done, n_reserved, created)"
        " SELECT %s, jsonb_build_object('url', 'https://img.example.org/' || g || '.jpg'),"
        " 3, 0, 'completed', 0, 0, 3, 0, now() FROM generate_series(1, %s) g",
        (project_id, items),
    )
    conn.execute(
        "INSERT INTO consensus (project_id, task_id, label, confidence, method, votes,"
        " n_answers, agreement, mv_label, posterior, gold, computed_at, tie, review_state)"
        " SELECT project_id, id, (ARRAY['cat','dog','bird','fish'])[1 + id %% 4],"
        " 0.25 + (id %% 76) / 100.0, 'dawid_skene', '{}'::jsonb, 3,"
        " CASE WHEN id %% 3 = 0 THEN 1.0 ELSE 0.67 END, NULL, '{}'::jsonb, id %% 100 = 7,"
        " now(), id %% 50 = 1,"
        " CASE WHEN id %% 50 = 1 OR id %% 76 < 3 THEN 'needs_review' ELSE 'none' END"
        " FROM task WHERE project_id = %s",
        (project_id,),
    )


def _median(run) -> float:  # noqa: ANN001
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(url: str, project_id: int) -> dict[str, float]:
    from sqlalchemy import select

    from labelhive import create_app
    from labelhive.consensus.models import Consensus
    from labelhive.extensions import db
    from labelhive.review import browse
    from labelhive.review import filters

    figures: dict[str, float] = {}
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        ids = db.session.scalars(
            select(Consensus.task_id).where(Consensus.project_id == project_id)
        )
        ids = sorted(ids)
        deep = ids[int(len(ids) * 0.99)]
        for name, args in FILTERS.items():
            chosen = filters.parse(args)
            figures[f"{name}_first_ms"] = _median(
                lambda chosen=chosen: browse.page(project_id, chosen, 0, PAGE)
            )
            figures[f"{name}_deep_ms"] = _median(
                lambda chosen=chosen: browse.page(project_id, chosen, deep, PAGE)
            )
            db.session.rollback()
        offset = int(len(ids) * 0.99)
        figures["ceiling_offset_deep_ms"] = _median(
            lambda: db.session.execute(
                select(Consensus.task_id)
                .where(Consensus.project_id == project_id)
                .order_by(Consensus.task_id)
                .offset(offset)
                .limit(PAGE)
            ).all()
        )
        db.session.remove()
        db.engine.dispose()
    return figures


def run(items: int) -> str:
    pg = PostgresServer()
    pg.start()
    try:
        url = pg.create_database("bench")
        env = {"DATABASE_URL": url, "SECRET_KEY": "bench"}
        labelhive_cli("db", "upgrade", env=env)
        labelhive_cli("users", "create", "owner", "--admin", env=env)
        pid = int(
            labelhive_cli(
                "projects", "create", "browse", "--owner", "owner", "--answers",
                "cat,dog,bird,fish", env=env,
            ).stdout
        )  # fmt: skip
        import psycopg

        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            fill(conn, pid, items)
        fill_s = time.perf_counter() - started
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        figures: dict[str, object] = {"items": items, "fill_s": fill_s}
        figures.update(measure(url, pid))
    finally:
        pg.stop()
    return report("review", figures)


if __name__ == "__main__":
    run(scaled(1_000_000, 10_000))
