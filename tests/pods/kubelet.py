"""A stand-in for the kubelet (and the few controllers around it) over the Docker API.

``Kubelet(client).apply(manifests)`` runs rendered Deployments, StatefulSets and Jobs as Pods on
a Docker Engine, following the kubelet's rules, so that the operator's and the chart's output is
checked as running processes and not only as API objects.

What it does as Kubernetes does:

- one network namespace per Pod: a holder container (``pause_image``, ``sleep infinity``) whose
  netns, hostname (= Pod name) and /etc/hosts every container of the Pod joins;
- ``command``/``args`` replace ENTRYPOINT/CMD with ``$(VAR)`` expansion; ``env`` (``value``,
  ``secretKeyRef``, ``configMapKeyRef``, ``fieldRef``), ``envFrom``; a missing non-optional
  Secret/ConfigMap/key is a CreateContainerConfigError (event, the container is never created;
  retried every second as the kubelet does);
- securityContext merged Pod → container: runAsUser/runAsGroup, fsGroup and supplementalGroups
  (supplementary groups, group ownership of volumes), readOnlyRootFilesystem, capabilities,
  allowPrivilegeEscalation=false (no-new-privileges), runAsNonRoot (uid 0 or a non-numeric image
  USER → CreateContainerConfigError), privileged;
- volumes: ConfigMap/Secret written once to a per-Pod host directory (items, defaultMode, mode,
  subPath) and bind-mounted read-only; **every emptyDir is a tmpfs** (Docker ``local`` volume of
  type tmpfs, ``size=sizeLimit``, mode 0777, or 2777 with group fsGroup) kept mounted by the
  holder so that the Pod's containers share it; PVCs of volumeClaimTemplates are host
  directories per ``<claim>-<sts>-<N>``, kept across restarts of the ordinal (size not enforced);
- init containers in order to completion; native sidecars (init containers with
  ``restartPolicy: Always``) started in order, the next init container waiting until the sidecar
  is started (startupProbe passed, if it has one); then the app containers;
- probes from the Pod's thread on the host, as the kubelet sends them (see
  :mod:`tests.pods.probes`): httpGet to the **Pod IP**, named ports resolved in the probing
  container's own ``ports`` only; thresholds, delays and periods as given (not scaled);
- restartPolicy Always/OnFailure/Never, restarts counted, exponential back-off
  (``backoff=(base, cap)``: 0.5 s doubling to 8 s here; the kubelet uses 10 s doubling to 5 min);
- Deployments (replicas, pod-template-hash, rolling update honouring maxSurge/maxUnavailable,
  Recreate), StatefulSets (``<sts>-N``, OrderedReady or Parallel, highest ordinal removed first,
  rolling update from the highest ordinal), Jobs (parallelism, completions, backoffLimit; a Pod
  restart under OnFailure counts as a failure);
- Services: names ``svc``, ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local`` (and for a
  headless Service's StatefulSet Pods ``pod-N.svc`` ...) resolve through every Pod's /etc/hosts to
  the **ready** endpoint addresses (``publishNotReadyAddresses`` honoured), rewritten whenever
  readiness changes; a named ``targetPort`` is resolved in the Pod's **regular** containers only
  (EndpointSlices before Kubernetes 1.32 ignore ports declared on native sidecars): an event
  ``NamedPortOnSidecar`` / ``NamedPortNotFound`` and no endpoint;
- the API server's address and credentials, when the kubelet is given one (``api=``): every
  container gets ``KUBERNETES_SERVICE_HOST``/``_PORT`` (and the other ``kubernetes`` Service
  variables, also with ``enableServiceLinks: false``) and resolves ``kubernetes.default.svc``
  (and its other names) to it, as cluster DNS does (no virtual IP: serve it on 443); a Pod
  whose ``automountServiceAccountToken`` (Pod field, else its ServiceAccount's) is not false
  gets what the ServiceAccount admission plugin adds: a projected ``kube-api-access-*`` volume
  (a token of its ServiceAccount, ``ca.crt`` from the ``kube-root-ca.crt`` ConfigMap,
  ``namespace``) mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every
  container; a Pod naming a
  ServiceAccount that was never applied is not created (``FailedCreate`` on its workload);
  :meth:`Kubelet.identity` tells the API server whose token a request carries;
- termination: the Pod leaves its Services' endpoints at once; the ``preStop`` handler (``exec``
  or ``sleep``), then SIGTERM (the image's STOPSIGNAL), SIGKILL once terminationGracePeriodSeconds
  (capped at ``max_grace``) is over; app containers first, then sidecars in reverse order.

What a real cluster does that this does not:

- no API server: no admission, validation, defaulting, Pod Security Admission, RBAC,
  ResourceQuota/LimitRange, ownerReference garbage collection, finalizers, status subresources;
  ServiceAccount, NetworkPolicy, PodDisruptionBudget, HorizontalPodAutoscaler, Ingress, Role,
  RoleBinding and any other kind are **accepted and recorded, not enforced** (:meth:`Kubelet.
  objects`; a test's API server may enforce them, see tests/pods/apiserver.py); tokens are
  random strings, not signed JWTs, never expire nor rotate, and carry no audience;
- no scheduler and one "node": affinity, topologySpreadConstraints, tolerations, nodeSelector,
  priority and resource *requests* are ignored; a deleted Pod is replaced on the same engine;
- no cgroup QoS beyond the memory limit (``mem_limit``) and the CPU limit (``nano_cpus``); no
  eviction, no ephemeral-storage accounting; PVC sizes are not enforced;
- no CNI and no NetworkPolicy: every Pod reaches every Pod on the test network;
- no kube-proxy: a ClusterIP Service has no virtual IP; its name resolves to the ready Pods'
  addresses themselves (the client takes the first; no per-connection balancing), and a Service
  whose ``port`` differs from the resolved ``targetPort`` cannot be honoured: it is recorded as a
  ``ServicePortMismatch`` event instead of being mapped; names missing from /etc/hosts fail
  at once (the Pod's resolv.conf names 127.0.0.1, where nothing answers; it keeps the kubelet's
  search path and ndots:5): no cluster DNS server, no SRV or PTR records, no external names;
- no image pulls: images must already be on the engine (``imagePullPolicy`` ignored);
- ConfigMap/Secret volumes are written once (no ``..data`` symlink swap, no live update);
  postStart and httpGet preStop hooks, gRPC probes, ephemeral containers, downwardAPI and
  hostPath volumes (projected volumes: serviceAccountToken, configMap, secret and downwardAPI
  fieldRef sources only), seccomp/AppArmor/SELinux profiles beyond ``Unconfined``,
  sysctls and ``shareProcessNamespace`` are not implemented (an unsupported volume is a
  ``FailedMount`` event; the Pod stays Pending).
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types

from tests.pods.pod import PodInfo
from tests.pods.pod import PodRuntime
from tests.pods.podspec import CLUSTER_DOMAIN
from tests.pods.podspec import ROOT_CA_CONFIGMAP
from tests.pods.podspec import ConfigError
from tests.pods.podspec import admit_service_account
from tests.pods.podspec import api_server_env
from tests.pods.podspec import automounts_token
from tests.pods.podspec import int_or_percent
from tests.pods.podspec import is_sidecar
from tests.pods.podspec import matches
from tests.pods.podspec import render_hosts
from tests.pods.podspec import service_names
from tests.pods.podspec import template_hash

WORKLOADS = ("Deployment", "StatefulSet", "Job")
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Event:
    """What ``kubectl get events`` would list: ``obj`` is ``Kind/name``."""

    at: float
    obj: str
    reason: str
    message: str
    warning: bool


@dataclass(frozen=True)
class ApiEndpoint:
    """Where the Pods reach the Kubernetes API: an address on the Pod network, over TLS."""

    host: str
    port: int
    #: the PEM of the CA that signed the API server's certificate (the Pods' ``ca.crt``)
    ca_pem: bytes


@dataclass(frozen=True)
class Endpoint:
    pod: str
    ip: str
    port: int
    ready: bool


def _free_subnet(client: docker.DockerClient) -> str:
    """A /24 in 10.213.0.0/16 that neither a host route nor a Docker network uses."""
    taken = []
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True)
    for line in routes.stdout.splitlines():
        first = line.split()[0]
        if first != "default":
            taken.append(ipaddress.ip_network(first, strict=False))
    for network in client.networks.list():
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
            if config.get("Subnet") and ":" not in config["Subnet"]:
                taken.append(ipaddress.ip_network(config["Subnet"]))
    candidates = list(ipaddress.ip_network("10.213.0.0/16").subnets(new_prefix=24))
    random.shuffle(candidates)
    for candidate in candidates:
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    raise RuntimeError("no free /24 in 10.213.0.0/16")


class Kubelet:
    """Runs manifests as Pods on a Docker Engine. Use as a context manager or call :meth:`close`.

    :param client: the Docker Engine to run on.
    :param namespace: the one namespace every manifest is applied to (``metadata.namespace`` is
        ignored, as ``kubectl apply -n`` would override it).
    :param pause_image: the holder image; it needs ``sleep``.
    :param max_grace: cap on terminationGracePeriodSeconds, in seconds.
    :param backoff: restart back-off ``(first delay, cap)`` in seconds.
    :param api: the API server the Pods are told about (None: no address, no token); set it
        later with :meth:`connect` when its address depends on the Pod network (:attr:`gateway`).
    """

    def __init__(
        self,
        client: docker.DockerClient,
        namespace: str = "default",
        *,
        pause_image: str = "labelhive/python-base:3.11-bookworm",
        max_grace: float = 3.0,
        backoff: tuple[float, float] = (0.5, 8.0),
        api: ApiEndpoint | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.pause_image = pause_image
        self.max_grace = max_grace
        self.backoff = backoff
        self.session = secrets.token_hex(3)
        self.network = f"lhk-{self.session}"
        self._dir = Path(tempfile.mkdtemp(prefix=f"lhk-{self.session}-"))
        self._dir.chmod(0o755)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._objects: dict[tuple[str, str], dict] = {}
        self._pods: dict[str, PodRuntime] = {}
        self._gone: dict[str, PodInfo] = {}  # deleted Pods, last snapshot
        self._events: list[Event] = []
        self._seen_events: set[tuple[str, str, str]] = set()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._endpoints: dict[str, dict[str, list[Endpoint]]] = {}
        self._records: dict[str, list[str]] = {}
        self._image_users: dict[str, str] = {}
        self._states: dict[str, str] = {}
        self._states_at = 0.0
        self.api: ApiEndpoint | None = None
        self._tokens: dict[str, str] = {}  # ServiceAccount name -> token
        self._create_network()
        if api is not None:
            self.connect(api)
        self._thread = threading.Thread(target=self._control_loop, name="kubelet", daemon=True)
        self._thread.start()

    def _create_network(self) -> None:
        for _ in range(5):
            subnet = _free_subnet(self.client)
            try:
                pool = docker.types.IPAMPool(subnet=subnet)
                self.client.networks.create(
                    self.network,
                    driver="bridge",
                    ipam=docker.types.IPAMConfig(pool_configs=[pool]),
                    labels={"io.labelhive.test-kubelet": self.session},
                )
                self.subnet = subnet
                return
            except docker.errors.APIError as exc:
                if "overlap" not in str(exc):
                    raise
        raise RuntimeError("could not create the Pod network")

    @property
    def gateway(self) -> str:
        """The host's address on the Pod network (where host services are reached from Pods)."""
        return str(next(ipaddress.ip_network(self.subnet).hosts()))

    def connect(self, api: ApiEndpoint) -> None:
        """Tell Pods created from now on about the API server (and publish its CA as the
        ``kube-root-ca.crt`` ConfigMap, as the root-CA publisher does in every namespace)."""
        with self._lock:
            self.api = api
            self._objects[("ConfigMap", ROOT_CA_CONFIGMAP)] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": self.namespace},
                "data": {"ca.crt": api.ca_pem.decode()},
            }

    def token_for(self, service_account: str) -> str:
        """The token the kubelet mounts for a ServiceAccount (one per account, stable)."""
        with self._lock:
            if service_account not in self._tokens:
                self._tokens[service_account] = secrets.token_urlsafe(32)
            return self._tokens[service_account]

    def identity(self, token: str) -> str | None:
        """``system:serviceaccount:<ns>:<name>`` of a token this kubelet issued, else None."""
        with self._lock:
            for account, issued in self._tokens.items():
                if secrets.compare_digest(issued, token):
                    return f"system:serviceaccount:{self.namespace}:{account}"
        return None

    def service_env(self) -> dict[str, str]:
        """The variables every container gets from the kubelet (the API server's Service)."""
        if self.api is None:
            return {}
        return api_server_env(self.api.host, self.api.port)

    def __enter__(self) -> Kubelet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API the tests use -------------------------------------------------------------

    def apply(self, manifests: Iterable[dict[str, Any]]) -> None:
        """Create or update objects (``kubectl apply``); workloads reconcile in the background."""
        for manifest in manifests:
            if not manifest:
                continue
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            with self._lock:
                self._objects[(kind, name)] = manifest
            if kind == "Service":
                self._check_service_ports(manifest)
            if kind == "Job":
                self._jobs.setdefault(name, {"status": "Active", "failed": 0, "retry_at": 0.0})
        self._wake.set()

    def delete(self, kind: str, name: str) -> None:
        """Delete an object; a workload's Pods are deleted with it (foreground cascading)."""
        with self._lock:
            self._objects.pop((kind, name), None)
            pods = [p for p in self._pods.values() if p.owner == f"{kind}/{name}"]
        for pod in pods:
            pod.stop()
        self._wake.set()

    def objects(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every applied object (enforced or merely recorded), optionally of one kind."""
        with self._lock:
            return [o for (k, _), o in self._objects.items() if kind in (None, k)]

    def scale(self, workload: str, replicas: int) -> None:
        """``kubectl scale Deployment/web --replicas=N`` (or ``StatefulSet/name``)."""
        kind, name = workload.split("/", 1)
        with self._lock:
            obj = self._objects[(kind, name)]
            obj = {**obj, "spec": {**obj["spec"], "replicas": replicas}}
            self._objects[(kind, name)] = obj
        self._wake.set()

    def pods(self, owner: str | None = None, include_deleted: bool = False) -> list[PodInfo]:
        """The Pod table, sorted by name; ``owner`` is ``Kind/name``."""
        with self._lock:
            infos = [p.info() for p in self._pods.values()]
            if include_deleted:
                infos += list(self._gone.values())
        return sorted((i for i in infos if owner in (None, i.owner)), key=lambda i: i.name)

    def pod(self, name: str) -> PodInfo:
        with self._lock:
            if name in self._pods:
                return self._pods[name].info()
        raise KeyError(f"no Pod {name!r}")

    def table(self) -> str:
        """The Pod table as text: Pod, owner, phase, ready, IP, seconds to Ready, restarts,
        containers (``name:kind:state[:reason]``, then each probe's ``kind=passed/failed``)."""
        rows = ["POD\tOWNER\tPHASE\tREADY\tIP\tREADY_S\tRESTARTS\tCONTAINERS"]
        for info in self.pods():
            seconds = "-" if info.ready_seconds is None else f"{info.ready_seconds:.1f}"
            containers = " ".join(
                f"{c.name}:{c.kind}:{c.state}{':' + c.reason if c.reason else ''}"
                f"{'(ready)' if c.ready else ''}"
                + "".join(f"[{k}={ok}/{bad}]" for k, (ok, bad) in sorted(c.probes.items()))
                for c in info.containers
            )
            rows.append(
                f"{info.name}\t{info.owner}\t{info.phase}\t{info.ready}\t{info.ip}\t"
                f"{seconds}\t{info.restarts}\t{containers}"
            )
        return "\n".join(rows)

    def events(self, reason: str | None = None, obj: str | None = None) -> list[Event]:
        with self._lock:
            return [
                e
                for e in self._events
                if reason in (None, e.reason) and (obj is None or e.obj == obj)
            ]

    def errors(self) -> list[Event]:
        """Warning events except the ordinary probe/back-off noise of starting containers."""
        return [e for e in self.events() if e.warning and e.reason not in ("Unhealthy", "BackOff")]

    def logs(self, pod: str, container: str, previous: bool = False) -> str:
        return self._runtime(pod).logs(container, previous=previous)

    def exec(
        self, pod: str, container: str, cmd: list[str] | str, user: str | None = None
    ) -> tuple[int, str]:
        """``kubectl exec``: (exit status, stdout+stderr)."""
        kwargs = {"user": user} if user else {}
        result = self._runtime(pod).docker_container(container).exec_run(cmd, **kwargs)
        return result.exit_code, result.output.decode(errors="replace")

    def pod_ip(self, pod: str) -> str:
        ip = self._runtime(pod).ip
        if ip is None:
            raise KeyError(f"Pod {pod} has no IP yet")
        return ip

    def endpoints(self, service: str) -> dict[str, list[Endpoint]]:
        """The Service's endpoints per port (``name`` or the port number as text)."""
        with self._lock:
            return {k: list(v) for k, v in self._endpoints.get(service, {}).items()}

    def service_url(self, name: str, port: int | str, scheme: str = "http") -> str:
        """``scheme://ip:targetPort`` of a ready endpoint of Service ``name``'s ``port``."""
        for key, endpoints in self.endpoints(name).items():
            if key == str(port) or self._port_number(name, key) == port:
                ready = [e for e in endpoints if e.ready]
                if ready:
                    return f"{scheme}://{ready[0].ip}:{ready[0].port}"
        raise LookupError(f"Service {name} port {port} has no ready endpoint")

    def kill(self, pod: str, container: str | None = None) -> None:
        """SIGKILL: a container (the kubelet restarts it) or the whole Pod (a node losing it;
        its controller replaces it)."""
        runtime = self._runtime(pod)
        if container is not None:
            runtime.docker_container(container).kill()
        else:
            runtime.stop(kill=True)
        self._wake.set()

    def delete_pod(self, pod: str, grace: float | None = None) -> None:
        """``kubectl delete pod``: SIGTERM, SIGKILL after the (capped) grace period."""
        self._runtime(pod).stop(grace=grace)
        self._wake.set()

    def job_status(self, name: str) -> str:
        """``Active``, ``Succeeded`` or ``Failed``."""
        return self._jobs[name]["status"]

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 60, what: str = "condition"
    ) -> Any:
        """Poll ``predicate`` until it is truthy; TimeoutError with the Pod table and errors."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                events = "\n".join(f"{e.obj} {e.reason}: {e.message}" for e in self.events()[-15:])
                raise TimeoutError(f"timed out waiting for {what}\n{self.table()}\n{events}")
            time.sleep(0.2)

    def wait_ready(self, workload: str | None = None, timeout: float = 60) -> list[PodInfo]:
        """Wait until a workload (``Kind/name``; all Deployments and StatefulSets when None)
        has exactly its replicas, all of the current revision and Ready; returns its Pods."""

        def done() -> list[PodInfo] | None:
            targets = (
                [workload]
                if workload
                else [
                    f"{k}/{n}"
                    for (k, n) in list(self._objects)
                    if k in ("Deployment", "StatefulSet")
                ]
            )
            pods: list[PodInfo] = []
            for target in targets:
                ready = self._rolled_out(target)
                if ready is None:
                    return None
                pods += ready
            return pods

        result: list[list[PodInfo]] = []

        def check() -> bool:
            pods = done()
            if pods is not None:
                result.append(pods)
            return pods is not None

        self.wait_for(check, timeout, f"{workload or 'all workloads'} to be ready")
        return result[-1]

    def wait_job(self, name: str, timeout: float = 60) -> str:
        """Wait until Job ``name`` Succeeded or Failed; returns which."""
        self.wait_for(lambda: self.job_status(name) != "Active", timeout, f"Job {name}")
        return self.job_status(name)

    def close(self) -> None:
        """Stop every Pod (graceful), remove the containers, volumes, network and host files."""
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout=30)
        with self._lock:
            pods = list(self._pods.values())
        for pod in pods:
            pod.stop()
        for pod in pods:
            pod.finished.wait(timeout=self.max_grace + 30)
        label = f"io.labelhive.test-kubelet={self.session}"
        for container in self.client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for volume in self.client.volumes.list(filters={"label": label}):
            volume.remove(force=True)
        for network in self.client.networks.list(names=[self.network]):
            network.remove()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- PodContext (called from Pod threads) ----------------------------------------------

    def event(self, obj: str, reason: str, message: str, warning: bool = True) -> None:
        with self._lock:
            self._events.append(Event(time.monotonic(), obj, reason, message, warning))

    def _event_once(self, obj: str, reason: str, message: str) -> None:
        with self._lock:
            if (obj, reason, message) in self._seen_events:
                return
            self._seen_events.add((obj, reason, message))
        self.event(obj, reason, message)

    def pod_changed(self) -> None:
        self._wake.set()

    def image_user(self, image: str) -> str:
        if image not in self._image_users:
            try:
                config = self.client.images.get(image).attrs["Config"]
            except docker.errors.ImageNotFound as exc:
                raise ConfigError(f"image {image!r} is not on the engine (never pulled)") from exc
            self._image_users[image] = config.get("User") or ""
        return self._image_users[image]

    def container_state(self, docker_name: str) -> str:
        """A container's state from one shared ``docker ps -a`` at most every 0.2 s."""
        with self._lock:
            if time.monotonic() - self._states_at > 0.2:
                label = f"io.labelhive.test-kubelet={self.session}"
                listed = self.client.api.containers(all=True, filters={"label": label})
                self._states = {c["Names"][0].lstrip("/"): c["State"] for c in listed}
                self._states_at = time.monotonic()
            return self._states.get(docker_name, "missing")

    def hosts_for(self, pod: PodRuntime) -> str:
        names = [pod.hostname]
        if pod.subdomain:
            ns = self.namespace
            names.insert(0, f"{pod.hostname}.{pod.subdomain}.{ns}.svc.{CLUSTER_DOMAIN}")
        with self._lock:
            records = dict(self._records)
        if self.api is not None:
            # the ``kubernetes`` Service of ``default``, as cluster DNS answers it from any Pod
            names_of_api = service_names("kubernetes", "default")
            if self.namespace != "default":
                names_of_api = names_of_api[1:]
            for alias in names_of_api:
                records[alias] = [self.api.host]
        return render_hosts((pod.ip or "127.0.0.1", names), records)

    def object_map(self) -> dict[tuple[str, str], dict]:
        with self._lock:
            return dict(self._objects)

    # -- internals -------------------------------------------------------------------------

    def _runtime(self, pod: str) -> PodRuntime:
        with self._lock:
            if pod not in self._pods:
                raise KeyError(f"no Pod {pod!r}")
            return self._pods[pod]

    def _port_number(self, service: str, key: str) -> int | None:
        svc = self._objects.get(("Service", service))
        for port in (svc or {}).get("spec", {}).get("ports") or []:
            if port.get("name") == key:
                return int(port["port"])
        return None

    def _check_service_ports(self, svc: dict[str, Any]) -> None:
        for port in svc["spec"].get("ports") or []:
            target = port.get("targetPort", port["port"])
            if isinstance(target, int) and target != port["port"]:
                self._event_once(
                    f"Service/{svc['metadata']['name']}",
                    "ServicePortMismatch",
                    f"port {port['port']} → targetPort {target}: no virtual IP here, clients "
                    f"dialing the Service name on {port['port']} would not reach the Pods",
                )

    def _rolled_out(self, workload: str) -> list[PodInfo] | None:
        kind, name = workload.split("/", 1)
        obj = self._objects.get((kind, name))
        if obj is None:
            return None
        replicas = int(obj["spec"].get("replicas", 1))
        revision = self._revision(obj)
        pods = [p for p in self.pods(workload)]
        if len(pods) != replicas:
            return None
        if any(p.revision != revision or not p.ready or p.terminating for p in pods):
            return None
        return pods

    @staticmethod
    def _revision(obj: dict[str, Any]) -> str:
        return template_hash(obj["spec"]["template"])

    def _control_loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(0.3)
            self._wake.clear()
            if self._closed.is_set():
                return
            try:
                self._reap()
                for (kind, _name), obj in list(self._objects.items()):
                    if kind == "Deployment":
                        self._sync_deployment(obj)
                    elif kind == "StatefulSet":
                        self._sync_statefulset(obj)
                    elif kind == "Job":
                        self._sync_job(obj)
                self._sync_services()
            except Exception as exc:  # noqa: BLE001 - a controller bug must be visible
                self.event("Kubelet", "ControllerError", f"{type(exc).__name__}: {exc}")

    def _reap(self) -> None:
        """Forget Pods whose deletion has finished (their controller then replaces them)."""
        with self._lock:
            for name, pod in list(self._pods.items()):
                if pod.terminating and pod.finished.is_set():
                    self._gone[name] = pod.info()
                    del self._pods[name]

    def _owned(self, owner: str) -> list[PodRuntime]:
        with self._lock:
            return [p for p in self._pods.values() if p.owner == owner]

    def _new_pod(
        self,
        owner: str,
        name: str,
        template: dict[str, Any],
        revision: str,
        extra_labels: dict[str, str],
        subdomain: str | None = None,
        claims: dict[str, Path] | None = None,
        restart_policy: str | None = None,
    ) -> None:
        template = {
            "metadata": {
                **(template.get("metadata") or {}),
                "labels": {**(template.get("metadata") or {}).get("labels", {}), **extra_labels},
            },
            "spec": dict(template["spec"]),
        }
        if restart_policy:
            template["spec"].setdefault("restartPolicy", restart_policy)
        if self.api is not None:
            account = template["spec"].get("serviceAccountName") or "default"
            with self._lock:
                sa = self._objects.get(("ServiceAccount", account))
            if sa is None and account != "default":
                self._event_once(
                    owner,
                    "FailedCreate",
                    f"Error creating: pods of {owner} are forbidden: error looking up service "
                    f'account {self.namespace}/{account}: serviceaccount "{account}" not found',
                )
                return
            if automounts_token(template["spec"], sa):
                template["spec"] = admit_service_account(
                    template["spec"], f"kube-api-access-{self._suffix()}"
                )
        pod = PodRuntime(
            self,
            name=name,
            owner=owner,
            template=template,
            revision=revision,
            pod_dir=self._dir / "pods" / f"{name}-{secrets.token_hex(2)}",
            subdomain=subdomain,
            claims=claims,
        )
        with self._lock:
            self._pods[name] = pod
        self.event(f"Pod/{name}", "Scheduled", f"created by {owner}", warning=False)
        pod.start()

    @staticmethod
    def _suffix(length: int = 5) -> str:
        return "".join(random.choice(_SUFFIX) for _ in range(length))

    def _sync_deployment(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        owner = f"Deployment/{name}"
        spec = obj["spec"]
        replicas = int(spec.get("replicas", 1))
        revision = self._revision(obj)
        live = [p for p in self._owned(owner) if not p.terminating]
        new = [p for p in live if p.revision == revision]
        old = [p for p in live if p.revision != revision]
        strategy = spec.get("strategy") or {}

        def create(count: int) -> None:
            for _ in range(max(0, count)):
                pod_name = f"{name}-{revision}-{self._suffix()}"
                self._new_pod(
                    owner, pod_name, spec["template"], revision, {"pod-template-hash": revision}
                )

        if strategy.get("type") == "Recreate":
            for pod in old:
                pod.stop()
            if not old and not any(p.revision != revision for p in self._owned(owner)):
                create(replicas - len(new))
        else:
            rolling = strategy.get("rollingUpdate") or {}
            surge = int_or_percent(rolling.get("maxSurge"), replicas, "25%", round_up=True)
            unavailable = int_or_percent(
                rolling.get("maxUnavailable"), replicas, "25%", round_up=False
            )
            if surge == 0 and unavailable == 0:
                unavailable = 1
            if len(new) < replicas:
                room = replicas - len(new) if not old else replicas + surge - len(live)
                create(min(replicas - len(new), room))
            if old:
                ready_total = sum(p.ready for p in live)
                removable = ready_total - (replicas - unavailable)
                for pod in sorted(old, key=lambda p: p.ready):
                    if not pod.ready:
                        pod.stop()
                    elif removable > 0:
                        pod.stop()
                        removable -= 1
        live = [p for p in self._owned(owner) if not p.terminating]
        if not old and len(live) > replicas:
            # scale down: not-ready first, then the newest
            for pod in sorted(live, key=lambda p: (p.ready, -p.created))[: len(live) - replicas]:
                pod.stop()

    def _sync_statefulset(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        owner = f"StatefulSet/{name}"
        spec = obj["spec"]
        replicas = int(spec.get("replicas", 1))
        revision = self._revision(obj)
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        pods = {p.name: p for p in self._owned(owner)}
        # scale down from the highest ordinal
        extra = sorted(
            (p for p in pods.values() if int(p.name.rsplit("-", 1)[1]) >= replicas),
            key=lambda p: -int(p.name.rsplit("-", 1)[1]),
        )
        for pod in extra:
            if not pod.terminating:
                pod.stop()
            if ordered:
                return
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            pod = pods.get(pod_name)
            if pod is None:
                claims = {}
                for claim in spec.get("volumeClaimTemplates") or []:
                    claim_name = claim["metadata"]["name"]
                    path = self._dir / "pvc" / f"{claim_name}-{pod_name}"
                    if not path.exists():
                        path.mkdir(parents=True)
                        group = (spec["template"]["spec"].get("securityContext") or {}).get(
                            "fsGroup"
                        )
                        path.chmod(0o777)
                        if group is not None:
                            os.chown(path, 0, group)
                            path.chmod(0o2775)
                    claims[claim_name] = path
                self._new_pod(
                    owner,
                    pod_name,
                    spec["template"],
                    revision,
                    {
                        "statefulset.kubernetes.io/pod-name": pod_name,
                        "controller-revision-hash": f"{name}-{revision}",
                        "apps.kubernetes.io/pod-index": str(ordinal),
                    },
                    subdomain=spec.get("serviceName"),
                    claims=claims,
                )
                if ordered:
                    return
                continue
            if ordered and (pod.terminating or not pod.ready):
                return
        # rolling update: the highest ordinal of an old revision, once all are Ready
        live = [pods.get(f"{name}-{i}") for i in range(replicas)]
        if all(p is not None and p.ready and not p.terminating for p in live):
            stale = [p for p in live if p is not None and p.revision != revision]
            if stale:
                stale[-1].stop()

    def _sync_job(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        owner = f"Job/{name}"
        state = self._jobs[name]
        if state["status"] != "Active":
            return
        spec = obj["spec"]
        completions = int(spec.get("completions", 1))
        parallelism = int(spec.get("parallelism", 1))
        backoff_limit = int(spec.get("backoffLimit", 6))
        pods = self._owned(owner)
        succeeded = sum(p.phase == "Succeeded" for p in pods)
        failed_pods = [p for p in pods if p.phase == "Failed"]
        restarts = sum(p.info().restarts for p in pods)
        failures = len(failed_pods) + restarts
        active = [p for p in pods if p.phase in ("Pending", "Running") and not p.terminating]
        if succeeded >= completions:
            state["status"] = "Succeeded"
            self.event(owner, "Completed", "Job completed", warning=False)
            return
        if failures > backoff_limit:
            state["status"] = "Failed"
            self.event(
                owner,
                "BackoffLimitExceeded",
                f"Job has reached the specified backoff limit ({failures} failures)",
            )
            for pod in active:
                pod.stop()
            return
        if len(failed_pods) > state["failed"]:
            state["failed"] = len(failed_pods)
            base, cap = self.backoff
            state["retry_at"] = time.monotonic() + min(cap, base * 2 ** (len(failed_pods) - 1))
        if time.monotonic() < state["retry_at"]:
            return
        want = min(parallelism, completions - succeeded) - len(active)
        template = spec["template"]
        for _ in range(max(0, want)):
            self._new_pod(
                owner,
                f"{name}-{self._suffix()}",
                template,
                self._revision(obj),
                {"job-name": name, "batch.kubernetes.io/job-name": name},
                restart_policy="Never",
            )

    def _sync_services(self) -> None:
        with self._lock:
            services = [o for (k, _), o in self._objects.items() if k == "Service"]
            pods = [p for p in self._pods.values()]
        endpoints: dict[str, dict[str, list[Endpoint]]] = {}
        records: dict[str, list[str]] = {}
        for svc in services:
            svc_name = svc["metadata"]["name"]
            spec = svc["spec"]
            selector = spec.get("selector") or {}
            headless = spec.get("clusterIP") == "None"
            publish = bool(spec.get("publishNotReadyAddresses"))
            per_port: dict[str, list[Endpoint]] = {}
            addresses: list[str] = []
            for pod in pods:
                if not matches(selector, pod.labels) or pod.terminating or pod.ip is None:
                    continue
                if pod.phase not in ("Pending", "Running"):
                    continue
                eligible = pod.ready or publish
                listed = False
                for port in spec.get("ports") or []:
                    target = self._target_port(svc_name, port, pod)
                    if target is None:
                        continue
                    key = port.get("name") or str(port["port"])
                    per_port.setdefault(key, [])
                    if eligible:
                        per_port[key].append(Endpoint(pod.name, pod.ip, target, pod.ready))
                        listed = True
                if listed:
                    addresses.append(pod.ip)
                    if headless and pod.subdomain == svc_name:
                        for alias in service_names(f"{pod.hostname}.{svc_name}", self.namespace):
                            records.setdefault(alias, []).append(pod.ip)
            endpoints[svc_name] = per_port
            if addresses:
                for alias in service_names(svc_name, self.namespace):
                    records.setdefault(alias, []).extend(sorted(addresses))
        with self._lock:
            self._endpoints = endpoints
            self._records = records
        for pod in pods:
            if pod.ip is not None and not pod.finished.is_set():
                try:
                    pod.write_hosts(self.hosts_for(pod))
                except FileNotFoundError:
                    pass  # the Pod is being torn down

    def _target_port(self, service: str, port: dict[str, Any], pod: PodRuntime) -> int | None:
        target = port.get("targetPort", port["port"])
        if isinstance(target, int) or str(target).isdigit():
            return int(target)
        for container in pod.app_specs:
            for declared in container.get("ports") or []:
                if declared.get("name") == target:
                    number = int(declared["containerPort"])
                    if number != port["port"]:
                        self._event_once(
                            f"Service/{service}",
                            "ServicePortMismatch",
                            f"port {port['port']} → targetPort {target} ({number}) on Pod "
                            f"template of {pod.owner}: no virtual IP here to map it",
                        )
                    return number
        sidecar = next(
            (
                c["name"]
                for c in pod.init_specs
                if is_sidecar(c) and any(d.get("name") == target for d in c.get("ports") or [])
            ),
            None,
        )
        if sidecar:
            self._event_once(
                f"Service/{service}",
                "NamedPortOnSidecar",
                f"targetPort {target!r} is declared only on native sidecar {sidecar!r} of "
                f"{pod.owner}: EndpointSlices (Kubernetes < 1.32) list no endpoint for it",
            )
        else:
            self._event_once(
                f"Service/{service}",
                "NamedPortNotFound",
                f"targetPort {target!r} is declared on no container of {pod.owner}",
            )
        return None
