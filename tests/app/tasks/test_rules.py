"""The exact-redundancy rules, tested as pure functions."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from labelhive.tasks import rules


def test_room_counts_answers_and_other_peoples_leases():
    assert rules.has_room(n_done=1, reserved_by_others=1, n_answers=3)
    assert not rules.has_room(n_done=2, reserved_by_others=1, n_answers=3)
    assert not rules.has_room(n_done=3, reserved_by_others=0, n_answers=3)


def test_gold_tasks_never_complete():
    assert rules.is_complete(3, 3, gold=False)
    assert not rules.is_complete(2, 3, gold=False)
    assert not rules.is_complete(50, 3, gold=True)


@pytest.mark.parametrize(
    ("n_done", "n_answers", "state"),
    [
        (2, 3, "ongoing"),
        (3, 3, "completed"),
        (3, 2, "completed"),
        (3, 5, "ongoing"),
        (0, 1, "ongoing"),
    ],
)
def test_state_after_redundancy_change(n_done, n_answers, state):
    assert rules.state_after_redundancy_change(n_done, n_answers) == state


def test_redundancy_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        rules.state_after_redundancy_change(0, 0)


@pytest.mark.parametrize(("value", "parsed"), [(3, 3), ("5", 5), (" 7 ", 7), (2.0, 2)])
def test_validate_n_answers_accepts_whole_numbers(value, parsed):
    assert rules.validate_n_answers(value) == parsed


@pytest.mark.parametrize("value", [0, -1, "0", "-3", 2.5, "three", None, True, [], 10_001])
def test_validate_n_answers_refuses_with_a_sentence(value):
    with pytest.raises(ValueError, match="n_answers must"):
        rules.validate_n_answers(value)


def test_answer_must_be_one_of_the_options():
    options = ["cat", "dog"]
    assert rules.answer_error("cat", options) is None
    assert "one of the project's options" in rules.answer_error("cow", options)
    assert rules.answer_error({"label": "cat"}, options) is not None
    # without options any JSON value is an answer, as in PYBOSSA
    assert rules.answer_error({"label": "cat"}, []) is None
    assert rules.answer_error(None, []) == "The answer is empty."


def test_gold_rate_is_honoured_by_the_draw():
    rng = random.Random(1)
    draws = [rules.serve_gold(0.2, rng) for _ in range(10_000)]
    assert 0.17 < sum(draws) / len(draws) < 0.23
    assert not any(rules.serve_gold(0.0, rng) for _ in range(100))


def test_lease_expiry():
    now = dt.datetime(2026, 1, 1, 12, 0, 0)
    assert rules.lease_expiry(now, 90) == dt.datetime(2026, 1, 1, 12, 1, 30)
