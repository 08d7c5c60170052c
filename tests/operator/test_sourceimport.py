"""When the operator starts the app's import of ``spec.labeling.sourcePrefix``, and what
``status.labeling.sourceImport`` says (``sourceimport.decide``, pure).

The app side (its import job adds only new objects; an unfinished import of the same prefix
is returned instead of a second one) is tested with the app, in tests/app.
"""

from __future__ import annotations

from typing import Any

import pytest

from labelhive_operator import sourceimport

HOUR = 3600
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
FINISHED = "2027-01-15T08:00:00+00:00"


def _job(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "s3import-1-abc", "status": status, **extra}


RUNNING = {"prefix": "birds/", "jobId": "s3import-1-abc", "state": "Running", "imported": 40}


@pytest.mark.parametrize(
    ("prefix", "prev", "job", "now", "start", "expect"),
    [
        # nothing declared: no import, no status
        ("", {}, None, T0, False, {}),
        # first time: start, nothing imported yet
        ("birds/", {}, None, T0, True, {"prefix": "birds/", "imported": 0}),
        # the prefix changed: start now, the count starts again
        (
            "cats/",
            {**RUNNING, "state": "Succeeded"},
            _job("finished"),
            T0,
            True,
            {"prefix": "cats/", "imported": 0},
        ),
        # still running: follow it
        (
            "birds/",
            RUNNING,
            _job("running"),
            T0,
            False,
            {
                "prefix": "birds/",
                "jobId": "s3import-1-abc",
                "state": "Running",
                "imported": 40,
                "lastImported": 0,
            },
        ),
        # it finished: its count is added once
        (
            "birds/",
            RUNNING,
            _job("finished", result={"imported": 7}, finished=FINISHED),
            T0,
            False,
            {
                "prefix": "birds/",
                "jobId": "s3import-1-abc",
                "state": "Succeeded",
                "imported": 47,
                "lastImported": 7,
                "finishedAt": FINISHED,
            },
        ),
        # seen finished already (status says so): not added again; due an hour later
        (
            "birds/",
            {**RUNNING, "state": "Succeeded", "imported": 47, "lastImported": 7},
            _job("finished", result={"imported": 7}, finished=FINISHED),
            T0 + HOUR,
            True,
            {
                "prefix": "birds/",
                "jobId": "s3import-1-abc",
                "state": "Succeeded",
                "imported": 47,
                "lastImported": 7,
                "finishedAt": FINISHED,
            },
        ),
        # failed: say why; retried on the schedule
        (
            "birds/",
            RUNNING,
            _job("failed", error="Listing S3 failed: AccessDenied", finished=FINISHED),
            T0 + 10,
            False,
            {
                "prefix": "birds/",
                "jobId": "s3import-1-abc",
                "state": "Failed",
                "imported": 40,
                "lastImported": 0,
                "message": "Listing S3 failed: AccessDenied",
                "finishedAt": FINISHED,
            },
        ),
        # the app lost the job's record: start again (the importer adds only new objects)
        ("birds/", RUNNING, None, T0, True, {"prefix": "birds/", "imported": 40}),
    ],
)
def test_the_import_starts_when_due_and_counts_each_run_once(
    prefix: str,
    prev: dict[str, Any],
    job: dict[str, Any] | None,
    now: float,
    start: bool,
    expect: dict[str, Any],
) -> None:
    decision = sourceimport.decide(prefix, HOUR, now, prev, job)
    assert (decision.start, decision.status) == (start, expect)


def test_interval_zero_imports_only_when_the_prefix_changes() -> None:
    done = {**RUNNING, "state": "Succeeded"}
    job = _job("finished", result={"imported": 0}, finished=FINISHED)
    assert not sourceimport.decide("birds/", 0, T0 + 30 * 24 * HOUR, done, job).start
    assert sourceimport.decide("cats/", 0, T0, done, job).start


def test_a_started_import_records_the_apps_job() -> None:
    decided = sourceimport.decide("birds/", HOUR, T0, {}, None).status
    status = sourceimport.started(decided, _job("queued"))
    assert status == {
        "prefix": "birds/",
        "jobId": "s3import-1-abc",
        "state": "Queued",
        "imported": 0,
    }
