"""crowd-kit's majority vote, weighted vote and Dawid–Skene, over compact numpy arrays (pure).

crowd-kit runs these on a pandas frame of ``(task, worker, label)`` objects: at ten million
answers its joins and group-bys need several GiB and minutes per EM iteration. This module
runs the very same arithmetic on integer codes, a chunk of answers at a time, so the memory
is a few bytes per answer (the codes) plus the per-task and per-worker tables:

- answers are three parallel arrays, ``task`` and ``worker`` (``int32`` codes) and ``label``
  (``int16`` codes, in **sorted** label order: crowd-kit's columns, so ``argmax`` breaks ties
  as crowd-kit's ``idxmax`` does);
- per-task tables are ``(K, T)`` (one contiguous row per label).

What differs from crowd-kit is only the order of floating-point additions (``bincount`` adds
one by one where pandas' group-by sums compensate): posteriors agree to ~1e-12, and a label
can differ only where two labels' posteriors (or weighted scores) tie to that precision, or
where the EM loop's stopping test (a change of the lower bound below ``tol``) falls on the
other side by the same rounding. ``tests/app/consensus/test_crowdkit_parity.py`` measures both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from collections.abc import Iterator

import numpy as np

# crowd-kit's floor for probabilities and error rates (its ``_EPS``)
EPS = 1e-10
# answers per step of a pass over the answers: bounds the temporary arrays (~8 bytes × K each)
CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class DawidSkeneFit:
    """Dawid–Skene's estimates over the answered tasks.

    ``probas`` is ``(K, T)`` (columns of tasks without answers are 0), ``errors`` is
    ``(W, K, K)`` as ``errors[worker, answered, true]``, ``seen`` marks the ``(worker,
    answered)`` pairs that occur (crowd-kit's ``errors_`` rows), ``iterations`` the EM steps.
    """

    probas: np.ndarray
    errors: np.ndarray
    seen: np.ndarray
    iterations: int


def chunks(n: int, size: int = CHUNK) -> range:
    return range(0, n, size)


def vote_counts(task: np.ndarray, label: np.ndarray, n_tasks: int, n_labels: int) -> np.ndarray:
    """Answers per task and label, ``(T, L)`` ``int32``."""
    counts = np.zeros(n_tasks * n_labels, dtype=np.int64)
    for s in chunks(len(task)):
        flat = task[s : s + CHUNK].astype(np.int64) * n_labels + label[s : s + CHUNK]
        counts += np.bincount(flat, minlength=n_tasks * n_labels)
    return counts.reshape(n_tasks, n_labels).astype(np.int32)


def weighted_scores(
    task: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    skill: np.ndarray,
    n_tasks: int,
    n_labels: int,
) -> np.ndarray:
    """crowd-kit's weighted majority vote scores: per task and label, the voters' skills summed.

    :return: ``(T, L)`` shares (each answered task's row sums to 1; unanswered rows are 0).
    """
    summed = np.zeros(n_tasks * n_labels)
    for s in chunks(len(task)):
        flat = task[s : s + CHUNK].astype(np.int64) * n_labels + label[s : s + CHUNK]
        summed += np.bincount(flat, weights=skill[worker[s : s + CHUNK]], minlength=summed.size)
    scores = summed.reshape(n_tasks, n_labels)
    totals = scores.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, scores / totals, 0.0)


def dawid_skene(
    task: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    counts: np.ndarray,
    n_workers: int,
    gold: dict[int, int] | None = None,
    *,
    n_iter: int = 100,
    tol: float = 1e-5,
) -> DawidSkeneFit:
    """crowd-kit's ``DawidSkene(n_iter, tol).fit(data, true_labels)``, step for step.

    :param task: per answer, the task's code (``0..T-1``).
    :param label: per answer, the label's code among the ``K`` labels that occur in answers.
    :param counts: ``(T, K)`` answers per task and label (:func:`vote_counts`).
    :param gold: task code -> label code of the gold tasks whose answer is a column (clamped to
        that label after every E-step, as ``true_labels`` does).
    """
    n_tasks, k = counts.shape
    n = len(task)
    answered = counts.sum(axis=1) > 0
    n_answered = int(answered.sum())
    every = bool(answered.all())
    gold_tasks = np.fromiter((gold or {}).keys(), dtype=np.int64)
    gold_labels = np.fromiter((gold or {}).values(), dtype=np.int64)
    keep = answered[gold_tasks] if len(gold_tasks) else gold_tasks.astype(bool)
    gold_tasks, gold_labels = gold_tasks[keep], gold_labels[keep]
    per_task = counts.sum(axis=1).astype(np.float64)

    # initialisation: majority vote's shares, corrected by gold
    probas = np.ascontiguousarray(counts.T, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        probas /= np.where(per_task > 0, per_task, 1.0)
    _clamp(probas, gold_tasks, gold_labels)
    seen = _seen(worker, label, n_workers, k)
    priors = probas.sum(axis=1) / max(n_answered, 1)
    sums = _m_sums(probas, task, worker, label, n_workers, k)
    errors = _normalise(sums, seen)
    loss = -np.inf
    iterations = 0
    for _ in range(n_iter):
        iterations += 1
        # the previous posterior is not needed any more: the E-step overwrites it
        _e_step(task, worker, label, np.maximum(priors, EPS), errors, probas)
        _clamp(probas, gold_tasks, gold_labels)
        if not every:
            probas[:, ~answered] = 0.0
        priors = probas.sum(axis=1) / max(n_answered, 1)
        sums = _m_sums(probas, task, worker, label, n_workers, k)
        errors = _normalise(sums, seen)
        clipped_priors = np.maximum(priors, EPS)
        with np.errstate(divide="ignore"):
            log_errors = np.where(
                seen[:, :, None], np.log(np.where(seen[:, :, None], errors, 1)), 0
            )
        joint = float((sums * log_errors).sum()) + float(
            np.log(clipped_priors) @ (probas @ per_task)
        )
        np.maximum(probas, EPS, out=probas)
        live = probas if every else probas[:, answered]
        entropy = -float((np.log(live) * live).sum())
        new_loss = (joint + entropy) / max(n, 1)
        if not every:
            probas[:, ~answered] = 0.0
        if new_loss - loss < tol:
            break
        loss = new_loss
    return DawidSkeneFit(probas, errors, seen, iterations)


def _clamp(probas: np.ndarray, tasks: np.ndarray, labels: np.ndarray) -> None:
    if len(tasks):
        probas[:, tasks] = 0.0
        probas[labels, tasks] = 1.0


def _seen(worker: np.ndarray, label: np.ndarray, n_workers: int, k: int) -> np.ndarray:
    counts = np.zeros(n_workers * k, dtype=np.int64)
    for s in chunks(len(worker)):
        pairs = worker[s : s + CHUNK].astype(np.int64) * k + label[s : s + CHUNK]
        counts += np.bincount(pairs, minlength=n_workers * k)
    return (counts > 0).reshape(n_workers, k)


def _m_sums(
    probas: np.ndarray,
    task: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    n_workers: int,
    k: int,
) -> np.ndarray:
    """``sums[worker, answered, true]``: the posterior mass of ``true`` over the answers."""
    sums = np.zeros((k, n_workers * k))
    for s in chunks(len(task)):
        t = task[s : s + CHUNK]
        pairs = worker[s : s + CHUNK].astype(np.int64) * k + label[s : s + CHUNK]
        for c in range(k):
            sums[c] += np.bincount(pairs, weights=probas[c][t], minlength=n_workers * k)
    return sums.T.reshape(n_workers, k, k)


def _normalise(sums: np.ndarray, seen: np.ndarray) -> np.ndarray:
    # crowd-kit clips the rows that exist (worker, answered) and normalises per worker and true
    errors = np.where(seen[:, :, None], np.maximum(sums, EPS), 0.0)
    return errors / errors.sum(axis=1, keepdims=True)


def _e_step(
    task: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    priors: np.ndarray,
    errors: np.ndarray,
    log_lik: np.ndarray,
) -> None:
    """The posterior, written into ``log_lik`` (``(K, T)``)."""
    n_workers, k, _ = errors.shape
    n_tasks = log_lik.shape[1]
    with np.errstate(divide="ignore"):
        # (K true, W*K pairs): one contiguous table per true label
        table = np.ascontiguousarray(np.log2(errors).reshape(n_workers * k, k).T)
    log_lik[:] = 0.0
    for s in chunks(len(task)):
        t = task[s : s + CHUNK]
        pairs = worker[s : s + CHUNK].astype(np.int64) * k + label[s : s + CHUNK]
        for c in range(k):
            log_lik[c] += np.bincount(t, weights=table[c][pairs], minlength=n_tasks)
    log_lik += np.log2(priors)[:, None]
    log_lik -= log_lik.max(axis=0)
    np.exp2(log_lik, out=log_lik)
    log_lik /= log_lik.sum(axis=0)


def first_argmax(table: np.ndarray, axis: int) -> np.ndarray:
    """``argmax`` (the first maximum, as pandas' ``idxmax``)."""
    return np.asarray(table.argmax(axis=axis))


def alpha_from_votes(chunks_of_votes: Iterable[np.ndarray]) -> float | None:
    """Krippendorff's alpha (nominal) from per-item label counts, as nltk computes it.

    nltk (crowd-kit's ``alpha_krippendorff``) adds, item by item in sorted item order, the
    disagreeing pairs ``n² - Σ n_label²`` over ``n (n - 1)``, weighted by ``n``: a running sum
    here too, carried from chunk to chunk, so the value is bit-for-bit nltk's.

    :param chunks_of_votes: ``(items, labels)`` counts, rows in sorted item order, in chunks.
    :return: alpha, or ``None`` when no item has two answers (nltk divides by zero).
    """
    total_do = 0.0
    counted: np.ndarray | None = None
    for votes in chunks_of_votes:
        per_item = votes.sum(axis=1, dtype=np.int64)
        valid = per_item >= 2
        kept = votes[valid].astype(np.int64)
        n = per_item[valid].astype(np.float64)
        squares = (kept * kept).sum(axis=1).astype(np.float64)
        disagreement = (n * n - squares) / (n * (n - 1))
        total_do = float(np.cumsum(np.concatenate([[total_do], disagreement * n]))[-1])
        part = kept.sum(axis=0)
        counted = part if counted is None else counted + part
    if counted is None or counted.sum() == 0:
        return None
    if np.count_nonzero(counted) == 1:
        return 1.0
    total = int(counted.sum())
    expected_pairs = total * total - int((counted**2).sum())
    expected = float(expected_pairs) / (total * (total - 1))
    return 1.0 - (total_do / total) / expected


def fleiss_kappa(chunks_of_votes: Iterable[np.ndarray], raters: int) -> float | None:
    """statsmodels' ``fleiss_kappa(table, method="fleiss")`` over the rows that have exactly
    ``raters`` answers, added up a chunk at a time (no float copy of the whole table).

    :return: kappa, or ``None`` when no row qualifies or fewer than two categories are used
        (chance agreement 1: undefined).
    """
    n_rows = 0
    squares = 0
    columns: np.ndarray | None = None
    for votes in chunks_of_votes:
        rows = votes[votes.sum(axis=1, dtype=np.int64) == raters].astype(np.int64)
        n_rows += len(rows)
        squares += int((rows * rows).sum())
        part = rows.sum(axis=0)
        columns = part if columns is None else columns + part
    if columns is None or n_rows == 0 or np.count_nonzero(columns) < 2:
        return None
    p_cat = columns / float(n_rows * raters)
    p_mean = (squares - n_rows * raters) / (raters * (raters - 1.0)) / n_rows
    p_exp = float((p_cat * p_cat).sum())
    return (p_mean - p_exp) / (1 - p_exp)


def row_chunks(table: np.ndarray, size: int = CHUNK) -> Iterator[np.ndarray]:
    for s in range(0, len(table), size):
        yield table[s : s + size]
