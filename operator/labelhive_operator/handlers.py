"""Thin kopf handlers: every one delegates to :func:`labelhive_operator.reconcile.reconcile`.

Handlers return ``None`` (kopf would otherwise store results under ``status.<handler>``, which the
structural schema prunes) and write only schema-declared status fields, through the ``/status``
subresource, inside the object's lock (:func:`write_status`).
A failed reconcile still writes ``Reconciled=False`` (reason ``InvalidSpec``, ``ApiError`` or
``ReconcileError``) and posts a Warning Event before the handler raises.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import threading
import time
from typing import Any

import kopf

from labelhive_operator import k8s
from labelhive_operator import settings
from labelhive_operator import status as st
from labelhive_operator.k8s import ApiError
from labelhive_operator.migration import RETRY_ANNOTATION
from labelhive_operator.reconcile import EventSink
from labelhive_operator.reconcile import failure_status
from labelhive_operator.reconcile import reconcile
from labelhive_operator.validate import InvalidSpec

_RES = (settings.GROUP, settings.VERSION, settings.PLURAL)


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


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_status(client: Any, namespace: str, name: str, new: dict[str, Any]) -> None:
    """Merge-patch ``status`` through the ``/status`` subresource (inside the object's lock).

    Written here rather than through kopf's ``patch.status``: kopf applies that only after the
    handler returned and the lock is released, so a reconcile of a child's event that ran in
    between could be overwritten by an older observation.
    """
    url = k8s.path(settings.API_VERSION, settings.KIND, namespace, name) + "/status"
    client.request("PATCH", url, body={"status": new}, content_type="application/merge-patch+json")


def _shared(memo: kopf.Memo) -> tuple[Any, dict[tuple[str, str], Any], set[tuple[str, str]]]:
    """Return the guard, the per-object locks and the keys waiting for their lock."""
    # dict.setdefault is atomic: the first caller's objects win
    guard = memo.setdefault("locks_guard", threading.Lock())
    return guard, memo.setdefault("locks", {}), memo.setdefault("waiting", set())


def reconcile_now(
    memo: kopf.Memo, namespace: str, name: str, logger: Any, *, raise_errors: bool
) -> None:
    """Reconcile one ``LabelingProject`` as the API server holds it now; write its status.

    Every trigger (kopf's change handlers, the drift daemon, a child's event) comes here and
    takes the object's lock, so reconciles of one object never overlap and each reads the
    object afresh (a body kopf handed over may already be stale). A trigger that finds one
    already waiting for the lock adds nothing: the waiting one will see the change.
    """
    key = (namespace, name)
    guard, locks, waiting = _shared(memo)
    error: Exception | None = None
    with guard:
        if key in waiting:
            return
        waiting.add(key)
        lock = locks.setdefault(key, threading.Lock())
    try:
        with lock:
            with guard:
                waiting.discard(key)
            body = memo.client.get(settings.API_VERSION, settings.KIND, namespace, name)
            if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
                memo.metrics.forget(key)
                return

            def post(type_: str, reason: str, message: str) -> None:
                kopf.event(body, type=type_, reason=reason, message=message)
                memo.metrics.event(reason)

            started = time.monotonic()
            client = k8s.RecordingClient(memo.client.api)  # what this reconcile applied
            new_status, error = reconcile_or_report(body, client, _now(), post)
            try:
                if new_status is not None:
                    write_status(memo.client, namespace, name, new_status)
            except Exception as e:
                error = e
                raise
            finally:
                status = new_status if new_status is not None else body.get("status") or {}
                memo.metrics.reconciled(
                    key,
                    error,
                    time.monotonic() - started,
                    status.get("conditions") or [],
                    client.applied,
                )
    finally:
        with guard:
            waiting.discard(key)
    if error is not None:
        if raise_errors:
            raise error
        logger.warning("reconcile of %s/%s failed: %s", namespace, name, error)


@kopf.on.resume(*_RES, timeout=300, retries=10, backoff=15)
@kopf.on.create(*_RES, timeout=300, retries=10, backoff=15)
@kopf.on.update(*_RES, timeout=300, retries=10, backoff=15)
def reconcile_project(
    name: str, namespace: str | None, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Reconcile on create, on every spec or annotation change and when the operator starts."""
    reconcile_now(memo, namespace_of(namespace), name, logger, raise_errors=True)


def namespace_of(namespace: str | None) -> str:
    """A LabelingProject's namespace: kopf's handlers type it as optional (cluster-scoped kinds
    have none), a namespaced kind always has one."""
    if not namespace:
        raise kopf.PermanentError("a LabelingProject without a namespace")
    return namespace


def jittered(interval: float) -> float:
    """Return ``interval`` ±10 %: projects created together do not tick together."""
    return interval * random.uniform(0.9, 1.1)


@kopf.daemon(*_RES, cancellation_timeout=10)
async def drift(
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    logger: kopf.Logger,
    stopped: kopf.DaemonStopped,
    **_: Any,
) -> None:
    """Repair drift and refresh status every interval; the first tick at a random offset.

    A per-object loop instead of ``@kopf.timer``: a timer's ``initial_delay`` is one value
    for every object, so projects created together would always tick together. Status mostly
    follows the children's own events (:func:`child_changed`); this is the safety net.
    """
    # asyncio.sleep, not stopped.wait(n): kopf cancels an async daemon on stop, and a cancelled
    # stopped.wait(n) leaves its time-limited waiter task behind, whose TimeoutError then fails
    # the operator's exit (seen under load in the tests' operator restarts)
    namespace = namespace_of(namespace)
    await asyncio.sleep(random.uniform(0, settings.timer_interval()))
    while not stopped:
        try:
            await asyncio.to_thread(
                reconcile_now, memo, namespace, name, logger, raise_errors=False
            )
        except Exception:  # noqa: BLE001  (the next tick tries again)
            logger.exception("drift reconcile of %s/%s failed", namespace, name)
        await asyncio.sleep(jittered(settings.timer_interval()))


def owner_of(body: Any) -> str | None:
    """Return the name of the ``LabelingProject`` that controls a child, if any."""
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        group = str(ref.get("apiVersion", "")).split("/")[0]
        if ref.get("kind") == settings.KIND and ref.get("controller") and group == settings.GROUP:
            return str(ref.get("name"))
    return None


_OWNED = {settings.LABEL_MANAGED_BY: settings.MANAGED_BY}


@kopf.on.event("apps", "v1", "deployments", labels=_OWNED)
@kopf.on.event("apps", "v1", "statefulsets", labels=_OWNED)
@kopf.on.event("batch", "v1", "jobs", labels=_OWNED)
def child_changed(
    body: kopf.Body, namespace: str | None, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """A child Deployment, StatefulSet or Job changed: reconcile its project now.

    kopf watches have no server-side label selector: every object of these kinds reaches the
    operator, and the label filter and the controller ownerReference pick ours. Event handlers
    keep no state on the child (no annotations, no finalizer).
    """
    owner = owner_of(body)
    if owner is not None and namespace:
        reconcile_now(memo, namespace, owner, logger, raise_errors=False)


@kopf.on.event(*_RES, annotations={RETRY_ANNOTATION: kopf.PRESENT})
def retry_requested(
    name: str, namespace: str | None, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """The migration retry annotation was set: reconcile now, not at the next timer tick.

    kopf's change handlers ignore annotations under the operator's own prefix (``labelhive.io/``
    is its storage prefix), so an event handler picks this one up; the reconcile removes it.
    """
    reconcile_now(memo, namespace_of(namespace), name, logger, raise_errors=False)


@kopf.on.delete(*_RES, optional=True)
def deleted(
    body: kopf.Body,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Let GC remove the children; say what the deletion policy keeps."""
    memo.metrics.forget((namespace_of(namespace), name))
    policy = (body.get("spec") or {}).get("deletionPolicy", "Retain")
    if policy == "Retain":
        logger.info("deletionPolicy Retain: Redis volumes and generated Secrets are kept")
    else:
        logger.info(
            "deletionPolicy Delete: Redis volumes and generated Secrets go with the project"
        )
