"""Per annotator (pure): gold accuracy, agreement with the consensus, Dawid–Skene's confusion
matrix, and the gold-weighted vote's weights; and the annotators-vs-consensus confusion counts.

Everything is counted over the answers' code arrays a chunk at a time
(:mod:`labelhive.results.aggregation`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from labelhive.results import aggregation

# gold-weighted vote: pseudo-answers at the pooled accuracy that shrink an annotator's gold
# accuracy (a perfect score on 2 gold items is weak evidence), and the smallest weight
MIN_WEIGHT = 1e-3
PRIOR_ANSWERS = 2.0


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
) -> list[Annotator]:
    n_workers = len(worker_ids)
    n_answers = np.bincount(worker, minlength=n_workers)
    correct, seen = _gold_counts(task, worker, label, gold_code, n_workers)
    compared = np.zeros(n_workers, dtype=np.int64)
    agreed = np.zeros(n_workers, dtype=np.int64)
    for s in aggregation.chunks(len(task)):
        t = task[s : s + aggregation.CHUNK]
        w = worker[s : s + aggregation.CHUNK]
        consensus = final[t]
        live = (gold_code[t] < 0) & (consensus >= 0)
        compared += np.bincount(w, weights=live, minlength=n_workers).astype(np.int64)
        same = live & (consensus == label[s : s + aggregation.CHUNK])
        agreed += np.bincount(w, weights=same, minlength=n_workers).astype(np.int64)
    names = [ordered[c] for c in ds_columns.tolist()]
    annotators = []
    for w in range(n_workers):
        matrix: dict[str, dict[str, float]] = {}
        for y in np.flatnonzero(fit.seen[w]).tolist():
            for c, p in enumerate(fit.errors[w, y].tolist()):
                matrix.setdefault(names[c], {})[names[y]] = round(p, 6)
        annotators.append(
            Annotator(
                worker=int(worker_ids[w]),
                n_answers=int(n_answers[w]),
                gold_seen=int(seen[w]),
                gold_correct=int(correct[w]),
                n_compared=int(compared[w]),
                n_agreed=int(agreed[w]),
                confusion=matrix,
            )
        )
    return annotators


def consensus_confusion(
    task: np.ndarray,
    label: np.ndarray,
    final: np.ndarray,
    is_gold: np.ndarray,
    ordered: list[str],
    labels: list[str],
) -> dict[str, dict[str, int]]:
    k = len(ordered)
    table = np.zeros(k * k, dtype=np.int64)
    for s in aggregation.chunks(len(task)):
        t = task[s : s + aggregation.CHUNK]
        keep = ~is_gold[t] & (final[t] >= 0)
        pairs = final[t][keep] * k + label[s : s + aggregation.CHUNK][keep]
        table += np.bincount(pairs, minlength=k * k)
    table = table.reshape(k, k)
    at = {name: ordered.index(name) for name in labels}
    return {
        true: {answered: int(table[at[true], at[answered]]) for answered in labels}
        for true in labels
    }
