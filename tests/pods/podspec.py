"""Pure Pod-spec logic of the test kubelet (no Docker, no clock, no I/O).

Everything here follows the Kubernetes API's documented semantics; :mod:`tests.pods.pod` turns
the results into Docker calls.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any

CLUSTER_DOMAIN = "cluster.local"

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "m": 10**-3, "": 1}


class ConfigError(Exception):
    """The kubelet's CreateContainerConfigError: the container is not created."""


def quantity(value: str | int | float) -> float:
    """A resource quantity (``512Mi``, ``1Gi``, ``100m``, ``2``) as a number."""
    text = str(value).strip()
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    number, suffix = float(match[1]), match[2]
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    raise ValueError(f"unknown quantity suffix in {value!r}")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined names replaced, ``$$`` is ``$``, the rest kept."""

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1], match[0])

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, text)


def object_data(obj: dict[str, Any]) -> dict[str, bytes]:
    """The data of a ConfigMap or Secret as bytes (``data``, ``binaryData``, ``stringData``)."""
    out: dict[str, bytes] = {}
    if obj["kind"] == "Secret":
        out.update({k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()})
        out.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
    else:
        out.update({k: str(v).encode() for k, v in (obj.get("data") or {}).items()})
        out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


@dataclass
class PodFacts:
    """What ``fieldRef`` can read."""

    name: str
    namespace: str
    ip: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    service_account: str = "default"


def _field_ref(path: str, facts: PodFacts) -> str:
    simple = {
        "metadata.name": facts.name,
        "metadata.namespace": facts.namespace,
        "status.podIP": facts.ip,
        "status.podIPs": facts.ip,
        "status.hostIP": facts.ip,
        "spec.nodeName": "docker",
        "spec.serviceAccountName": facts.service_account,
    }
    if path in simple:
        return simple[path]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        source = facts.labels if match[1] == "labels" else facts.annotations
        return source.get(match[2], "")
    raise ConfigError(f"fieldRef {path!r} is not supported by the test kubelet")


def _key_ref(ref: dict[str, Any], kind: str, objects: dict[tuple[str, str], dict]) -> str | None:
    obj = objects.get((kind, ref.get("name", "")))
    optional = bool(ref.get("optional", False))
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{kind.lower()} "{ref.get("name")}" not found')
    data = object_data(obj)
    if ref["key"] not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {ref['key']} in {kind} {obj['metadata']['name']}")
    return data[ref["key"]].decode()


def container_env(
    container: dict[str, Any],
    facts: PodFacts,
    objects: dict[tuple[str, str], dict],
    service_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment as the kubelet builds it: the Services' variables
    (``service_env``), then ``envFrom``, then ``env``, each overriding the one before.

    ``$(VAR)`` in a ``value`` refers to variables defined before it.
    :raise ConfigError: a missing non-optional ConfigMap/Secret or key.
    """
    env: dict[str, str] = dict(service_env or {})
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key not in source:
                continue
            ref = source[key]
            obj = objects.get((kind, ref["name"]))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
            for name, value in object_data(obj).items():
                env[prefix + name] = value.decode()
    for var in container.get("env") or []:
        if "valueFrom" in var:
            source = var["valueFrom"]
            if "secretKeyRef" in source:
                value = _key_ref(source["secretKeyRef"], "Secret", objects)
            elif "configMapKeyRef" in source:
                value = _key_ref(source["configMapKeyRef"], "ConfigMap", objects)
            elif "fieldRef" in source:
                value = _field_ref(source["fieldRef"]["fieldPath"], facts)
            else:
                raise ConfigError(f"env {var['name']}: valueFrom {sorted(source)} is not supported")
            if value is None:
                continue
            env[var["name"]] = value
        else:
            env[var["name"]] = expand(str(var.get("value", "")), env)
    return env


def merged_security(pod_spec: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """Pod-level securityContext overlaid by the container's (the fields both levels define)."""
    pod = pod_spec.get("securityContext") or {}
    own = container.get("securityContext") or {}
    merged = {
        k: pod[k]
        for k in ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "seLinuxOptions")
        if k in pod
    }
    merged.update(own)
    return merged


def image_uid(image_user: str) -> int | None:
    """The uid an image's USER runs as (``""`` is root); None when it is a name."""
    user = (image_user or "0").split(":")[0]
    return int(user) if user.isdigit() else None


def docker_security(
    pod_spec: dict[str, Any], container: dict[str, Any], image_user: str
) -> dict[str, Any]:
    """Docker create kwargs for the merged securityContext.

    :raise ConfigError: runAsNonRoot and the container would run as uid 0 (or as a user name).
    """
    sc = merged_security(pod_spec, container)
    pod_sc = pod_spec.get("securityContext") or {}
    kwargs: dict[str, Any] = {}
    uid = sc.get("runAsUser")
    effective = uid if uid is not None else image_uid(image_user)
    if sc.get("runAsNonRoot"):
        if effective is None:
            raise ConfigError(
                f"container has runAsNonRoot and image has non-numeric user ({image_user}), "
                "cannot verify user is non-root"
            )
        if effective == 0:
            raise ConfigError("container has runAsNonRoot and image will run as root")
    if uid is not None or sc.get("runAsGroup") is not None:
        user = str(uid) if uid is not None else (image_user or "0").split(":")[0]
        group = sc.get("runAsGroup")
        kwargs["user"] = f"{user}:{group}" if group is not None else user
    groups = [str(g) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None:
        groups.append(str(pod_sc["fsGroup"]))
    if groups:
        kwargs["group_add"] = groups
    if sc.get("readOnlyRootFilesystem"):
        kwargs["read_only"] = True
    caps = sc.get("capabilities") or {}
    if caps.get("drop"):
        kwargs["cap_drop"] = list(caps["drop"])
    if caps.get("add"):
        kwargs["cap_add"] = list(caps["add"])
    security_opt = []
    if sc.get("allowPrivilegeEscalation") is False:
        security_opt.append("no-new-privileges")
    if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        security_opt.append("seccomp=unconfined")
    if security_opt:
        kwargs["security_opt"] = security_opt
    if sc.get("privileged"):
        kwargs["privileged"] = True
    return kwargs


def docker_resources(container: dict[str, Any]) -> dict[str, Any]:
    """Memory limit → ``mem_limit``; CPU limit → ``nano_cpus`` (requests are not enforced)."""
    limits = (container.get("resources") or {}).get("limits") or {}
    kwargs: dict[str, Any] = {}
    if "memory" in limits:
        kwargs["mem_limit"] = int(quantity(limits["memory"]))
    if "cpu" in limits:
        kwargs["nano_cpus"] = int(quantity(limits["cpu"]) * 1e9)
    return kwargs


def command_and_args(container: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """``command`` replaces the image ENTRYPOINT, ``args`` its CMD, both ``$(VAR)``-expanded."""
    kwargs: dict[str, Any] = {}
    if container.get("command") is not None:
        kwargs["entrypoint"] = [expand(str(a), env) for a in container["command"]]
        # Docker ignores the image CMD once ENTRYPOINT is given, as Kubernetes does
    if container.get("args") is not None:
        kwargs["command"] = [expand(str(a), env) for a in container["args"]]
    return kwargs


def named_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's port: a number, or a name looked up in **this** container's ``ports``.

    :raise ValueError: the name is not declared on this container (the kubelet's probe error).
    """
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"couldn't find port {port!r} in container {container['name']!r}")


def is_sidecar(container: dict[str, Any]) -> bool:
    """A native sidecar: an init container with ``restartPolicy: Always`` (Kubernetes 1.29+)."""
    return container.get("restartPolicy") == "Always"


def template_hash(template: dict[str, Any]) -> str:
    """A pod-template-hash like the Deployment controller's (10 characters of [a-z0-9])."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SafeEncodeString alphabet
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def label_selector(spec: dict[str, Any]) -> dict[str, str]:
    """``spec.selector.matchLabels`` (matchExpressions are not supported)."""
    selector = spec.get("selector") or {}
    if selector.get("matchExpressions"):
        raise ValueError("selector.matchExpressions is not supported by the test kubelet")
    return dict(selector.get("matchLabels") or {})


def service_names(name: str, namespace: str) -> list[str]:
    """The names a Service (or a StatefulSet Pod's ``pod.svc``) resolves by from its namespace."""
    return [
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}",
    ]


def resolv_conf(namespace: str) -> str:
    """The Pod's resolv.conf: the kubelet's search path; the nameserver answers nothing."""
    search = f"{namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}"
    return f"nameserver 127.0.0.1\nsearch {search}\noptions ndots:5 timeout:1 attempts:1\n"


def render_hosts(own: tuple[str, list[str]], records: dict[str, list[str]]) -> str:
    """An /etc/hosts: loopback, the Pod's own names, then one line per (address, name).

    A name listed on several lines resolves to every address (glibc ``multi on``, musl).
    """
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    ip, names = own
    lines.append(f"{ip}\t{' '.join(names)}")
    for name in sorted(records):
        for address in records[name]:
            lines.append(f"{address}\t{name}")
    return "\n".join(lines) + "\n"


def int_or_percent(value: int | str | None, total: int, default: str, round_up: bool) -> int:
    """maxSurge / maxUnavailable: an int, or a percentage of ``total``."""
    value = default if value is None else value
    if isinstance(value, int):
        return value
    percent = int(str(value).rstrip("%"))
    scaled = total * percent / 100
    return int(-(-scaled // 1)) if round_up else int(scaled // 1)


#: where the ServiceAccount admission plugin mounts the API credentials in every container
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: the ConfigMap the root-CA publisher keeps in every namespace (the API server's CA)
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


def api_server_env(host: str, port: int) -> dict[str, str]:
    """The variables the kubelet gives every container for the ``kubernetes`` Service of the
    ``default`` namespace (also with ``enableServiceLinks: false``): how in-cluster clients find
    the API server."""
    proto = f"tcp://{host}:{port}"
    prefix = f"KUBERNETES_PORT_{port}_TCP"
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": proto,
        prefix: proto,
        f"{prefix}_PROTO": "tcp",
        f"{prefix}_PORT": str(port),
        f"{prefix}_ADDR": host,
    }


def automounts_token(pod_spec: dict[str, Any], service_account: dict[str, Any] | None) -> bool:
    """``automountServiceAccountToken``: the Pod's field wins, then the ServiceAccount's; on by
    default."""
    if pod_spec.get("automountServiceAccountToken") is not None:
        return bool(pod_spec["automountServiceAccountToken"])
    own = (service_account or {}).get("automountServiceAccountToken")
    return True if own is None else bool(own)


def admit_service_account(pod_spec: dict[str, Any], volume_name: str) -> dict[str, Any]:
    """The ServiceAccount admission plugin's change to a Pod that automounts its token: a
    projected volume (token, the root CA, the namespace) mounted read-only at
    :data:`SERVICE_ACCOUNT_DIR` in every container (init containers too) that mounts nothing
    there already. Returns a new spec; ``pod_spec`` is left as it was."""
    spec = json.loads(json.dumps(pod_spec))
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("volumes", []).append(
        {
            "name": volume_name,
            "projected": {
                "defaultMode": 0o644,
                "sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {
                        "configMap": {
                            "name": ROOT_CA_CONFIGMAP,
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {"fieldPath": "metadata.namespace"},
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for container in (spec.get("initContainers") or []) + spec["containers"]:
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("mountPath") == SERVICE_ACCOUNT_DIR for m in mounts):
            mounts.append({"name": volume_name, "mountPath": SERVICE_ACCOUNT_DIR, "readOnly": True})
    return spec


def projected_files(
    projected: dict[str, Any],
    objects: dict[tuple[str, str], dict],
    facts: PodFacts,
    token: str | None,
) -> dict[str, tuple[bytes, int]]:
    """The files of a ``projected`` volume: path → (content, mode).

    Sources: ``serviceAccountToken`` (``token``: the Pod's ServiceAccount token, None when no API
    server issues one), ``configMap``, ``secret`` (with ``items`` or every key) and
    ``downwardAPI`` ``fieldRef`` items.
    :raise ConfigError: a missing non-optional object or key, or an unsupported source.
    """
    default_mode = int(projected.get("defaultMode", 0o644))
    files: dict[str, tuple[bytes, int]] = {}
    for source in projected.get("sources") or []:
        if "serviceAccountToken" in source:
            if token is None:
                raise ConfigError("serviceAccountToken: no API server issues tokens here")
            files[source["serviceAccountToken"]["path"]] = (token.encode(), default_mode)
        elif "configMap" in source or "secret" in source:
            kind = "ConfigMap" if "configMap" in source else "Secret"
            ref = source.get("configMap") or source.get("secret")
            obj = objects.get((kind, ref.get("name", "")))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{kind.lower()} "{ref.get("name")}" not found')
            data = object_data(obj)
            items = ref.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise ConfigError(f"key {item['key']!r} not in {kind} {ref.get('name')}")
                files[item["path"]] = (data[item["key"]], int(item.get("mode", default_mode)))
        elif "downwardAPI" in source:
            for item in source["downwardAPI"].get("items") or []:
                if "fieldRef" not in item:
                    raise ConfigError("downwardAPI: only fieldRef items are supported")
                value = _field_ref(item["fieldRef"]["fieldPath"], facts)
                files[item["path"]] = (value.encode(), int(item.get("mode", default_mode)))
        else:
            raise ConfigError(f"projected source {sorted(source)} is not supported")
    return files
