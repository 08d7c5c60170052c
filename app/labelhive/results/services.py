"""Consensus storage: recompute a project's consensus and read what was stored.

:func:`recompute` reads the answers as compact arrays, aggregates them with
:mod:`labelhive.consensus.consensus` (crowd-kit's methods), and replaces the project's stored
consensus in one write transaction whose rows are made and written a batch at a time
(:mod:`labelhive.consensus.store`), so readers (the results page, the API, the dataset export)
only ever read small stored rows. It is what the consensus job runs; it can also be called directly
(CLI, tests). The heavy libraries (pandas, crowd-kit) are imported only when it runs.

The read helpers use ``db.session`` and never commit (house style).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.consensus import store
from labelhive.consensus.labels import label_of
from labelhive.consensus.models import AnnotatorQuality
from labelhive.consensus.models import Consensus
from labelhive.consensus.models import ConsensusRun
from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.tasks.models import Task

if TYPE_CHECKING:
    from labelhive.consensus.consensus import Aggregation

A = Answer.__table__
T = Task.__table__
P = Project.__table__

READ_BATCH = 20_000
# one recomputation per project per this many seconds when answers arrive; 0 turns it off
DEFAULT_DEBOUNCE_SECONDS = 30


class ConsensusError(Exception):
    """A consensus request that cannot be done; ``str()`` says why."""


@dataclasses.dataclass(frozen=True)
class Summary:
    """What one recomputation did."""

    project_id: int
    method: str
    n_items: int
    n_answers: int
    n_annotators: int
    alpha: float | None
    fleiss_kappa: float | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def iter_answers(engine: Engine, project_id: int, ceiling: int) -> Iterator[tuple[int, int, str]]:
    """The project's categorical answers up to answer id ``ceiling``, as (task, user, label).

    Keyset batches, one short read each: memory holds one batch of raw rows at a time.
    """
    after = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(A.c.id, A.c.task_id, A.c.user_id, A.c.info)
                .where(A.c.project_id == project_id, A.c.id > after, A.c.id <= ceiling)
                .order_by(A.c.id)
                .limit(READ_BATCH)
            ).all()
        for row in rows:
            label = label_of(row.info)
            if label is not None:
                yield row.task_id, row.user_id, label
        if len(rows) < READ_BATCH:
            return
        after = rows[-1].id


def recompute(project_id: int, *, engine: Engine | None = None) -> Summary:
    """Recompute and store a project's consensus; safe to run twice or concurrently.

    Runs its own transactions on ``engine`` (default ``db.engine``): the reads in batches, then
    one write that replaces the project's consensus, annotator quality and figures. The write
    holds the project row (``FOR NO KEY UPDATE``: answers keep arriving) so two recomputations
    of one project take turns instead of colliding.

    :raise ConsensusError: the project does not exist.
    """
    from labelhive.consensus import answer_arrays
    from labelhive.consensus import consensus

    engine = engine or db.engine
    started = time.perf_counter()
    with engine.connect() as conn:
        project = conn.execute(
            select(P.c.id, P.c.info, P.c.consensus_method, P.c.consensus_use_gold).where(
                P.c.id == project_id
            )
        ).one_or_none()
        if project is None:
            raise ConsensusError(f"Project {project_id} does not exist.")
        ceiling = conn.scalar(select(func.max(A.c.id)).where(A.c.project_id == project_id)) or 0
        gold = dict(
            conn.execute(
                select(T.c.id, T.c.gold_answer).where(
                    T.c.project_id == project_id, T.c.gold_answer.is_not(None)
                )
            ).all()
        )
    options = (project.info or {}).get("answers") if isinstance(project.info, dict) else None
    method = (
        project.consensus_method
        if project.consensus_method in consensus.METHODS
        else consensus.DAWID_SKENE
    )
    # compact arrays read in chunks (every task of the project included): no object per answer
    answers = answer_arrays.read(engine, project_id, ceiling)
    result = consensus.aggregate_arrays(
        answers,
        gold=gold,
        options=[str(o) for o in options] if isinstance(options, list) else [],
        method=method,
        use_gold=project.consensus_use_gold,
        # excluded annotators: compared with the consensus, no part of it
        excluded=answer_arrays.read_excluded(engine, project_id, ceiling, answers),
    )
    del answers  # the arrays go before the rows are made, as before
    _store(engine, project_id, result, ceiling, started)
    return Summary(
        project_id=project_id,
        method=method,
        n_items=len(result.items),
        n_answers=result.n_answers,
        n_annotators=len(result.annotators),
        alpha=result.agreement.alpha,
        fleiss_kappa=result.agreement.fleiss_kappa,
        seconds=round(time.perf_counter() - started, 3),
    )


def summary_of(result: Aggregation) -> dict[str, Any]:
    """The project-wide figures of an aggregation, as stored in ``consensus_run.summary``."""
    agreement = result.agreement
    return {
        "labels": result.labels,
        "class_counts": result.class_counts,
        "agreement": {
            "alpha": agreement.alpha,
            "fleiss_kappa": agreement.fleiss_kappa,
            "fleiss_items": agreement.fleiss_items,
            "fleiss_raters": agreement.fleiss_raters,
            "per_class": [dataclasses.asdict(c) for c in agreement.per_class],
        },
        "confusion": result.confusion,
        "used_gold": result.used_gold,
        "mv_ds_disagreements": result.mv_disagreements,
        # annotator_quality holds the annotators in the consensus; these had no part in it
        "excluded_annotators": [
            {
                "user_id": a.worker,
                "n_answers": a.n_answers,
                "n_compared": a.n_compared,
                "agreement_with_consensus": a.agreement_with_consensus,
                "agreement_by_day": a.agreement_by_day,
            }
            for a in result.excluded_annotators
        ],
    }


def _store(
    engine: Engine, project_id: int, result: Aggregation, ceiling: int, started: float
) -> None:
    """Replace the stored consensus with ``result``, a batch of rows at a time, in one
    transaction (:func:`labelhive.consensus.store.store`)."""
    store.store(engine, project_id, result, ceiling, started, summary=summary_of(result))


# -- reading what was stored ----------------------------------------------------------------


def run_for(project_id: int) -> ConsensusRun | None:
    """The project's last recomputation, or ``None`` if consensus was never computed."""
    return db.session.scalar(select(ConsensusRun).where(ConsensusRun.project_id == project_id))


def is_stale(project_id: int, run: ConsensusRun | None) -> bool:
    """Whether answers arrived after the stored consensus was computed."""
    last = db.session.scalar(select(func.max(Answer.id)).where(Answer.project_id == project_id))
    if run is None:
        return last is not None
    return (last or 0) > run.last_answer_id


def consensus_page(project_id: int, after_task_id: int, limit: int) -> list[Consensus]:
    """Stored consensus rows in task id order, after ``after_task_id`` (keyset paging)."""
    return list(
        db.session.scalars(
            select(Consensus)
            .where(Consensus.project_id == project_id, Consensus.task_id > after_task_id)
            .order_by(Consensus.task_id)
            .limit(limit)
        )
    )


def annotator_rows(project_id: int) -> list[tuple[AnnotatorQuality, str]]:
    """Stored annotator quality with each annotator's user name, most answers first."""
    rows = db.session.execute(
        select(AnnotatorQuality, User.name)
        .join(User, User.id == AnnotatorQuality.user_id)
        .where(AnnotatorQuality.project_id == project_id)
        .order_by(AnnotatorQuality.n_answers.desc(), AnnotatorQuality.user_id)
    ).all()
    return [(quality, name) for quality, name in rows]


def excluded_rows(run: ConsensusRun | None) -> list[tuple[dict[str, Any], str | None]]:
    """The run's excluded annotators (compared with its consensus, no part of it) with each
    one's user name (``None``: the user is gone)."""
    entries = (run.summary or {}).get("excluded_annotators", []) if run is not None else []
    if not entries:
        return []
    ids = [entry["user_id"] for entry in entries]
    rows = db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()
    names = {user_id: name for user_id, name in rows}
    return [(entry, names.get(entry["user_id"])) for entry in entries]


# -- asking for a recomputation (started by labelhive.starters) -------------------------------


def debounce_seconds() -> int:
    """``CONSENSUS_DEBOUNCE_SECONDS`` (env ``LABELHIVE_CONSENSUS_DEBOUNCE_SECONDS``).

    Unset (``None``) means the default: 30 seconds, and 0 (off) under ``TESTING``.
    """
    config = current_app.config
    value = config.get("CONSENSUS_DEBOUNCE_SECONDS")
    if value is None:
        return 0 if config.get("TESTING") else DEFAULT_DEBOUNCE_SECONDS
    return int(value)
