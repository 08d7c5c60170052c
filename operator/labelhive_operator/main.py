"""The operator's entry module (``kopf run -m labelhive_operator.main``).

Settings here are fixed on day one: changing them on a running fleet confuses kopf.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import kopf

from labelhive_operator import handlers  # noqa: F401  (registers the handlers)
from labelhive_operator import k8s
from labelhive_operator import metrics
from labelhive_operator import settings as names


def configure(settings: kopf.OperatorSettings) -> None:
    """Apply the frozen kopf settings (finalizer, storage prefixes, events, timeouts).

    :param settings: kopf's settings object, changed in place.
    """
    settings.persistence.finalizer = names.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=names.ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.ANNOTATION_PREFIX, key=names.DIFFBASE_KEY
    )
    settings.posting.reporting_component = names.REPORTING_COMPONENT
    settings.posting.reporting_instance = os.environ.get("POD_NAME", socket.gethostname())
    settings.posting.loggers = False  # only explicit kopf.event() calls become Events
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.execution.max_workers = 8
    if os.environ.get("WATCH_NAMESPACE"):
        # namespace-scoped RBAC cannot list CRDs or namespaces
        settings.scanning.disabled = True


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Log in from the Pod's ServiceAccount, else from ``$KUBECONFIG`` (read at login time)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Configure kopf and create the API client shared by the handlers."""
    configure(settings)
    memo.client = k8s.Client(k8s.new_api_client())
    memo.locks = {}
    memo.locks_guard_factory = threading.Lock


@kopf.on.startup()
async def serve_metrics(memo: kopf.Memo, **_: Any) -> None:
    """Serve the operator's metrics (handlers run only after every startup handler).

    ``async`` with no ``await``: it runs whole or not at all. A sync handler runs in a thread
    that an operator stopped during startup does not wait for, so the port could be bound after
    :func:`cleanup` ran, and stay bound.
    """
    memo.metrics = metrics.Metrics()
    memo.metrics_server = metrics.serve(memo.metrics, names.metrics_port(), names.metrics_address())


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop serving the metrics (the port is free for the next operator in this process)."""
    server = memo.get("metrics_server")
    if server is not None:
        server.shutdown()
        server.server_close()
