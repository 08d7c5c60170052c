"""Per annotator (pure): gold accuracy, agreement with the consensus (overall and per day),
Dawid–Skene's confusion matrix, and the gold-weighted vote's weights; and the
annotators-vs-consensus confusion counts.

Everything is counted over the answers' code arrays a chunk at a time
(:mod:`labelhive.consensus.aggregation`). The agreement per day counts ``(worker, day)`` pairs
with ``bincount`` over the last :data:`DAYS` days that have compared answers: a table of
``workers × DAYS`` counts, never an object per answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from labelhive.consensus import aggregation

if TYPE_CHECKING:
    from labelhive.consensus.consensus import AnswerArrays

# gold-weighted vote: pseudo-answers at the pooled accuracy that shrink an annotator's gold
# accuracy (a perfect score on 2 gold items is weak evidence), and the smallest weight
MIN_WEIGHT = 1e-3
PRIOR_ANSWERS = 2.0
# agreement per day: the project's last days that have answers compared with the consensus
DAYS = 30
EPOCH = dt.date(1970, 1, 1)


@dataclasses.dataclass(frozen=True)
class Annotator:
    """How one annotator did: volume, gold, agreement with the consensus, confusion matrix."""

    worker: int
    n_answers: int
    gold_seen: int
    gold_correct: int
    n_compared: int
    n_agreed: int
    # Dawid-Skene's estimate: confusion[true][answered] = P(answered | true)
    confusion: dict[str, dict[str, float]]
    # [day (ISO), answers compared with the consensus, agreeing], oldest first, days with answers
    agreement_by_day: list[list[Any]] = dataclasses.field(default_factory=list)

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_seen if self.gold_seen else None

    @property
    def agreement_with_consensus(self) -> float | None:
        return self.n_agreed / self.n_compared if self.n_compared else None


def worker_weights(
    correct: np.ndarray, seen: np.ndarray, n_labels: int
) -> tuple[np.ndarray, float]:
    """Each annotator's vote weight from their accuracy on gold tasks.

    :param correct: per worker, gold answers that were right.
    :param seen: per worker, gold answers.
    :param n_labels: the number of answer options ``K`` (chance accuracy is ``1 / K``).
    :return: the weights (a worker without gold answers gets the default), and the default:
        the weight of the pooled accuracy.
    """
    k = max(n_labels, 2)
    pooled = (correct.sum() + 1) / (seen.sum() + k) if seen.any() else 1 / k

    def weight(accuracy: Any) -> Any:
        accuracy = np.clip(accuracy, 1e-6, 1 - 1e-6)
        return np.maximum(np.log((k - 1) * accuracy / (1 - accuracy)), MIN_WEIGHT)

    default = float(weight(pooled))
    accuracy = (correct + PRIOR_ANSWERS * pooled) / (seen + PRIOR_ANSWERS)
    return np.where(seen > 0, weight(accuracy), default), default


def _gold_counts(
    task: np.ndarray, worker: np.ndarray, label: np.ndarray, gold_code: np.ndarray, n_workers: int
) -> tuple[np.ndarray, np.ndarray]:
    correct = np.zeros(n_workers, dtype=np.int64)
    seen = np.zeros(n_workers, dtype=np.int64)
    for s in aggregation.chunks(len(task)):
        truth = gold_code[task[s : s + aggregation.CHUNK]]
        w = worker[s : s + aggregation.CHUNK]
        seen += np.bincount(w, weights=truth >= 0, minlength=n_workers).astype(np.int64)
        right = truth == label[s : s + aggregation.CHUNK]
        correct += np.bincount(w, weights=right, minlength=n_workers).astype(np.int64)
    return correct, seen


def skills(
    task: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    gold_code: np.ndarray,
    n_workers: int,
    n_labels: int,
) -> tuple[np.ndarray, float]:
    correct, seen = _gold_counts(task, worker, label, gold_code, n_workers)
    return worker_weights(correct, seen, n_labels)


def annotators_of(
    worker_ids: np.ndarray,
    worker: np.ndarray,
    task: np.ndarray,
    label: np.ndarray,
    final: np.ndarray,
    gold_code: np.ndarray,
    fit: aggregation.DawidSkeneFit,
    ds_columns: np.ndarray,
    ordered: list[str],
    day: np.ndarray | None = None,
) -> list[Annotator]:
    """Each annotator's figures against ``final`` (the consensus' codes, per task).

    :param day: per answer, its UTC day since the epoch (``None``: no history per day).
    """
    n_workers = len(worker_ids)
    counts = _counts(worker, task, label, final, gold_code, n_workers)
    history = by_day(worker, task, label, final, gold_code, day, n_workers)
    names = [ordered[c] for c in ds_columns.tolist()]
    annotators = []
    for w in range(n_workers):
        matrix: dict[str, dict[str, float]] = {}
        for y in np.flatnonzero(fit.seen[w]).tolist():
            for c, p in enumerate(fit.errors[w, y].tolist()):
                matrix.setdefault(names[c], {})[names[y]] = round(p, 6)
        annotators.append(_annotator(int(worker_ids[w]), counts[:, w], matrix, history[w]))
    return annotators


def compared_outside(
    answers: AnswerArrays,
    task_ids: np.ndarray,
    final: np.ndarray,
    gold_code: np.ndarray,
    ordered: list[str],
) -> list[Annotator]:
    """Annotators whose answers had no part in the consensus (excluded), compared with it.

    :param answers: their answers, with their own task ids and labels.
    :param task_ids: the consensus' items (sorted); ``final`` and ``gold_code`` are per item,
        in ``ordered`` codes. Answers to other items are left out.
    :return: their figures, with no confusion matrix (Dawid–Skene never saw them).
    """
    n_workers = len(answers.worker_ids)
    at = np.searchsorted(task_ids, answers.task_ids)
    known = np.zeros(len(at), dtype=bool)
    if len(task_ids):
        known = (at < len(task_ids)) & (
            task_ids[np.minimum(at, len(task_ids) - 1)] == answers.task_ids
        )
    keep = known[answers.task]
    task = at[answers.task[keep]].astype(np.int32)
    # a label the consensus never uses gets -1: it never agrees
    recode = np.array([ordered.index(x) if x in ordered else -1 for x in answers.labels] + [-1])
    label = recode[answers.label[keep]].astype(np.int16)
    worker = answers.worker[keep]
    day = None if answers.day is None else answers.day[keep]
    counts = _counts(worker, task, label, final, gold_code, n_workers)
    history = by_day(worker, task, label, final, gold_code, day, n_workers)
    return [
        _annotator(int(answers.worker_ids[w]), counts[:, w], {}, history[w])
        for w in range(n_workers)
    ]


def _annotator(
    worker: int, counts: np.ndarray, matrix: dict[str, dict[str, float]], history: list[list[Any]]
) -> Annotator:
    n_answers, seen, correct, compared, agreed = counts.tolist()
    return Annotator(
        worker=worker,
        n_answers=n_answers,
        gold_seen=seen,
        gold_correct=correct,
        n_compared=compared,
        n_agreed=agreed,
        confusion=matrix,
        agreement_by_day=history,
    )


def _counts(
    worker: np.ndarray,
    task: np.ndarray,
    label: np.ndarray,
    final: np.ndarray,
    gold_code: np.ndarray,
    n_workers: int,
) -> np.ndarray:
    """Per worker: answers, gold seen, gold correct, answers compared with the consensus
    (non-gold items with a label), agreeing ones; a ``(5, W)`` ``int64`` table."""
    n_answers = np.bincount(worker, minlength=n_workers).astype(np.int64)
    correct, seen = _gold_counts(task, worker, label, gold_code, n_workers)
    compared = np.zeros(n_workers, dtype=np.int64)
    agreed = np.zeros(n_workers, dtype=np.int64)
    for s in aggregation.chunks(len(task)):
        live, same = _compared(task, label, final, gold_code, s)
        w = worker[s : s + aggregation.CHUNK]
        compared += np.bincount(w, weights=live, minlength=n_workers).astype(np.int64)
        agreed += np.bincount(w, weights=same, minlength=n_workers).astype(np.int64)
    return np.stack([n_answers, seen, correct, compared, agreed])


def _compared(
    task: np.ndarray, label: np.ndarray, final: np.ndarray, gold_code: np.ndarray, s: int
) -> tuple[np.ndarray, np.ndarray]:
    """For the chunk at ``s``: which answers are compared with the consensus, which agree."""
    t = task[s : s + aggregation.CHUNK]
    consensus = final[t]
    live = (gold_code[t] < 0) & (consensus >= 0)
    return live, live & (consensus == label[s : s + aggregation.CHUNK])


def by_day(
    worker: np.ndarray,
    task: np.ndarray,
    label: np.ndarray,
    final: np.ndarray,
    gold_code: np.ndarray,
    day: np.ndarray | None,
    n_workers: int,
    *,
    days: int = DAYS,
) -> list[list[list[Any]]]:
    """Per worker, ``[day (ISO), compared, agreeing]`` over the last ``days`` days that have
    answers compared with the consensus (gold items left out, as for the overall agreement),
    oldest first; a worker's list holds only the days they answered.

    Two passes over the answers: which days occur, then a ``bincount`` over ``(worker, day)``
    pairs; memory is a count per day of the answers' span and per ``(worker, day)`` pair.
    """
    empty: list[list[list[Any]]] = [[] for _ in range(n_workers)]
    if day is None or not len(day):
        return empty
    first, last = int(day.min()), int(day.max())
    span = last - first + 1
    present = np.zeros(span, dtype=np.int64)
    for s in aggregation.chunks(len(task)):
        live, _ = _compared(task, label, final, gold_code, s)
        present += np.bincount(day[s : s + aggregation.CHUNK][live] - first, minlength=span)
    window = np.flatnonzero(present)[-days:]
    if not len(window):
        return empty
    n_days = len(window)
    slot = np.full(span, -1, dtype=np.int64)
    slot[window] = np.arange(n_days)
    pairs = np.zeros(n_workers * n_days, dtype=np.int64)
    agreeing = np.zeros(n_workers * n_days, dtype=np.int64)
    for s in aggregation.chunks(len(task)):
        live, same = _compared(task, label, final, gold_code, s)
        at = slot[day[s : s + aggregation.CHUNK] - first]
        live &= at >= 0
        cell = worker[s : s + aggregation.CHUNK].astype(np.int64) * n_days + at
        pairs += np.bincount(cell[live], minlength=pairs.size)
        agreeing += np.bincount(cell[live & same], minlength=pairs.size)
    names = [(EPOCH + dt.timedelta(days=first + int(d))).isoformat() for d in window]
    table = pairs.reshape(n_workers, n_days).tolist()
    agreed = agreeing.reshape(n_workers, n_days).tolist()
    return [
        [[names[d], n, agreed[w][d]] for d, n in enumerate(row) if n] for w, row in enumerate(table)
    ]


def consensus_confusion(
    task: np.ndarray,
    label: np.ndarray,
    final: np.ndarray,
    is_gold: np.ndarray,
    ordered: list[str],
    labels: list[str],
) -> dict[str, dict[str, int]]:
    k = len(ordered)
    counts = np.zeros(k * k, dtype=np.int64)
    for s in aggregation.chunks(len(task)):
        t = task[s : s + aggregation.CHUNK]
        keep = ~is_gold[t] & (final[t] >= 0)
        pairs = final[t][keep] * k + label[s : s + aggregation.CHUNK][keep]
        counts += np.bincount(pairs, minlength=k * k)
    table = counts.reshape(k, k)
    at = {name: ordered.index(name) for name in labels}
    return {
        true: {answered: int(table[at[true], at[answered]]) for answered in labels}
        for true in labels
    }
