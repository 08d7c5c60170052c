"""Consensus from crowd answers, as pure functions (no I/O): labels, confidence, quality, agreement.

The algorithms are crowd-kit's (majority vote, Dawid–Skene) and statsmodels' (Fleiss' kappa);
this module only shapes the input and the output:

- input: answers as ``(task_id, worker, label)`` rows, plus the gold tasks' known answers;
- per item: the vote counts, the majority-vote label and its agreement (the share of answers
  that agree with it), the Dawid–Skene posterior, and the label of the chosen method with its
  confidence (the posterior's maximum for Dawid–Skene, the agreement for majority vote). A gold
  item's label is its known answer, with confidence 1;
- per annotator: answers, gold seen and answered correctly, agreement with the consensus on
  non-gold items, and the Dawid–Skene confusion matrix (``P(answered | true)``);
- per project and per class: Krippendorff's alpha (crowd-kit) and Fleiss' kappa (statsmodels;
  per class one-vs-rest), the class counts, and the annotators-vs-consensus confusion counts.

Gold answers "initialise" Dawid–Skene the way crowd-kit supports it: its posterior of a gold item
is clamped to the known answer in every EM step (``DawidSkene.fit(true_labels=...)``), so the
annotators' confusion matrices are anchored by the items whose truth is known.

The third method, :data:`GOLD_WEIGHTED`, is crowd-kit's weighted majority vote
(``MajorityVote.fit(skills=...)``) with each annotator's weight taken from their accuracy on
gold tasks: the log-odds ``log((K - 1) p / (1 - p))`` of the smoothed accuracy ``p`` (the weight
that makes the vote the most likely label when an annotator's mistakes are spread evenly over
the other ``K - 1`` options), floored near 0 so an annotator no better than chance (or an
adversary) has no say. Annotators without gold answers get the weight of the pooled accuracy.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene
from crowdkit.aggregation import MajorityVote
from statsmodels.stats.inter_rater import fleiss_kappa

MAJORITY_VOTE = "majority_vote"
DAWID_SKENE = "dawid_skene"
GOLD_WEIGHTED = "gold_weighted"
METHODS = (MAJORITY_VOTE, DAWID_SKENE, GOLD_WEIGHTED)
GOLD = "gold"
# gold-weighted vote: pseudo-answers at the pooled accuracy that shrink an annotator's gold
# accuracy (a perfect score on 2 gold items is weak evidence), and the smallest weight
MIN_WEIGHT = 1e-3
PRIOR_ANSWERS = 2.0
# EM iterations: Dawid-Skene converges in a few dozen on real crowds; the cap bounds the worst case
DS_MAX_ITERATIONS = 100


@dataclasses.dataclass(frozen=True)
class Item:
    """The consensus of one item (task)."""

    task_id: int
    label: str | None
    confidence: float
    method: str
    votes: dict[str, int]
    n_answers: int
    agreement: float
    mv_label: str | None
    posterior: dict[str, float]
    gold_answer: str | None = None


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


@dataclasses.dataclass(frozen=True)
class Aggregation:
    """Everything :func:`aggregate` computes for one project."""

    method: str
    labels: list[str]
    items: list[Item]
    annotators: list[Annotator]
    agreement: Agreement
    # consensus label -> answered label -> number of (non-gold) answers
    confusion: dict[str, dict[str, int]]
    n_answers: int
    seconds: float
    used_gold: bool

    @property
    def class_counts(self) -> dict[str, int]:
        counts = collections.Counter(i.label for i in self.items if i.label is not None)
        return {label: counts.get(label, 0) for label in self.labels}


def aggregate(
    rows: Iterable[tuple[int, int, str]],
    *,
    gold: Mapping[int, str] | None = None,
    options: Sequence[str] = (),
    method: str = DAWID_SKENE,
    use_gold: bool = True,
    item_ids: Iterable[int] = (),
) -> Aggregation:
    """Aggregate crowd answers into one label per item, with the evidence behind it.

    :param rows: ``(task_id, worker, label)``, at most one per (task, worker).
    :param gold: known answers of the gold tasks, by task id.
    :param options: the project's answer options, in display order (labels outside them, from
        projects without options, follow in sorted order).
    :param method: which label the items get: :data:`DAWID_SKENE`, :data:`MAJORITY_VOTE` or
        :data:`GOLD_WEIGHTED` (majority vote weighted by each annotator's gold accuracy).
    :param use_gold: clamp Dawid–Skene's posterior of gold items to their known answers.
    :param item_ids: items to report even without answers (label ``None``).
    :raise ValueError: an unknown ``method``.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown consensus method {method!r}; use one of {', '.join(METHODS)}.")
    started = time.perf_counter()
    gold = dict(gold or {})
    tasks, workers, answered = _columns(rows)
    labels = _label_order(options, answered, gold.values())
    data = pd.DataFrame({"task": tasks, "worker": workers, "label": answered})
    if data.empty:
        items = [_empty_item(t, method, gold.get(t)) for t in sorted(set(item_ids) | set(gold))]
        return Aggregation(
            method, labels, items, [], Agreement(None, None, 0, 0, []), {}, 0, 0.0, False
        )

    votes = _votes(data, labels)
    mv = MajorityVote().fit(data)
    true_labels = _gold_series(gold, set(answered)) if use_gold else None
    ds = DawidSkene(n_iter=DS_MAX_ITERATIONS).fit(data, true_labels=true_labels)
    posterior = ds.probas_.reindex(columns=labels, fill_value=0.0)

    weighted = _gold_weighted(data, gold, labels) if method == GOLD_WEIGHTED else None
    items = _items(votes, mv, posterior, method, gold, labels, weighted)
    final = {i.task_id: i.label for i in items}
    for task_id in sorted(set(item_ids) - set(final)):
        items.append(_empty_item(task_id, method, gold.get(task_id)))
    items.sort(key=lambda i: i.task_id)

    annotators = _annotators(data, final, gold, ds.errors_, labels)
    confusion = _consensus_confusion(data, final, gold, labels)
    agreement = _agreement(data, votes, labels)
    return Aggregation(
        method=method,
        labels=labels,
        items=items,
        annotators=annotators,
        agreement=agreement,
        confusion=confusion,
        n_answers=len(data),
        seconds=time.perf_counter() - started,
        used_gold=true_labels is not None
        or (method == GOLD_WEIGHTED and bool(data["task"].isin(list(gold)).any())),
    )


def gold_weights(
    data: pd.DataFrame, gold: Mapping[int, str], n_labels: int
) -> tuple[pd.Series, float]:
    """Each annotator's vote weight from their accuracy on gold tasks.

    :param data: answers, columns ``task``, ``worker``, ``label``.
    :param n_labels: the number of answer options ``K`` (chance accuracy is ``1 / K``).
    :return: the weights indexed by worker (those who answered gold tasks), and the weight of
        an annotator without gold answers.
    """
    k = max(n_labels, 2)
    on_gold = data[data["task"].isin(list(gold))]
    correct = on_gold["label"] == on_gold["task"].map(gold)
    counts = correct.groupby(on_gold["worker"]).agg(["sum", "size"])
    pooled = (counts["sum"].sum() + 1) / (counts["size"].sum() + k) if len(counts) else 1 / k

    def weight(accuracy: Any) -> Any:
        accuracy = np.clip(accuracy, 1e-6, 1 - 1e-6)
        return np.maximum(np.log((k - 1) * accuracy / (1 - accuracy)), MIN_WEIGHT)

    accuracy = (counts["sum"] + PRIOR_ANSWERS * pooled) / (counts["size"] + PRIOR_ANSWERS)
    return weight(accuracy).rename("skill"), float(weight(pooled))


def _votes(data: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Answers per item (rows, sorted) and label (columns, ``labels`` order): a fast crosstab."""
    task_codes, tasks = pd.factorize(data["task"], sort=True)
    label_codes = data["label"].map({label: i for i, label in enumerate(labels)}).to_numpy()
    counts = np.bincount(
        task_codes * len(labels) + label_codes, minlength=len(tasks) * len(labels)
    ).reshape(len(tasks), len(labels))
    return pd.DataFrame(
        counts, index=pd.Index(tasks, name="task"), columns=pd.Index(labels, name="label")
    )


def _gold_weighted(data: pd.DataFrame, gold: Mapping[int, str], labels: list[str]) -> pd.DataFrame:
    """crowd-kit's weighted majority vote: per task, each label's share of the weights."""
    skills, default = gold_weights(data, gold, len(labels))
    vote = MajorityVote(on_missing_skill="value", default_skill=default)
    return vote.fit(data, skills=skills).probas_.reindex(columns=labels, fill_value=0.0)


def _columns(rows: Iterable[tuple[int, int, str]]) -> tuple[list[int], list[int], list[str]]:
    tasks: list[int] = []
    workers: list[int] = []
    answered: list[str] = []
    for task_id, worker, label in rows:
        tasks.append(task_id)
        workers.append(worker)
        answered.append(label)
    return tasks, workers, answered


def _label_order(options: Sequence[str], answered: Iterable[str], gold: Iterable[str]) -> list[str]:
    known = list(dict.fromkeys(options))
    extra = (set(answered) | set(gold)) - set(known)
    return known + sorted(extra)


def _gold_series(gold: Mapping[int, str], seen: set[str]) -> pd.Series | None:
    # crowd-kit clamps to a posterior column: a gold answer nobody ever gave has none
    usable = {task: label for task, label in gold.items() if label in seen}
    if not usable:
        return None
    return pd.Series(usable, name="true_label", dtype=object).rename_axis("task")


def _empty_item(task_id: int, method: str, gold_answer: str | None) -> Item:
    return Item(
        task_id=task_id,
        label=gold_answer,
        confidence=1.0 if gold_answer is not None else 0.0,
        method=GOLD if gold_answer is not None else method,
        votes={},
        n_answers=0,
        agreement=0.0,
        mv_label=None,
        posterior={},
        gold_answer=gold_answer,
    )


def _items(
    votes: pd.DataFrame,
    mv: MajorityVote,
    posterior: pd.DataFrame,
    method: str,
    gold: Mapping[int, str],
    labels: list[str],
    weighted: pd.DataFrame | None = None,
) -> list[Item]:
    counts = votes.to_numpy()
    shares = weighted.reindex(votes.index).to_numpy() if weighted is not None else None
    totals = counts.sum(axis=1).tolist()
    most = counts.max(axis=1).tolist()
    mv_labels = [str(label) for label in mv.labels_.reindex(votes.index).tolist()]
    probas = posterior.reindex(votes.index).to_numpy()
    ds_best = probas.argmax(axis=1).tolist()
    ds_confidence = probas.max(axis=1).tolist()
    # plain Python values, row by row: indexing numpy and pandas per item costs more than the work
    count_rows = counts.tolist()
    proba_rows = probas.tolist()
    items = []
    for row, task_id in enumerate(votes.index.tolist()):
        total = totals[row]
        mv_label = mv_labels[row]
        agreement = float(most[row]) / total if total else 0.0
        post = {label: p for label, p in zip(labels, proba_rows[row], strict=True) if p > 0}
        gold_answer = gold.get(task_id)
        if gold_answer is not None:
            label, confidence, used = gold_answer, 1.0, GOLD
        elif method == DAWID_SKENE:
            label, confidence, used = labels[ds_best[row]], ds_confidence[row], method
        elif shares is not None:
            best = int(shares[row].argmax())
            label, confidence, used = labels[best], float(shares[row][best]), method
        else:
            label, confidence, used = mv_label, agreement, method
        items.append(
            Item(
                task_id=int(task_id),
                label=label,
                confidence=confidence,
                method=used,
                votes={label: n for label, n in zip(labels, count_rows[row], strict=True) if n},
                n_answers=total,
                agreement=agreement,
                mv_label=mv_label,
                posterior=post,
                gold_answer=gold_answer,
            )
        )
    return items


def _annotators(
    data: pd.DataFrame,
    final: Mapping[int, str | None],
    gold: Mapping[int, str],
    errors: pd.DataFrame,
    labels: list[str],
) -> list[Annotator]:
    frame = data.assign(
        is_gold=data["task"].isin(list(gold)),
        truth=data["task"].map(gold) if gold else None,
        consensus=data["task"].map(final),
    )
    frame["gold_ok"] = frame["is_gold"] & (frame["label"] == frame["truth"])
    frame["compared"] = ~frame["is_gold"] & frame["consensus"].notna()
    frame["agreed"] = frame["compared"] & (frame["label"] == frame["consensus"])
    stats = frame.groupby("worker", sort=True).agg(
        n_answers=("label", "size"),
        gold_seen=("is_gold", "sum"),
        gold_correct=("gold_ok", "sum"),
        n_compared=("compared", "sum"),
        n_agreed=("agreed", "sum"),
    )
    matrices = _confusion_matrices(errors, labels)
    return [
        Annotator(
            worker=int(worker),
            n_answers=int(row.n_answers),
            gold_seen=int(row.gold_seen),
            gold_correct=int(row.gold_correct),
            n_compared=int(row.n_compared),
            n_agreed=int(row.n_agreed),
            confusion=matrices.get(worker, {}),
        )
        for worker, row in stats.iterrows()
    ]


def _confusion_matrices(errors: pd.DataFrame, labels: list[str]) -> dict[Any, dict]:
    """crowd-kit's ``errors_`` (index worker, answered; columns true) as true -> answered -> p."""
    matrices: dict[Any, dict[str, dict[str, float]]] = {}
    if errors is None or errors.empty:
        return matrices
    for (worker, answered), row in errors.iterrows():
        matrix = matrices.setdefault(worker, {})
        for true, p in row.items():
            if true in labels and answered in labels:
                matrix.setdefault(str(true), {})[str(answered)] = round(float(p), 6)
    return matrices


def _consensus_confusion(
    data: pd.DataFrame, final: Mapping[int, str | None], gold: Mapping[int, str], labels: list[str]
) -> dict[str, dict[str, int]]:
    frame = data[~data["task"].isin(list(gold))]
    consensus = frame["task"].map(final)
    table = pd.crosstab(consensus, frame["label"]) if not frame.empty else pd.DataFrame()
    table = table.reindex(index=labels, columns=labels, fill_value=0)
    return {
        str(true): {str(answered): int(n) for answered, n in row.items()}
        for true, row in table.iterrows()
    }


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _agreement(data: pd.DataFrame, votes: pd.DataFrame, labels: list[str]) -> Agreement:
    alpha = _alpha(data)
    totals = votes.sum(axis=1)
    multi = totals[totals >= 2]
    if multi.empty:
        per_class = [ClassAgreement(label, int(votes[label].sum()), None, None) for label in labels]
        return Agreement(alpha, None, 0, 0, per_class)
    raters = int(multi.mode().max())
    table = votes.loc[totals[totals == raters].index].to_numpy()
    kappa = _kappa(table)
    per_class = []
    for column, label in enumerate(labels):
        one_vs_rest = np.stack([table[:, column], raters - table[:, column]], axis=1)
        binary = data.assign(label=data["label"] == label)
        per_class.append(
            ClassAgreement(
                label=label,
                count=int(votes[label].sum()),
                fleiss_kappa=_kappa(one_vs_rest),
                alpha=_alpha(binary),
            )
        )
    return Agreement(alpha, kappa, len(table), raters, per_class)


def _kappa(table: np.ndarray) -> float | None:
    # one category only (or none) leaves chance agreement at 1: kappa is undefined
    if len(table) == 0 or np.count_nonzero(table.sum(axis=0)) < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(fleiss_kappa(table, method="fleiss"))


def _alpha(data: pd.DataFrame) -> float | None:
    if data["label"].nunique() < 2 or data["task"].nunique() < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = krippendorff_alpha(data)
    return None if alpha is None else _finite(alpha)


def krippendorff_alpha(data: pd.DataFrame) -> float | None:
    """Krippendorff's alpha for nominal labels: crowd-kit's ``alpha_krippendorff``, vectorised.

    crowd-kit hands the answers to nltk's ``AnnotationTask.alpha`` (binary distance), a Python
    loop over per-item dictionaries: most of the time and memory of :func:`aggregate` on large
    projects. This computes the very same floating-point operations in the same order (per
    item, in sorted item order, ``n² - Σ n_label²`` disagreeing pairs divided by ``n (n - 1)``
    and weighted by ``n``, added one by one), so the value is bit-for-bit nltk's.

    :param data: answers, columns ``task`` and ``label``.
    :return: alpha, or ``None`` when no item has two answers (nltk divides by zero).
    """
    task_codes, tasks = pd.factorize(data["task"], sort=True)
    label_codes, labels = pd.factorize(data["label"])
    n_labels = max(len(labels), 1)
    pairs, pair_counts = np.unique(task_codes * n_labels + label_codes, return_counts=True)
    per_item = np.bincount(task_codes, minlength=len(tasks)).astype(np.float64)
    squares = np.bincount(
        pairs // n_labels, weights=pair_counts.astype(np.float64) ** 2, minlength=len(tasks)
    )
    valid = per_item >= 2
    if not valid.any():
        return None
    n = per_item[valid]
    disagreement = (n * n - squares[valid]) / (n * (n - 1))
    # a running sum, as nltk adds the items: numpy's pairwise sum would round differently
    total_do = float(np.cumsum(disagreement * n)[-1])
    counted = np.bincount(label_codes[valid[task_codes]], minlength=n_labels)
    if np.count_nonzero(counted) == 1:
        return 1.0
    total = int(counted.sum())
    expected_pairs = total * total - int((counted.astype(np.int64) ** 2).sum())
    expected = float(expected_pairs) / (total * (total - 1))
    return 1.0 - (total_do / total) / expected
