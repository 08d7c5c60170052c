"""What a consensus recomputation writes about review, inside its write transaction.

:func:`labelhive.results.services.recompute` replaces a project's consensus rows; before it
does, :func:`settle` marks ties and items needing review, and carries over what reviewers
decided (:func:`labelhive.review.rules.carry_over`), so a recomputation never overwrites a
reviewed label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from labelhive.consensus.models import Consensus
from labelhive.projects.models import Project
from labelhive.review import rules
from labelhive.tasks.models import Task

C = Consensus.__table__
P = Project.__table__
T = Task.__table__
_KEPT = (rules.REVIEWED, rules.SENT_BACK)
# complete tasks are looked up this many items at a time (memory stays bounded by a chunk)
CHUNK = 5_000


def settle(
    conn: Connection,
    project_id: int,
    items: list[dict[str, Any]],
    previous: Mapping[int, Mapping[Any, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The consensus rows to store, with ``tie``, ``review_state`` and the reviewers' decisions.

    Called with the project row locked (the reviewers' decisions take the same lock), so no
    decision made before the write is lost. Reads the reviewed and sent-back rows, and which
    tasks are complete a chunk of items at a time.

    :param previous: :func:`kept`'s rows, read once by a caller that settles its items in
        batches (and deletes the old rows before its first batch); read here when ``None``.
    """
    threshold = conn.scalar(select(P.c.review_threshold).where(P.c.id == project_id))
    threshold = rules.DEFAULT_THRESHOLD if threshold is None else threshold
    if previous is None:
        previous = kept(conn, project_id)
    settled = []
    complete: set[int] = set()
    for index, item in enumerate(items):
        if index % CHUNK == 0:
            complete = _complete(conn, project_id, items[index : index + CHUNK])
        # gold items are never "complete" (they do not count towards redundancy): answered is
        # enough to judge them
        done = item["task_id"] in complete or bool(item.get("gold") and item.get("n_answers"))
        gold_answer = item["label"] if item.get("gold") else None
        row = {
            **item,
            "tie": rules.is_tie(item.get("votes") or {}) and not item.get("gold"),
            "review_state": rules.state_of(
                item, complete=done, threshold=threshold, gold_answer=gold_answer
            ),
            "reviewed_by": None,
            "reviewed_at": None,
        }
        settled.append(rules.carry_over(row, previous.get(item["task_id"]), complete=done))
    return settled


def kept(conn: Connection, project_id: int) -> dict[int, Mapping[Any, Any]]:
    """The project's reviewed and sent-back consensus rows, by task id (what :func:`settle`
    carries over)."""
    return {
        row["task_id"]: row
        for row in conn.execute(
            select(
                C.c.task_id,
                C.c.label,
                C.c.confidence,
                C.c.method,
                C.c.review_state,
                C.c.reviewed_by,
                C.c.reviewed_at,
            ).where(C.c.project_id == project_id, C.c.review_state.in_(_KEPT))
        ).mappings()
    }


def _complete(conn: Connection, project_id: int, chunk: list[dict[str, Any]]) -> set[int]:
    """Which of the chunk's tasks are complete (one primary-key range read)."""
    ids = [item["task_id"] for item in chunk]
    return set(
        conn.scalars(
            select(T.c.id).where(
                T.c.project_id == project_id,
                T.c.id.between(min(ids), max(ids)),
                T.c.state == "completed",
            )
        )
    )
