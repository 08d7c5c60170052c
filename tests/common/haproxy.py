"""HAProxy with the project's own ``haproxy/haproxy.cfg`` on a free loopback port."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labelhive.storage import proxy
from tests.common.processes import free_port
from tests.common.processes import port_open
from tests.common.processes import wait_for

CONFIG = Path(__file__).resolve().parents[2] / "haproxy" / "haproxy.cfg"


class HAProxyServer:
    """The sidecar as the Pod runs it: the same file, variables from ``proxy.haproxy_env``."""

    def __init__(self, config: Mapping[str, Any], app_port: int) -> None:
        self.port = free_port()
        self.env = proxy.haproxy_env(
            config, listen=f"127.0.0.1:{self.port}", app=f"127.0.0.1:{app_port}"
        )
        self.log = Path(tempfile.mkstemp(prefix="labelhive-haproxy-", suffix=".log")[1])
        self.haproxy: proxy.HAProxy | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - HAProxy writes to it until stop()
        self.haproxy = proxy.HAProxy(self.env, CONFIG, stdout=log, stderr=log).start()
        log.close()
        wait_for(lambda: port_open(self.port), 15, "HAProxy")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.haproxy is not None:
            self.haproxy.stop()
        self.log.unlink(missing_ok=True)


@contextlib.contextmanager
def haproxy(config: Mapping[str, Any], app_port: int) -> Iterator[HAProxyServer]:
    server = HAProxyServer(config, app_port)
    try:
        server.start()
        yield server
    finally:
        server.stop()
