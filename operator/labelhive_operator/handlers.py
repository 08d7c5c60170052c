"""Thin kopf handlers: every one delegates to :func:`labelhive_operator.reconcile.reconcile`.

Handlers return ``None`` (kopf would otherwise store results under ``status.<handler>``, which the
structural schema prunes) and write only schema-declared status fields through ``patch.status``.
A failed reconcile still writes ``Reconciled=False`` (reason ``InvalidSpec``, ``ApiError`` or
``ReconcileError``) and posts a Warning Event before the handler raises.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

import kopf

from labelhive_operator import settings
from labelhive_operator import status as st
from labelhive_operator.k8s import ApiError
from labelhive_operator.reconcile import EventSink
from labelhive_operator.reconcile import failure_status
from labelhive_operator.reconcile import reconcile
from labelhive_operator.validate import InvalidSpec

_RES = (settings.GROUP, settings.VERSION, settings.PLURAL)
_INTERVAL = settings.timer_interval()


#: how long kopf waits before retrying after an API error
API_RETRY_DELAY = 15.0


def reconcile_or_report(
    body: Any, client: Any, now: str, post: EventSink
) -> tuple[dict[str, Any] | None, Exception | None]:
    """Run one reconcile; turn a failure into a status, a Warning Event and a kopf error.

    :return: ``(status, error)``: the status to write (``None``: unchanged) and the error for
        kopf to raise after the status is queued (kopf applies ``patch.status`` even when the
        handler raises), or ``None``.
    """
    try:
        return reconcile(body, client, now, post), None
    except InvalidSpec as e:
        # the spec must change: no retry (an update event brings the fixed spec)
        reason, message = "InvalidSpec", str(e)
        error: Exception = kopf.PermanentError(message)
    except ApiError as e:
        reason, message = "ApiError", str(e)
        error = kopf.TemporaryError(message, delay=API_RETRY_DELAY)
    except Exception as e:  # noqa: BLE001  (reported, then re-raised for kopf's backoff)
        # str(e) may quote anything (a URL, a value): the operator's log has the traceback
        reason = "ReconcileError"
        message = f"{type(e).__name__} during reconcile; see the operator log"
        error = e
    status = failure_status(body, reason, message, now)
    if status is not None and _changed(body, status):
        post("Warning", reason, message)
    return status, error


def _changed(body: Any, status: dict[str, Any]) -> bool:
    """Whether the ``Reconciled`` condition's reason or message changed (one Event each)."""
    was = st.condition(dict(body.get("status") or {}), "Reconciled") or {}
    now = st.condition(status, "Reconciled") or {}
    return (was.get("reason"), was.get("message")) != (now.get("reason"), now.get("message"))


def _run(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
    def post(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message)

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = (body.metadata.namespace, body.metadata.name)
    # the timer and the change handlers run in parallel threads: one reconcile per object
    with memo.locks.setdefault(key, memo.locks_guard_factory()):
        new_status, error = reconcile_or_report(body, memo.client, now, post)
    if new_status is not None:
        patch.status.update(new_status)
    if error is not None:
        raise error


@kopf.on.resume(*_RES, timeout=300, retries=10, backoff=15)
@kopf.on.create(*_RES, timeout=300, retries=10, backoff=15)
@kopf.on.update(*_RES, timeout=300, retries=10, backoff=15)
def reconcile_project(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Reconcile on create, on every spec change and when the operator starts."""
    _run(body, patch, memo)


@kopf.timer(*_RES, interval=_INTERVAL, initial_delay=random.uniform(0, _INTERVAL))
def refresh(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Refresh status (Deployment readiness, migration, progress) and repair drift."""
    _run(body, patch, memo)


@kopf.on.delete(*_RES, optional=True)
def deleted(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """Let GC remove the children; say what the deletion policy keeps."""
    policy = (body.get("spec") or {}).get("deletionPolicy", "Retain")
    if policy == "Retain":
        logger.info("deletionPolicy Retain: Redis volumes and generated Secrets are kept")
    else:
        logger.info(
            "deletionPolicy Delete: Redis volumes and generated Secrets go with the project"
        )
