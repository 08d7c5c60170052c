"""Running the HAProxy sidecar with the project's own ``haproxy/haproxy.cfg``.

The configuration file takes everything from environment variables, which HAProxy substitutes
itself; :func:`haproxy_env` computes them from the app's S3 settings, so the Pod, ``labelhive
serve --with-proxy`` and the tests all run the same file.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from labelhive.storage import scope

CONFIG_ENV = "LABELHIVE_HAPROXY_CONFIG"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def s3_upstream(endpoint_url: str | None, region: str) -> dict[str, str]:
    """The ``S3_UPSTREAM*`` variables for an endpoint (AWS's regional one when unset).

    ``S3_UPSTREAM_HOST`` is the Host header boto3 signs: the host, with the port only when it is
    not the scheme's default.
    """
    parts = urlsplit(endpoint_url or f"https://s3.{region}.amazonaws.com")
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"S3_ENDPOINT_URL {endpoint_url!r} is not an http(s) URL")
    default_port = _DEFAULT_PORTS[parts.scheme]
    port = parts.port or default_port
    host = parts.hostname if port == default_port else f"{parts.hostname}:{port}"
    return {
        "S3_UPSTREAM": f"{parts.hostname}:{port}",
        "S3_UPSTREAM_HOST": host,
        "S3_UPSTREAM_TLS": "1" if parts.scheme == "https" else "0",
        "S3_UPSTREAM_SNI": parts.hostname,
    }


def haproxy_env(
    config: Mapping[str, Any], *, listen: str, app: str, ca_file: str | None = None
) -> dict[str, str]:
    """Every variable ``haproxy/haproxy.cfg`` reads, from the app config.

    :param config: the app config (``S3_ENDPOINT_URL``, ``S3_REGION``, ``S3_PROXY_PREFIX``,
        ``S3_BUCKET``, ``S3_BUCKETS``).
    :param listen: ``address:port`` HAProxy listens on.
    :param app: gunicorn's ``address:port``.
    :param ca_file: CA bundle for a TLS endpoint (the system's by default).
    """
    env = {
        "HAPROXY_LISTEN": listen,
        "HAPROXY_APP": app,
        "S3_PROXY_PREFIX": (config.get("S3_PROXY_PREFIX") or "/s3").rstrip("/") or "/s3",
        **s3_upstream(config.get("S3_ENDPOINT_URL") or None, config.get("S3_REGION") or ""),
    }
    buckets = scope.allowed_buckets(config)
    if buckets:
        # the only buckets a proxied URL may name (unset: the file refuses every one)
        env["S3_PROXY_BUCKETS"] = " ".join(buckets)
    if ca_file:
        env["S3_UPSTREAM_CA_FILE"] = ca_file
    return env


def config_path() -> Path:
    """``$LABELHIVE_HAPROXY_CONFIG``, else the repository's (or image's) ``haproxy/haproxy.cfg``."""
    configured = os.environ.get(CONFIG_ENV)
    candidates = [Path(configured)] if configured else []
    # app/labelhive/storage/proxy.py -> the checkout's root; /app in the container image
    candidates += [
        Path(__file__).resolve().parents[3] / "haproxy" / "haproxy.cfg",
        Path("/etc/labelhive/haproxy.cfg"),
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"haproxy.cfg not found (looked at {', '.join(map(str, candidates))}); set {CONFIG_ENV}"
    )


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)),
        None,
    )
    if found is None:
        raise FileNotFoundError("haproxy is not installed (Debian: apt-get install haproxy)")
    return found


def _die_with_parent() -> None:
    # Linux: HAProxy gets SIGTERM when the process that started it dies, even by SIGKILL
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def check(env: Mapping[str, str], path: Path | None = None) -> None:
    """Validate the configuration with these variables (``haproxy -c``).

    :raise RuntimeError: HAProxy refuses it, with its message.
    """
    path = path or config_path()
    done = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(path)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        alerts = [line for line in done.stderr.splitlines() if "[ALERT]" in line]
        raise RuntimeError(f"haproxy -c {path}: {' '.join(alerts) or done.stderr.strip()}")


class HAProxy:
    """HAProxy in the foreground (``-db``) with the project's configuration, stopped by its PID.

    :param env: the variables from :func:`haproxy_env` (added to this process's environment).
    :param path: the configuration file (:func:`config_path` by default).
    :param popen: passed to :class:`subprocess.Popen` (``stdout``, ``stderr``).
    """

    def __init__(self, env: Mapping[str, str], path: Path | None = None, **popen: Any) -> None:
        self.env = dict(env)
        self.path = path or config_path()
        self.popen = popen
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._owner = os.getpid()

    def start(self) -> HAProxy:
        check(self.env, self.path)
        self.proc = subprocess.Popen(
            [haproxy_binary(), "-db", "-f", str(self.path)],
            env={**os.environ, **self.env},
            preexec_fn=_die_with_parent,
            **self.popen,
        )
        return self

    def on_exit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from a daemon thread) if HAProxy exits before :meth:`stop`."""
        proc = self.proc
        assert proc is not None, "start() first"

        def watch() -> None:
            proc.wait()
            if not self._stopping.is_set():
                callback()

        threading.Thread(target=watch, name="haproxy-watch", daemon=True).start()

    def stop(self, timeout: float = 10) -> None:
        """Finish the requests in flight (SIGUSR1, HAProxy's soft stop), then SIGTERM.

        Only the process that started HAProxy stops it: gunicorn's forked workers unwind through
        the same ``finally`` blocks as the arbiter when they exit.
        """
        if os.getpid() != self._owner:
            return
        self._stopping.set()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGUSR1)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout)
