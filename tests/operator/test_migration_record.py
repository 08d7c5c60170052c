"""The record that a migration succeeded survives a lost status write and an operator restart.

kopf writes ``status`` after the per-object lock is released. When that write is lost (or the
operator stops before it), the next reconcile must still know the image is migrated: it reads the
``labelhive.io/migrated`` annotation (written inside the lock) and the succeeded Job (kept). The
emulator drops the ``/status`` writes on purpose here (``drop_status_of``); the timer runs every
0.3 s, so a second reconcile follows within a few tenths of a second.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from labelhive_operator import migration
from labelhive_operator.migration import Record
from tests.operator.conftest import NAMESPACE
from tests.operator.conftest import Cluster
from tests.operator.test_operator import LP
from tests.operator.test_operator import NAME
from tests.operator.test_operator import _cr
from tests.operator.test_operator import _db_secret
from tests.operator.test_operator import _job_done

WORKLOADS = {"demo-web", "demo-worker", "demo-scheduler"}


def _writes(cluster: Cluster, since: int, plural: str) -> list[str]:
    """Return ``METHOD name`` of the operator's writes to one plural (not ``/status``)."""
    out = []
    for r in cluster.writes_since(since):
        parts = r.url.path.split("/")
        if plural in parts and "status" not in parts[parts.index(plural) :]:
            method = str(r.method).upper().rsplit(".", 1)[-1]
            out.append(f"{method} {parts[-1] if parts[-1] != plural else ''}".strip())
    return out


def _annotation(cluster: Cluster) -> dict[str, Any] | None:
    cr = cluster.cr(NAME) or {}
    raw = (cr["metadata"].get("annotations") or {}).get(migration.ANNOTATION)
    return json.loads(raw) if raw else None


def _install_with_status_lost(cluster: Cluster) -> str:
    """Create the project with every status write lost; return the migration Job's name."""
    cluster.emu.drop_status_of.add("labelingprojects")
    _db_secret(cluster)
    cluster.client.request("POST", LP, body=_cr())
    (job_name,) = cluster.wait("migration job", lambda: cluster.objects("jobs"))
    _job_done(cluster, job_name)
    cluster.wait("workloads", lambda: WORKLOADS <= set(cluster.objects("deployments")))
    cluster.wait("record", lambda: _annotation(cluster))
    return job_name


def test_a_lost_status_write_keeps_the_workloads_and_the_job(cluster: Cluster) -> None:
    start = cluster.request_count()
    job_name = _install_with_status_lost(cluster)
    time.sleep(1.2)  # several timer reconciles, none of which sees status.migration
    cr = cluster.cr(NAME) or {}
    assert not (cr.get("status") or {}).get("migration"), "the status write must really be lost"
    assert WORKLOADS <= set(cluster.objects("deployments"))
    assert set(cluster.objects("jobs")) == {job_name}
    # one apply of the Job, never deleted nor re-created; no workload deleted
    assert _writes(cluster, start, "jobs") == [f"PATCH {job_name}"]
    assert not [w for w in _writes(cluster, start, "deployments") if w.startswith("DELETE")]
    assert _annotation(cluster) == {"job": job_name, "image": "ghcr.io/labelhive/labelhive:1.0.0"}
    # the record was written once, not on every reconcile
    assert _writes(cluster, start, "labelingprojects").count(f"PATCH {NAME}") <= 3


def test_a_restart_before_the_status_write_keeps_the_workloads(cluster: Cluster) -> None:
    start = cluster.request_count()
    job_name = _install_with_status_lost(cluster)
    cluster.restart_operator()  # a new process: no memo, the status never landed
    cluster.emu.drop_status_of.clear()
    status = cluster.wait(
        "status after restart",
        lambda: (
            ((cluster.cr(NAME) or {}).get("status") or {}).get("currentImage")
            and cluster.cr(NAME)["status"]
        ),
    )
    assert status["migration"] == {
        "image": "ghcr.io/labelhive/labelhive:1.0.0",
        "job": job_name,
        "attempt": 1,
        "state": "Succeeded",
        "succeeded": True,
    }
    time.sleep(0.8)
    assert WORKLOADS <= set(cluster.objects("deployments"))
    assert _writes(cluster, start, "jobs") == [f"PATCH {job_name}"]
    assert not [w for w in _writes(cluster, start, "deployments") if w.startswith("DELETE")]
    events = [e["reason"] for e in cluster.objects("events").values()]
    assert events.count("MigrationStarted") == 1 and events.count("MigrationSucceeded") == 1


def test_a_job_deleted_by_hand_after_success_is_not_run_again(cluster: Cluster) -> None:
    job_name = _install_with_status_lost(cluster)
    start = cluster.request_count()
    cluster.client.delete("batch/v1", "Job", NAMESPACE, job_name)
    time.sleep(1.2)  # only the annotation says it succeeded now: status is still lost
    assert cluster.objects("jobs") == {}
    assert WORKLOADS <= set(cluster.objects("deployments"))
    assert [w for w in _writes(cluster, start, "jobs") if not w.startswith("DELETE")] == []


SPEC_JOB = "demo-migrate-2222222222"
OLD = Record("demo-migrate-1111111111", "img:1.0")


@pytest.mark.parametrize(
    ("record", "jobs", "expected"),
    [
        # first install: nothing migrated, run the Job, no workloads
        (None, {}, (False, "Pending", None, True, set())),
        (None, {SPEC_JOB: "Running"}, (False, "Running", None, True, set())),
        # the Job succeeded: migrated, the Job is kept (not re-applied), record it
        (None, {SPEC_JOB: "Succeeded"}, (True, "Succeeded", "img:2.0", False, {SPEC_JOB})),
        # recorded and deleted by hand: still migrated, nothing re-run
        (Record(SPEC_JOB, "img:2.0"), {}, (True, "Succeeded", "img:2.0", False, set())),
        # a new image: workloads stay on the recorded one, whose Job is kept
        (OLD, {OLD.job: "Succeeded"}, (False, "Pending", "img:1.0", True, {OLD.job})),
        # the new image's Job failed: same, the failed Job is desired (kept for its logs)
        (
            OLD,
            {OLD.job: "Succeeded", SPEC_JOB: "Failed"},
            (False, "Failed", "img:1.0", True, {OLD.job}),
        ),
        # the new image's Job succeeded: the old Job is no longer kept (it gets deleted)
        (
            OLD,
            {OLD.job: "Succeeded", SPEC_JOB: "Succeeded"},
            (True, "Succeeded", "img:2.0", False, {SPEC_JOB}),
        ),
        # an object older than the record: status.currentImage only, no Job name
        (Record("", "img:1.0"), {}, (False, "Pending", "img:1.0", True, set())),
    ],
)
def test_the_gate_decides_from_durable_facts(
    record: Record | None, jobs: dict[str, str], expected: tuple[Any, ...]
) -> None:
    gate = migration.decide(SPEC_JOB, "img:2.0", record, jobs)
    assert (
        gate.migrated,
        gate.state,
        gate.workload_image,
        gate.run_job,
        set(gate.keep_jobs),
    ) == expected
    if gate.migrated:
        assert gate.record == Record(SPEC_JOB, "img:2.0")
    else:
        assert gate.record == record


def test_the_record_comes_from_the_annotation_then_from_status() -> None:
    ann = {migration.ANNOTATION: Record("j2", "img:2.0").to_annotation()}
    status = {
        "migration": {"job": "j1", "image": "img:1.0", "succeeded": True},
        "currentImage": "img:1.0",
    }
    assert migration.recorded(ann, status) == Record("j2", "img:2.0")
    assert migration.recorded({}, status) == Record("j1", "img:1.0")
    assert migration.recorded({}, {"currentImage": "img:1.0"}) == Record("", "img:1.0")
    assert migration.recorded({migration.ANNOTATION: "not json"}, {}) is None
    assert migration.recorded({migration.ANNOTATION: '{"job": 1}'}, {}) is None
