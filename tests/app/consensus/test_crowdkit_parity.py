"""The array code's labels are crowd-kit's on the same answers (pure: no database).

:mod:`labelhive.consensus.aggregation` re-runs crowd-kit's arithmetic on integer codes. The only
allowed difference is rounding: floating-point sums in another order. These tests measure it
on a synthetic crowd (mixed accuracy, adversaries, uneven redundancy, an option nobody picks,
gold) and bound it: posteriors within 1e-9, and a label may differ only on an item whose two
best labels crowd-kit itself scores within 1e-9 of each other (a tie to the last bits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene
from crowdkit.aggregation import MajorityVote

from labelhive.consensus import consensus

LABELS = ["bird", "cat", "dog", "fish", "horse"]
TIE = 1e-9


def crowd(n_tasks: int, seed: int) -> tuple[pd.DataFrame, dict[int, str]]:
    """Answers with 1 to 7 per task from 60 annotators (6 adversaries), and 2% gold."""
    rng = np.random.default_rng(seed)
    n_workers = 60
    accuracy = rng.uniform(0.35, 0.95, n_workers)
    truth = rng.integers(0, 4, n_tasks)  # "horse" is an option nobody's truth
    per_task = rng.integers(1, 8, n_tasks)
    tasks = np.repeat(np.arange(n_tasks) * 3 + 100, per_task)  # sparse, unsorted ids below
    workers = np.concatenate([rng.choice(n_workers, k, replace=False) for k in per_task])
    true = np.repeat(truth, per_task)
    right = rng.random(len(tasks)) < accuracy[workers]
    answer = np.where(right, true, rng.integers(0, 4, len(tasks)))
    answer = np.where(workers < 6, (true + 1) % 4, answer)  # adversaries
    order = rng.permutation(len(tasks))
    data = pd.DataFrame(
        {
            "task": tasks[order],
            "worker": workers[order] * 7 + 1000,
            "label": np.array(LABELS)[answer[order]],
        }
    )
    gold_tasks = np.arange(0, n_tasks, 50)
    gold = {int(t * 3 + 100): LABELS[int(truth[t])] for t in gold_tasks}
    return data, gold


def _ours(data: pd.DataFrame, gold: dict[int, str], method: str, use_gold: bool = True):
    rows = zip(data["task"].tolist(), data["worker"].tolist(), data["label"].tolist(), strict=True)
    return consensus.aggregate(rows, gold=gold, options=LABELS, method=method, use_gold=use_gold)


def _tied(probas: pd.DataFrame) -> pd.Index:
    """The items whose two best labels crowd-kit scores within :data:`TIE`."""
    top = np.sort(probas.to_numpy(), axis=1)
    return probas.index[(top[:, -1] - top[:, -2]) <= TIE]


@pytest.mark.parametrize("use_gold", [False, True])
def test_dawid_skene_and_majority_vote_match_crowd_kit(use_gold: bool) -> None:
    data, gold = crowd(30_000, seed=3)
    assert len(data) > 100_000
    truth = None
    if use_gold:
        truth = pd.Series(gold, name="true_label", dtype=object).rename_axis("task")
    expected = DawidSkene(n_iter=consensus.DS_MAX_ITERATIONS).fit(data, true_labels=truth)
    mv = MajorityVote().fit(data)
    result = _ours(data, {} if not use_gold else gold, consensus.DAWID_SKENE)
    items = {i.task_id: i for i in result.items}

    # majority vote: identical, ties included (first label in sorted order)
    assert {t: items[t].mv_label for t in mv.labels_.index} == mv.labels_.to_dict()
    ties = mv.probas_.index[
        (
            np.sort(mv.probas_.to_numpy(), axis=1)[:, -2:]
            == mv.probas_.max(axis=1).to_numpy()[:, None]
        ).all(axis=1)
    ]
    assert len(ties) > 100  # the tie rule is exercised

    # Dawid-Skene: every label equal but on ties to the last bits, posteriors within 1e-9
    labels = expected.labels_.to_dict()
    differ = [t for t, label in labels.items() if items[t].label != label and t not in gold]
    tied = set(_tied(expected.probas_))
    assert set(differ) <= tied
    assert len(differ) <= max(1, len(labels) // 10_000)
    worst = 0.0
    for task, row in expected.probas_.iterrows():
        got = items[task].posterior
        worst = max(worst, max(abs(got.get(label, 0.0) - p) for label, p in row.items()))
    assert worst < 1e-9
    print(f"\nDawid-Skene vs crowd-kit: {len(differ)} labels differ, worst posterior {worst:.1e}")

    # the annotators' confusion matrices are crowd-kit's errors_ (rounded to 6 places)
    by_worker = {a.worker: a.confusion for a in result.annotators}
    for (worker, answered), row in expected.errors_.iterrows():
        for true, p in row.items():
            assert by_worker[worker][true][answered] == pytest.approx(round(p, 6), abs=2e-6)


def test_gold_weighted_vote_matches_crowd_kit_with_the_same_skills() -> None:
    data, gold = crowd(20_000, seed=8)
    result = _ours(data, gold, consensus.GOLD_WEIGHTED)
    # the skills, as the docstring defines them, computed here with pandas
    on_gold = data[data["task"].isin(list(gold))]
    right = (on_gold["label"] == on_gold["task"].map(gold)).groupby(on_gold["worker"])
    correct, seen = right.sum(), right.size()
    k = len(LABELS)
    pooled = (correct.sum() + 1) / (seen.sum() + k)
    accuracy = ((correct + consensus.PRIOR_ANSWERS * pooled) / (seen + 2)).clip(1e-6, 1 - 1e-6)
    skills = np.maximum(np.log((k - 1) * accuracy / (1 - accuracy)), consensus.MIN_WEIGHT)
    default = max(np.log((k - 1) * pooled / (1 - pooled)), consensus.MIN_WEIGHT)
    vote = MajorityVote(on_missing_skill="value", default_skill=default)
    expected = vote.fit(data, skills=skills.rename("skill"))
    items = {i.task_id: i for i in result.items}
    tied = set(_tied(expected.probas_))
    differ = [
        t for t, label in expected.labels_.items() if t not in gold and items[t].label != label
    ]
    assert set(differ) <= tied
    for task, share in expected.probas_.max(axis=1).items():
        if task not in gold:
            assert items[task].confidence == pytest.approx(share, abs=1e-12)


def test_agreement_figures_match_the_libraries_on_the_crowd() -> None:
    from crowdkit.metrics.data import alpha_krippendorff
    from statsmodels.stats.inter_rater import fleiss_kappa

    data, _ = crowd(3_000, seed=4)
    result = _ours(data, {}, consensus.MAJORITY_VOTE)
    assert result.agreement.alpha == alpha_krippendorff(data)  # bit for bit
    votes = pd.crosstab(data["task"], data["label"]).reindex(columns=LABELS, fill_value=0)
    totals = votes.sum(axis=1)
    raters = result.agreement.fleiss_raters
    assert raters == int(totals[totals >= 2].mode().max())
    table = votes[totals == raters].to_numpy()
    assert result.agreement.fleiss_items == len(table)
    assert result.agreement.fleiss_kappa == pytest.approx(fleiss_kappa(table), abs=1e-12)
    for column, per_class in enumerate(result.agreement.per_class):
        one_vs_rest = np.stack([table[:, column], raters - table[:, column]], axis=1)
        if per_class.fleiss_kappa is not None:
            assert per_class.fleiss_kappa == pytest.approx(fleiss_kappa(one_vs_rest), abs=1e-12)
        binary = data.assign(label=data["label"] == per_class.label)
        if per_class.alpha is not None:
            assert per_class.alpha == alpha_krippendorff(binary)
