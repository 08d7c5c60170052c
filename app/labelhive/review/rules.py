"""When an item needs a reviewer, and what a reviewer may decide: pure rules, no I/O.

An item (a task's stored consensus) *needs review* when its task is complete and

- its consensus is a **tie**: two or more options share the most votes (the label the method
  picked is kept, but the tie is marked, never resolved silently);
- its confidence is below the project's ``review_threshold``;
- it is a gold item that most annotators answered wrongly.

A reviewer's decision is final: the item's label becomes the reviewer's, with method
:data:`REVIEWED`, and recomputing consensus keeps it (:func:`carry_over`). An item *sent back*
for more answers keeps that state until its task completes again; then it is judged afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NONE = "none"
NEEDS_REVIEW = "needs_review"
REVIEWED = "reviewed"
SENT_BACK = "sent_back"
STATES = (NONE, NEEDS_REVIEW, REVIEWED, SENT_BACK)
# the method of a label a reviewer set
REVIEWED_METHOD = "reviewed"
# why an item needs review (the API's ``reasons``)
TIE = "tie"
LOW_CONFIDENCE = "low_confidence"
GOLD_MISSED = "gold_missed"
DEFAULT_THRESHOLD = 0.6


def is_tie(votes: Mapping[str, int]) -> bool:
    """Whether two or more options share the most votes."""
    counts = sorted((n for n in votes.values() if n > 0), reverse=True)
    return len(counts) >= 2 and counts[0] == counts[1]


def gold_missed(votes: Mapping[str, int], gold_answer: str | None) -> bool:
    """Whether most answers to a gold item are wrong."""
    if gold_answer is None:
        return False
    total = sum(votes.values())
    return total > 0 and 2 * votes.get(gold_answer, 0) < total


def reasons(item: Mapping[str, Any], threshold: float, gold_answer: str | None) -> list[str]:
    """Why a (complete) item needs review; empty when it does not.

    :param item: the consensus row's values: ``votes``, ``confidence``, ``n_answers``, ``gold``.
    :param threshold: the project's ``review_threshold``.
    :param gold_answer: the gold item's known answer (``None`` for other items).
    """
    votes = item.get("votes") or {}
    if not item.get("n_answers"):
        return []
    if item.get("gold"):
        return [GOLD_MISSED] if gold_missed(votes, gold_answer) else []
    found = []
    if is_tie(votes):
        found.append(TIE)
    if float(item.get("confidence") or 0.0) < threshold:
        found.append(LOW_CONFIDENCE)
    return found


def state_of(
    item: Mapping[str, Any], *, complete: bool, threshold: float, gold_answer: str | None
) -> str:
    """The review state a recomputation gives an item that no reviewer has settled."""
    if not complete:
        return NONE
    return NEEDS_REVIEW if reasons(item, threshold, gold_answer) else NONE


def carry_over(
    computed: dict[str, Any], previous: Mapping[str, Any] | None, *, complete: bool
) -> dict[str, Any]:
    """The row a recomputation stores, given the row it replaces.

    A reviewed item keeps its reviewer's label, confidence, method and provenance (the votes
    and figures are the new ones); a sent-back item stays sent back until its task completes.
    """
    if previous is None:
        return computed
    state = previous.get("review_state")
    if state == REVIEWED:
        return {
            **computed,
            **{key: previous[key] for key in ("label", "confidence", "method")},
            "review_state": REVIEWED,
            "reviewed_by": previous.get("reviewed_by"),
            "reviewed_at": previous.get("reviewed_at"),
        }
    if state == SENT_BACK and not complete:
        return {
            **computed,
            "review_state": SENT_BACK,
            "reviewed_by": previous.get("reviewed_by"),
            "reviewed_at": previous.get("reviewed_at"),
        }
    return computed


def check_label(label: Any, options: list[str]) -> str:
    """A reviewer's label: one of the project's options (any non-empty text without options).

    :raise ValueError: with a sentence.
    """
    if not isinstance(label, str) or not label.strip():
        raise ValueError("label must be a non-empty string (one of the project's options).")
    if options and label not in options:
        raise ValueError(f"label must be one of the project's options: {', '.join(options)}.")
    return label
