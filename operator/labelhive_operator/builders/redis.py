"""Redis (master + replicas) and Sentinel, as two StatefulSets with headless Services.

Layout (operator-bar.md §2.2): the official ``redis`` image; DNS names everywhere (replicas and
sentinels announce hostnames, sentinels resolve them); quorum from the spec (2 of 3 by default);
each Sentinel runs from a config it writes into an emptyDir, because Sentinel rewrites its file;
the password comes from the generated Secret through env and never enters a manifest.

Changes roll without losing the master mid-write (operator/README.md "Redis rollouts"):

- Redis and Sentinel carry their own config hash (:func:`config_hashes`), so a Sentinel-only
  change restarts only Sentinels, and a Redis-only change only Redis.
- A Redis rollout is a ``RollingUpdate`` from the highest ordinal down; pod 0 bootstraps as the
  master, so replicas go first. A replica counts as ready only once its link to the master is up,
  so the rollout never stops a Pod while another one is still syncing.
- Whichever Pod is the master when it stops (rollout, drain, eviction, ``kubectl delete``) runs
  the ``preStop`` hook (:data:`_PRESTOP_SH`): it pauses writes, waits until every replica holds
  every acknowledged write, asks a Sentinel for ``SENTINEL FAILOVER`` and demotes itself once the
  Sentinels report the new master, all bounded by the grace period.
- ``maxmemory`` is :data:`MAXMEMORY_RATIO` of the memory limit, the rest is headroom for fork.
"""

from __future__ import annotations

from typing import Any

from labelhive_operator import quantity
from labelhive_operator import settings
from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project
from labelhive_operator.spec import Resources

REDIS = "redis"
SENTINEL = "sentinel"
#: where the redis_exporter sidecar serves /metrics (its default port)
EXPORTER_PORT = 9121

#: share of the Redis container's memory limit given to ``maxmemory``. The other 30 % is
#: headroom for what Redis allocates beyond its dataset: the copy-on-write pages of the forked
#: child during BGSAVE/BGREWRITEAOF (AOF is on, so rewrites happen), replica and client output
#: buffers, the replication backlog and allocator fragmentation. Managed Redis services reserve
#: 25 %; a write-heavy dataset can need up to 2x during a fork, so raise the limit, not the ratio.
MAXMEMORY_RATIO = 0.7
#: terminationGracePeriodSeconds of the Redis Pods; it bounds the preStop hook plus shutdown
REDIS_GRACE_SECONDS = 60
#: how long the preStop hook may take to hand the master over (the rest of the grace period
#: is for redis-server's own shutdown: the final AOF fsync)
FAILOVER_WAIT_SECONDS = 45

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
{maxmemory}maxmemory-policy noeviction
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

# Hand the master role over before this Redis stops. Writes are paused (CLIENT PAUSE WRITE:
# clients wait, reads go on) so that once every replica reached the master's offset, nothing
# acknowledged is missing from whichever replica Sentinel promotes; after the Sentinels report
# the new master this server becomes its replica, so paused writes are refused (READONLY) and
# clients retry on the new master. On any doubt (not the master Sentinel knows, no replica,
# replicas not caught up in time) it changes nothing and exits 0: a preStop failure would only
# add an Event, and the kubelet stops the container anyway.
# REDIS_LOCAL_PORT, REDIS_ANNOUNCE_HOST and PRESTOP_LOG are unset in the Pod and exist for the
# loopback test (tests/operator/test_redis_prestop.py); SENTINEL_HOSTS entries are host[:port].
_PRESTOP_SH = """\
#!/bin/sh
set -u
PORT="${{REDIS_LOCAL_PORT:-{redis_port}}}"
ME="${{REDIS_ANNOUNCE_HOST:-$(hostname).$REDIS_SVC}}"
LOG="${{PRESTOP_LOG:-/proc/1/fd/1}}"
DEADLINE=$(( $(date +%s) + {wait_seconds} ))
log() {{ echo "preStop: $*" >> "$LOG" 2>/dev/null || true; }}
local_redis() {{
  redis-cli -h 127.0.0.1 -p "$PORT" --user default --pass "$REDIS_PASSWORD" --no-auth-warning \\
    "$@" 2>/dev/null | tr -d '\\r'
}}
sentinel() {{
  host="${{1%:*}}"; port="${{1##*:}}"; [ "$host" = "$1" ] && port={sentinel_port}; shift
  redis-cli -h "$host" -p "$port" --user default --pass "$REDIS_PASSWORD" --no-auth-warning \\
    "$@" 2>/dev/null | tr -d '\\r'
}}
master_addr() {{
  for s in $SENTINEL_HOSTS; do
    addr=$(sentinel "$s" sentinel get-master-addr-by-name "$REDIS_MASTER" | tr '\\n' ' ')
    [ -n "$addr" ] && {{ echo "${{addr% }}"; return 0; }}
  done
  return 1
}}
caught_up() {{
  info=$(local_redis info replication)
  offset=$(echo "$info" | sed -n 's/^master_repl_offset://p')
  replicas=$(echo "$info" | grep '^slave[0-9]*:') || return 1
  [ -n "$offset" ] || return 1
  for line in $replicas; do
    case "$line" in *state=online,*) ;; *) return 1 ;; esac
    got=$(echo "$line" | sed -n 's/.*,offset=\\([0-9]*\\).*/\\1/p')
    [ "${{got:-0}}" -ge "$offset" ] || return 1
  done
}}
[ "$(local_redis info replication | sed -n 's/^role://p')" = master ] || exit 0
addr=$(master_addr) || {{ log "no Sentinel answers; stopping without a failover"; exit 0; }}
if [ "$addr" != "$ME $PORT" ]; then
  log "the Sentinels' master is $addr, not this Pod; nothing to hand over"
  exit 0
fi
local_redis client pause $(( ({wait_seconds} + 5) * 1000 )) write > /dev/null
trap 'local_redis client unpause > /dev/null' EXIT
until caught_up; do
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then
    log "replicas did not catch up in {wait_seconds}s; stopping without a failover"
    exit 0
  fi
  sleep 0.2 2>/dev/null || sleep 1  # busybox without fractional sleep
done
asked=""
for s in $SENTINEL_HOSTS; do
  case "$(sentinel "$s" sentinel failover "$REDIS_MASTER")" in
    OK*|INPROG*) asked="$s"; break ;;
  esac
done
[ -n "$asked" ] || {{ log "no Sentinel accepted SENTINEL FAILOVER"; exit 0; }}
log "writes paused, replicas caught up, failover asked of $asked"
while :; do
  addr=$(master_addr) && [ "$addr" != "$ME $PORT" ] && break
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then
    log "the master did not move in {wait_seconds}s"
    exit 0
  fi
  sleep 0.2 2>/dev/null || sleep 1  # busybox without fractional sleep
done
# shellcheck disable=SC2086 # "host port"
local_redis replicaof $addr > /dev/null
log "the master moved to $addr; this Pod is its replica now"
"""

# a replica is ready once its link to the master is up (not while a full sync runs), so an
# OrderedReady rollout never stops the next Pod while this one cannot be promoted
_REDIS_READY = """\
out=$(redis-cli -p "${{REDIS_LOCAL_PORT:-{redis_port}}}" --user default --pass "$REDIS_PASSWORD" \\
  --no-auth-warning info replication) || exit 1
case "$out" in *role:master*) exit 0 ;; *master_link_status:up*) exit 0 ;; esac
exit 1
"""


def maxmemory_bytes(resources: Resources) -> int | None:
    """Return ``maxmemory`` for a Redis container: :data:`MAXMEMORY_RATIO` of its memory limit.

    :param resources: the Redis container's resources.
    :return: bytes, or ``None`` without a memory limit (Redis then has no cap of its own).
    """
    limit = resources.limits.get("memory")
    if limit is None:
        return None
    return int(quantity.to_bytes(limit) * MAXMEMORY_RATIO)


def scripts(project: Project) -> dict[str, str]:
    """Return the Redis and Sentinel start scripts, the Redis preStop hook and readiness check."""
    rd = project.spec.redis
    sen = rd.sentinel
    fmt = {
        "redis_port": settings.REDIS_PORT,
        "sentinel_port": settings.SENTINEL_PORT,
        "quorum": sen.quorum,
        "down_after": sen.down_after_milliseconds,
        "failover_timeout": sen.failover_timeout_milliseconds,
        "parallel_syncs": sen.parallel_syncs,
    }
    cap = maxmemory_bytes(rd.resources)
    find = _FIND_MASTER.format(**fmt)
    return {
        "redis.sh": _REDIS_SH.format(
            find_master=find, maxmemory=f"maxmemory {cap}\n" if cap else "", **fmt
        ),
        "redis-prestop.sh": _PRESTOP_SH.format(wait_seconds=FAILOVER_WAIT_SECONDS, **fmt),
        "redis-ready.sh": _REDIS_READY.format(**fmt),
        "sentinel.sh": _SENTINEL_SH.format(find_master=find, **fmt),
    }


#: which scripts of the shared ConfigMap each StatefulSet's Pods run
_SCRIPTS_OF = {
    REDIS: ("redis.sh", "redis-prestop.sh", "redis-ready.sh"),
    SENTINEL: ("sentinel.sh",),
}


def config_hashes(project: Project, secrets_hash: str) -> dict[str, str]:
    """Return the pod-template config hash of Redis and of Sentinel.

    Each covers only the scripts its own Pods run (plus the password digest, which both use),
    so a change to one never restarts the other.

    :param project: the project.
    :param secrets_hash: digest of the Redis password Secret.
    :return: ``{"redis": ..., "sentinel": ...}``.
    """
    all_scripts = scripts(project)
    return {
        component: common.digest({k: all_scripts[k] for k in keys}, secrets_hash)
        for component, keys in _SCRIPTS_OF.items()
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
    container: dict[str, Any] = {
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
    if component == REDIS:
        ready = {"exec": {"command": ["sh", "/scripts/redis-ready.sh"]}}
        container["readinessProbe"] = {**probe, **ready}
        container["lifecycle"] = {
            "preStop": {"exec": {"command": ["sh", "/scripts/redis-prestop.sh"]}}
        }
    return container


def exporter(project: Project, port: int) -> dict[str, Any] | None:
    """Return the ``redis_exporter`` sidecar (``spec.monitoring``), or ``None``.

    It reads its own Pod's Redis or Sentinel on 127.0.0.1 with the generated password; pointed
    at a Sentinel it exports ``redis_sentinel_master_*`` (the quorum alert reads those).
    """
    mon = project.spec.monitoring
    if not (mon.enabled and mon.redis_exporter.enabled):
        return None
    return {
        "name": "exporter",
        "image": mon.redis_exporter.image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "REDIS_ADDR", "value": f"redis://127.0.0.1:{port}"},
            common.secret_env("REDIS_PASSWORD", common.redis_auth_secret(project), "password"),
            {"name": "REDIS_EXPORTER_WEB_LISTEN_ADDRESS", "value": f":{EXPORTER_PORT}"},
        ],
        "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT, "protocol": "TCP"}],
        "resources": mon.redis_exporter.resources.as_k8s(),
        "securityContext": common.container_security(),
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
        "containers": [
            c
            for c in (_container(project, component, port, resources), exporter(project, port))
            if c is not None
        ],
        "volumes": volumes,
        **common.soft_spread(project, component),
    }
    if component == REDIS:
        pod["terminationGracePeriodSeconds"] = REDIS_GRACE_SECONDS
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": headless_name(project, component),
        "podManagementPolicy": "Parallel" if component == SENTINEL else "OrderedReady",
        # highest ordinal first, one Pod at a time, each Ready before the next: replicas before
        # pod 0 (the bootstrap master); the preStop hook covers a master elsewhere
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
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


def statefulsets(project: Project, secrets_hash: str) -> list[Manifest]:
    """Return the Redis and Sentinel StatefulSets, each with its own config hash.

    :param project: the project.
    :param secrets_hash: digest of the Redis password Secret (a new password rolls both).
    """
    rd = project.spec.redis
    sen = rd.sentinel
    hashes = config_hashes(project, secrets_hash)
    return [
        _statefulset(project, REDIS, rd.replicas, settings.REDIS_PORT, rd.resources, hashes[REDIS]),
        _statefulset(
            project, SENTINEL, sen.replicas, settings.SENTINEL_PORT, sen.resources, hashes[SENTINEL]
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
