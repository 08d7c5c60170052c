"""The annotators table's sparkline (pure): an annotator's agreement with the consensus per
day as dots placed by date, and the text that says the same."""

from __future__ import annotations

from labelhive.results import charts


def test_no_days_draw_nothing() -> None:
    assert charts.sparkline([]) is None
    assert charts.sparkline(None) is None
    # rows that are not [day, answers, agreeing] with 0 <= agreeing <= answers > 0 are skipped
    bad = [
        ["2026-11-20", 0, 0],
        ["2026-11-20", 2, 3],
        ["2026-11-20", 2, -1],
        ["not a day", 2, 1],
        ["2026-11-20", "2", 1],
        ["2026-11-20", True, 1],
        ["2026-11-20", 2],
        "2026-11-20",
        None,
    ]
    assert charts.sparkline(bad) is None


def test_one_day_is_one_centred_dot() -> None:
    line = charts.sparkline([["2026-11-20", 4, 1]])
    assert line is not None
    (dot,) = line.dots
    assert dot.x == charts.SPARK_WIDTH / 2
    assert (dot.day, dot.answers, dot.agreeing, dot.share) == ("2026-11-20", 4, 1, 0.25)
    assert dot.r == charts.SPARK_MAX_R  # the busiest day
    assert line.summary == "0.25 on 1 day"
    assert line.title == "Agreement with consensus per day, 2026-11-20: 0.25 on 1 day"
    assert dot.text == "2026-11-20: 1 of 4 agree (0.25)"


def test_many_days_are_placed_by_date_and_sized_by_answers() -> None:
    # out of order, with a gap of two days, a quiet day and a bad row among them
    line = charts.sparkline(
        [
            ["2026-11-24", 10, 4],
            ["2026-11-20", 10, 9],
            ["2026-11-21", 1, 1],
            ["2026-11-22", 0, 0],
        ]
    )
    assert line is not None
    assert [d.day for d in line.dots] == ["2026-11-20", "2026-11-21", "2026-11-24"]
    first, quiet, last = line.dots
    pad = charts.SPARK_PAD
    assert first.x == pad and last.x == charts.SPARK_WIDTH - pad
    # the gap shows: the 21st is a quarter of the way along, not half
    assert quiet.x == pad + (charts.SPARK_WIDTH - 2 * pad) / 4
    # more agreement is higher (smaller y); a perfect day touches the top
    assert quiet.y == pad and quiet.y < first.y < last.y <= charts.SPARK_HEIGHT - pad
    assert quiet.r < first.r == last.r == charts.SPARK_MAX_R
    assert quiet.r >= charts.SPARK_MIN_R
    assert line.points == " ".join(f"{d.x},{d.y}" for d in line.dots)
    assert line.summary == "0.90 → 0.40 over 3 days"
    assert line.title.startswith("Agreement with consensus per day, 2026-11-20 to 2026-11-24:")
