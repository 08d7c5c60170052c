"""Agreement per day counted over the answers' code arrays (pure): the window of the last
days with compared answers, gold items left out, excluded annotators compared alike."""

from __future__ import annotations

import datetime as dt

import numpy as np

from labelhive.consensus import annotators
from labelhive.consensus.consensus import AnswerArrays

DAY0 = (dt.date(2026, 10, 1) - annotators.EPOCH).days


def _iso(offset: int) -> str:
    return (dt.date(2026, 10, 1) + dt.timedelta(days=offset)).isoformat()


def test_only_the_last_days_with_compared_answers_count() -> None:
    # 35 days, one answer a day per worker to its own item; worker 1 agrees on even days only
    n = 35
    task = np.arange(2 * n, dtype=np.int32)
    worker = np.repeat(np.array([0, 1], dtype=np.int32), n)
    day = np.tile(np.arange(DAY0, DAY0 + n, dtype=np.int32), 2)
    final = np.zeros(2 * n + 1, dtype=np.int16)  # every item's consensus is label 0
    label = np.where((worker == 1) & (np.arange(2 * n) % 2 == 1), 1, 0).astype(np.int16)
    # the last day's answers are on a gold item: that day is no day with compared answers
    gold_code = np.full(2 * n + 1, -1, dtype=np.int16)
    gold_code[[n - 1, 2 * n - 1]] = 0
    history = annotators.by_day(worker, task, label, final, gold_code, day, 2)
    assert [row[0] for row in history[0]] == [_iso(d) for d in range(n - 31, n - 1)]
    assert all(row[1:] == [1, 1] for row in history[0])
    assert [row[2] for row in history[1]] == [int((n + d) % 2 == 0) for d in range(n - 31, n - 1)]
    # no day column read: no history
    assert annotators.by_day(worker, task, label, final, gold_code, None, 2) == [[], []]


def test_excluded_answers_are_compared_on_the_consensus_items() -> None:
    # the consensus' items are 10, 20, 30 (labels 0, 1, gold 0); the excluded annotator's
    # own coding: tasks [20, 30, 40, 10], labels ["dog", "cat", "fish"]
    task_ids = np.array([10, 20, 30], dtype=np.int64)
    final = np.array([0, 1, 0], dtype=np.int16)
    gold_code = np.array([-1, -1, 0], dtype=np.int16)
    ordered = ["cat", "dog"]
    answers = AnswerArrays(
        task=np.array([0, 1, 2, 3, 0], dtype=np.int32),
        worker=np.array([0, 0, 0, 0, 1], dtype=np.int32),
        label=np.array([0, 1, 0, 1, 2], dtype=np.int16),
        task_ids=np.array([20, 30, 40, 10], dtype=np.int64),
        worker_ids=np.array([7, 9], dtype=np.int64),
        labels=["dog", "cat", "fish"],
        day=np.array([DAY0, DAY0, DAY0, DAY0 + 1, DAY0], dtype=np.int32),
    )
    first, second = annotators.compared_outside(answers, task_ids, final, gold_code, ordered)
    # worker 7: dog on 20 (agrees), cat on gold 30 (right), 40 unknown (left out), cat on 10
    assert (first.worker, first.n_answers, first.gold_seen, first.gold_correct) == (7, 3, 1, 1)
    assert (first.n_compared, first.n_agreed, first.confusion) == (2, 2, {})
    assert first.agreement_by_day == [[_iso(0), 1, 1], [_iso(1), 1, 1]]
    # worker 9: a label the consensus never uses never agrees
    assert (second.worker, second.n_compared, second.n_agreed) == (9, 1, 0)
    assert second.agreement_by_day == [[_iso(0), 1, 0]]
