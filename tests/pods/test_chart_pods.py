"""The chart's own workloads run as Pods: the operator Deployment and the pre-delete hook Job.

The chart is rendered by Helm's engine (as tests/chart renders it) with the operator image built
here, and its objects are applied to the test kubelet as ``helm install`` would; the hook's
objects are applied later, as ``helm uninstall`` does before it deletes anything. The Kubernetes
API the Pods talk to is the operator tests' emulator served over TLS on the Pod network's
gateway (tests/pods/apiserver.py): the kubelet tells every container where it is
(``KUBERNETES_SERVICE_HOST``/``PORT``) and mounts the ServiceAccount token and CA, the operator
logs in with them as in a cluster, and each request is authorized by the chart's own rendered
RBAC (a missing verb is a 403 here, as on a cluster).

What this does not cover (tests/e2e on kind does): a real API server (admission, CRD validation
and defaulting, controllers: no Deployment or Job status, no garbage collection of the
children), the real kubelet and runtime, scheduling, CNI, Helm's own install/uninstall
ordering (the test plays it), signed and expiring tokens.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from labelhive_operator.settings import FINALIZER
from tests.chart.conftest import load
from tests.chart.conftest import render
from tests.operator.conftest import EXAMPLES
from tests.pods.apiserver import ApiServer
from tests.pods.kubelet import ApiEndpoint
from tests.pods.kubelet import Kubelet

# the first test may wait for scripts/build-images (minutes when the app changed)
pytestmark = pytest.mark.timeout(1800)

NS = "labelhive"  # the chart's test release namespace (tests/chart/conftest.py)
OPERATOR = "lh-operator"  # the operator's full name in release "lh"
HOOK = "helm.sh/hook"
GROUP = "/apis/labelhive.io/v1alpha1"


@dataclass
class Release:
    kubelet: Kubelet
    api: ApiServer
    hooks: list[dict[str, Any]]
    objects: list[dict[str, Any]]


def chart_objects(image: str) -> list[dict[str, Any]]:
    """The chart rendered with its defaults and this machine's operator image."""
    repository, tag = image.rsplit(":", 1)
    values = {"labelhive-operator": {"image": {"repository": repository, "tag": tag}}}
    return [r.obj for r in render(load(), values)]


def is_hook(obj: dict[str, Any]) -> bool:
    return HOOK in (obj["metadata"].get("annotations") or {})


@pytest.fixture(scope="module")
def release(docker_engine: Any, pod_images: Any) -> Iterator[Release]:
    objs = chart_objects(pod_images.operator)
    with Kubelet(docker_engine.client, NS, pause_image=pod_images.base, max_grace=10) as k:
        with ApiServer(k.gateway, k.identity, k.objects, NS) as api:
            k.connect(ApiEndpoint(api.host, api.port, api.tls.ca_pem))
            try:
                k.apply([o for o in objs if not is_hook(o)])
                yield Release(k, api, [o for o in objs if is_hook(o)], objs)
            finally:
                print("\n" + k.table())
                for pod in k.pods(include_deleted=True):
                    for c in pod.containers:
                        if c.restarts:
                            previous = k.logs(pod.name, c.name, previous=True)[-3000:]
                            print(f"--- {pod.name}/{c.name} (previous)\n{previous}")
                        print(f"--- {pod.name}/{c.name}\n{k.logs(pod.name, c.name)[-3000:]}")
                print("denied:", api.denied)
                k.close()  # the Pods (and their watches) go before the API server


def operator_pod(k: Kubelet) -> Any:
    (pod,) = k.pods(f"Deployment/{OPERATOR}")
    return pod


def test_the_operator_pod_passes_its_liveness_probe_and_is_ready(release: Release) -> None:
    """The operator's Deployment as rendered: Ready, its liveness probe (kopf's /healthz on the
    Pod IP, after the rendered 10 s delay) passing, no restart; it reached the API server as its
    own ServiceAccount with the token the kubelet mounted, and nothing it asked was denied."""
    k, api = release.kubelet, release.api
    (pod,) = k.wait_ready(f"Deployment/{OPERATOR}", timeout=90)
    k.wait_for(
        lambda: operator_pod(k).container("operator").probes.get("liveness", [0, 0])[0] >= 1,
        timeout=60,
        what="a passing liveness probe",
    )
    pod = operator_pod(k)
    status = pod.container("operator")
    assert status.probes["liveness"][1] == 0, k.table()
    assert pod.ready and pod.restarts == 0, k.table()
    account = f"system:serviceaccount:{NS}:{OPERATOR}"
    k.wait_for(lambda: account in api.users(), timeout=30, what="the operator's first request")
    assert api.denied == []
    # the credentials are read-only and hold this namespace and the API server's CA
    code, out = k.exec(
        pod.name,
        "operator",
        [
            "sh",
            "-c",
            "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; "
            # stderr into stdout: the two streams of an exec arrive in no set order
            "touch /var/run/secrets/kubernetes.io/serviceaccount/x 2>&1",
        ],
    )
    assert code != 0 and out.startswith(NS) and "Read-only file system" in out, out


def test_the_operator_pod_reconciles_a_project_in_the_api(release: Release) -> None:
    """A LabelingProject created through the API (as ``kubectl apply`` of
    operator/examples/minimal.yaml): the operator Pod puts its finalizer on it, applies its
    children and writes its status, all through the chart's RBAC."""
    k, api = release.kubelet, release.api
    k.wait_ready(f"Deployment/{OPERATOR}", timeout=90)
    client = api.client()
    body = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
    name = body["metadata"]["name"]
    client.request(
        "POST",
        f"{GROUP}/namespaces/{NS}/labelingprojects",
        body={**body, "metadata": {**body["metadata"], "namespace": NS}},
    )
    project = k.wait_for(
        lambda: (
            (api.objects("labelingprojects", NS).get(name) or {})
            .get("status", {})
            .get("conditions")
            and api.objects("labelingprojects", NS)[name]
        ),
        timeout=60,
        what="the project's status",
    )
    assert FINALIZER in project["metadata"].get("finalizers", []), project["metadata"]
    children = {
        plural: sorted(api.objects(plural, NS))
        for plural in ("configmaps", "services", "statefulsets", "jobs", "serviceaccounts")
    }
    print(children)
    assert f"{name}-redis" in children["statefulsets"], children
    assert any(j.startswith(f"{name}-migrate") for j in children["jobs"]), children
    assert api.denied == []
    # the operator's own metrics, on the Pod IP and the port the chart declares (as Prometheus
    # reaches them through the metrics Service): the reconcile just seen is counted
    (service,) = [o for o in release.objects if o["kind"] == "Service"]
    (port,) = service["spec"]["ports"]
    container = next(
        c
        for o in release.objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    )
    (target,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
    url = f"http://{operator_pod(k).ip}:{target['containerPort']}/metrics"

    def scraped() -> str:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the test Pod
            return str(answer.read().decode())

    # counted right after the status write the test saw
    ok = re.compile(r'^labelhive_operator_reconciles_total\{outcome="ok"\} [1-9]', re.M)
    k.wait_for(lambda: ok.search(scraped()), timeout=30, what="a reconcile counted on /metrics")


def test_the_pre_delete_hook_job_deletes_every_project(release: Release) -> None:
    """``helm uninstall``: the hook's ServiceAccount, RBAC and Job (applied in weight order) run
    while the operator runs; the Job, as its own ServiceAccount, deletes every project and waits
    until the operator's finalizer let them go; then it exits 0."""
    k, api = release.kubelet, release.api
    k.wait_for(lambda: api.objects("labelingprojects", NS), timeout=60, what="a project to delete")
    hooks = sorted(
        release.hooks,
        key=lambda o: int(o["metadata"]["annotations"].get("helm.sh/hook-weight", "0")),
    )
    k.apply(hooks)
    (job,) = [o for o in hooks if o["kind"] == "Job"]
    started = time.monotonic()
    assert k.wait_job(job["metadata"]["name"], timeout=120) == "Succeeded", k.table()
    print(f"hook Job: {time.monotonic() - started:.1f} s")
    assert api.objects("labelingprojects", NS) == {}
    account = f"system:serviceaccount:{NS}:{job['spec']['template']['spec']['serviceAccountName']}"
    assert account in api.users()
    assert api.denied == []
