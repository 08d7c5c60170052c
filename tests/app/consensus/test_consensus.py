"""Consensus on a synthetic crowd whose truth is known (pure: no database)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from labelhive.consensus import consensus
from labelhive.consensus import labels

K = 5
CLASSES = [f"class{c}" for c in range(K)]


def _confusions(rng: np.random.Generator, n_workers: int) -> list[np.ndarray]:
    """Row c of a matrix is P(answer | truth c). Four adversaries answer the next class."""
    matrices = []
    for worker in range(n_workers):
        if worker < 4:
            matrix = np.full((K, K), 0.3 / (K - 1))
            for c in range(K):
                matrix[c, (c + 1) % K] = 0.7
        else:
            accuracy = rng.uniform(0.5, 0.95)
            matrix = np.full((K, K), (1 - accuracy) / (K - 1))
            np.fill_diagonal(matrix, accuracy)
            # a confusable pair: good annotators still mix class0 up with class1
            matrix[0, 1] += 0.1
            matrix[0, 0] -= 0.1
        matrices.append(matrix)
    return matrices


def simulate(
    *,
    n_items: int,
    n_workers: int = 20,
    per_item: int = 5,
    n_gold: int = 0,
    gold_per_worker: int = 0,
    seed: int = 7,
) -> tuple[list[tuple[int, int, str]], dict[int, str], dict[int, str], list[np.ndarray]]:
    """Answers ``(task, worker, label)``, the truth, the gold answers, and the matrices."""
    rng = np.random.default_rng(seed)
    matrices = _confusions(rng, n_workers)
    truth = {item: CLASSES[c] for item, c in enumerate(rng.integers(0, K, n_items + n_gold))}
    rows = []
    for item in range(n_items):
        true = CLASSES.index(truth[item])
        for worker in rng.choice(n_workers, per_item, replace=False):
            rows.append((item, int(worker), CLASSES[rng.choice(K, p=matrices[worker][true])]))
    gold = {item: truth[item] for item in range(n_items, n_items + n_gold)}
    for worker in range(n_workers):
        for item in rng.choice(list(gold), gold_per_worker, replace=False):
            true = CLASSES.index(truth[int(item)])
            rows.append((int(item), worker, CLASSES[rng.choice(K, p=matrices[worker][true])]))
    return rows, truth, gold, matrices


def _accuracy(result: consensus.Aggregation, truth: dict[int, str], *, mv: bool) -> float:
    scored = [i for i in result.items if i.gold_answer is None]
    right = sum((i.mv_label if mv else i.label) == truth[i.task_id] for i in scored)
    return right / len(scored)


def test_dawid_skene_beats_majority_vote_and_gold_accuracy_matches_the_simulation() -> None:
    rows, truth, gold, matrices = simulate(
        n_items=2000, n_gold=100, gold_per_worker=60, per_item=5, seed=11
    )
    result = consensus.aggregate(rows, gold=gold, options=CLASSES)

    mv_accuracy = _accuracy(result, truth, mv=True)
    ds_accuracy = _accuracy(result, truth, mv=False)
    print("\nsynthetic crowd (2,000 items, 5 classes, 20 annotators, 4 adversarial):")
    print(f"  majority vote accuracy {mv_accuracy:.4f}, Dawid-Skene accuracy {ds_accuracy:.4f}")
    assert ds_accuracy > mv_accuracy
    assert ds_accuracy > 0.9
    assert result.used_gold

    # gold accuracy per annotator: 60 gold answers each, expected = mean of the diagonal
    by_worker = {a.worker: a for a in result.annotators}
    assert sorted(by_worker) == list(range(20))
    errors = []
    for worker, matrix in enumerate(matrices):
        annotator = by_worker[worker]
        assert annotator.gold_seen == 60
        expected = float(np.mean([matrix[CLASSES.index(gold[t]), CLASSES.index(gold[t])]
                                  for t in gold]))  # fmt: skip
        # binomial sd with 60 draws is at most 0.065: 3 sd
        assert annotator.gold_accuracy == pytest.approx(expected, abs=0.2)
        errors.append(abs(annotator.gold_accuracy - expected))
    assert float(np.mean(errors)) < 0.06
    adversaries = [by_worker[w].gold_accuracy for w in range(4)]
    honest = [by_worker[w].gold_accuracy for w in range(4, 20)]
    assert max(adversaries) < min(honest)
    # Dawid-Skene finds the adversaries' pattern: class c is answered as c+1
    for worker in range(4):
        confusion = by_worker[worker].confusion
        for c in range(K):
            answered = max(confusion[CLASSES[c]], key=confusion[CLASSES[c]].get)
            assert answered == CLASSES[(c + 1) % K]


def test_items_carry_votes_agreement_and_gold() -> None:
    rows = [(1, 10, "cat"), (1, 11, "cat"), (1, 12, "dog"), (2, 10, "dog"), (2, 11, "dog")]
    rows += [(3, 10, "cat"), (3, 11, "dog"), (3, 12, "dog")]
    result = consensus.aggregate(
        rows, gold={3: "cat"}, options=["cat", "dog", "bird"], method=consensus.MAJORITY_VOTE,
        item_ids=[4],
    )  # fmt: skip
    items = {i.task_id: i for i in result.items}
    assert items[1].votes == {"cat": 2, "dog": 1}
    assert items[1].label == "cat" and items[1].agreement == pytest.approx(2 / 3)
    assert items[1].confidence == pytest.approx(2 / 3)
    assert items[2].label == "dog" and items[2].confidence == 1.0
    # a gold item takes its known answer, whatever the votes say
    assert items[3].label == "cat" and items[3].method == consensus.GOLD
    assert items[3].mv_label == "dog"
    assert items[4].n_answers == 0 and items[4].label is None
    assert result.labels == ["cat", "dog", "bird"]
    assert result.class_counts == {"cat": 2, "dog": 1, "bird": 0}
    annotators = {a.worker: a for a in result.annotators}
    assert (annotators[10].gold_seen, annotators[10].gold_correct) == (1, 1)
    assert (annotators[12].gold_seen, annotators[12].gold_correct) == (1, 0)
    # worker 12 answered dog on item 1 whose consensus is cat
    assert annotators[12].agreement_with_consensus == 0.0
    assert annotators[10].agreement_with_consensus == 1.0
    # gold answers stay out of the annotators-vs-consensus matrix
    assert result.confusion["cat"] == {"cat": 2, "dog": 1, "bird": 0}
    assert result.confusion["dog"] == {"cat": 0, "dog": 2, "bird": 0}


def test_agreement_is_perfect_for_unanimous_answers_and_low_for_random_ones() -> None:
    unanimous = [(t, w, CLASSES[t % K]) for t in range(50) for w in range(3)]
    result = consensus.aggregate(unanimous, options=CLASSES)
    assert result.agreement.fleiss_kappa == pytest.approx(1.0)
    assert result.agreement.alpha == pytest.approx(1.0)
    assert result.agreement.fleiss_items == 50 and result.agreement.fleiss_raters == 3
    assert all(c.fleiss_kappa == pytest.approx(1.0) for c in result.agreement.per_class)

    rng = np.random.default_rng(3)
    noise = [(t, w, CLASSES[rng.integers(K)]) for t in range(400) for w in range(3)]
    random_result = consensus.aggregate(noise, options=CLASSES)
    assert abs(random_result.agreement.fleiss_kappa) < 0.1
    assert abs(random_result.agreement.alpha) < 0.1


def test_empty_input_and_unknown_method() -> None:
    result = consensus.aggregate([], gold={5: "cat"}, item_ids=[1])
    assert [(i.task_id, i.label) for i in result.items] == [(1, None), (5, "cat")]
    with pytest.raises(ValueError, match="Unknown consensus method"):
        consensus.aggregate([], method="glad")


def test_split_is_stable_and_near_the_fraction() -> None:
    splits = [labels.split_of(t, 0.2) for t in range(10_000)]
    assert splits == [labels.split_of(t, 0.2) for t in range(10_000)]
    assert 0.18 < splits.count("validation") / 10_000 < 0.22
    # a larger fraction only moves items from train to validation
    assert all(labels.split_of(t, 0.3) == "validation" for t in range(10_000)
               if splits[t] == "validation")  # fmt: skip
    assert labels.label_of({"answer": "cat"}) == "cat" and labels.label_of({"x": 1}) is None


def test_time_to_aggregate_100k_answers() -> None:
    rows, truth, _, _ = simulate(n_items=20_000, per_item=5, n_workers=20, seed=5)
    assert len(rows) == 100_000
    started = time.perf_counter()
    result = consensus.aggregate(rows, options=CLASSES)
    seconds = time.perf_counter() - started
    print(f"\naggregating 100,000 answers (20,000 items): {seconds:.2f} s")
    print(
        f"  majority vote {_accuracy(result, truth, mv=True):.4f},"
        f" Dawid-Skene {_accuracy(result, truth, mv=False):.4f}"
    )
    assert len(result.items) == 20_000


def test_gold_weighted_vote_beats_majority_vote_on_the_synthetic_crowd() -> None:
    rows, truth, gold, _ = simulate(n_items=600, n_gold=40, gold_per_worker=20, per_item=5, seed=5)
    results = {
        method: consensus.aggregate(rows, gold=gold, options=CLASSES, method=method)
        for method in consensus.METHODS
    }
    accuracy = {method: _accuracy(r, truth, mv=False) for method, r in results.items()}
    print(f"\nsynthetic crowd (600 items, 5 classes, 20 annotators, 4 adversarial): {accuracy}")
    # the adversaries' gold accuracy is below chance: their weight is the floor, not a vote
    assert accuracy[consensus.GOLD_WEIGHTED] > accuracy[consensus.MAJORITY_VOTE] + 0.05
    weighted = results[consensus.GOLD_WEIGHTED]
    assert weighted.used_gold and weighted.method == consensus.GOLD_WEIGHTED
    item = next(i for i in weighted.items if i.gold_answer is None)
    assert item.method == consensus.GOLD_WEIGHTED and 0 < item.confidence <= 1


def test_gold_weights_follow_gold_accuracy() -> None:
    # workers 1 and 5 are right on both gold items, worker 2 on none, worker 3 answered no gold
    correct, seen = np.array([2, 0, 0, 2]), np.array([2, 2, 0, 2])
    weights, default = consensus.worker_weights(correct, seen, 2)
    assert weights[0] == weights[3] > default > weights[1] == consensus.MIN_WEIGHT
    assert weights[2] == default
    # the expert outvotes two annotators who got every gold item wrong
    rows = [(1, 1, "cat"), (1, 2, "dog"), (2, 1, "dog"), (2, 2, "cat")]
    rows += [(1, 4, "dog"), (2, 4, "cat"), (9, 1, "cat"), (9, 2, "dog"), (9, 4, "dog")]
    result = consensus.aggregate(
        rows, gold={1: "cat", 2: "dog"}, options=["cat", "dog"], method=consensus.GOLD_WEIGHTED
    )
    item = next(i for i in result.items if i.task_id == 9)
    assert (item.label, item.mv_label) == ("cat", "dog")
    # without gold answers the weights are equal: plain majority vote
    plain = consensus.aggregate(rows, options=["cat", "dog"], method=consensus.GOLD_WEIGHTED)
    assert next(i for i in plain.items if i.task_id == 9).label == "dog"
    assert not plain.used_gold
