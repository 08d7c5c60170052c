"""The store protocol: what an executor does with the core's decisions, and what it returns.

Two executors implement it, each with its own transaction model: :mod:`.sqlite` (write
transactions through SQLAlchemy) and :mod:`.postgres` (row locks, its one-statement claim and
pipelined submit on the driver). Neither calls the other. Refusals come back as
:class:`labelhive.annotation.core.Refuse` values; database errors are raised (the service
retries the ones worth retrying).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any
from typing import Protocol

from labelhive.annotation import core


@dataclasses.dataclass(frozen=True)
class Claim:
    """A task leased to the caller until ``expires_at`` (``resumed``: a lease they held)."""

    task: dict[str, Any]
    expires_at: dt.datetime
    resumed: bool


@dataclasses.dataclass(frozen=True)
class Submitted:
    """A stored answer (``created`` False: a retried submit found it stored)."""

    answer: dict[str, Any]
    created: bool
    completed_task: bool
    # the project raises redundancy on disagreement (consensus.adaptive): read under the lock
    adaptive_redundancy: bool = False
    # the answers stored for the task, counted apart from the counters (``None``: not counted)
    stored: int | None = None
    n_answers: int = 0
    gold: bool = False


@dataclasses.dataclass(frozen=True)
class AnnotatorProgress:
    """An annotator's progress in a project: their answers, and the project's tasks.

    Gold tasks count in both figures like any other task: leaving them out would make
    ``answered`` stand still after a gold answer, which tells the annotator which tasks are
    gold. (A project's own progress, answers received of answers needed, is
    :mod:`labelhive.projects.progress`.)
    """

    answered: int
    tasks: int


@dataclasses.dataclass(frozen=True)
class Holding:
    """The tasks a user holds in a project (oldest lease first), and their progress."""

    tasks: list[dict[str, Any]]
    progress: AnnotatorProgress
    # how many of ``tasks`` were leased by this call (the claims metric)
    taken: int = 0


# called with (the task's facts, the project's facts, its lease TTL), or (None, None, 0) when the
# author has no such answer: the core's undo decision, with the caller's own context bound
UndoDecider = Callable[
    [core.TaskFacts | None, core.ProjectFacts | None, int], core.Refuse | core.TakeBack
]


class Store(Protocol):
    """One database's executor of the annotation decisions."""

    def claim(
        self,
        project_id: int,
        caller: core.Caller,
        now: dt.datetime,
        gold_draw: float,
        *,
        ahead: bool,
    ) -> Claim | core.Refuse | None:
        """Lease a task (``None``: nothing left); ``ahead`` takes one more next to a held one."""
        ...

    def submit(
        self,
        task_id: int,
        caller: core.Caller,
        info: Any,
        *,
        project_id: int | None,
        now: dt.datetime,
        user_ip: str | None,
        external_uid: str | None,
    ) -> Submitted | core.Refuse:
        """Store the caller's answer under the task's row lock, as :func:`core.decide_submit`."""
        ...

    def hold(
        self,
        project_id: int,
        caller: core.Caller,
        now: dt.datetime,
        gold_draw: float,
        max_held: int,
    ) -> Holding | core.Refuse:
        """Make sure the caller holds up to ``max_held`` tasks of the project (a claim, then
        look-ahead claims); the tasks held, and the caller's progress."""
        ...

    def release(self, task_id: int, user_id: int, *, skip: bool) -> bool: ...

    def renew(self, task_id: int, user_id: int, now: dt.datetime) -> dt.datetime | None: ...

    def undo(
        self, answer_id: int, author_id: int, now: dt.datetime, decide: UndoDecider
    ) -> Claim | core.Refuse: ...

    def set_redundancy(
        self,
        n_answers: int,
        *,
        project_id: int | None,
        task_ids: list[int] | None,
        expect_n_answers: int | None,
        now: dt.datetime,
    ) -> int: ...

    def sweep_expired(self, now: dt.datetime) -> int: ...
