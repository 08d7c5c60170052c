"""The exact-redundancy rules as pure decisions: a context record in, a decision out.

Nothing here does I/O or imports Flask or SQLAlchemy. An executor (:mod:`.sqlite`,
:mod:`.postgres`) reads the context under the locks the rules need, asks for a decision, and
carries it out in the same transaction; the service (:mod:`.service`) owns the rest. Who is
asking is data (:class:`Caller`: an id and an admin flag), so a refused caller is refused like
any other refusal, from the same read.

A task holds ``n_answers`` slots; an answer and a live lease each fill one. The decisions keep
``answers + leases <= n_answers`` for every non-gold task and one answer per (task, user).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import random
from collections.abc import Sequence
from typing import Any


class Refusal(enum.StrEnum):
    """Why a request was refused; also the ``reason`` label of the refusal metric."""

    NO_ROOM = "no_room"
    ALREADY_ANSWERED = "already_answered"
    INVALID_ANSWER = "invalid_answer"
    TASK_NOT_FOUND = "task_not_found"
    WRONG_PROJECT = "wrong_project"
    TASK_COMPLETED = "task_completed"
    PROJECT_NOT_FOUND = "project_not_found"
    # the caller may not contribute to (or, where managers may, manage) the project
    FORBIDDEN = "forbidden"


REFUSAL_MESSAGES = {
    Refusal.NO_ROOM: "This task already has all the answers it needs; your answer was not stored.",
    Refusal.ALREADY_ANSWERED: "You already answered this task with a different answer.",
    Refusal.INVALID_ANSWER: "The answer is not one of the project's answer options.",
    Refusal.TASK_NOT_FOUND: "Invalid task_id: no such task.",
    Refusal.WRONG_PROJECT: "Invalid project_id: the task belongs to another project.",
    Refusal.TASK_COMPLETED: "The task is complete; its answers can no longer change.",
    Refusal.PROJECT_NOT_FOUND: "No such project.",
    Refusal.FORBIDDEN: "You may not contribute to this project.",
}


# --- the rules -------------------------------------------------------------------------------


def lease_expiry(now: dt.datetime, ttl_seconds: int) -> dt.datetime:
    return now + dt.timedelta(seconds=ttl_seconds)


def has_room(n_done: int, reserved_by_others: int, n_answers: int) -> bool:
    """A new answer fits when answers plus other people's leases leave a slot.

    The submitter's own lease is not counted: it is the slot the answer will fill.
    """
    return n_done + reserved_by_others < n_answers


def is_complete(n_done: int, n_answers: int, gold: bool) -> bool:
    """Gold tasks never complete: every annotator may be scored on them."""
    return not gold and n_done >= n_answers


def state_after_redundancy_change(n_done: int, n_answers: int) -> str:
    """A task's state once its redundancy is set to ``n_answers``.

    Raising redundancy reopens a completed task; lowering it to or below the answers it has
    completes it (unlike PYBOSSA, which leaves such a task open for ever).
    """
    if n_answers < 1:
        raise ValueError("n_answers must be at least 1")
    return "completed" if n_done >= n_answers else "ongoing"


def answer_error(info: Any, options: Sequence[str]) -> str | None:
    """Return why ``info`` is not an acceptable answer, or ``None`` when it is.

    When a project lists answer options, an answer is exactly one of them (a JSON string).
    Without options any JSON value is accepted, as PYBOSSA does.
    """
    if not options:
        return None if info is not None else "The answer is empty."
    if isinstance(info, str) and info in options:
        return None
    return (
        f"The answer must be one of the project's options ({', '.join(map(repr, options))}),"
        f" not {info!r}."
    )


def answer_options(project_info: Any) -> list[str]:
    """The project's answer options (``info.answers``), as strings; ``[]`` for none."""
    answers = project_info.get("answers") if isinstance(project_info, dict) else None
    return [str(option) for option in answers] if answers else []


def serve_gold(gold_rate: float, rng: random.Random) -> bool:
    """Whether this claim should try a gold task first."""
    return gold_rate > 0 and rng.random() < gold_rate


# --- who asks, and about what ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who asks: all that authorization needs, as data (no user object, no callback)."""

    id: int
    admin: bool = False
    # the entry point decided authorization itself (the CLI, jobs): the rules do not refuse
    trusted: bool = False


@dataclasses.dataclass(frozen=True)
class ProjectFacts:
    """What the rules read of a project."""

    id: int
    owner_id: int
    published: bool


def may_manage(caller: Caller, project: ProjectFacts) -> bool:
    return caller.trusted or caller.admin or caller.id == project.owner_id


def may_contribute(caller: Caller, project: ProjectFacts) -> bool:
    """Owners and admins always; anyone signed in once the project is published."""
    return may_manage(caller, project) or project.published


@dataclasses.dataclass(frozen=True)
class Refuse:
    """The decision to refuse: nothing is written (but ``free_leases``, if any, go)."""

    reason: Refusal
    message: str = ""
    # leases to delete and slots to give back before refusing (a submit with no room)
    free_leases: int = 0

    def __post_init__(self) -> None:
        if not self.message:
            object.__setattr__(self, "message", REFUSAL_MESSAGES[self.reason])


# --- claim ------------------------------------------------------------------------------------

# a take's candidate query, as (gold, leave out the tasks the caller skipped)
Kind = tuple[bool, bool]
USUAL_KIND: Kind = (False, True)


@dataclasses.dataclass(frozen=True)
class ClaimContext:
    """What a claim reads first (one statement): the project, the caller's lease, expiries."""

    caller: Caller
    now: dt.datetime
    project: ProjectFacts | None
    lease_ttl: int = 0
    gold_rate: float = 0.0
    # the caller's live lease in the project (``None`` for a look-ahead claim: it takes more)
    held_lease_id: int | None = None
    # some lease of the project expired: sweep before taking, so it blocks no slot
    has_expired: bool = False
    # the draw that decides whether gold is tried first (``rng.random() < gold_rate``)
    gold_draw: float = 1.0


@dataclasses.dataclass(frozen=True)
class Take:
    """Lease a task until ``expires``: first the held one (``resume``), else a new one.

    ``resume`` is the caller's live lease: its task comes back with the expiry pushed (unless
    it was answered meanwhile). Otherwise the candidate queries ``kinds`` are tried in order,
    after sweeping the project's expired leases (``sweep``). Each take re-checks room in its own
    statement under the task's row lock, so the decision holds whatever happened since the read.
    """

    kinds: tuple[Kind, ...]
    expires: dt.datetime
    sweep: bool = False
    resume: int | None = None


ClaimDecision = Refuse | Take


def decide_hold(caller: Caller, project: ProjectFacts | None) -> Refuse | None:
    """The labeling page's holding: the claim's refusals, even when the caller already holds
    every task they may (then no claim runs to refuse them)."""
    if project is None:
        return Refuse(Refusal.PROJECT_NOT_FOUND)
    if not may_contribute(caller, project):
        return Refuse(Refusal.FORBIDDEN)
    return None


def decide_claim(ctx: ClaimContext) -> ClaimDecision:
    """A claim: the task the caller holds a lease on, else a new one; or a refusal."""
    if ctx.project is None:
        return Refuse(Refusal.PROJECT_NOT_FOUND)
    if not may_contribute(ctx.caller, ctx.project):
        return Refuse(Refusal.FORBIDDEN)
    expires = lease_expiry(ctx.now, ctx.lease_ttl)
    gold = ctx.gold_rate > 0 and ctx.gold_draw < ctx.gold_rate
    # only skipped tasks left: offer them again rather than nothing
    kinds: tuple[Kind, ...] = ((True, True),) if gold else ()
    return Take(
        (*kinds, USUAL_KIND, (False, False)),
        expires,
        sweep=ctx.has_expired,
        resume=ctx.held_lease_id,
    )


# --- submit -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TaskFacts:
    """What a submit reads of a task, under its row lock."""

    id: int
    project_id: int
    n_answers: int
    n_done: int
    n_reserved: int
    state: str
    gold: bool


@dataclasses.dataclass(frozen=True)
class SubmitContext:
    """Everything a submit decides from, read in one statement under the task's row lock."""

    caller: Caller
    now: dt.datetime
    info: Any
    task: TaskFacts | None
    project: ProjectFacts | None = None
    options: tuple[str, ...] = ()
    # the project the caller says the task is in (``None``: not said)
    expected_project_id: int | None = None
    # the caller's stored answer to the task, if any
    answer_id: int | None = None
    answer_info: Any = None
    # when the caller's lease started (``None``: they hold none)
    lease_created: dt.datetime | None = None
    # other annotators' expired leases on the task: they go now, with their slots
    expired_leases: int = 0


@dataclasses.dataclass(frozen=True)
class AlreadyStored:
    """A retried submit: the stored answer ``answer_id`` is the reply (idempotent)."""

    answer_id: int


@dataclasses.dataclass(frozen=True)
class Insert:
    """Store the answer, free ``free_leases`` leases, set the counters, maybe complete."""

    free_leases: int
    n_done: int
    n_reserved: int
    complete: bool
    state: str
    # the answer's start: when its lease was taken (``now`` without one)
    created: dt.datetime


SubmitDecision = Refuse | AlreadyStored | Insert


def decide_submit(ctx: SubmitContext) -> SubmitDecision:
    """A submit, under the task's row lock: refuse, return the stored answer, or insert."""
    task = ctx.task
    if task is None or ctx.project is None:
        return Refuse(Refusal.TASK_NOT_FOUND)
    if not may_contribute(ctx.caller, ctx.project):
        return Refuse(Refusal.FORBIDDEN)
    if ctx.expected_project_id is not None and task.project_id != ctx.expected_project_id:
        return Refuse(Refusal.WRONG_PROJECT)
    # the caller's own lease goes (its slot is the one the answer fills), and so do expired ones
    freed = ctx.expired_leases + (ctx.lease_created is not None)
    if ctx.answer_id is not None:
        if ctx.answer_info == ctx.info:
            return AlreadyStored(ctx.answer_id)
        # a lease still held on an answered task reserves a slot nobody can fill: it goes
        return Refuse(Refusal.ALREADY_ANSWERED, free_leases=freed if ctx.lease_created else 0)
    error = answer_error(ctx.info, ctx.options)
    if error:
        return Refuse(Refusal.INVALID_ANSWER, error)
    reserved_by_others = task.n_reserved - freed
    if not task.gold and not has_room(task.n_done, reserved_by_others, task.n_answers):
        return Refuse(Refusal.NO_ROOM, free_leases=freed)
    n_done = task.n_done + 1
    complete = is_complete(n_done, task.n_answers, task.gold)
    return Insert(
        free_leases=freed,
        n_done=n_done,
        n_reserved=reserved_by_others,
        complete=complete,
        state="completed" if complete else task.state,
        created=ctx.lease_created or ctx.now,
    )


# --- undo -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UndoContext:
    """An undo's read, under the task's row lock: the answer, its task and project."""

    caller: Caller
    now: dt.datetime
    # the answer's task (``None``: the author has no such answer)
    task: TaskFacts | None
    project: ProjectFacts | None = None
    lease_ttl: int = 0
    expected_project_id: int | None = None
    # the project's managers may take back anyone's answer (``DELETE /api/taskrun``)
    managers_too: bool = False


@dataclasses.dataclass(frozen=True)
class TakeBack:
    """Delete the answer and lease its task to the author again (``keep_lease``), or free it."""

    expires: dt.datetime
    keep_lease: bool


NO_SUCH_ANSWER = "No such answer of yours to undo."


def decide_undo(ctx: UndoContext, *, keep_lease: bool = True) -> Refuse | TakeBack:
    """Take back an answer while its task is not complete (its result has not used it)."""
    task, project = ctx.task, ctx.project
    if task is None or project is None:
        return Refuse(Refusal.TASK_NOT_FOUND, NO_SUCH_ANSWER)
    if ctx.expected_project_id is not None and project.id != ctx.expected_project_id:
        return Refuse(Refusal.TASK_NOT_FOUND, NO_SUCH_ANSWER)
    manager = ctx.managers_too and may_manage(ctx.caller, project)
    if not manager and not may_contribute(ctx.caller, project):
        return Refuse(Refusal.FORBIDDEN)
    if task.state == "completed":
        return Refuse(Refusal.TASK_COMPLETED)
    return TakeBack(lease_expiry(ctx.now, ctx.lease_ttl), keep_lease)
