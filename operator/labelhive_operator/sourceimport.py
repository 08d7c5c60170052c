"""Filling the declared project from ``spec.labeling.sourcePrefix``: when to start an import.

The import itself is the app's own background job (``POST /api/project/<id>/import`` with
``{"s3": ...}``), run by the project's workers: the app's importer adds only the objects the
project does not have yet, and the app returns the unfinished import of the same prefix
instead of starting a second one. So starting one again is always safe, and
``status.sourceImport`` (the job's id, state and counts) is enough of a record: a lost status
write at worst starts an import that adds nothing. Everything here is pure.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

#: what the import picks up under the prefix (the app CLI's default: images)
EXTENSIONS = "jpg,jpeg,png,gif,webp,avif"

#: the app's job statuses → ``status.sourceImport.state``
STATES = {"queued": "Queued", "running": "Running", "finished": "Succeeded", "failed": "Failed"}


@dataclass(frozen=True)
class Decision:
    """Whether to start an import now, and ``status.sourceImport`` as observed."""

    start: bool
    status: dict[str, Any]


def _epoch(stamp: Any) -> float | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def decide(
    prefix: str, interval: int, now: float, prev: dict[str, Any], job: dict[str, Any] | None
) -> Decision:
    """Decide from the last recorded import and the app's record of its job.

    :param prefix: ``spec.labeling.sourcePrefix`` (``""``: nothing to import).
    :param interval: ``spec.labeling.importIntervalSeconds`` (0: only when the prefix changes).
    :param now: the time, in seconds since the epoch.
    :param prev: ``status.sourceImport`` as the cluster holds it.
    :param job: the app's job record of ``prev["jobId"]`` (``None``: none, or the app lost it).
    :return: the decision; ``imported`` adds up the runs for the current prefix.
    """
    if not prefix:
        return Decision(False, {})
    same = prev.get("prefix") == prefix and bool(prev.get("jobId"))
    if not same or job is None:
        base = {"imported": int(prev.get("imported") or 0)} if same else {"imported": 0}
        return Decision(True, {"prefix": prefix, **base})
    state = STATES.get(str(job.get("status")), "Running")
    out: dict[str, Any] = {
        "prefix": prefix,
        "jobId": prev["jobId"],
        "state": state,
        "imported": int(prev.get("imported") or 0),
        "lastImported": int(prev.get("lastImported") or 0),
    }
    if state == "Succeeded" and prev.get("state") != "Succeeded":
        # counted once: a lost status write leaves ``prev`` as it was, so this adds the same
        added = int((job.get("result") or {}).get("imported") or 0)
        out["imported"] += added
        out["lastImported"] = added
    if state == "Failed":
        out["message"] = str(job.get("error") or "the import failed")[:1024]
    if job.get("finished"):
        out["finishedAt"] = str(job["finished"])
    finished = _epoch(job.get("finished"))
    due = (
        state in ("Succeeded", "Failed")
        and interval > 0
        and (finished is None or now - finished >= interval)
    )
    return Decision(due, out)


def started(decided: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """Return ``status.sourceImport`` once the app accepted the import ``job``."""
    return {
        **decided,
        "jobId": str(job.get("id", "")),
        "state": STATES.get(str(job.get("status")), "Queued"),
        "imported": int(decided.get("imported") or 0),
    }
