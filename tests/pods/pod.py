"""One Pod of the test kubelet: a holder container owning the network namespace, the Pod's
containers joined to it, its volumes, probes and restarts, all driven by one background thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from tests.pods.podspec import ConfigError
from tests.pods.podspec import PodFacts
from tests.pods.podspec import command_and_args
from tests.pods.podspec import container_env
from tests.pods.podspec import docker_resources
from tests.pods.podspec import docker_security
from tests.pods.podspec import is_sidecar
from tests.pods.podspec import object_data
from tests.pods.podspec import projected_files
from tests.pods.podspec import quantity
from tests.pods.podspec import resolv_conf
from tests.pods.probes import ProbeState
from tests.pods.probes import run_probe

if TYPE_CHECKING:
    from docker.models.containers import Container

TICK = 0.25


@dataclass
class ContainerStatus:
    """One container of a Pod, as ``kubectl get pod -o yaml`` would show it."""

    name: str
    kind: str  # "init", "sidecar" or "app"
    state: str = "waiting"  # "waiting", "running" or "terminated"
    reason: str = "PodInitializing"
    message: str = ""
    exit_code: int | None = None
    ready: bool = False
    started: bool = False
    restarts: int = 0
    #: probe runs per kind ("startup", "liveness", "readiness"): [passed, failed]
    probes: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class PodInfo:
    """A snapshot of one Pod: what the tests read (see :meth:`Kubelet.pods`)."""

    name: str
    owner: str  # "Deployment/web", "StatefulSet/redis", "Job/migrate"
    phase: str  # Pending, Running, Succeeded, Failed
    ip: str | None
    ready: bool
    ready_seconds: float | None  # creation → first Ready
    restarts: int  # sum over the Pod's containers
    containers: tuple[ContainerStatus, ...]
    revision: str  # pod-template-hash / controller-revision-hash
    terminating: bool
    labels: dict[str, str] = field(default_factory=dict)

    def container(self, name: str) -> ContainerStatus:
        return next(c for c in self.containers if c.name == name)


class _Stopping(Exception):
    pass


class PodContext:
    """What a Pod needs from its kubelet (implemented by :class:`tests.pods.kubelet.Kubelet`)."""

    client: docker.DockerClient
    namespace: str
    network: str
    session: str
    pause_image: str
    max_grace: float
    backoff: tuple[float, float]
    api: Any  # the API server's ApiEndpoint, or None

    def object_map(self) -> dict[tuple[str, str], dict]: ...
    def container_state(self, docker_name: str) -> str: ...
    def event(self, obj: str, reason: str, message: str, warning: bool = True) -> None: ...
    def pod_changed(self) -> None: ...
    def hosts_for(self, pod: PodRuntime) -> str: ...
    def image_user(self, image: str) -> str: ...
    def token_for(self, service_account: str) -> str: ...
    def service_env(self) -> dict[str, str]: ...


class PodRuntime:
    """A Pod run to the kubelet's rules; :meth:`start` spawns its thread."""

    def __init__(
        self,
        ctx: PodContext,
        *,
        name: str,
        owner: str,
        template: dict[str, Any],
        revision: str,
        pod_dir: Path,
        subdomain: str | None = None,
        claims: dict[str, Path] | None = None,
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.owner = owner
        self.revision = revision
        meta = template.get("metadata") or {}
        self.labels: dict[str, str] = dict(meta.get("labels") or {})
        self.annotations: dict[str, str] = dict(meta.get("annotations") or {})
        self.spec: dict[str, Any] = template["spec"]
        self.subdomain = subdomain or self.spec.get("subdomain")
        self.hostname = self.spec.get("hostname") or name
        self.claims = claims or {}
        self.dir = pod_dir
        self.ip: str | None = None
        self.phase = "Pending"
        self.created = time.monotonic()
        self.ready_at: float | None = None
        self.ready = False
        self.terminating = False
        self.finished = threading.Event()  # containers and holder removed
        self.restart_policy = self.spec.get("restartPolicy", "Always")
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._kill = False
        self._grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
        self._holder: Container | None = None
        self._containers: dict[str, Container] = {}
        self._volumes: dict[str, tuple[str, str]] = {}  # name -> ("bind"|"volume", source)
        self._docker_volumes: list[str] = []
        self._probes: dict[str, list[ProbeState]] = {}
        self._restart_at: dict[str, float] = {}
        self._previous_logs: dict[str, bytes] = {}
        self._final_logs: dict[str, bytes] = {}
        self._config_errors: set[tuple[str, str]] = set()
        self.init_specs = list(self.spec.get("initContainers") or [])
        self.app_specs = list(self.spec["containers"])
        self.status: dict[str, ContainerStatus] = {}
        for c in self.init_specs:
            kind = "sidecar" if is_sidecar(c) else "init"
            self.status[c["name"]] = ContainerStatus(c["name"], kind)
        for c in self.app_specs:
            self.status[c["name"]] = ContainerStatus(c["name"], "app")
        self._thread = threading.Thread(target=self._run, name=f"pod-{name}", daemon=True)

    # -- public, called from the kubelet's threads ---------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, kill: bool = False, grace: float | None = None) -> None:
        """Delete the Pod: SIGTERM then SIGKILL after the grace period, or SIGKILL at once."""
        with self._lock:
            self.terminating = True
            self._kill = self._kill or kill
            if grace is not None:
                self._grace = grace
            self.ready = False
        self._stop.set()
        # the kubelet takes the Pod out of its Services' endpoints now, not at its next tick
        self.ctx.pod_changed()

    def info(self) -> PodInfo:
        with self._lock:
            containers = tuple(
                replace(s, probes={k: list(v) for k, v in s.probes.items()})
                for s in self.status.values()
            )
            ready_seconds = None if self.ready_at is None else self.ready_at - self.created
            return PodInfo(
                name=self.name,
                owner=self.owner,
                phase=self.phase,
                ip=self.ip,
                ready=self.ready,
                ready_seconds=ready_seconds,
                restarts=sum(c.restarts for c in containers),
                containers=containers,
                revision=self.revision,
                terminating=self.terminating,
                labels=dict(self.labels),
            )

    def container_spec(self, name: str) -> dict[str, Any]:
        return next(c for c in self.init_specs + self.app_specs if c["name"] == name)

    def docker_container(self, name: str) -> Container:
        with self._lock:
            if name not in self._containers:
                raise KeyError(f"container {name!r} of Pod {self.name} is not running")
            return self._containers[name]

    def logs(self, name: str, previous: bool = False) -> str:
        if previous:
            return self._previous_logs.get(name, b"").decode(errors="replace")
        with self._lock:
            container = self._containers.get(name)
        if container is not None:
            try:
                return container.logs().decode(errors="replace")
            except docker.errors.NotFound:
                pass
        return self._final_logs.get(name, b"").decode(errors="replace")

    def write_hosts(self, text: str) -> None:
        path = self.dir / "hosts"
        if path.exists() and path.read_text() == text:
            return
        # rewrite in place: the bind mounts pin the inode
        with open(path, "r+" if path.exists() else "w") as handle:
            handle.write(text)
            handle.truncate()

    # -- the Pod's thread ------------------------------------------------------------------

    def _event(self, reason: str, message: str, warning: bool = True) -> None:
        self.ctx.event(f"Pod/{self.name}", reason, message, warning)

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopping

    def _run(self) -> None:
        try:
            self._setup()
            if self._run_init() and self._start_apps():
                self._loop()
        except _Stopping:
            pass
        except Exception as exc:  # noqa: BLE001 - reported, never swallowed silently
            self._event("KubeletError", f"{type(exc).__name__}: {exc}")
            with self._lock:
                self.phase = "Failed"
        finally:
            self._teardown()

    def _setup(self) -> None:
        client = self.ctx.client
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        (self.dir / "hosts").write_text("127.0.0.1\tlocalhost\n")
        (self.dir / "resolv.conf").write_text(resolv_conf(self.ctx.namespace))
        for name in ("hosts", "resolv.conf"):
            os.chmod(self.dir / name, 0o644)
        holder_mounts = self._name_mounts()
        while True:
            try:
                self._prepare_volumes()
                break
            except ConfigError as exc:
                self._report_once("FailedMount", str(exc))
                self._sleep(1.0)
        for name, (kind, source) in self._volumes.items():
            if kind == "volume":  # keeps the tmpfs mounted for the Pod's whole life
                holder_mounts.append(Mount(f"/.lhk-volumes/{name}", source, type="volume"))
        self._holder = client.containers.create(
            self.ctx.pause_image,
            ["sleep", "infinity"],
            name=self._docker_name(None),
            hostname=self.hostname[:63],
            network=self.ctx.network,
            mounts=holder_mounts,
            labels=self._labels("holder"),
            detach=True,
        )
        self._holder.start()
        self._holder.reload()
        with self._lock:
            self.ip = self._holder.attrs["NetworkSettings"]["Networks"][self.ctx.network][
                "IPAddress"
            ]
        self.write_hosts(self.ctx.hosts_for(self))
        self.ctx.pod_changed()

    def _labels(self, container: str) -> dict[str, str]:
        return {
            "io.labelhive.test-kubelet": self.ctx.session,
            "io.kubernetes.pod.name": self.name,
            "io.kubernetes.pod.namespace": self.ctx.namespace,
            "io.kubernetes.container.name": container,
        }

    def _docker_name(self, container: str | None) -> str:
        base = f"lhk-{self.ctx.session}-{self.name}"
        return base if container is None else f"{base}-{container}"

    def _report_once(self, reason: str, message: str) -> None:
        if (reason, message) not in self._config_errors:
            self._config_errors.add((reason, message))
            self._event(reason, message)

    # -- volumes ---------------------------------------------------------------------------

    def _fs_group(self) -> int | None:
        return (self.spec.get("securityContext") or {}).get("fsGroup")

    def _own(self, path: Path, mode: int) -> None:
        group = self._fs_group()
        os.chown(path, 0, group if group is not None else 0)
        os.chmod(path, mode)

    def _prepare_volumes(self) -> None:
        objects = self.ctx.object_map()
        group = self._fs_group()
        for volume in self.spec.get("volumes") or []:
            name = volume["name"]
            if name in self._volumes:
                continue
            if "configMap" in volume or "secret" in volume:
                kind = "ConfigMap" if "configMap" in volume else "Secret"
                source = volume.get("configMap") or volume.get("secret")
                ref = source.get("name") if kind == "ConfigMap" else source.get("secretName")
                obj = objects.get((kind, ref))
                target = self.dir / "volumes" / name
                target.mkdir(parents=True, exist_ok=True)
                os.chmod(target, 0o755)
                if obj is None:
                    if source.get("optional"):
                        self._volumes[name] = ("bind", str(target))
                        continue
                    raise ConfigError(
                        f'MountVolume.SetUp failed for volume "{name}": '
                        f'{kind.lower()} "{ref}" not found'
                    )
                data = object_data(obj)
                default_mode = int(source.get("defaultMode", 0o644))
                items = source.get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    if item["key"] not in data:
                        if source.get("optional"):
                            continue
                        raise ConfigError(
                            f'MountVolume.SetUp failed for volume "{name}": '
                            f"key {item['key']!r} not in {kind} {ref}"
                        )
                    path = target / item["path"]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data[item["key"]])
                    self._own(path, int(item.get("mode", default_mode)))
                self._volumes[name] = ("bind", str(target))
            elif "projected" in volume:
                target = self.dir / "volumes" / name
                target.mkdir(parents=True, exist_ok=True)
                os.chmod(target, 0o755)
                has_token = any(
                    "serviceAccountToken" in s for s in volume["projected"].get("sources") or []
                )
                token = None
                if has_token and self.ctx.api is not None:
                    token = self.ctx.token_for(self.spec.get("serviceAccountName") or "default")
                files = projected_files(volume["projected"], objects, self._facts(), token)
                for rel, (content, mode) in files.items():
                    path = target / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(content)
                    self._own(path, mode)
                self._volumes[name] = ("bind", str(target))
            elif "emptyDir" in volume:
                options = ["mode=2777" if group is not None else "mode=777"]
                if group is not None:
                    options.append(f"gid={group}")
                limit = (volume["emptyDir"] or {}).get("sizeLimit")
                if limit:
                    options.append(f"size={int(quantity(limit))}")
                volume_name = f"{self._docker_name(None)}-{name}"
                self.ctx.client.volumes.create(
                    volume_name,
                    driver="local",
                    labels=self._labels(name),
                    driver_opts={"type": "tmpfs", "device": "tmpfs", "o": ",".join(options)},
                )
                self._docker_volumes.append(volume_name)
                self._volumes[name] = ("volume", volume_name)
            elif "persistentVolumeClaim" in volume or name in self.claims:
                claim = (volume.get("persistentVolumeClaim") or {}).get("claimName", name)
                path = self.claims.get(name) or self.claims.get(claim)
                if path is None:
                    raise ConfigError(f'persistentvolumeclaim "{claim}" not found')
                self._volumes[name] = ("bind", str(path))
            else:
                raise ConfigError(
                    f"volume {name!r}: type {sorted(set(volume) - {'name'})} "
                    "is not supported by the test kubelet"
                )
        for name, path in self.claims.items():
            self._volumes.setdefault(name, ("bind", str(path)))

    def _name_mounts(self) -> list[Mount]:
        """/etc/hosts (the Services' names) and a resolv.conf whose nameserver is 127.0.0.1,
        where nothing listens: a name not in /etc/hosts fails at once, and Docker's embedded
        DNS (which would answer container names) is out of the way."""
        return [
            Mount(f"/etc/{name}", str(self.dir / name), type="bind", read_only=True)
            for name in ("hosts", "resolv.conf")
        ]

    def _mounts(self, container: dict[str, Any]) -> list[Mount]:
        mounts = self._name_mounts()
        for vm in container.get("volumeMounts") or []:
            if vm["name"] not in self._volumes:
                raise ConfigError(f"volumeMount {vm['name']!r}: no such volume")
            kind, source = self._volumes[vm["name"]]
            spec_volume = next(
                (v for v in self.spec.get("volumes") or [] if v["name"] == vm["name"]), {}
            )
            read_only = bool(vm.get("readOnly")) or any(
                kind in spec_volume for kind in ("configMap", "secret", "projected")
            )
            sub_path = vm.get("subPath")
            if sub_path:
                if kind != "bind":
                    raise ConfigError(
                        f"subPath on emptyDir {vm['name']!r} is not supported "
                        "(Docker 20.10 has no volume subpaths)"
                    )
                source = str(Path(source) / sub_path)
            mounts.append(
                Mount(
                    vm["mountPath"],
                    source,
                    type=kind,
                    read_only=read_only,
                    no_copy=kind == "volume",
                )
            )  # an emptyDir starts empty
        return mounts

    def _facts(self) -> PodFacts:
        return PodFacts(
            self.name,
            self.ctx.namespace,
            self.ip or "",
            self.labels,
            self.annotations,
            self.spec.get("serviceAccountName", "default"),
        )

    # -- containers --------------------------------------------------------------------------

    def _set(self, name: str, **changes: Any) -> None:
        with self._lock:
            status = self.status[name]
            for key, value in changes.items():
                setattr(status, key, value)

    def _create(self, spec: dict[str, Any]) -> bool:
        """Create and start one container; False when its config cannot be built (reported)."""
        name = spec["name"]
        try:
            env = container_env(spec, self._facts(), self.ctx.object_map(), self.ctx.service_env())
            kwargs = command_and_args(spec, env)
            kwargs.update(docker_security(self.spec, spec, self.ctx.image_user(spec["image"])))
            kwargs.update(docker_resources(spec))
            mounts = self._mounts(spec)
        except ConfigError as exc:
            self._set(name, state="waiting", reason="CreateContainerConfigError", message=str(exc))
            self._report_once("CreateContainerConfigError", f"container {name}: {exc}")
            return False
        if spec.get("workingDir"):
            kwargs["working_dir"] = spec["workingDir"]
        self._remove_container(name, keep_logs=True)
        container = self.ctx.client.containers.create(
            spec["image"],
            name=self._docker_name(name),
            environment=env,
            mounts=mounts,
            network_mode=f"container:{self._holder.id}",
            labels=self._labels(name),
            detach=True,
            **kwargs,
        )
        with self._lock:
            self._containers[name] = container
        try:
            container.start()
        except docker.errors.APIError as exc:
            self._set(
                name,
                state="terminated",
                reason="StartError",
                exit_code=128,
                message=str(exc.explanation),
                ready=False,
                started=False,
            )
            self._event("Failed", f"container {name}: StartError: {exc.explanation}")
            return True
        started_at = time.monotonic()
        self._set(
            name, state="running", reason="", message="", exit_code=None, ready=False, started=False
        )
        probes = []
        for kind in ("startup", "liveness", "readiness"):
            if spec.get(f"{kind}Probe"):
                probes.append(ProbeState(kind, spec[f"{kind}Probe"], started_at))
        self._probes[name] = probes
        if not spec.get("startupProbe"):
            self._set(name, started=True)
        if not spec.get("readinessProbe") and not spec.get("startupProbe"):
            self._set(name, ready=self.status[name].kind != "init")
        self._event("Started", f"Started container {name}", warning=False)
        return True

    def _remove_container(self, name: str, keep_logs: bool) -> None:
        with self._lock:
            container = self._containers.pop(name, None)
        if container is None:
            return
        try:
            if keep_logs:
                self._previous_logs[name] = container.logs()
            container.remove(force=True)
        except docker.errors.NotFound:
            pass

    def _exec(self, name: str) -> Callable[[list[str]], tuple[int, bytes]]:
        def run(cmd: list[str]) -> tuple[int, bytes]:
            try:
                result = self.docker_container(name).exec_run(cmd)
            except (KeyError, docker.errors.APIError) as exc:
                # gone, stopped or paused (a hung node): the probe fails, as the runtime's would
                return 126, str(exc).encode()
            return result.exit_code, result.output

        return run

    def _observe(self, name: str) -> None:
        """Notice a container that exited since the last look."""
        status = self.status[name]
        if status.state != "running":
            return
        state = self.ctx.container_state(self._docker_name(name))
        if state == "running":
            return
        container = self._containers.get(name)
        code = 137
        if container is not None:
            try:
                container.reload()
                if container.attrs["State"]["Running"]:
                    return
                code = int(container.attrs["State"]["ExitCode"])
            except docker.errors.NotFound:
                pass
        self._set(
            name,
            state="terminated",
            exit_code=code,
            ready=False,
            reason="Completed" if code == 0 else "Error",
        )
        self._after_exit(name)

    def _after_exit(self, name: str) -> None:
        status = self.status[name]
        if status.kind == "sidecar":
            restart = True
        elif status.kind == "init":
            restart = status.exit_code != 0 and self.restart_policy != "Never"
        else:
            restart = self.restart_policy == "Always" or (
                self.restart_policy == "OnFailure" and status.exit_code != 0
            )
        if restart:
            base, cap = self.ctx.backoff
            delay = min(cap, base * 2**status.restarts)
            self._restart_at[name] = time.monotonic() + delay
            self._event("BackOff", f"Back-off restarting container {name} ({delay:g}s)")
        self.ctx.pod_changed()

    def _maybe_restart(self, name: str) -> None:
        at = self._restart_at.get(name)
        if at is None or time.monotonic() < at:
            return
        del self._restart_at[name]
        self._set(name, restarts=self.status[name].restarts + 1)
        if not self._create(self.container_spec(name)):
            self._restart_at[name] = time.monotonic() + self.ctx.backoff[0]

    def _probe(self, name: str) -> None:
        status = self.status[name]
        if status.state != "running":
            return
        spec = self.container_spec(name)
        now = time.monotonic()
        for probe in self._probes.get(name, []):
            if probe.kind != "startup" and not status.started:
                continue
            if probe.kind == "startup" and status.started:
                continue
            if not probe.due(now):
                continue
            outcome = run_probe(probe.probe, spec, self.ip or "", self._exec(name))
            verdict = probe.record(outcome, time.monotonic())
            with self._lock:
                counts = status.probes.setdefault(probe.kind, [0, 0])
                counts[0 if outcome.ok else 1] += 1
            if not outcome.ok:
                self._event(
                    "Unhealthy",
                    f"{probe.kind.capitalize()} probe failed for "
                    f"container {name}: {outcome.message}",
                )
            if probe.kind == "startup" and verdict is True:
                self._set(name, started=True)
                if not spec.get("readinessProbe"):
                    self._set(name, ready=True)
                for other in self._probes[name]:
                    other.next_at = max(other.next_at, time.monotonic())
            elif probe.kind == "readiness" and verdict is not None:
                self._set(name, ready=verdict)
            elif probe.kind in ("startup", "liveness") and verdict is False:
                self._event(
                    "Killing", f"Container {name} failed {probe.kind} probe, will be restarted"
                )
                self._stop_container(name, self._grace_seconds())
                self._set(name, state="terminated", exit_code=137, reason="Error", ready=False)
                self._after_exit(name)
                return

    def _grace_seconds(self) -> float:
        return min(self._grace, self.ctx.max_grace)

    def _stop_container(self, name: str, grace: float) -> None:
        container = self._containers.get(name)
        if container is None:
            return
        try:
            if self._kill:
                container.kill()
            else:
                started = time.monotonic()
                self._pre_stop(name, container, grace)
                left = grace - (time.monotonic() - started)
                container.stop(timeout=max(0, int(round(left))))
        except docker.errors.APIError:
            pass

    def _pre_stop(self, name: str, container: Container, grace: float) -> None:
        """Run the container's ``lifecycle.preStop`` handler (``exec`` or ``sleep``) before
        SIGTERM, within the grace period, as the kubelet does (httpGet handlers: not played)."""
        hook = (self.container_spec(name).get("lifecycle") or {}).get("preStop") or {}
        if "sleep" in hook:
            time.sleep(min(float(hook["sleep"]["seconds"]), grace))
        elif "exec" in hook:

            def run() -> None:
                with contextlib.suppress(docker.errors.APIError):  # a failed hook: SIGTERM next
                    container.exec_run(hook["exec"]["command"])

            runner = threading.Thread(target=run, daemon=True)
            runner.start()
            runner.join(timeout=grace)

    def _step(self, names: list[str]) -> None:
        for name in names:
            self._observe(name)
            self._maybe_restart(name)
            self._probe(name)
        self._update_ready()

    def _update_ready(self) -> None:
        with self._lock:
            regular = [self.status[c["name"]] for c in self.app_specs]
            sidecars = [self.status[c["name"]] for c in self.init_specs if is_sidecar(c)]
            ready = (
                self.phase == "Running"
                and not self.terminating
                and all(s.state == "running" and s.ready for s in regular + sidecars)
            )
            changed = ready != self.ready
            self.ready = ready
            if ready and self.ready_at is None:
                self.ready_at = time.monotonic()
        if changed:
            self.ctx.pod_changed()

    def _run_init(self) -> bool:
        sidecars: list[str] = []
        for spec in self.init_specs:
            name = spec["name"]
            while not self._create(spec):
                self._step(sidecars)
                self._sleep(1.0)
            if is_sidecar(spec):
                sidecars.append(name)
                while not self.status[name].started:
                    self._step(sidecars)
                    self._sleep(TICK)
                continue
            while True:
                self._step(sidecars + [name])
                status = self.status[name]
                if status.state == "terminated" and name not in self._restart_at:
                    if status.exit_code == 0:
                        break
                    with self._lock:
                        self.phase = "Failed"
                    self.ctx.pod_changed()
                    return False
                self._sleep(TICK)
        return True

    def _start_apps(self) -> bool:
        pending = [c["name"] for c in self.app_specs]
        while pending:
            pending = [
                c["name"] for c in self.app_specs if c["name"] in pending and not self._create(c)
            ]
            if pending:
                self._step(self._active_names())
                self._sleep(1.0)
        with self._lock:
            self.phase = "Running"
        self.ctx.pod_changed()
        return True

    def _active_names(self) -> list[str]:
        return [c["name"] for c in self.init_specs if is_sidecar(c)] + [
            c["name"] for c in self.app_specs
        ]

    def _loop(self) -> None:
        while True:
            self._step(self._active_names())
            if self.restart_policy != "Always":
                apps = [self.status[c["name"]] for c in self.app_specs]
                if all(s.state == "terminated" for s in apps) and not any(
                    c["name"] in self._restart_at for c in self.app_specs
                ):
                    with self._lock:
                        self.phase = (
                            "Succeeded" if all(s.exit_code == 0 for s in apps) else "Failed"
                        )
                        self.ready = False
                    self.ctx.pod_changed()
                    return
            self._sleep(TICK)

    # -- termination ---------------------------------------------------------------------

    def _teardown(self) -> None:
        grace = self._grace_seconds()
        apps = [c["name"] for c in self.app_specs]
        sidecars = [c["name"] for c in reversed(self.init_specs)]
        stoppers = [threading.Thread(target=self._stop_container, args=(n, grace)) for n in apps]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for name in sidecars:  # sidecars after the app containers, in reverse order
            self._stop_container(name, grace)
        for name in list(self._containers):
            container = self._containers[name]
            try:
                self._final_logs[name] = container.logs()
            except docker.errors.APIError:
                pass
            self._remove_container(name, keep_logs=False)
        if self._holder is not None:
            try:
                self._holder.remove(force=True)
            except docker.errors.NotFound:
                pass
        for volume in self._docker_volumes:
            try:
                self.ctx.client.volumes.get(volume).remove(force=True)
            except docker.errors.NotFound:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        with self._lock:
            self.ready = False
            for status in self.status.values():
                if status.state == "running":
                    status.state, status.reason = "terminated", "Terminated"
        self.finished.set()
        self.ctx.pod_changed()
