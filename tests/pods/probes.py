"""Probes as the kubelet sends them, and their thresholds.

httpGet goes to the **Pod IP** (``host`` overrides it) with ``User-Agent: kube-probe/1.29`` and
``Accept: */*``; 200–399 is success; HTTPS is not verified (the kubelet does not verify either);
redirects are not followed (a 3xx already counts as success). tcpSocket connects. exec runs the
command inside the container (``docker exec``) and succeeds on exit status 0. gRPC probes are
reported as unsupported.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.pods.podspec import named_port


@dataclass
class Outcome:
    ok: bool
    message: str = ""


def http_get(probe: dict[str, Any], container: dict[str, Any], pod_ip: str) -> Outcome:
    spec = probe["httpGet"]
    try:
        port = named_port(container, spec["port"])
    except ValueError as exc:
        return Outcome(False, str(exc))
    host = spec.get("host") or pod_ip
    timeout = float(probe.get("timeoutSeconds", 1))
    if spec.get("scheme", "HTTP").upper() == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": "kube-probe/1.29", "Accept": "*/*"}
    for header in spec.get("httpHeaders") or []:
        headers[header["name"]] = header["value"]
    try:
        conn.request("GET", spec.get("path", "/"), headers=headers)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(False, f"Get http://{host}:{port}{spec.get('path', '/')}: {exc}")
    finally:
        conn.close()
    if 200 <= status < 400:
        return Outcome(True)
    return Outcome(False, f"HTTP probe failed with statuscode: {status}")


def tcp_socket(probe: dict[str, Any], container: dict[str, Any], pod_ip: str) -> Outcome:
    spec = probe["tcpSocket"]
    try:
        port = named_port(container, spec["port"])
    except ValueError as exc:
        return Outcome(False, str(exc))
    host = spec.get("host") or pod_ip
    try:
        with socket.create_connection((host, port), timeout=float(probe.get("timeoutSeconds", 1))):
            return Outcome(True)
    except OSError as exc:
        return Outcome(False, f"dial tcp {host}:{port}: {exc}")


def exec_probe(probe: dict[str, Any], run: Callable[[list[str]], tuple[int, bytes]]) -> Outcome:
    """``run`` executes in the container; a command outliving timeoutSeconds is a failure."""
    result: list[tuple[int, bytes]] = []
    worker = threading.Thread(
        target=lambda: result.append(run(probe["exec"]["command"])), daemon=True
    )
    worker.start()
    worker.join(float(probe.get("timeoutSeconds", 1)))
    if not result:
        return Outcome(False, "command timed out")
    code, output = result[0]
    if code == 0:
        return Outcome(True)
    return Outcome(False, f"exit status {code}: {output.decode(errors='replace').strip()[:200]}")


class ProbeState:
    """One probe of one container: when it is due and what the thresholds made of its results."""

    def __init__(self, kind: str, probe: dict[str, Any], started_at: float) -> None:
        self.kind = kind  # "startup", "liveness" or "readiness"
        self.probe = probe
        self.period = float(probe.get("periodSeconds", 10))
        self.success_threshold = int(probe.get("successThreshold", 1))
        self.failure_threshold = int(probe.get("failureThreshold", 3))
        self.next_at = started_at + float(probe.get("initialDelaySeconds", 0))
        self.successes = 0
        self.failures = 0
        # readiness starts failed, liveness and startup start "unknown" (not acted on)
        self.passing: bool | None = None
        self.last_message = ""

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, outcome: Outcome, now: float) -> bool | None:
        """Count one result; returns the new verdict when it flips (True passing, False failing)."""
        self.next_at = now + self.period
        self.last_message = outcome.message
        if outcome.ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.passing is not True and self.successes >= self.success_threshold:
                self.passing = True
                return True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.passing is not False and self.failures >= self.failure_threshold:
                self.passing = False
                return False
        return None


def run_probe(
    probe: dict[str, Any],
    container: dict[str, Any],
    pod_ip: str,
    run: Callable[[list[str]], tuple[int, bytes]],
) -> Outcome:
    if "httpGet" in probe:
        return http_get(probe, container, pod_ip)
    if "tcpSocket" in probe:
        return tcp_socket(probe, container, pod_ip)
    if "exec" in probe:
        return exec_probe(probe, run)
    return Outcome(False, f"probe handler {sorted(probe)} is not supported by the test kubelet")


def now() -> float:
    return time.monotonic()
