"""Store a project's consensus: one write transaction, rows made and written a batch at a time.

A project's items are arrays (:class:`labelhive.consensus.consensus.ItemTable`): this module turns
one batch of them at a time into rows, lets :func:`labelhive.review.recompute.settle` mark ties
and carry over the reviewers' decisions, and writes the batch (``COPY`` on PostgreSQL, a
prepared ``executemany`` on SQLite) before it makes the next. Memory holds one batch of rows,
whatever the project's size.

The whole replace (the old rows deleted, every batch, the annotators, the run's figures) is one
transaction that holds the project row, so a reader sees the previous result set or the new
one, never half of one, and a failure in any batch leaves the previous one in place.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from labelhive.accounts.models import User
from labelhive.consensus.models import AnnotatorQuality
from labelhive.consensus.models import Consensus
from labelhive.consensus.models import ConsensusRun
from labelhive.db import table_of
from labelhive.db import utcnow
from labelhive.projects.models import Project
from labelhive.review import recompute as review_recompute
from labelhive.tasks.models import Task

if TYPE_CHECKING:
    import datetime as dt

    from labelhive.consensus.consensus import Aggregation
    from labelhive.consensus.consensus import Item

C = table_of(Consensus)
Q = table_of(AnnotatorQuality)
RUN = table_of(ConsensusRun)
P = table_of(Project)
T = table_of(Task)
U = table_of(User)

# items per batch: rows made, settled and written together (memory is a batch of rows)
BATCH = 10_000
# the stored columns, in the order rows are written
COLUMNS = (
    "project_id",
    "task_id",
    "label",
    "confidence",
    "method",
    "votes",
    "n_answers",
    "agreement",
    "mv_label",
    "posterior",
    "gold",
    "computed_at",
    "tie",
    "review_state",
    "reviewed_by",
    "reviewed_at",
)
_JSON = ("votes", "posterior")


def store(
    engine: Engine,
    project_id: int,
    result: Aggregation,
    ceiling: int,
    started: float,
    *,
    summary: dict[str, Any],
    batch: int | None = None,
) -> int | None:
    """Replace the project's stored consensus, annotator quality and figures with ``result``.

    Items whose task was deleted since the answers were read are left out (their foreign key
    would fail), and so are annotators whose user was.

    :param ceiling: the largest answer id ``result`` includes.
    :param started: when the recomputation started (``time.perf_counter()``), for its seconds.
    :param summary: the project-wide figures (``consensus_run.summary``).
    :param batch: items per batch (default :data:`BATCH`).
    :return: the number of items stored, or ``None`` when the project is gone.
    """
    now = utcnow()
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            locked = conn.scalar(
                select(P.c.id).where(P.c.id == project_id).with_for_update(key_share=True)
            )
            if locked is None:
                return None
            # the reviewers' decisions, read before the rows they are in are deleted
            kept = review_recompute.kept(conn, project_id)
            conn.execute(delete(C).where(C.c.project_id == project_id))
            conn.execute(delete(Q).where(Q.c.project_id == project_id))
            conn.execute(delete(RUN).where(RUN.c.project_id == project_id))
            write = _copy if conn.dialect.name == "postgresql" else _executemany
            n_items = 0
            for rows in batches(result.items, project_id, now, batch or BATCH):
                rows = _alive(conn, project_id, rows)
                if not rows:
                    continue
                rows = review_recompute.settle(conn, project_id, rows, kept)
                write(conn, rows)
                n_items += len(rows)
            annotators = _annotators(conn, project_id, result, now)
            if annotators:
                conn.execute(insert(Q), annotators)
            conn.execute(
                insert(RUN).values(
                    project_id=project_id,
                    method=result.method,
                    n_items=n_items,
                    n_answers=result.n_answers,
                    last_answer_id=ceiling,
                    summary=summary,
                    seconds=round(time.perf_counter() - started, 3),
                    computed_at=now,
                )
            )
    return n_items


def batches(
    items: Sequence[Item], project_id: int, now: dt.datetime, size: int = BATCH
) -> Iterator[list[dict[str, Any]]]:
    """The items' consensus rows (without the review columns), ``size`` at a time.

    An :class:`~labelhive.consensus.consensus.ItemTable`'s rows are made from its arrays, a
    slice at a time, with the values :class:`~labelhive.consensus.consensus.Item` would have;
    any other sequence is read item by item.
    """
    from labelhive.consensus.consensus import ItemTable

    if size < 1:
        raise ValueError("A batch holds at least one item.")
    for start in range(0, len(items), size):
        if isinstance(items, ItemTable):
            yield _table_rows(items, start, min(start + size, len(items)), project_id, now)
        else:
            yield [_item_row(i, project_id, now) for i in items[start : start + size]]


def _table_rows(
    table: Any, start: int, stop: int, project_id: int, now: dt.datetime
) -> list[dict[str, Any]]:
    from labelhive.consensus.consensus import GOLD

    labels: list[str | None] = [*table.labels, None]  # code -1 is "no label"
    task_ids = table.task_ids[start:stop].tolist()
    label = table.label[start:stop].tolist()
    confidence = table.confidence[start:stop].tolist()
    mv_label = table.mv_label[start:stop].tolist()
    gold = table.gold[start:stop].tolist()
    votes = table.votes[start:stop].tolist()
    names = table.labels
    # the posterior's rows in display order, with their names (a row per label Dawid-Skene saw)
    shown = [name for _, name in table.posterior_rows]
    posterior: list[list[float]] | list[None] = [None] * len(votes)
    if table.posterior is not None:
        order = [r for r, _ in table.posterior_rows]
        posterior = table.posterior[order, start:stop].T.tolist()
    rows = []
    for i, counts in enumerate(votes):
        total = sum(counts)
        is_gold = gold[i] >= 0
        column = posterior[i]
        rows.append(
            {
                "project_id": project_id,
                "task_id": task_ids[i],
                "label": labels[label[i]],
                "confidence": confidence[i],
                "method": GOLD if is_gold else table.method,
                "votes": {name: n for name, n in zip(names, counts, strict=True) if n},
                "n_answers": total,
                "agreement": max(counts) / total if total else 0.0,
                "mv_label": labels[mv_label[i]],
                "posterior": {}
                if column is None
                else {name: p for name, p in zip(shown, column, strict=True) if p > 0},
                "gold": is_gold,
                "computed_at": now,
            }
        )
    return rows


def _item_row(item: Item, project_id: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "task_id": item.task_id,
        "label": item.label,
        "confidence": item.confidence,
        "method": item.method,
        "votes": item.votes,
        "n_answers": item.n_answers,
        "agreement": item.agreement,
        "mv_label": item.mv_label,
        "posterior": item.posterior,
        "gold": item.gold_answer is not None,
        "computed_at": now,
    }


def _alive(conn: Connection, project_id: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose task still exists (one primary-key range read for the batch)."""
    ids = [row["task_id"] for row in rows]
    alive = set(
        conn.scalars(
            select(T.c.id).where(T.c.project_id == project_id, T.c.id.between(min(ids), max(ids)))
        )
    )
    return [row for row in rows if row["task_id"] in alive]


def _copy(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: the batch through ``COPY`` on the transaction's own connection.

    The driver's errors are raised as SQLAlchemy's (a constraint is an ``IntegrityError``), as
    any other statement's are.
    """
    statement = f"COPY consensus ({', '.join(COLUMNS)}) FROM STDIN"
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c]) if c in _JSON else row[c] for c in COLUMNS])
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def _executemany(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """SQLite: one prepared insert for the batch (the column types convert the values)."""
    conn.execute(insert(C), [{c: row[c] for c in COLUMNS} for row in rows])


def _annotators(
    conn: Connection, project_id: int, result: Aggregation, now: dt.datetime
) -> list[dict[str, Any]]:
    """Annotator quality rows of the annotators whose user still exists."""
    ids = [a.worker for a in result.annotators]
    users: set[int] = set()
    # a project has far fewer annotators than items, but a bound keeps any IN list short
    for start in range(0, len(ids), BATCH):
        users.update(conn.scalars(select(U.c.id).where(U.c.id.in_(ids[start : start + BATCH]))))
    return [
        {
            "project_id": project_id,
            "user_id": a.worker,
            "n_answers": a.n_answers,
            "gold_seen": a.gold_seen,
            "gold_correct": a.gold_correct,
            "gold_accuracy": a.gold_accuracy,
            "agreement_with_consensus": a.agreement_with_consensus,
            "confusion": a.confusion,
            "agreement_by_day": a.agreement_by_day,
            "computed_at": now,
        }
        for a in result.annotators
        if a.worker in users
    ]
