"""Shared pieces of the builders: names, labels, security contexts, env, hashing.

Everything here is pure: no API calls, no logger, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from labelhive_operator import settings
from labelhive_operator.spec import Project

Manifest = dict[str, Any]

#: uid/gid the images run as (app image: ours; haproxy/redis: the official images' users)
APP_UID = 10001
HAPROXY_UID = 99
REDIS_UID = 999


def child_name(project: Project, suffix: str) -> str:
    """Return the deterministic name of a child object.

    :param project: the owning project.
    :param suffix: the component suffix (``web``, ``redis``, ...).
    :return: ``<project>-<suffix>``; the CRD bounds project names so this stays a DNS label.
    """
    return f"{project.name}-{suffix}" if suffix else project.name


def selector_labels(project: Project, component: str) -> dict[str, str]:
    """Return the immutable selector labels of one component (name + instance + component)."""
    return {
        settings.LABEL_NAME: settings.APP_NAME,
        settings.LABEL_INSTANCE: project.name,
        settings.LABEL_COMPONENT: component,
    }


def labels(project: Project, component: str) -> dict[str, str]:
    """Return the full label set of a child object."""
    return {
        **selector_labels(project, component),
        settings.LABEL_MANAGED_BY: settings.MANAGED_BY,
        settings.LABEL_PART_OF: settings.APP_NAME,
    }


def selector_string(project: Project, component: str) -> str:
    """Return a serialized label selector (what the scale subresource needs)."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector_labels(project, component).items()))


def metadata(project: Project, name: str, component: str, **extra: Any) -> dict[str, Any]:
    """Return ``metadata`` for a child (ownerReferences are added by :func:`owned`)."""
    return {
        "name": name,
        "namespace": project.namespace,
        "labels": labels(project, component),
        **extra,
    }


def owner_reference(project: Project) -> dict[str, Any]:
    """Return the controller ownerReference that ties a child to its project."""
    return {
        "apiVersion": settings.API_VERSION,
        "kind": settings.KIND,
        "name": project.name,
        "uid": project.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned(project: Project, obj: Manifest) -> Manifest:
    """Return ``obj`` with the project's controller ownerReference (GC deletes it with the CR)."""
    obj["metadata"]["ownerReferences"] = [owner_reference(project)]
    return obj


def digest(*parts: Any) -> str:
    """Return a stable sha256 hex digest of JSON-serialisable parts."""
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def pod_security(uid: int) -> dict[str, Any]:
    """Return a pod securityContext that meets the ``restricted`` Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    """Return a container securityContext: no escalation, no capabilities, read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def soft_spread(project: Project, component: str) -> dict[str, Any]:
    """Return soft hostname anti-affinity and zone spread for a component's Pods."""
    sel = {"matchLabels": selector_labels(project, component)}
    return {
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": sel,
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": sel,
            }
        ],
    }


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    """Return an env var read from a Secret key (values never enter the manifest)."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def redis_auth_secret(project: Project) -> str:
    """Name of the generated Secret holding the Redis/Sentinel password (key ``password``)."""
    return child_name(project, "redis-auth")


def app_secret(project: Project) -> str:
    """Name of the generated Secret holding ``secret-key`` and ``admin-api-key``."""
    return child_name(project, "app-secrets")


def redis_headless(project: Project) -> str:
    return child_name(project, "redis-headless")


def sentinel_headless(project: Project) -> str:
    return child_name(project, "sentinel-headless")


def sentinel_hosts(project: Project) -> list[str]:
    """Return the stable DNS names of the Sentinel Pods (announced hostnames, never IPs)."""
    sts = child_name(project, "sentinel")
    svc = sentinel_headless(project)
    return [
        f"{sts}-{i}.{svc}.{project.namespace}.svc"
        for i in range(project.spec.redis.sentinel.replicas)
    ]


def database_secret(project: Project) -> tuple[str, str]:
    """Return (Secret, key) of the database URL: the referenced Secret or CloudNativePG's.

    With ``spec.database.cluster`` it is ``<name>-db-app``/``uri``, which CloudNativePG
    generates (see :mod:`.postgres_cluster`); its host is the ``<name>-db-rw`` Service.
    """
    ref = project.spec.database.secret_ref
    if ref is not None:
        return ref.name, ref.key
    return child_name(project, "db-app"), "uri"


def app_env(project: Project) -> list[dict[str, Any]]:
    """Return the environment shared by every app container (DESIGN.md's configuration table)."""
    spec = project.spec
    env: list[dict[str, Any]] = [
        secret_env("DATABASE_URL", *database_secret(project)),
        {
            "name": "REDIS_SENTINELS",
            "value": ",".join(f"{h}:{settings.SENTINEL_PORT}" for h in sentinel_hosts(project)),
        },
        {"name": "REDIS_MASTER", "value": spec.redis.master_name},
        secret_env("REDIS_PASSWORD", redis_auth_secret(project), "password"),
        secret_env("SECRET_KEY", app_secret(project), "secret-key"),
    ]
    if spec.storage is not None:
        st = spec.storage
        env += [
            {"name": "S3_BUCKET", "value": st.bucket},
            {"name": "S3_REGION", "value": st.region},
            {"name": "S3_PROXY_PREFIX", "value": st.proxy_prefix},
        ]
        if st.endpoint_url:
            env.append({"name": "S3_ENDPOINT_URL", "value": st.endpoint_url})
        if st.credentials_secret_ref is not None:
            ref = st.credentials_secret_ref
            env += [
                secret_env("AWS_ACCESS_KEY_ID", ref.name, ref.access_key_id_key),
                secret_env("AWS_SECRET_ACCESS_KEY", ref.name, ref.secret_access_key_key),
            ]
    return env


def app_container(
    project: Project, name: str, image: str, args: list[str], resources: dict[str, Any]
) -> dict[str, Any]:
    """Return a container running the LabelHive image with the shared env and a writable /tmp."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": project.spec.image.pull_policy,
        "command": ["labelhive"],
        "args": args,
        "env": app_env(project),
        "resources": resources,
        "securityContext": container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def tmp_volume() -> dict[str, Any]:
    """Return the memory-backed emptyDir mounted on /tmp (read-only root filesystem)."""
    return {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}


def pod_template(
    project: Project, component: str, config_hash: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """Return a pod template with labels, the config-hash annotation and shared pod settings.

    A workload's template (never the migration Job's: a Job's template is immutable) also
    carries the project's ``restartedAt`` annotation, so changing it rolls every workload.
    """
    annotations = {settings.CONFIG_HASH_ANNOTATION: config_hash}
    if project.restarted_at and component != "migration":
        annotations[settings.RESTARTED_AT_ANNOTATION] = project.restarted_at
    return {
        "metadata": {
            "labels": labels(project, component),
            "annotations": annotations,
        },
        "spec": {"automountServiceAccountToken": False, "enableServiceLinks": False, **spec},
    }
