"""The exact-redundancy rules, as pure functions (no I/O), so they can be tested directly.

The engine (:mod:`labelhive.tasks.engine`) applies them under the task's row lock.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
from collections.abc import Sequence
from typing import Any

MAX_N_ANSWERS = 10_000


class Refusal(enum.StrEnum):
    """Why a submit was refused; also the ``reason`` label of the refusal metric."""

    NO_ROOM = "no_room"
    ALREADY_ANSWERED = "already_answered"
    INVALID_ANSWER = "invalid_answer"
    TASK_NOT_FOUND = "task_not_found"
    WRONG_PROJECT = "wrong_project"
    TASK_COMPLETED = "task_completed"


REFUSAL_MESSAGES = {
    Refusal.NO_ROOM: "This task already has all the answers it needs; your answer was not stored.",
    Refusal.ALREADY_ANSWERED: "You already answered this task with a different answer.",
    Refusal.INVALID_ANSWER: "The answer is not one of the project's answer options.",
    Refusal.TASK_NOT_FOUND: "Invalid task_id: no such task.",
    Refusal.WRONG_PROJECT: "Invalid project_id: the task belongs to another project.",
    Refusal.TASK_COMPLETED: "The task is complete; its answers can no longer change.",
}


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


def validate_n_answers(value: Any) -> int:
    """Parse a redundancy from user input (PYBOSSA clients send strings like ``"5"``).

    :raise ValueError: with a sentence saying what is wrong.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is None:
        raise ValueError(f"n_answers must be a whole number of at least 1, not {value!r}")
    if not 1 <= number <= MAX_N_ANSWERS:
        raise ValueError(f"n_answers must be between 1 and {MAX_N_ANSWERS}, not {number}")
    return number


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


def serve_gold(gold_rate: float, rng: random.Random) -> bool:
    """Whether this claim should try a gold task first."""
    return gold_rate > 0 and rng.random() < gold_rate
