"""Redis (master + replicas) and Sentinel, as two StatefulSets with headless Services.

Layout (operator-bar.md §2.2): the official ``redis`` image; DNS names everywhere (replicas and
sentinels announce hostnames, sentinels resolve them); quorum from the spec (2 of 3 by default);
each Sentinel runs from a config it writes into an emptyDir, because Sentinel rewrites its file;
the password comes from the generated Secret through env and never enters a manifest.
"""

from __future__ import annotations

from typing import Any

from labelhive_operator import settings
from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project
from labelhive_operator.spec import Resources

REDIS = "redis"
SENTINEL = "sentinel"

# both scripts ask the sentinels for the current master first, so a restarted Pod rejoins the
# master elected by a failover instead of assuming pod 0 still is one
_FIND_MASTER = """\
MASTER=""
for s in $SENTINEL_HOSTS; do
  MASTER=$(redis-cli -h "$s" -p {sentinel_port} --user default --pass "$REDIS_PASSWORD" \\
    --no-auth-warning sentinel get-master-addr-by-name "$REDIS_MASTER" 2>/dev/null | head -n 1)
  [ -n "$MASTER" ] && break
done
[ -n "$MASTER" ] || MASTER="$REDIS_STS-0.$REDIS_SVC"
"""

_REDIS_SH = """\
#!/bin/sh
set -eu
ME="$(hostname).$REDIS_SVC"
{find_master}
umask 077
cat > /run/redis/redis.conf <<CONF
port {redis_port}
dir /data
appendonly yes
protected-mode no
requirepass $REDIS_PASSWORD
masterauth $REDIS_PASSWORD
replica-announce-ip $ME
replica-announce-port {redis_port}
CONF
if [ "$MASTER" != "$ME" ]; then
  echo "replicaof $MASTER {redis_port}" >> /run/redis/redis.conf
fi
exec redis-server /run/redis/redis.conf
"""

_SENTINEL_SH = """\
#!/bin/sh
set -eu
{find_master}
umask 077
cat > /run/sentinel/sentinel.conf <<CONF
port {sentinel_port}
requirepass $REDIS_PASSWORD
sentinel sentinel-pass $REDIS_PASSWORD
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $(hostname).$SENTINEL_SVC
sentinel announce-port {sentinel_port}
sentinel monitor $REDIS_MASTER $MASTER {redis_port} {quorum}
sentinel auth-pass $REDIS_MASTER $REDIS_PASSWORD
sentinel down-after-milliseconds $REDIS_MASTER {down_after}
sentinel failover-timeout $REDIS_MASTER {failover_timeout}
sentinel parallel-syncs $REDIS_MASTER {parallel_syncs}
CONF
exec redis-sentinel /run/sentinel/sentinel.conf
"""


def scripts(project: Project) -> dict[str, str]:
    """Return the start scripts of Redis and Sentinel (rendered from the spec)."""
    sen = project.spec.redis.sentinel
    fmt = {
        "redis_port": settings.REDIS_PORT,
        "sentinel_port": settings.SENTINEL_PORT,
        "quorum": sen.quorum,
        "down_after": sen.down_after_milliseconds,
        "failover_timeout": sen.failover_timeout_milliseconds,
        "parallel_syncs": sen.parallel_syncs,
    }
    find = _FIND_MASTER.format(**fmt)
    return {
        "redis.sh": _REDIS_SH.format(find_master=find, **fmt),
        "sentinel.sh": _SENTINEL_SH.format(find_master=find, **fmt),
    }


def configmap(project: Project) -> Manifest:
    """Return the ConfigMap with the Redis and Sentinel start scripts."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": common.metadata(project, common.child_name(project, REDIS), REDIS),
        "data": scripts(project),
    }


def _env(project: Project) -> list[dict[str, Any]]:
    ns = project.namespace
    return [
        common.secret_env("REDIS_PASSWORD", common.redis_auth_secret(project), "password"),
        {"name": "REDIS_MASTER", "value": project.spec.redis.master_name},
        {"name": "REDIS_STS", "value": common.child_name(project, REDIS)},
        {"name": "REDIS_SVC", "value": f"{common.redis_headless(project)}.{ns}.svc"},
        {"name": "SENTINEL_SVC", "value": f"{common.sentinel_headless(project)}.{ns}.svc"},
        {"name": "SENTINEL_HOSTS", "value": " ".join(common.sentinel_hosts(project))},
    ]


def _container(project: Project, component: str, port: int, resources: Resources) -> dict[str, Any]:
    ping = (
        f'redis-cli -p {port} --user default --pass "$REDIS_PASSWORD" --no-auth-warning ping'
        " | grep -q PONG"
    )
    probe = {"exec": {"command": ["sh", "-c", ping]}, "periodSeconds": 10, "timeoutSeconds": 5}
    mounts = [
        {"name": "scripts", "mountPath": "/scripts", "readOnly": True},
        {"name": "run", "mountPath": f"/run/{component}"},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "data", "mountPath": "/data"},
    ]
    return {
        "name": component,
        "image": project.spec.redis.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", f"/scripts/{component}.sh"],
        "env": _env(project),
        "ports": [{"name": component, "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "failureThreshold": 6},
        "resources": resources.as_k8s(),
        "securityContext": common.container_security(),
        "volumeMounts": mounts,
    }


def _statefulset(
    project: Project,
    component: str,
    replicas: int,
    port: int,
    resources: Resources,
    config_hash: str,
) -> Manifest:
    volumes: list[dict[str, Any]] = [
        {
            "name": "scripts",
            "configMap": {"name": common.child_name(project, REDIS), "defaultMode": 0o555},
        },
        {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        common.tmp_volume(),
    ]
    pod: dict[str, Any] = {
        "serviceAccountName": common.child_name(project, "internal"),
        "securityContext": common.pod_security(common.REDIS_UID),
        "containers": [_container(project, component, port, resources)],
        "volumes": volumes,
        **common.soft_spread(project, component),
    }
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": headless_name(project, component),
        "podManagementPolicy": "Parallel" if component == SENTINEL else "OrderedReady",
        "selector": {"matchLabels": common.selector_labels(project, component)},
        "template": common.pod_template(project, component, config_hash, pod),
    }
    if component == REDIS:
        storage = project.spec.redis.storage
        pvc_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage.size}},
        }
        if storage.storage_class_name:
            pvc_spec["storageClassName"] = storage.storage_class_name
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": "data", "labels": common.labels(project, REDIS)},
                "spec": pvc_spec,
            }
        ]
        # deletionPolicy decides whether the Redis volumes outlive the LabelingProject
        spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": project.spec.deletion_policy,
            "whenScaled": "Retain",
        }
    else:
        volumes.append({"name": "data", "emptyDir": {"sizeLimit": "16Mi"}})
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": common.metadata(project, common.child_name(project, component), component),
        "spec": spec,
    }


def headless_name(project: Project, component: str) -> str:
    """Return the headless Service name of Redis or Sentinel."""
    if component == REDIS:
        return common.redis_headless(project)
    return common.sentinel_headless(project)


def statefulsets(project: Project, config_hash: str) -> list[Manifest]:
    """Return the Redis and Sentinel StatefulSets."""
    rd = project.spec.redis
    sen = rd.sentinel
    return [
        _statefulset(project, REDIS, rd.replicas, settings.REDIS_PORT, rd.resources, config_hash),
        _statefulset(
            project, SENTINEL, sen.replicas, settings.SENTINEL_PORT, sen.resources, config_hash
        ),
    ]


def services(project: Project) -> list[Manifest]:
    """Return the headless Services that give every Redis and Sentinel Pod a stable DNS name."""
    out = []
    for component, port in ((REDIS, settings.REDIS_PORT), (SENTINEL, settings.SENTINEL_PORT)):
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": common.metadata(project, headless_name(project, component), component),
                "spec": {
                    "clusterIP": "None",
                    # sentinels must resolve peers that are not ready yet while they bootstrap
                    "publishNotReadyAddresses": True,
                    "selector": common.selector_labels(project, component),
                    "ports": [
                        {
                            "name": component,
                            "port": port,
                            "targetPort": component,
                            "protocol": "TCP",
                        }
                    ],
                },
            }
        )
    return out
