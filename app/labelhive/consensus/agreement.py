"""Inter-annotator agreement from per-item vote counts (pure): Krippendorff's alpha and Fleiss'
kappa, overall and per class (one-vs-rest), a chunk of items at a time.

The arithmetic is that of the libraries the figures used to come from: nltk's alpha as
crowd-kit's ``alpha_krippendorff`` calls it (bit for bit) and statsmodels' ``fleiss_kappa``
(:mod:`labelhive.consensus.aggregation`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import numpy as np

from labelhive.consensus import aggregation


@dataclasses.dataclass(frozen=True)
class ClassAgreement:
    label: str
    count: int
    fleiss_kappa: float | None
    alpha: float | None


@dataclasses.dataclass(frozen=True)
class Agreement:
    """Inter-annotator agreement of a project (``None`` where it cannot be computed)."""

    alpha: float | None
    fleiss_kappa: float | None
    # Fleiss' kappa needs the same number of answers per item: the items that have the most
    # common number (at least 2) are used, and counted here
    fleiss_items: int
    fleiss_raters: int
    per_class: list[ClassAgreement]


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def agreement_of(votes: np.ndarray, labels: list[str]) -> Agreement:
    """Agreement from the per-item vote counts (columns in ``labels`` order), a chunk of items
    at a time."""
    totals = votes.sum(axis=1, dtype=np.int32)
    answered_items = int(np.count_nonzero(totals))
    used = votes.sum(axis=0, dtype=np.int64)
    alpha = _alpha(aggregation.row_chunks(votes), answered_items, used)
    frequency = np.bincount(totals)
    frequency[:2] = 0
    if not frequency.any():
        per_class = [
            ClassAgreement(name, int(used[c]), None, None) for c, name in enumerate(labels)
        ]
        return Agreement(alpha, None, 0, 0, per_class)
    # the most common number of answers (at least 2; the largest of equals)
    raters = int(np.flatnonzero(frequency == frequency.max()).max())
    kappa = _kappa(aggregation.row_chunks(votes), raters)
    per_class = []
    for column, name in enumerate(labels):
        binary = used[column], int(used.sum()) - int(used[column])
        per_class.append(
            ClassAgreement(
                label=name,
                count=int(used[column]),
                fleiss_kappa=_kappa(_one_vs_rest(votes, totals, column), raters),
                alpha=_alpha(_one_vs_rest(votes, totals, column), answered_items,
                             np.array(binary)),
            )
        )  # fmt: skip
    return Agreement(alpha, kappa, int(frequency[raters]), raters, per_class)


def _one_vs_rest(votes: np.ndarray, totals: np.ndarray, column: int) -> Iterator[np.ndarray]:
    for s in aggregation.chunks(len(votes)):
        mine = votes[s : s + aggregation.CHUNK, column]
        yield np.stack([mine, totals[s : s + aggregation.CHUNK] - mine], axis=1)


def _kappa(chunks: Iterable[np.ndarray], raters: int) -> float | None:
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = aggregation.fleiss_kappa(chunks, raters)
    return None if kappa is None else _finite(kappa)


def _alpha(chunks: Iterable[np.ndarray], answered_items: int, used: np.ndarray) -> float | None:
    # as crowd-kit's guard: one label used, or one item, leaves alpha undefined
    if np.count_nonzero(used) < 2 or answered_items < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = aggregation.alpha_from_votes(chunks)
    return None if alpha is None else _finite(alpha)


def krippendorff_alpha(data: Any) -> float | None:
    """Krippendorff's alpha for nominal labels of a frame with ``task`` and ``label`` columns:
    crowd-kit's ``alpha_krippendorff``, bit for bit (:func:`aggregation.alpha_from_votes`)."""
    import pandas as pd

    task_codes, tasks = pd.factorize(data["task"], sort=True)
    label_codes, found = pd.factorize(data["label"])
    n_labels = max(len(found), 1)
    votes = np.bincount(
        task_codes.astype(np.int64) * n_labels + label_codes, minlength=len(tasks) * n_labels
    ).reshape(len(tasks), n_labels)
    return aggregation.alpha_from_votes([votes])
