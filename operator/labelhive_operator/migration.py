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
before the annotation existed.

Each try is its own Job (``NAME-migrate-<hash>``, then ``-2``, ``-3``...; a failed Job cannot
run again): a failed attempt is followed by the next one after a backoff counted from the Job's
``Failed`` condition (:func:`backoff_seconds`), or at once when the ``LabelingProject`` carries
the :data:`RETRY_ANNOTATION`. Only the latest attempt's Job is kept (for its logs) besides the
recorded one. A database found behind the recorded image (restored from a backup taken before
the migration) gets a new attempt too, while the workloads keep the image. Everything here is
pure.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from typing import Any

from labelhive_operator import settings
from labelhive_operator.builders.migrate import MAX_ATTEMPT
from labelhive_operator.builders.migrate import attempt_name
from labelhive_operator.builders.migrate import attempt_of

#: the durable record on the LabelingProject (kopf ignores annotations under its own prefix)
ANNOTATION = f"{settings.GROUP}/migrated"
#: set it (any value) to start the next attempt of a failed migration now; the operator
#: removes it once read
RETRY_ANNOTATION = f"{settings.GROUP}/retry-migration"

#: the wait after the first failed attempt; it doubles with every attempt up to the cap
BACKOFF_FIRST_SECONDS = 30
BACKOFF_CAP_SECONDS = 1800


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
    :param job: the Job of the current attempt (the recorded one once migrated).
    :param attempt: its attempt number.
    :param reason: the ``Migrated`` condition's reason.
    :param retry_at: when a failed attempt is followed by the next (RFC 3339), if known.
    :param retried: whether the retry annotation started this attempt.
    """

    migrated: bool
    state: str
    workload_image: str | None
    record: Record | None
    run_job: bool
    keep_jobs: frozenset[str]
    job: str = ""
    attempt: int = 1
    reason: str = ""
    retry_at: str | None = None
    retried: bool = False


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


def backoff_seconds(attempt: int) -> int:
    """Return the wait after attempt ``attempt`` failed: 30 s, 1, 2, 4, 8, 16 min, then 30 min."""
    return int(min(BACKOFF_FIRST_SECONDS * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS))


def parse_time(value: str | None) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp of the API server (``None`` when absent or malformed)."""
    try:
        parsed = datetime.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decide(
    spec_job: str,
    spec_image: str,
    record: Record | None,
    jobs: dict[str, str],
    *,
    failed_at: dict[str, str] | None = None,
    now: str | None = None,
    retry: bool = False,
    db_behind: bool = False,
) -> Gate:
    """Decide the gate.

    :param spec_job: the migration Job name of the spec's image (its first attempt).
    :param spec_image: the spec's image reference.
    :param record: the durable record (:func:`recorded`).
    :param jobs: the existing migration Jobs, name → state (``status.job_state``).
    :param failed_at: name → the ``Failed`` condition's ``lastTransitionTime`` of failed Jobs.
    :param now: the reconcile's RFC 3339 time; without it no backoff is ever due.
    :param retry: whether the retry annotation is set.
    :param db_behind: whether the app reports its database behind the recorded image.
    :return: the decision; the spec image counts as migrated when its latest attempt
        succeeded now or the record names one of its attempts (the Job may have been deleted
        by hand since) and the database is not behind.
    """
    attempts = {k: n for n in jobs if (k := attempt_of(spec_job, n)) is not None}
    latest = max(attempts, default=0)
    mine = attempt_of(spec_job, record.job) if record is not None else None
    if record is not None and mine is not None and latest <= mine:
        if not db_behind:
            return _migrated(Record(record.job, spec_image), jobs, mine)
        # restored from a backup taken before the migration: migrate it again
        return _attempt(record, jobs, spec_job, mine + 1, "Pending", "DatabaseBehind")
    if latest and jobs[attempts[latest]] == "Succeeded":
        return _migrated(Record(attempts[latest], spec_image), jobs, latest)
    reason = "DatabaseBehind" if mine is not None else ""
    if not latest:
        return _attempt(record, jobs, spec_job, 1, "Pending", reason)
    state = jobs[attempts[latest]]
    if state != "Failed":
        return _attempt(record, jobs, spec_job, latest, state, reason)
    failed = parse_time((failed_at or {}).get(attempts[latest]))
    due = failed + datetime.timedelta(seconds=backoff_seconds(latest)) if failed else None
    clock = parse_time(now)
    if latest < MAX_ATTEMPT and (retry or (due is not None and clock is not None and clock >= due)):
        gate = _attempt(record, jobs, spec_job, latest + 1, "Pending", reason)
        return _replace(gate, retried=retry)
    gate = _attempt(record, jobs, spec_job, latest, "Failed", "MigrationFailed")
    return _replace(gate, retry_at=_rfc3339(due) if due and latest < MAX_ATTEMPT else None)


def _migrated(record: Record, jobs: dict[str, str], attempt: int) -> Gate:
    keep = frozenset({record.job} & jobs.keys())
    return Gate(
        True,
        "Succeeded",
        record.image,
        record,
        False,
        keep,
        record.job,
        attempt,
        "MigrationSucceeded",
    )


def _attempt(
    record: Record | None,
    jobs: dict[str, str],
    spec_job: str,
    attempt: int,
    state: str,
    reason: str,
) -> Gate:
    """The spec image is not migrated: run (or follow) ``attempt``; keep the recorded Job."""
    keep = frozenset({record.job} & jobs.keys()) if record is not None else frozenset()
    workload = record.image if record is not None else None
    return Gate(
        False,
        state,
        workload,
        record,
        True,
        keep,
        attempt_name(spec_job, attempt),
        attempt,
        reason or f"Migration{state}",
    )


def _replace(gate: Gate, **changes: Any) -> Gate:
    return Gate(**{**gate.__dict__, **changes})


#: lines of a traceback that say nothing about the cause (SQLAlchemy's trailer and echo)
_NOISE = re.compile(r"^\s*(\(Background on this error at:|\[SQL:|\[parameters:)")
#: credentials in a URL (``scheme://user:password@host``)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
#: the longest log line put into a condition message
MAX_LINE = 300


def last_log_line(pods: list[dict[str, Any]], job_uid: str) -> str | None:
    """Return the last meaningful line a failed Pod of the Job left (its termination message).

    The migration containers set ``terminationMessagePolicy: FallbackToLogsOnError``, so the
    kubelet puts the tail of a failed container's log into its terminated state's ``message``.
    The Pod that finished last wins; URL passwords are masked and the line is shortened.

    :param pods: Pods of the namespace (a list may ignore the label selector); only those the
        Job controls count.
    :param job_uid: the Job's ``metadata.uid``.
    :return: ``None`` when no failed container left a message.
    """
    found: list[tuple[str, str]] = []
    for pod in pods:
        refs = (pod.get("metadata") or {}).get("ownerReferences") or []
        if not any(r.get("uid") == job_uid and r.get("controller") for r in refs):
            continue
        status = pod.get("status") or {}
        for cs in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            term = (cs.get("state") or {}).get("terminated") or {}
            lines = [
                ln.strip()
                for ln in str(term.get("message") or "").splitlines()
                if ln.strip() and not _NOISE.match(ln)
            ]
            if term.get("exitCode") and lines:
                found.append((str(term.get("finishedAt") or ""), lines[-1]))
    if not found:
        return None
    line = _URL_PASSWORD.sub(r"\1***@", max(found)[1])
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def condition_message(gate: Gate, image: str, log_line: str | None, db: dict[str, Any]) -> str:
    """Return the ``Migrated`` condition's message: the attempt, why, and the image last.

    :param log_line: the failed attempt's last log line (:func:`last_log_line`), if any.
    :param db: what the app reported (``revision``, ``head``) when the database is behind.
    """
    job = f"attempt {gate.attempt} (job {gate.job})"
    if gate.state == "Succeeded":
        return f"{job} succeeded; image {image}"
    parts = []
    if gate.reason == "DatabaseBehind" and db:
        parts.append(
            f"the database is at revision {db.get('revision') or 'none'}, behind the image's "
            f"{db.get('head')} (restored from an older backup?): migrating again"
        )
    elif gate.reason == "DatabaseBehind" or gate.record is not None and gate.record.image == image:
        parts.append("the database was found behind the image: migrating again")
    if gate.state == "Failed":
        parts.append(f"{job} failed: {log_line or 'no Pod left a log line'}")
        if gate.retry_at:
            parts.append(f"next attempt at {gate.retry_at}")
        parts.append(f"annotate {RETRY_ANNOTATION} to retry now")
    else:
        parts.append(f"{job} {gate.state.lower()}")
        if log_line:
            parts.append(f"the previous attempt failed: {log_line}")
    return "; ".join(parts) + f"; image {image}"
