"""Pure status helpers: conditions in the ``metav1.Condition`` shape, readiness summaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the order conditions are listed in; ``Ready`` summarises the others
CONDITION_TYPES = (
    "Ready",
    "Reconciled",
    "Migrated",
    "RedisReady",
    "WebAvailable",
    "WorkersAvailable",
    "LabelingSynced",
    "Progressing",
    "Degraded",
)

#: conditions whose ``True`` is not good news: they never block ``Ready``
NOT_READY_INPUTS = frozenset({"Progressing", "Degraded"})


@dataclass(frozen=True)
class Cond:
    """One observed condition before timestamps are attached (``ok``: status ``True``)."""

    type: str
    ok: bool
    reason: str
    message: str = ""


def merge_conditions(
    old: list[dict[str, Any]], new: list[Cond], generation: int, now: str
) -> list[dict[str, Any]]:
    """Return the full conditions list, keeping ``lastTransitionTime`` when a status is unchanged.

    A merge-patch replaces whole lists, so the complete list is always written.

    :param old: the conditions currently in ``status``.
    :param new: the conditions observed now (``Ready`` is derived and added here).
    :param generation: ``metadata.generation`` the observation is for.
    :param now: an RFC 3339 timestamp for changed conditions.
    :return: conditions in :data:`CONDITION_TYPES` order.
    """
    ready_blockers = [c for c in new if not c.ok and c.type not in NOT_READY_INPUTS]
    ready = (
        Cond("Ready", True, "AllComponentsAvailable", "all components are available")
        if not ready_blockers
        else Cond(
            "Ready",
            False,
            ready_blockers[0].reason,
            "; ".join(f"{c.type}: {c.message or c.reason}" for c in ready_blockers),
        )
    )
    by_type = {c.get("type"): c for c in old}
    out = []
    for cond in sorted([ready, *new], key=lambda c: CONDITION_TYPES.index(c.type)):
        status = "True" if cond.ok else "False"
        prev = by_type.get(cond.type) or {}
        changed = prev.get("status") != status
        out.append(
            {
                "type": cond.type,
                "status": status,
                "reason": cond.reason,
                "message": cond.message,
                "lastTransitionTime": now if changed else prev.get("lastTransitionTime", now),
                "observedGeneration": generation,
            }
        )
    return out


def failed_conditions(
    old: list[dict[str, Any]], failure: Cond, generation: int, now: str
) -> list[dict[str, Any]]:
    """Return the conditions after a reconcile that stopped with ``failure`` (``Reconciled``).

    ``Reconciled`` and ``Ready`` say why; the other conditions keep what the last complete
    observation found (with its ``observedGeneration``): nothing was observed this time.
    """
    fresh = {c["type"]: c for c in merge_conditions(old, [failure], generation, now)}
    kept = [c for c in old if c.get("type") not in fresh and c.get("type") in CONDITION_TYPES]
    return sorted([*fresh.values(), *kept], key=lambda c: CONDITION_TYPES.index(c["type"]))


def condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    """Return one condition from a status dict, if present."""
    for c in status.get("conditions") or []:
        if c.get("type") == type_:
            found: dict[str, Any] = c
            return found
    return None


def ready_of(obj: dict[str, Any] | None) -> tuple[int, int]:
    """Return ``(ready, desired)`` replicas of a Deployment or StatefulSet (0, 0 if missing)."""
    if obj is None:
        return 0, 0
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    ready = int((obj.get("status") or {}).get("readyReplicas") or 0)
    return ready, desired


def rolling(obj: dict[str, Any] | None) -> bool:
    """Return whether a Deployment or StatefulSet has not finished its latest rollout.

    The controller has not seen the latest spec yet (``observedGeneration``), or not every
    replica runs the latest template (``updatedReplicas``).
    """
    if obj is None:
        return False
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return True
    return int(status.get("updatedReplicas", desired) or 0) < desired


def job_failure(job: dict[str, Any] | None) -> str | None:
    """Return when a failed Job failed (its ``Failed`` condition's ``lastTransitionTime``)."""
    for c in ((job or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Failed" and c.get("status") == "True":
            return str(c.get("lastTransitionTime") or "") or None
    return None


def job_state(job: dict[str, Any] | None) -> str:
    """Return ``Succeeded``, ``Failed``, ``Running`` or ``Missing`` for a Job."""
    if job is None:
        return "Missing"
    st = job.get("status") or {}
    for c in st.get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "Succeeded"
        if c.get("status") == "True" and c.get("type") == "Failed":
            return "Failed"
    if int(st.get("succeeded") or 0) >= 1:
        return "Succeeded"
    return "Running"


def progress_percent(tasks: int, completed: int) -> int:
    """Return labeling progress as an integer percent (0 without tasks)."""
    return int(100 * completed / tasks) if tasks else 0
