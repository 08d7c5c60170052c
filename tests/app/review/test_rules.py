"""The pure review rules and the browser's filters."""

from __future__ import annotations

import datetime as dt

import pytest

from labelhive.review import filters
from labelhive.review import rules


@pytest.mark.parametrize(
    ("votes", "tie"),
    [
        ({"cat": 1, "dog": 1}, True),
        ({"cat": 2, "dog": 2, "bird": 1}, True),
        ({"cat": 2, "dog": 1}, False),
        ({"cat": 3}, False),
        ({}, False),
        ({"cat": 1, "dog": 0}, False),
    ],
)
def test_a_tie_is_two_options_sharing_the_most_votes(votes, tie):
    assert rules.is_tie(votes) is tie


def test_reasons_name_ties_low_confidence_and_missed_gold():
    tie = {"votes": {"cat": 1, "dog": 1}, "confidence": 0.5, "n_answers": 2, "gold": False}
    assert rules.reasons(tie, 0.6, None) == [rules.TIE, rules.LOW_CONFIDENCE]
    assert rules.reasons(tie, 0.5, None) == [rules.TIE]
    sure = {"votes": {"cat": 3}, "confidence": 1.0, "n_answers": 3, "gold": False}
    assert rules.reasons(sure, 0.6, None) == []
    # a gold item's confidence is 1: only what the annotators answered matters
    missed = {"votes": {"cat": 2, "bird": 1}, "confidence": 1.0, "n_answers": 3, "gold": True}
    assert rules.reasons(missed, 0.6, "bird") == [rules.GOLD_MISSED]
    half = {"votes": {"cat": 1, "bird": 1}, "confidence": 1.0, "n_answers": 2, "gold": True}
    assert rules.reasons(half, 0.6, "bird") == []
    assert rules.reasons({"votes": {}, "n_answers": 0, "confidence": 0.0}, 0.6, None) == []


def test_only_complete_items_need_review():
    tie = {"votes": {"cat": 1, "dog": 1}, "confidence": 0.5, "n_answers": 2}
    assert rules.state_of(tie, complete=True, threshold=0.6, gold_answer=None) == "needs_review"
    assert rules.state_of(tie, complete=False, threshold=0.6, gold_answer=None) == "none"


def test_a_reviewed_label_is_carried_over_with_fresh_votes():
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    previous = {
        "label": "dog",
        "confidence": 1.0,
        "method": "reviewed",
        "review_state": "reviewed",
        "reviewed_by": 7,
        "reviewed_at": when,
    }
    computed = {
        "label": "cat",
        "confidence": 0.5,
        "method": "majority_vote",
        "votes": {"cat": 2},
        "review_state": "needs_review",
        "reviewed_by": None,
        "reviewed_at": None,
    }
    kept = rules.carry_over(computed, previous, complete=True)
    assert (kept["label"], kept["method"], kept["review_state"]) == ("dog", "reviewed", "reviewed")
    assert (kept["reviewed_by"], kept["reviewed_at"]) == (7, when)
    assert kept["votes"] == {"cat": 2}


def test_a_sent_back_item_stays_sent_back_until_its_task_completes():
    previous = {"review_state": "sent_back", "reviewed_by": 7, "reviewed_at": None}
    computed = {"label": "cat", "review_state": "none"}
    assert rules.carry_over(computed, previous, complete=False)["review_state"] == "sent_back"
    assert rules.carry_over(computed, previous, complete=True) == computed
    assert rules.carry_over(computed, None, complete=True) == computed


def test_a_reviewer_label_must_be_an_option():
    assert rules.check_label("cat", ["cat", "dog"]) == "cat"
    for bad in ("fish", "", "  ", None, 3):
        with pytest.raises(ValueError, match="label must"):
            rules.check_label(bad, ["cat", "dog"])
    assert rules.check_label("anything", []) == "anything"


def test_filters_parse_and_round_trip():
    args = {"disagreement": "1", "confidence_below": "0.75", "tie": "1", "gold": "0",
            "label": "cat", "annotator": "12", "state": "needs_review"}  # fmt: skip
    parsed = filters.parse(args)
    assert parsed == filters.Filters(True, 0.75, True, False, "cat", 12, "needs_review")
    assert filters.parse(parsed.query_args()) == parsed
    assert filters.parse({}) == filters.Filters()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"confidence_below": "2"}, "confidence_below"),
        ({"confidence_below": "nan"}, "confidence_below"),
        ({"confidence_below": "x"}, "confidence_below"),
        ({"annotator": "-1"}, "annotator"),
        ({"annotator": "²"}, "annotator"),
        ({"annotator": str(2**40)}, "annotator"),
        ({"state": "done"}, "state"),
        ({"tie": "yes"}, "tie"),
        ({"label": "c\x00t"}, "label"),
    ],
)
def test_bad_filters_are_refused_with_a_sentence(args, message):
    with pytest.raises(ValueError, match=message):
        filters.parse(args)
