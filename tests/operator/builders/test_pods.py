"""What the kubelet does with the rendered Pods: probes to the Pod IP, Services to ports.

The kubelet sends ``httpGet``/``tcpSocket`` probes to the **Pod IP**, so a server bound to
127.0.0.1 never answers them; and on Kubernetes 1.29-1.31 a port named only on a native sidecar
(an init container with ``restartPolicy: Always``) does not reach the EndpointSlices, so a
Service's ``targetPort`` must be a number or the name of a regular container's port.
"""

from __future__ import annotations

from typing import Any

import pytest

from labelhive_operator.render import render_project
from tests.operator.conftest import load_example

EXAMPLES = ["minimal", "full"]
LOOPBACK = ("127.", "localhost", "::1", "[::1]")


def _objects(example: str) -> list[dict[str, Any]]:
    body = load_example(example)
    body["metadata"]["uid"] = "u-1"
    return render_project(body)


def _pods(objs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec) of every object with a pod template."""
    return [(o, o["spec"]["template"]["spec"]) for o in objs if "template" in o.get("spec", {})]


def _arg(args: list[str], flag: str, default: str) -> str:
    return args[args.index(flag) + 1] if flag in args else default


def listens_on(container: dict[str, Any]) -> set[tuple[str, int]]:
    """The (host, port) pairs the container's command binds, read from its command line/env.

    Only the commands the operator runs are known; an unknown one fails the test rather than
    passing it unchecked.
    """
    command = [*container.get("command", []), *container.get("args", [])]
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    if command[:2] == ["labelhive", "serve"]:
        # labelhive serve's own defaults (app/labelhive/cli.py)
        return {(_arg(command, "--host", "127.0.0.1"), int(_arg(command, "--port", "5000")))}
    if container["name"] == "haproxy":
        # haproxy.cfg binds "${HAPROXY_LISTEN-:8080}"; an empty host is every address
        host, _, port = env.get("HAPROXY_LISTEN", ":8080").rpartition(":")
        return {(host or "0.0.0.0", int(port))}
    raise AssertionError(f"unknown command with a network probe: {container['name']} {command}")


def _probe_port(container: dict[str, Any], probe: dict[str, Any]) -> int | None:
    handler = probe.get("httpGet") or probe.get("tcpSocket")
    if handler is None:
        return None  # exec probes run inside the container
    assert "host" not in handler, "a probe host other than the Pod IP hides what the kubelet sees"
    port = handler["port"]
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert port in named, f"{container['name']}: probe port {port!r} is not one of its ports"
    return named[port]


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_network_probe_reaches_a_server_on_the_pod_ip(example: str) -> None:
    probed = 0
    for workload, pod in _pods(_objects(example)):
        for container in pod.get("initContainers", []) + pod["containers"]:
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = container.get(kind)
                port = _probe_port(container, probe) if probe else None
                if port is None:
                    continue
                probed += 1
                public = {p for h, p in listens_on(container) if not h.startswith(LOOPBACK)}
                assert port in public, (
                    f"{workload['metadata']['name']}/{container['name']} {kind}: port {port} "
                    f"is not served on the Pod IP (listens on {listens_on(container)})"
                )
    assert probed >= 3  # gunicorn's liveness and readiness, HAProxy's readiness


def test_the_probe_check_sees_a_loopback_server() -> None:
    container = {"name": "web", "command": ["labelhive"], "args": ["serve", "--port", "5000"]}
    assert listens_on(container) == {("127.0.0.1", 5000)}


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_service_targets_a_port_of_a_regular_container(example: str) -> None:
    objs = _objects(example)
    pods = _pods(objs)
    services = [o for o in objs if o["kind"] == "Service"]
    assert len(services) >= 3
    for svc in services:
        selector = svc["spec"]["selector"]
        selected = [
            pod
            for workload, pod in pods
            if selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert selected, f"Service {svc['metadata']['name']} selects no Pod"
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for pod in selected:
                regular = {
                    p["name"]: p["containerPort"]
                    for c in pod["containers"]
                    for p in c.get("ports", [])
                }
                everywhere = {
                    p["containerPort"]
                    for c in pod.get("initContainers", []) + pod["containers"]
                    for p in c.get("ports", [])
                }
                if isinstance(target, int):
                    assert target in everywhere, (svc["metadata"]["name"], target)
                else:
                    assert target in regular, (
                        f"Service {svc['metadata']['name']}: targetPort {target!r} is not a "
                        "port of a regular container (a sidecar's named port does not reach "
                        "the EndpointSlices on Kubernetes 1.29-1.31)"
                    )


def _web_env(body: dict[str, Any]) -> dict[str, str]:
    body["metadata"]["uid"] = "u-1"
    objs = render_project(body)
    name = body["metadata"]["name"]
    (web,) = [
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == f"{name}-web"
    ]
    (gunicorn,) = web["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in gunicorn["env"] if "value" in e}


def test_a_tls_ingress_makes_cookies_secure_and_sends_hsts() -> None:
    body = load_example("full")
    assert body["spec"]["ingress"]["tlsSecretName"]
    env = _web_env(body)
    assert env["SESSION_COOKIE_SECURE"] == "1"
    assert int(env["LABELHIVE_HSTS_SECONDS"]) >= 86400 * 180


@pytest.mark.parametrize("ingress", [None, {"host": "labels.example.com"}])
def test_plain_http_sets_neither(ingress: dict[str, Any] | None) -> None:
    body = load_example("full")
    if ingress is None:
        body["spec"].pop("ingress")
    else:
        body["spec"]["ingress"] = ingress
    env = _web_env(body)
    assert "SESSION_COOKIE_SECURE" not in env and "LABELHIVE_HSTS_SECONDS" not in env


def test_the_web_pod_says_where_to_scrape_it() -> None:
    (web,) = [
        o
        for o in _objects("minimal")
        if o["metadata"]["name"] == "demo-web" and o["kind"] == "Deployment"
    ]
    annotations = web["spec"]["template"]["metadata"]["annotations"]
    (gunicorn,) = web["spec"]["template"]["spec"]["containers"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == gunicorn["ports"][0]["containerPort"]
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("example", EXAMPLES)
def test_other_pods_reach_only_haproxy_on_the_web_pods(example: str) -> None:
    # gunicorn listens on the Pod IP for the kubelet: no policy may open its port to Pods
    objs = _objects(example)
    (web,) = [
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-web")
    ]
    web_labels = web["spec"]["template"]["metadata"]["labels"]
    (sidecar,) = web["spec"]["template"]["spec"]["initContainers"]
    haproxy_port = sidecar["ports"][0]["containerPort"]
    admitting = []
    for policy in (o for o in objs if o["kind"] == "NetworkPolicy"):
        sel = policy["spec"]["podSelector"]
        if not sel["matchLabels"].items() <= web_labels.items():
            continue
        if any(
            web_labels.get(e["key"]) not in e["values"] for e in sel.get("matchExpressions", [])
        ):
            continue
        for rule in policy["spec"].get("ingress", []):
            admitting.append(policy["metadata"]["name"])
            assert [p["port"] for p in rule.get("ports", [])] == [haproxy_port], policy
    assert admitting  # the web policy exists and was checked


def test_a_deleted_web_pod_serves_until_its_endpoints_are_gone() -> None:
    from labelhive_operator.builders import web

    objs = render_project(load_example("minimal"))
    deployment = next(
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "demo-web"
    )
    pod = deployment["spec"]["template"]["spec"]
    (gunicorn,) = pod["containers"]
    assert gunicorn["lifecycle"]["preStop"]["exec"]["command"] == [
        "sleep",
        str(web.PRE_STOP_SECONDS),
    ]
    # the grace period leaves gunicorn time to finish its requests after the sleep
    assert pod.get("terminationGracePeriodSeconds", 30) >= web.PRE_STOP_SECONDS + 20
