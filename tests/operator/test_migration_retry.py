"""Migrations that recover: a failed migration Job is retried, with backoff or at once on request.

Each attempt is its own Job (``NAME-migrate-<hash>``, ``-2``, ``-3``...). The emulator has no
Job controller and no kubelet: the test marks a Job failed (its ``Failed`` condition, with the
``lastTransitionTime`` the backoff counts from) and writes the failed Pod as the kubelet would
leave it: owned by the Job, labelled with its name, its container terminated with the tail of
its log as the termination message (``terminationMessagePolicy: FallbackToLogsOnError``).
What that does not cover: that a real kubelet fills the message from the log (the kind e2e
test and the Kubernetes documentation of the policy), the Job controller's own Pod retries
within one attempt (``backoffLimit``), and the timing of a real API server's timestamps.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest

from labelhive_operator import migration
from labelhive_operator.builders import migrate
from labelhive_operator.migration import Record
from labelhive_operator.spec import Project
from tests.operator.conftest import NAMESPACE
from tests.operator.conftest import Cluster
from tests.operator.conftest import load_example
from tests.operator.emulator import RbacRequest
from tests.operator.test_operator import LP
from tests.operator.test_operator import NAME
from tests.operator.test_operator import _condition
from tests.operator.test_operator import _job_done
from tests.operator.test_operator import install
from tests.operator.test_rbac import cluster_rules
from tests.operator.test_rbac import denied
from tests.operator.test_rbac import namespace_rules

JOBS = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
LOG_TAIL = (
    "Traceback (most recent call last):\n"
    '  File "/app/labelhive/migrate.py", line 30, in upgrade\n'
    "sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection to "
    "postgresql://labelhive:s3cret@db:5432/labelhive failed: timeout\n"
    "(Background on this error at: https://sqlalche.me/e/20/e3q8)\n"
)
SHOWN = (
    "sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection to "
    "postgresql://labelhive:***@db:5432/labelhive failed: timeout"
)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fail(cluster: Cluster, job_name: str, failed_at: datetime.datetime) -> None:
    """Play the Job controller and the kubelet: the Job's Pod failed, the Job gave up."""
    job = cluster.objects("jobs")[job_name]
    cluster.client.request(
        "POST",
        f"/api/v1/namespaces/{NAMESPACE}/pods",
        body={
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{job_name}-x7k2p",
                "labels": {"batch.kubernetes.io/job-name": job_name, "job-name": job_name},
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": job_name,
                        "uid": job["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": job["spec"]["template"]["spec"],
            "status": {
                "phase": "Failed",
                "containerStatuses": [
                    {
                        "name": "db-upgrade",
                        "state": {
                            "terminated": {
                                "exitCode": 1,
                                "reason": "Error",
                                "message": LOG_TAIL,
                                "finishedAt": _stamp(failed_at),
                            }
                        },
                    }
                ],
            },
        },
    )
    cluster.patch(
        f"{JOBS}/{job_name}/status",
        {
            "status": {
                "failed": 4,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "lastTransitionTime": _stamp(failed_at),
                    }
                ],
            }
        },
    )


def _migrated(cluster: Cluster) -> dict[str, Any]:
    return _condition(cluster.cr(NAME), "Migrated") or {}


def _events(cluster: Cluster, reason: str) -> list[dict[str, Any]]:
    return [e for e in cluster.objects("events").values() if e["reason"] == reason]


def test_a_failed_migration_is_retried_on_request_then_after_its_backoff(
    cluster: Cluster,
) -> None:
    install(cluster)
    (old_job,) = cluster.objects("jobs")
    start = cluster.request_count()
    cluster.patch(f"{LP}/{NAME}", {"spec": {"image": {"tag": "1.1.0"}}})
    first = cluster.wait("attempt 1", lambda: set(cluster.objects("jobs")) - {old_job})
    (first,) = first
    container = cluster.objects("jobs")[first]["spec"]["template"]["spec"]["containers"][0]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"

    # attempt 1 fails now: the condition says which attempt, why, and when the next one runs
    failed_at = datetime.datetime.now(datetime.UTC)
    _fail(cluster, first, failed_at)
    cond = cluster.wait(
        "Migrated: attempt 1 failed",
        lambda: (c := _migrated(cluster)).get("reason") == "MigrationFailed" and c,
    )
    retry_at = _stamp(failed_at + datetime.timedelta(seconds=30))
    assert cond["status"] == "False"
    assert f"attempt 1 (job {first}) failed: {SHOWN}" in cond["message"]
    assert f"next attempt at {retry_at}" in cond["message"]
    assert "s3cret" not in str(cluster.cr(NAME))
    status = (cluster.cr(NAME) or {})["status"]["migration"]
    assert status | {"lastFailure": ""} == {
        "image": "ghcr.io/labelhive/labelhive:1.1.0",
        "job": first,
        "attempt": 1,
        "state": "Failed",
        "succeeded": False,
        "retryAt": retry_at,
        "lastFailure": "",
    }
    assert status["lastFailure"] == SHOWN
    (event,) = cluster.wait("MigrationFailed", lambda: _events(cluster, "MigrationFailed"))
    assert SHOWN in event["message"]
    time.sleep(1.0)  # several timer reconciles: the 30 s backoff has not elapsed
    assert set(cluster.objects("jobs")) == {old_job, first}

    # the documented way to retry now: the annotation starts attempt 2 and is removed
    cluster.patch(f"{LP}/{NAME}", {"metadata": {"annotations": {migration.RETRY_ANNOTATION: "1"}}})
    second = f"{first}-2"
    cluster.wait("attempt 2", lambda: second in cluster.objects("jobs"))
    cluster.wait(
        "annotation removed",
        lambda: (
            migration.RETRY_ANNOTATION
            not in ((cluster.cr(NAME) or {})["metadata"].get("annotations") or {})
        ),
    )
    cluster.wait("attempt 1 deleted", lambda: first not in cluster.objects("jobs"))
    cond = cluster.wait(
        "Migrated: attempt 2 running",
        lambda: "attempt 2" in (c := _migrated(cluster)).get("message", "") and c,
    )
    assert cond["status"] == "False" and f"the previous attempt failed: {SHOWN}" in cond["message"]
    (retried,) = _events(cluster, "MigrationRetried")
    assert "attempt 2" in retried["message"] and "retry requested" in retried["message"]
    # the old version keeps serving throughout
    for dep in cluster.objects("deployments").values():
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.0.0")

    # attempt 2 failed 61 s ago: its backoff (60 s) is over, attempt 3 starts by itself
    _fail(cluster, second, datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=61))
    third = f"{first}-3"
    cluster.wait("attempt 3", lambda: third in cluster.objects("jobs"))
    cluster.wait("attempt 2 deleted", lambda: second not in cluster.objects("jobs"))
    assert migration.RETRY_ANNOTATION not in (cluster.cr(NAME) or {})["metadata"].get(
        "annotations", {}
    )
    _job_done(cluster, third)
    cond = cluster.wait(
        "Migrated=True", lambda: (c := _migrated(cluster)).get("status") == "True" and c
    )
    assert cond["reason"] == "MigrationSucceeded" and "attempt 3" in cond["message"]
    cluster.wait("old job removed", lambda: set(cluster.objects("jobs")) == {third})
    mig = cluster.wait(
        "status", lambda: (s := (cluster.cr(NAME) or {})["status"]["migration"])["succeeded"] and s
    )
    assert "lastFailure" not in mig and "retryAt" not in mig and mig["attempt"] == 3

    def rolled() -> bool:
        deps = cluster.objects("deployments").values()
        return bool(deps) and all(
            d["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.1.0") for d in deps
        )

    cluster.wait("workloads on the new image", rolled)

    # reading the failed Pod is allowed by the chart's rules, cluster-wide and namespaced
    checks, _ = cluster.emu.rbac_log(start)
    assert RbacRequest("list", "", "pods", "", NAMESPACE) in checks
    assert denied(cluster_rules(), checks, namespaced=False) == []
    assert denied(namespace_rules(), checks, namespaced=True) == []


def test_a_retry_request_with_nothing_failed_is_dropped_with_an_event(cluster: Cluster) -> None:
    install(cluster)
    (job,) = cluster.objects("jobs")
    cluster.patch(f"{LP}/{NAME}", {"metadata": {"annotations": {migration.RETRY_ANNOTATION: "x"}}})
    (event,) = cluster.wait(
        "MigrationRetryIgnored", lambda: _events(cluster, "MigrationRetryIgnored")
    )
    assert "nothing to retry" in event["message"] and "succeeded" in event["message"]
    assert migration.RETRY_ANNOTATION not in (cluster.cr(NAME) or {})["metadata"].get(
        "annotations", {}
    )
    assert set(cluster.objects("jobs")) == {job}


# --- the pure decisions

FIRST = "demo-migrate-2222222222"
IMG = "img:2.0"
T0 = datetime.datetime(2027, 1, 15, 8, 0, 0, tzinfo=datetime.UTC)


def _at(seconds: int) -> str:
    return _stamp(T0 + datetime.timedelta(seconds=seconds))


def test_backoff_doubles_from_30_seconds_up_to_30_minutes() -> None:
    assert [migration.backoff_seconds(k) for k in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1800,
        1800,
        1800,
    ]


@pytest.mark.parametrize(
    ("jobs", "now", "retry", "expected"),
    [
        # attempt 1 failed 29 s ago: wait (the next attempt is due at +30 s)
        ({FIRST: "Failed"}, 29, False, ("Failed", FIRST, 1, _at(30), True)),
        # 30 s later: attempt 2
        ({FIRST: "Failed"}, 30, False, ("Pending", f"{FIRST}-2", 2, None, True)),
        # asked to retry: attempt 2 now
        ({FIRST: "Failed"}, 1, True, ("Pending", f"{FIRST}-2", 2, None, True)),
        # attempt 2 failed: its backoff is 60 s
        ({f"{FIRST}-2": "Failed"}, 59, False, ("Failed", f"{FIRST}-2", 2, _at(60), True)),
        ({f"{FIRST}-2": "Failed"}, 60, False, ("Pending", f"{FIRST}-3", 3, None, True)),
        # a retry request while an attempt runs starts nothing
        ({f"{FIRST}-2": "Running"}, 0, True, ("Running", f"{FIRST}-2", 2, None, True)),
        # the latest attempt decides; an older failed one is not kept
        (
            {FIRST: "Failed", f"{FIRST}-2": "Succeeded"},
            0,
            False,
            ("Succeeded", f"{FIRST}-2", 2, None, False),
        ),
    ],
)
def test_attempts_follow_the_latest_job(
    jobs: dict[str, str], now: int, retry: bool, expected: tuple[Any, ...]
) -> None:
    failed = {name: _at(0) for name, state in jobs.items() if state == "Failed"}
    gate = migration.decide(FIRST, IMG, None, jobs, failed_at=failed, now=_at(now), retry=retry)
    assert (gate.state, gate.job, gate.attempt, gate.retry_at, gate.run_job) == expected
    assert gate.retried == (retry and gate.state == "Pending")
    assert gate.keep_jobs == ({gate.job} if gate.migrated else set())


def test_a_failed_job_without_a_failure_time_waits_for_a_request() -> None:
    gate = migration.decide(FIRST, IMG, None, {FIRST: "Failed"}, now=_at(10_000))
    assert (gate.state, gate.job, gate.retry_at) == ("Failed", FIRST, None)


def test_a_database_behind_the_recorded_image_is_migrated_again() -> None:
    rec = Record(FIRST, IMG)
    steady = migration.decide(FIRST, IMG, rec, {FIRST: "Succeeded"})
    assert steady.migrated and not steady.run_job
    gate = migration.decide(FIRST, IMG, rec, {FIRST: "Succeeded"}, db_behind=True)
    assert (gate.migrated, gate.state, gate.reason) == (False, "Pending", "DatabaseBehind")
    assert (gate.job, gate.attempt, gate.workload_image) == (f"{FIRST}-2", 2, IMG)
    assert gate.keep_jobs == {FIRST} and gate.record == rec
    # while attempt 2 runs the app is not asked again: the Job itself says a re-run is on
    running = migration.decide(FIRST, IMG, rec, {FIRST: "Succeeded", f"{FIRST}-2": "Running"})
    assert (running.state, running.reason, running.workload_image) == (
        "Running",
        "DatabaseBehind",
        IMG,
    )
    done = migration.decide(FIRST, IMG, rec, {FIRST: "Succeeded", f"{FIRST}-2": "Succeeded"})
    assert done.migrated and done.record == Record(f"{FIRST}-2", IMG)
    assert done.keep_jobs == {f"{FIRST}-2"}


def test_attempt_names_fit_a_label_value() -> None:
    project = Project.from_body(
        {**load_example("minimal"), "metadata": {"name": "p" * 40, "namespace": NAMESPACE}}
    )
    first = migrate.job_name(project)
    last = migrate.attempt_name(first, migrate.MAX_ATTEMPT)
    assert len(last) == 63 and last.endswith("-999")
    for k in (1, 2, 17, migrate.MAX_ATTEMPT):
        assert migrate.attempt_of(first, migrate.attempt_name(first, k)) == k
    assert migrate.attempt_of(first, f"{first}-02") is None
    assert migrate.attempt_of(first, f"{first}-1") is None
    assert migrate.attempt_of(first, "demo-migrate-1111111111") is None
    with pytest.raises(ValueError, match="outside"):
        migrate.attempt_name(first, migrate.MAX_ATTEMPT + 1)
    assert migrate.job(project, 7)["metadata"]["name"] == f"{first}-7"


def _pod(uid: str, message: str, finished: str, exit_code: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"ownerReferences": [{"uid": uid, "controller": True}]},
        "status": {
            "initContainerStatuses": [
                {"state": {"terminated": {"exitCode": 0, "message": "done\n"}}}
            ],
            "containerStatuses": [
                {
                    "state": {
                        "terminated": {
                            "exitCode": exit_code,
                            "message": message,
                            "finishedAt": finished,
                        }
                    }
                }
            ],
        },
    }


def test_the_last_log_line_comes_from_the_jobs_latest_failed_pod() -> None:
    pods = [
        _pod("job-uid", "early failure\n", "2027-01-15T08:00:00Z"),
        _pod("job-uid", LOG_TAIL, "2027-01-15T08:01:00Z"),
        _pod("other-job", "not ours\n", "2027-01-15T09:00:00Z"),
        _pod("job-uid", "exited fine\n", "2027-01-15T10:00:00Z", exit_code=0),
    ]
    assert migration.last_log_line(pods, "job-uid") == SHOWN
    assert migration.last_log_line(pods, "missing") is None
    long = migration.last_log_line([_pod("u", "x" * 500, "t")], "u") or ""
    assert len(long) == migration.MAX_LINE and long.endswith("…")
