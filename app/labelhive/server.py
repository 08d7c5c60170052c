"""Running the web app under gunicorn (``labelhive serve``)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication

# the request line without its query string: API keys travel in ``?api_key=`` and presigned
# image URLs carry signatures, and neither may reach a log
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


def prepare_metrics_dir() -> None:
    """Give the gunicorn workers one shared Prometheus directory, fresh for this server."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    path = tempfile.mkdtemp(prefix="labelhive-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)


def _child_exit(server: Any, worker: Any) -> None:  # noqa: ARG001 - gunicorn's hook signature
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class GunicornServer(BaseApplication):
    """gunicorn with LabelHive's settings, loading the app factory in each worker."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from labelhive import create_app

        return create_app()


def run(host: str, port: int, workers: int, threads: int, timeout: int = 60) -> None:
    prepare_metrics_dir()
    GunicornServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": timeout,
            "graceful_timeout": 20,
            "keepalive": 5,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "child_exit": _child_exit,
            # each worker builds its own app and connection pool after the fork
            "preload_app": False,
            # gunicorn's control socket lives under $HOME, which is read-only in the Pods
            "control_socket_disable": True,
        }
    ).run()
