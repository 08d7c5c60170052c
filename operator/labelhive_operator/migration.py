"""The migration gate: which image the workloads may run, decided from durable facts only.

"Image X's migration succeeded" must outlive a lost status write and an operator restart, so it
never lives in ``status`` alone (kopf writes ``status`` after the per-object lock is released; a
reconcile queued behind it would see nothing). Two records hold it, both written before the lock
is released:

- the annotation ``labelhive.io/migrated`` on the ``LabelingProject`` (``{"job": ..., "image":
  ...}``), patched through the API client inside the reconcile as soon as the Job succeeded;
- the succeeded Job itself, kept (never re-applied: Jobs are immutable) until a newer image's
  Job succeeded; every reconcile lists it afresh, so even a reconcile holding a stale body sees it.

``status.migration`` / ``status.currentImage`` are read only as a fallback, for objects created
before the annotation existed. Everything here is pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from labelhive_operator import settings

#: the durable record on the LabelingProject (kopf ignores annotations under its own prefix)
ANNOTATION = f"{settings.GROUP}/migrated"


@dataclass(frozen=True)
class Record:
    """A migration that succeeded: its Job name (per image and bootstrap) and its image."""

    job: str
    image: str

    def to_annotation(self) -> str:
        return json.dumps({"job": self.job, "image": self.image}, sort_keys=True)


@dataclass(frozen=True)
class Gate:
    """The gate's decision for one reconcile.

    :param migrated: whether the spec's image is migrated (workloads may run it).
    :param state: ``Succeeded``, ``Failed``, ``Running`` or ``Pending`` (the spec image's Job).
    :param workload_image: the image web/worker/scheduler run; ``None`` before any migration.
    :param record: the record to hold after this reconcile (written when it changed).
    :param run_job: whether the spec image's Job is desired (applied when it differs).
    :param keep_jobs: existing migration Jobs left as they are: neither applied nor deleted.
    """

    migrated: bool
    state: str
    workload_image: str | None
    record: Record | None
    run_job: bool
    keep_jobs: frozenset[str]


def from_annotations(annotations: dict[str, str] | None) -> Record | None:
    """Return the record of the ``labelhive.io/migrated`` annotation, if it is well-formed."""
    raw = (annotations or {}).get(ANNOTATION)
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("job"), str) and data.get("image"):
        return Record(data["job"], str(data["image"]))
    return None


def recorded(annotations: dict[str, str] | None, status: dict[str, Any]) -> Record | None:
    """Return the durable record, else what ``status`` says (objects older than the annotation).

    A ``currentImage`` without a succeeded ``migration`` gives a record with no Job name: the
    workloads keep that image, and no Job matches it.
    """
    found = from_annotations(annotations)
    if found is not None:
        return found
    mig = status.get("migration") or {}
    if mig.get("succeeded") and mig.get("job") and mig.get("image"):
        return Record(str(mig["job"]), str(mig["image"]))
    if status.get("currentImage"):
        return Record("", str(status["currentImage"]))
    return None


def decide(spec_job: str, spec_image: str, record: Record | None, jobs: dict[str, str]) -> Gate:
    """Decide the gate.

    :param spec_job: the migration Job name of the spec's image.
    :param spec_image: the spec's image reference.
    :param record: the durable record (:func:`recorded`).
    :param jobs: the existing migration Jobs, name → state (``status.job_state``).
    :return: the decision; the spec image counts as migrated when its Job succeeded now or
        the record names it (the Job may have been deleted by hand since).
    """
    state = jobs.get(spec_job, "Missing")
    if state == "Succeeded" or (record is not None and record.job == spec_job):
        keep = frozenset({spec_job} & jobs.keys())
        return Gate(True, "Succeeded", spec_image, Record(spec_job, spec_image), False, keep)
    keep = frozenset({record.job} & jobs.keys()) if record is not None else frozenset()
    workload = record.image if record is not None else None
    return Gate(False, "Pending" if state == "Missing" else state, workload, record, True, keep)
