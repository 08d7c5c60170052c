"""Thin kopf handlers: every one delegates to :func:`labelhive_operator.reconcile.reconcile`.

Handlers return ``None`` (kopf would otherwise store results under ``status.<handler>``, which the
structural schema prunes) and write only schema-declared status fields through ``patch.status``.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

import kopf

from labelhive_operator import settings
from labelhive_operator.reconcile import reconcile

_RES = (settings.GROUP, settings.VERSION, settings.PLURAL)
_INTERVAL = settings.timer_interval()


def _run(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo) -> None:
    def post(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message)

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = (body.metadata.namespace, body.metadata.name)
    # the timer and the change handlers run in parallel threads: one reconcile per object
    with memo.locks.setdefault(key, memo.locks_guard_factory()):
        new_status = reconcile(body, memo.client, now, post)
    if new_status is not None:
        patch.status.update(new_status)


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
