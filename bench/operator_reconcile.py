"""Benchmark: the operator's reconcile latency and the request count of a no-op reconcile.

The real kopf operator runs against kmock's KubernetesEmulator (with the fixes of
``tests/operator/emulator.py``), as in ``tests/operator``. Measured, through the operator's
event handling (wall time until the effect is visible in the emulator):

- ``create_ms``: POST of a ``LabelingProject`` → its migration Job exists;
- ``rollout_ms``: the Job reported complete → the web Deployment exists;
- ``scale_ms``: ``spec.workers.replicas`` patched → the worker Deployment has them;

and, calling :func:`labelhive_operator.reconcile.reconcile` directly on the settled CR, the
median and p95 of a no-op reconcile and its API requests (reads, writes). Prints one summary
line ``operator: key=value ...``. Run with ``.venv/bin/python -m bench.operator_reconcile``.
The module is not named ``operator`` (that would shadow the standard library).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.common import percentile
from bench.common import report
from bench.common import scaled

# the drift/status timer interval is read when the handlers module is imported; the tests use
# 0.3 s, which keeps this 2-core machine busy enough to distort the figures; the rollout after
# the Job completes waits for a timer tick (Job status is not watched)
os.environ.setdefault("LABELHIVE_OPERATOR_TIMER_INTERVAL", "2")

NAMESPACE = "labelhive"
NAME = "bench"
LP = f"/apis/labelhive.io/v1alpha1/namespaces/{NAMESPACE}/labelingprojects"
EXAMPLES = Path(__file__).resolve().parent.parent / "operator" / "examples"


def wait(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.002)


def run(noop_rounds: int) -> str:
    from kopf.testing import KopfRunner

    from labelhive_operator import k8s
    from labelhive_operator import reconcile
    from tests.operator.emulator import start_api

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    emu, server = asyncio.run_coroutine_threadsafe(start_api(), loop).result(10)

    def objects(plural: str) -> dict[str, dict[str, Any]]:
        async def snap() -> dict[str, dict[str, Any]]:
            async with emu._lock:
                return {
                    name: obj.raw
                    for (res, ns, name), obj in emu.objects.items()
                    if res.plural == plural and ns == NAMESPACE and not obj.deleted
                }

        return asyncio.run_coroutine_threadsafe(snap(), loop).result(5)

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "emu", "cluster": {"server": f"http://127.0.0.1:{server.port}"}}
                    ],
                    "users": [{"name": "emu", "user": {"token": "bench"}}],
                    "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "emu"}}],
                    "current-context": "emu",
                }
            )
        )
        os.environ.update(
            KUBECONFIG=str(kubeconfig),
            WATCH_NAMESPACE=NAMESPACE,
            LABELHIVE_OPERATOR_APP_URL="http://127.0.0.1:9",
        )
        os.environ.pop("KUBERNETES_SERVICE_HOST", None)
        client = k8s.Client(k8s.new_api_client())
        args = ["run", "--standalone", "--namespace", NAMESPACE, "-m", "labelhive_operator.main"]
        try:
            with KopfRunner(args, timeout=30) as runner:
                client.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": f"{NAME}-db", "namespace": NAMESPACE},
                        "data": {"uri": "cG9zdGdyZXNxbDovL3U="},
                    }
                )
                body = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
                body["metadata"]["name"] = NAME
                body["spec"]["database"]["secretRef"]["name"] = f"{NAME}-db"
                body["spec"]["ingress"] = {"host": "bench.example.com"}
                body["spec"]["image"] = {"tag": "1.0.0"}
                time.sleep(1)  # let kopf's watch start: the create is then seen as an event
                started = time.perf_counter()
                client.request("POST", LP, body=body)
                (job,) = wait("migration job", lambda: objects("jobs"))
                figures["create_ms"] = (time.perf_counter() - started) * 1000
                started = time.perf_counter()
                client.request(
                    "PATCH",
                    f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{job}/status",
                    body={
                        "status": {
                            "succeeded": 1,
                            "conditions": [{"type": "Complete", "status": "True"}],
                        }
                    },
                    content_type="application/merge-patch+json",
                )
                wait("web deployment", lambda: f"{NAME}-web" in objects("deployments"))
                figures["rollout_ms"] = (time.perf_counter() - started) * 1000
                time.sleep(1)  # the timer settles the status
                started = time.perf_counter()
                client.request(
                    "PATCH",
                    f"{LP}/{NAME}",
                    body={"spec": {"workers": {"replicas": 5}}},
                    content_type="application/merge-patch+json",
                )
                wait(
                    "scaled workers",
                    lambda: (
                        (objects("deployments").get(f"{NAME}-worker", {}).get("spec", {})).get(
                            "replicas"
                        )
                        == 5
                    ),
                )
                figures["scale_ms"] = (time.perf_counter() - started) * 1000
                time.sleep(1)
                cr = objects("labelingprojects")[NAME]
                timings, reads, writes = [], [], []
                for _ in range(noop_rounds):
                    counted = k8s.Client(k8s.new_api_client())
                    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    t0 = time.perf_counter()
                    reconcile.reconcile(cr, counted, now, lambda *e: None)
                    timings.append((time.perf_counter() - t0) * 1000)
                    reads.append(counted.reads)
                    writes.append(counted.writes)
                figures["noop_p50_ms"] = statistics.median(timings)
                figures["noop_p95_ms"] = percentile(timings, 0.95)
                figures["noop_reads"] = max(reads)
                figures["noop_writes"] = max(writes)
            if runner.exception is not None:
                raise RuntimeError(runner.output)
        finally:

            async def stop() -> None:
                await server.__aexit__(None, None, None)
                await emu.__aexit__(None, None, None)

            asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
    return report("operator", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=scaled(50, 5), help="no-op reconciles")
    run(parser.parse_args().rounds)


if __name__ == "__main__":
    main()
