"""Consensus from crowd answers, as pure functions (no I/O): labels, confidence, quality, agreement.

The algorithms are crowd-kit's (majority vote, weighted majority vote, Dawid–Skene) and
statsmodels' (Fleiss' kappa), run by :mod:`labelhive.consensus.aggregation` on compact integer
arrays (:class:`AnswerArrays`, a few bytes per answer) instead of crowd-kit's pandas frames of
objects, so ten million answers fit a 1 GiB worker; the labels are crowd-kit's (see that module
for the one way they can differ, a tie to the last bits, and the test that bounds it). This
module shapes the input and the output:

- input: :class:`AnswerArrays` (read from the database by
  :mod:`labelhive.consensus.answer_arrays`), or ``(task_id, worker, label)`` rows
  (:func:`aggregate`), plus the gold tasks' known answers;
- per item: the vote counts, the majority-vote label and its agreement (the share of answers
  that agree with it), the Dawid–Skene posterior, and the label of the chosen method with its
  confidence (the posterior's maximum for Dawid–Skene, the agreement for majority vote). A gold
  item's label is its known answer, with confidence 1. Items are built when read
  (:class:`ItemTable`): a project's two million items are arrays, not objects;
- per annotator (:mod:`labelhive.consensus.annotators`): answers, gold seen and answered
  correctly, agreement with the consensus on non-gold items, and the Dawid–Skene confusion
  matrix (``P(answered | true)``);
- per project and per class (:mod:`labelhive.consensus.agreement`): Krippendorff's alpha (nltk's
  arithmetic, as crowd-kit calls it) and Fleiss' kappa (statsmodels' formula; per class
  one-vs-rest), the class counts, and the annotators-vs-consensus confusion counts.

Gold answers "initialise" Dawid–Skene the way crowd-kit's ``fit(true_labels=...)`` does: a gold
item's posterior is clamped to the known answer in every EM step, so the annotators' confusion
matrices are anchored by the items whose truth is known.

The third method, :data:`GOLD_WEIGHTED`, is crowd-kit's weighted majority vote
(``MajorityVote.fit(skills=...)``) with each annotator's weight taken from their accuracy on
gold tasks: the log-odds ``log((K - 1) p / (1 - p))`` of the smoothed accuracy ``p`` (the weight
that makes the vote the most likely label when an annotator's mistakes are spread evenly over
the other ``K - 1`` options), floored near 0 so an annotator no better than chance (or an
adversary) has no say. Annotators without gold answers get the weight of the pooled accuracy.

Ties go as in crowd-kit: to the first label in sorted order.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import overload

import numpy as np

from labelhive.consensus import aggregation
from labelhive.consensus.agreement import Agreement as Agreement
from labelhive.consensus.agreement import ClassAgreement as ClassAgreement
from labelhive.consensus.agreement import agreement_of
from labelhive.consensus.agreement import krippendorff_alpha as krippendorff_alpha
from labelhive.consensus.annotators import MIN_WEIGHT as MIN_WEIGHT
from labelhive.consensus.annotators import PRIOR_ANSWERS as PRIOR_ANSWERS
from labelhive.consensus.annotators import Annotator as Annotator
from labelhive.consensus.annotators import annotators_of
from labelhive.consensus.annotators import compared_outside
from labelhive.consensus.annotators import consensus_confusion
from labelhive.consensus.annotators import skills as skills_of
from labelhive.consensus.annotators import worker_weights as worker_weights

MAJORITY_VOTE = "majority_vote"
DAWID_SKENE = "dawid_skene"
GOLD_WEIGHTED = "gold_weighted"
METHODS = (MAJORITY_VOTE, DAWID_SKENE, GOLD_WEIGHTED)
GOLD = "gold"
# EM iterations: Dawid-Skene converges in a few dozen on real crowds; the cap bounds the worst case
DS_MAX_ITERATIONS = 100


@dataclasses.dataclass(frozen=True)
class AnswerArrays:
    """Answers as parallel code arrays: ``task[i]``, ``worker[i]``, ``label[i]`` of answer ``i``.

    ``task_ids``, ``worker_ids`` (sorted, ``int64``) and ``labels`` decode the codes; at most
    one answer per (task, worker). ``task_ids`` may hold tasks without answers.
    """

    task: np.ndarray  # int32 codes into task_ids
    worker: np.ndarray  # int32 codes into worker_ids
    label: np.ndarray  # int16 codes into labels
    task_ids: np.ndarray
    worker_ids: np.ndarray
    labels: list[str]
    # int32 UTC days since the epoch the answers arrived (None: not read, no history per day)
    day: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.task)


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


class ItemTable(Sequence[Item]):
    """Every item's consensus as arrays; an :class:`Item` is built when one is read.

    Codes index ``labels`` (the display order); ``-1`` is "no label".
    """

    def __init__(
        self,
        *,
        task_ids: np.ndarray,
        labels: list[str],
        label: np.ndarray,
        confidence: np.ndarray,
        mv_label: np.ndarray,
        votes: np.ndarray,
        posterior: np.ndarray | None,
        gold: np.ndarray,
        method: str,
        posterior_labels: np.ndarray | None = None,
    ) -> None:
        self.task_ids = task_ids
        self.labels = labels
        self.label = label
        self.confidence = confidence
        self.mv_label = mv_label
        self.votes = votes
        self.posterior = posterior
        # the posterior's rows are Dawid-Skene's labels: their codes in ``labels``, shown in
        # ``labels`` order
        rows = np.arange(0 if posterior is None else len(posterior))
        codes = rows if posterior_labels is None else posterior_labels
        order = np.argsort(codes)
        self.posterior_rows = [(int(r), labels[int(codes[r])]) for r in order]
        self.gold = gold
        self.method = method
        self.totals = votes.sum(axis=1)

    def __len__(self) -> int:
        return len(self.task_ids)

    @overload
    def __getitem__(self, index: int) -> Item: ...

    @overload
    def __getitem__(self, index: slice) -> list[Item]: ...

    def __getitem__(self, index: int | slice) -> Item | list[Item]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._item(index)

    def __iter__(self) -> Iterator[Item]:
        for i in range(len(self)):
            yield self._item(i)

    def _item(self, i: int) -> Item:
        labels = self.labels
        total = int(self.totals[i])
        counts = self.votes[i].tolist()
        gold = int(self.gold[i])
        label = int(self.label[i])
        mv = int(self.mv_label[i])
        posterior = {}
        if self.posterior is not None:
            column = self.posterior[:, i].tolist()
            posterior = {name: column[r] for r, name in self.posterior_rows if column[r] > 0}
        return Item(
            task_id=int(self.task_ids[i]),
            label=labels[label] if label >= 0 else None,
            confidence=float(self.confidence[i]),
            method=GOLD if gold >= 0 else self.method,
            votes={labels[c]: n for c, n in enumerate(counts) if n},
            n_answers=total,
            agreement=max(counts) / total if total else 0.0,
            mv_label=labels[mv] if mv >= 0 else None,
            posterior=posterior,
            gold_answer=labels[gold] if gold >= 0 else None,
        )


@dataclasses.dataclass(frozen=True)
class Aggregation:
    """Everything :func:`aggregate` computes for one project."""

    method: str
    labels: list[str]
    items: Sequence[Item]
    annotators: list[Annotator]
    agreement: Agreement
    # consensus label -> answered label -> number of (non-gold) answers
    confusion: dict[str, dict[str, int]]
    n_answers: int
    seconds: float
    used_gold: bool
    class_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    # non-gold items whose majority-vote label is not their consensus label
    mv_disagreements: int = 0
    # excluded annotators' answers compared with the consensus they had no part in
    excluded_annotators: list[Annotator] = dataclasses.field(default_factory=list)


def aggregate(
    rows: Iterable[tuple[int, int, str]],
    *,
    gold: Mapping[int, str] | None = None,
    options: Sequence[str] = (),
    method: str = DAWID_SKENE,
    use_gold: bool = True,
    item_ids: Iterable[int] = (),
) -> Aggregation:
    """Aggregate ``(task_id, worker, label)`` rows: :func:`aggregate_arrays` on their codes.

    :param rows: at most one per (task, worker).
    """
    return aggregate_arrays(
        arrays_from_rows(rows),
        gold=gold,
        options=options,
        method=method,
        use_gold=use_gold,
        item_ids=item_ids,
    )


def arrays_from_rows(rows: Iterable[tuple[int, int, str]]) -> AnswerArrays:
    """Code ``(task_id, worker, label)`` rows (tests, small callers; the database reader builds
    the arrays chunk by chunk)."""
    tasks: list[int] = []
    workers: list[int] = []
    codes: list[int] = []
    labels: dict[str, int] = {}
    for task_id, worker, label in rows:
        tasks.append(task_id)
        workers.append(worker)
        codes.append(labels.setdefault(label, len(labels)))
    task_ids, task_codes = np.unique(np.asarray(tasks, dtype=np.int64), return_inverse=True)
    worker_ids, worker_codes = np.unique(np.asarray(workers, dtype=np.int64), return_inverse=True)
    return AnswerArrays(
        task=task_codes.astype(np.int32),
        worker=worker_codes.astype(np.int32),
        label=np.asarray(codes, dtype=np.int16),
        task_ids=task_ids,
        worker_ids=worker_ids,
        labels=list(labels),
    )


def aggregate_arrays(
    answers: AnswerArrays,
    *,
    gold: Mapping[int, str] | None = None,
    options: Sequence[str] = (),
    method: str = DAWID_SKENE,
    use_gold: bool = True,
    item_ids: Iterable[int] = (),
    excluded: AnswerArrays | None = None,
) -> Aggregation:
    """Aggregate crowd answers into one label per item, with the evidence behind it.

    :param answers: the answers' codes.
    :param gold: known answers of the gold tasks, by task id.
    :param options: the project's answer options, in display order (labels outside them, from
        projects without options, follow in sorted order).
    :param method: which label the items get: :data:`DAWID_SKENE`, :data:`MAJORITY_VOTE` or
        :data:`GOLD_WEIGHTED` (majority vote weighted by each annotator's gold accuracy).
    :param use_gold: clamp Dawid–Skene's posterior of gold items to their known answers.
    :param item_ids: items to report even without answers (label ``None``).
    :param excluded: excluded annotators' answers: no part of the labels, only compared with
        them (:attr:`Aggregation.excluded_annotators`).
    :raise ValueError: an unknown ``method``.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown consensus method {method!r}; use one of {', '.join(METHODS)}.")
    started = time.perf_counter()
    gold = dict(gold or {})
    used_codes = np.bincount(answers.label, minlength=len(answers.labels))
    answered = sorted(answers.labels[c] for c in np.flatnonzero(used_codes).tolist())
    labels = _label_order(options, answered, gold.values())
    # internal codes: sorted label order, crowd-kit's columns (ties go to the first)
    ordered = sorted(labels)
    display = np.array([labels.index(label) for label in ordered], dtype=np.int64)
    recode = np.array([ordered.index(label) for label in answers.labels], dtype=np.int16)
    label = recode[answers.label] if len(answers) else answers.label
    task_ids, task = _items(answers, item_ids, gold)
    n_items, n_labels = len(task_ids), len(ordered)
    # per-item label codes are int16 (a project has far fewer labels): items are many
    gold_code = np.full(n_items, -1, dtype=np.int16)
    if gold:
        where = np.searchsorted(task_ids, np.fromiter(gold, dtype=np.int64))
        gold_code[where] = [ordered.index(v) for v in gold.values()]

    if not len(answers):
        return _unanswered(task_ids, gold_code, ordered, labels, method, started)
    votes = aggregation.vote_counts(task, label, n_items, n_labels)
    totals = votes.sum(axis=1)
    has_answers = totals > 0
    mv = np.where(has_answers, aggregation.first_argmax(votes, 1).astype(np.int16), -1)
    fit, ds_columns = _dawid_skene(task, answers.worker, label, votes, len(answers.worker_ids),
                                   gold_code, answered, ordered, use_gold)  # fmt: skip
    if method == DAWID_SKENE:
        best = ds_columns.astype(np.int16)[aggregation.first_argmax(fit.probas, 0)]
        chosen = np.where(has_answers, best, -1)
        del best
        confidence = np.where(has_answers, fit.probas.max(axis=0), 0.0)
    elif method == GOLD_WEIGHTED:
        weights, _ = skills_of(task, answers.worker, label, gold_code, len(answers.worker_ids),
                            n_labels)  # fmt: skip
        shares = aggregation.weighted_scores(task, answers.worker, label, weights, n_items,
                                             n_labels)  # fmt: skip
        chosen = np.where(has_answers, aggregation.first_argmax(shares, 1).astype(np.int16), -1)
        confidence = shares.max(axis=1)
        del shares
    else:
        chosen = mv
        with np.errstate(invalid="ignore", divide="ignore"):
            confidence = np.where(has_answers, votes.max(axis=1) / np.maximum(totals, 1), 0.0)
    is_gold = gold_code >= 0
    final = np.where(is_gold, gold_code, chosen)
    confidence = np.where(is_gold, 1.0, confidence)
    mv_disagreements = int(np.count_nonzero(~is_gold & (mv >= 0) & (mv != final)))

    usable_gold = use_gold and any(v in answered for v in gold.values())
    used_gold = usable_gold or (method == GOLD_WEIGHTED and bool(np.any(is_gold[task])))
    to_display = np.append(display, -1).astype(np.int16)  # code -1 stays -1
    shown = np.argsort(display)
    votes = votes[:, shown]
    items = ItemTable(
        task_ids=task_ids,
        labels=labels,
        label=to_display[final],
        confidence=confidence,
        mv_label=to_display[mv],
        votes=votes,
        posterior=fit.probas,
        posterior_labels=display[ds_columns],
        gold=to_display[gold_code],
        method=method,
    )
    final_counts = np.bincount(final[final >= 0], minlength=n_labels)
    return Aggregation(
        method=method,
        labels=labels,
        items=items,
        annotators=annotators_of(
            answers.worker_ids,
            answers.worker,
            task,
            label,
            final,
            gold_code,
            fit,
            ds_columns,
            ordered,
            day=answers.day,
        ),
        agreement=agreement_of(votes, labels),
        confusion=consensus_confusion(task, label, final, is_gold, ordered, labels),
        n_answers=len(answers),
        seconds=time.perf_counter() - started,
        used_gold=used_gold,
        class_counts={label: int(final_counts[ordered.index(label)]) for label in labels},
        mv_disagreements=mv_disagreements,
        excluded_annotators=[]
        if excluded is None
        else compared_outside(excluded, task_ids, final, gold_code, ordered),
    )


def _unanswered(
    task_ids: np.ndarray,
    gold_code: np.ndarray,
    ordered: list[str],
    labels: list[str],
    method: str,
    started: float,
) -> Aggregation:
    """No answers: every item is empty, but for the gold items' known answers."""
    display = np.array([labels.index(label) for label in ordered] + [-1], dtype=np.int64)
    is_gold = gold_code >= 0
    items = ItemTable(
        task_ids=task_ids,
        labels=labels,
        label=display[gold_code],
        confidence=is_gold.astype(np.float64),
        mv_label=np.full(len(task_ids), -1),
        votes=np.zeros((len(task_ids), len(labels)), dtype=np.int32),
        posterior=None,
        gold=display[gold_code],
        method=method,
    )
    counts = np.bincount(gold_code[is_gold], minlength=len(ordered))
    return Aggregation(
        method, labels, items, [], Agreement(None, None, 0, 0, []), {}, 0,
        time.perf_counter() - started, False,
        class_counts={label: int(counts[ordered.index(label)]) for label in labels},
    )  # fmt: skip


def _items(
    answers: AnswerArrays, item_ids: Iterable[int], gold: Mapping[int, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Every item (answered, asked for, gold), sorted, and the answers' codes into it."""
    extra = np.fromiter(item_ids, dtype=np.int64)
    extra = np.union1d(extra, np.fromiter(gold, dtype=np.int64))
    known = answers.task_ids
    at = np.minimum(np.searchsorted(known, extra), max(len(known) - 1, 0))
    if len(known) and (known[at] == extra).all():
        return known, answers.task  # the reader's task ids hold every item already
    task_ids = np.union1d(known, extra)
    remap = np.searchsorted(task_ids, answers.task_ids).astype(np.int32)
    task = np.empty_like(answers.task)
    for s in aggregation.chunks(len(task)):
        np.take(remap, answers.task[s : s + aggregation.CHUNK], out=task[s : s + aggregation.CHUNK])
    return task_ids, task


def _dawid_skene(
    task: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    votes: np.ndarray,
    n_workers: int,
    gold_code: np.ndarray,
    answered: list[str],
    ordered: list[str],
    use_gold: bool,
) -> tuple[aggregation.DawidSkeneFit, np.ndarray]:
    """Dawid–Skene over the labels that occur in answers (crowd-kit's columns)."""
    columns = np.array([ordered.index(a) for a in answered], dtype=np.int64)
    to_column = np.full(len(ordered), -1, dtype=np.int16)
    to_column[columns] = np.arange(len(columns))
    clamp = {}
    if use_gold:
        # crowd-kit clamps to a posterior column: a gold answer nobody ever gave has none
        for t in np.flatnonzero(gold_code >= 0).tolist():
            if to_column[gold_code[t]] >= 0:
                clamp[t] = int(to_column[gold_code[t]])
    ds_label = to_column[label] if len(label) else label
    fit = aggregation.dawid_skene(
        task, worker, ds_label, votes[:, columns], n_workers, clamp, n_iter=DS_MAX_ITERATIONS
    )
    return fit, columns


def _label_order(options: Sequence[str], answered: Iterable[str], gold: Iterable[str]) -> list[str]:
    known = list(dict.fromkeys(options))
    extra = (set(answered) | set(gold)) - set(known)
    return known + sorted(extra)
