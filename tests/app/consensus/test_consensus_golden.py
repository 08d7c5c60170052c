"""Consensus evidence is that of the golden file written by the first (loop-based, crowd-kit) code.

The golden file holds every field of :func:`aggregate`'s result (but the time taken) for a
synthetic crowd, by all three methods: items, annotators, agreement (Krippendorff's alpha overall
and per class, Fleiss' kappa), confusion. Labels, counts and keys must be equal; probabilities
may differ by rounding (the array code adds in another order than pandas' group-bys): 1e-12
at most, measured 1.3e-15. ``LABELHIVE_WRITE_GOLDEN=1`` rewrites it (only after checking that
the difference is wanted).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path
from typing import Any

import pandas as pd

from labelhive.consensus import consensus

GOLDEN = Path(__file__).parent / "golden" / "consensus.json"
OPTIONS = ["cat", "dog", "bird", "fish"]


def crowd(seed: int = 11) -> tuple[list[tuple[int, int, str]], dict[int, str]]:
    """Uneven redundancy (1 to 5 answers per task), 30 annotators of mixed accuracy, gold."""
    rng = random.Random(seed)
    accuracy = [rng.uniform(0.3, 0.95) for _ in range(30)]
    rows = []
    for task in range(1, 400):
        truth = OPTIONS[task % len(OPTIONS)]
        for worker in rng.sample(range(30), rng.randint(1, 5)):
            label = truth if rng.random() < accuracy[worker] else rng.choice(OPTIONS + ["other"])
            rows.append((task, worker, label))
    rng.shuffle(rows)
    gold = {task: OPTIONS[task % len(OPTIONS)] for task in range(1, 400, 10)}
    return rows, gold


def snapshot() -> dict[str, Any]:
    rows, gold = crowd()
    out = {}
    for method in consensus.METHODS:
        result = consensus.aggregate(
            rows, gold=gold, options=OPTIONS, method=method, item_ids=[9998, 9999]
        )
        fields = dataclasses.asdict(result)
        fields["items"] = [dataclasses.asdict(item) for item in result.items]
        del fields["seconds"]
        # JSON keys are strings: compare the JSON text, written the same way both times
        out[method] = json.loads(json.dumps(fields, sort_keys=True))
    return out


def test_aggregate_is_identical_to_the_golden_file() -> None:
    got = snapshot()
    if os.environ.get("LABELHIVE_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    for method in consensus.METHODS:
        for key in expected[method]:
            _same(got[method][key], expected[method][key], f"{method}/{key}")


def _same(got: Any, expected: Any, path: str) -> None:
    """Equal, but for floats: within 1e-12 (rounding of another summation order)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), path
        for key, value in expected.items():
            _same(got[key], value, f"{path}/{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), path
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            _same(a, b, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(got, bool):
        assert abs(got - expected) <= 1e-12, (path, got, expected)
    else:
        assert got == expected, (path, got, expected)


def test_krippendorff_alpha_is_crowd_kits_to_the_last_bit() -> None:
    from crowdkit.metrics.data import alpha_krippendorff

    rows, _ = crowd(seed=5)
    data = pd.DataFrame(rows, columns=["task", "worker", "label"])
    assert consensus.krippendorff_alpha(data) == alpha_krippendorff(data)
    for label in OPTIONS:  # the per-class, one-vs-rest form
        binary = data.assign(label=data["label"] == label)
        assert consensus.krippendorff_alpha(binary) == alpha_krippendorff(binary)
    # one label among the items with two answers: nltk's 1.0
    two = pd.DataFrame([(1, 1, "a"), (1, 2, "a"), (2, 1, "b")], columns=["task", "worker", "label"])
    assert consensus.krippendorff_alpha(two) == alpha_krippendorff(two) == 1.0
    # no item with two answers: undefined (nltk divides by zero)
    lone = pd.DataFrame([(1, 1, "a"), (2, 1, "b")], columns=["task", "worker", "label"])
    assert consensus.krippendorff_alpha(lone) is None
