"""Fixtures for the operator tests: the CRD, the examples, and a running operator + emulator."""

from __future__ import annotations

import asyncio
import copy
import os
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

# the drift/status timer interval is read when the handlers module is imported
os.environ["LABELHIVE_OPERATOR_TIMER_INTERVAL"] = "0.3"

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "charts" / "labelhive-operator" / "files" / "labelhive.io_labelingprojects.yaml"
EXAMPLES = ROOT / "operator" / "examples"
NAMESPACE = "labelhive"


@pytest.fixture(scope="session")
def crd() -> dict[str, Any]:
    """The CRD, from the one YAML file in the chart."""
    return yaml.safe_load(CRD_PATH.read_text())


@pytest.fixture(scope="session")
def crd_schema(crd: dict[str, Any]) -> dict[str, Any]:
    """The openAPIV3Schema of the storage version (the one the operator watches)."""
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    return version["schema"]["openAPIV3Schema"]


def load_example(name: str) -> dict[str, Any]:
    """Return one ``operator/examples/<name>.yaml`` document."""
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


class Cluster:
    """The emulated API server with the real operator running against it."""

    def __init__(
        self, emu: Any, loop: asyncio.AbstractEventLoop, client: Any, args: list[str]
    ) -> None:
        self.emu = emu
        self.loop = loop
        self.client = client  # plays kubectl and the controllers the emulator lacks
        self.args = args
        self.runner: Any = None
        self.metrics_port = 0  # the operator's /metrics (set by the fixture)

    def start_operator(self) -> None:
        """Start the real operator (kopf in its own thread) against the emulator."""
        from kopf.testing import KopfRunner

        self.runner = KopfRunner(self.args, timeout=20)
        self.runner.__enter__()

    def stop_operator(self) -> None:
        """Stop the operator the way a Pod is stopped; it must exit cleanly."""
        runner, self.runner = self.runner, None
        runner.__exit__(None, None, None)
        assert runner.exception is None, runner.output
        assert runner.exit_code == 0, runner.output

    def restart_operator(self) -> None:
        """Stop the operator and start a new one (new process state: memo, locks, timers)."""
        self.stop_operator()
        self.start_operator()

    def objects(self, plural: str) -> dict[str, dict[str, Any]]:
        """Return the live objects of one resource plural in the test namespace, by name."""

        async def snap() -> dict[str, dict[str, Any]]:
            async with self.emu._lock:
                return {
                    name: copy.deepcopy(obj.raw)
                    for (res, ns, name), obj in self.emu.objects.items()
                    if res.plural == plural and ns == NAMESPACE and not obj.deleted
                }

        return asyncio.run_coroutine_threadsafe(snap(), self.loop).result(5)

    def cr(self, name: str) -> dict[str, Any] | None:
        return self.objects("labelingprojects").get(name)

    def request_count(self) -> int:
        return len(self.emu._requests)

    def writes_since(self, count: int) -> list[Any]:
        return self.emu.writes(count)

    def patch(self, url: str, body: Any) -> Any:
        return self.client.request(
            "PATCH", url, body=body, content_type="application/merge-patch+json"
        )

    def wait(self, what: str, check: Callable[[], Any], timeout: float = 15) -> Any:
        """Poll ``check`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)


def _start_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulator", daemon=True)
    thread.start()
    return loop, thread


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """Run kmock's emulator (with the kopf fixes) and the real operator in its own thread."""
    from labelhive_operator import k8s
    from tests.common.processes import free_port
    from tests.operator.emulator import TEST_USER_AGENT
    from tests.operator.emulator import start_api

    loop, thread = _start_loop()

    emu, server = asyncio.run_coroutine_threadsafe(start_api(), loop).result(10)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "emu", "cluster": {"server": f"http://127.0.0.1:{server.port}"}}
                ],
                "users": [{"name": "emu", "user": {"token": "test"}}],
                "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "emu"}}],
                "current-context": "emu",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("WATCH_NAMESPACE", NAMESPACE)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    # the app is never reachable here: fail fast instead of waiting on DNS
    monkeypatch.setenv("LABELHIVE_OPERATOR_APP_URL", "http://127.0.0.1:9")
    # the operator's own /metrics, on the loopback and a port of this test's own
    metrics_port = free_port()
    monkeypatch.setenv("LABELHIVE_OPERATOR_METRICS_PORT", str(metrics_port))
    monkeypatch.setenv("LABELHIVE_OPERATOR_METRICS_ADDRESS", "127.0.0.1")
    client = k8s.Client(k8s.new_api_client())
    client.api.user_agent = TEST_USER_AGENT
    args = ["run", "--standalone", "--namespace", NAMESPACE, "-m", "labelhive_operator.main"]
    cl = Cluster(emu, loop, client, args)
    cl.metrics_port = metrics_port
    try:
        cl.start_operator()
        yield cl
        cl.stop_operator()
    finally:

        async def stop() -> None:
            await server.__aexit__(None, None, None)
            await emu.__aexit__(None, None, None)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
