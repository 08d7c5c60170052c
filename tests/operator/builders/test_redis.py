"""The Redis builder: separate rollouts, the preStop hand-over, ``maxmemory`` with fork headroom."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from labelhive_operator import builders
from labelhive_operator import quantity
from labelhive_operator import settings
from labelhive_operator import validate
from labelhive_operator.builders import redis
from labelhive_operator.spec import Resources
from tests.operator.conftest import load_example


def _body(**redis_spec: Any) -> dict[str, Any]:
    body = load_example("minimal")
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    body["spec"]["redis"] = redis_spec
    return body


def _templates(body: dict[str, Any], secrets_hash: str = "") -> dict[str, dict[str, Any]]:
    """Return the pod templates of the Redis and Sentinel StatefulSets."""
    project = validate.parse(copy.deepcopy(body))
    inputs = builders.Inputs(workload_image=None, redis_secrets_hash=secrets_hash)
    return {
        o["metadata"]["labels"][settings.LABEL_COMPONENT]: o["spec"]["template"]
        for o in builders.build_all(project, inputs)
        if o["kind"] == "StatefulSet"
    }


def _redis_container(body: dict[str, Any]) -> dict[str, Any]:
    (container,) = [
        c for c in _templates(body)["redis"]["spec"]["containers"] if c["name"] == "redis"
    ]
    return container


def test_a_sentinel_only_change_leaves_the_redis_pods_alone() -> None:
    before = _templates(_body())
    after = _templates(_body(sentinel={"downAfterMilliseconds": 9000}))
    assert after["redis"] == before["redis"]  # byte for byte: no Redis restart
    hash_key = settings.CONFIG_HASH_ANNOTATION
    assert (
        after["sentinel"]["metadata"]["annotations"][hash_key]
        != before["sentinel"]["metadata"]["annotations"][hash_key]
    )


def test_a_redis_only_change_leaves_the_sentinel_pods_alone() -> None:
    before = _templates(_body())
    # a new memory limit rewrites maxmemory in redis.sh (and the container's resources)
    after = _templates(_body(resources={"limits": {"memory": "1Gi"}}))
    assert after["sentinel"] == before["sentinel"]
    hash_key = settings.CONFIG_HASH_ANNOTATION
    assert (
        after["redis"]["metadata"]["annotations"][hash_key]
        != before["redis"]["metadata"]["annotations"][hash_key]
    )


def test_a_new_password_rolls_both() -> None:
    before, after = _templates(_body(), "digest-1"), _templates(_body(), "digest-2")
    for component in ("redis", "sentinel"):
        assert after[component] != before[component]


def test_each_hash_covers_exactly_the_scripts_its_pods_run() -> None:
    project = validate.parse(_body())
    hashes = redis.config_hashes(project, "s")
    sts = {o["metadata"]["name"]: o for o in redis.statefulsets(project, "s")}
    annotations = {
        name: o["spec"]["template"]["metadata"]["annotations"] for name, o in sts.items()
    }
    assert annotations["demo-redis"][settings.CONFIG_HASH_ANNOTATION] == hashes["redis"]
    assert annotations["demo-sentinel"][settings.CONFIG_HASH_ANNOTATION] == hashes["sentinel"]
    mounted = set(redis.configmap(project)["data"])
    run = {s for keys in redis._SCRIPTS_OF.values() for s in keys}
    assert run == mounted  # no script of the ConfigMap escapes both hashes


def test_the_master_hands_over_in_prestop_within_the_grace_period() -> None:
    redis_c = _redis_container(_body())
    hook = redis_c["lifecycle"]["preStop"]["exec"]["command"]
    assert hook == ["sh", "/scripts/redis-prestop.sh"]
    pod = _templates(_body())["redis"]["spec"]
    # the hook's own deadline plus the pause's safety margin fit in the grace period, with time
    # left for redis-server's shutdown
    assert redis.FAILOVER_WAIT_SECONDS + 5 < pod["terminationGracePeriodSeconds"]
    script = redis.scripts(validate.parse(_body()))["redis-prestop.sh"]
    assert f"DEADLINE=$(( $(date +%s) + {redis.FAILOVER_WAIT_SECONDS} ))" in script
    assert "client pause" in script and "sentinel failover" in script


def test_sentinels_have_no_prestop_and_keep_the_ping_probe() -> None:
    sentinel = _templates(_body())["sentinel"]["spec"]["containers"][0]
    assert "lifecycle" not in sentinel
    assert "ping" in sentinel["readinessProbe"]["exec"]["command"][-1]


def test_redis_rolls_replicas_first_one_ready_pod_at_a_time() -> None:
    project = validate.parse(_body())
    sts = {o["metadata"]["name"]: o["spec"] for o in redis.statefulsets(project, "")}
    spec = sts["demo-redis"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    ready = _redis_container(_body())["readinessProbe"]["exec"]["command"]
    assert ready == ["sh", "/scripts/redis-ready.sh"]
    assert "master_link_status:up" in redis.scripts(project)["redis-ready.sh"]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("512Mi", int(512 * 2**20 * 0.7)),
        ("1Gi", int(2**30 * 0.7)),
        ("1G", int(10**9 * 0.7)),
        (268435456, int(268435456 * 0.7)),
    ],
)
def test_maxmemory_leaves_fork_headroom_under_the_limit(limit: Any, expected: int) -> None:
    assert redis.MAXMEMORY_RATIO == 0.7
    res = Resources(limits={"memory": limit})
    assert redis.maxmemory_bytes(res) == expected
    script = redis.scripts(validate.parse(_body(resources={"limits": {"memory": limit}})))
    assert f"\nmaxmemory {expected}\n" in script["redis.sh"]


def test_no_memory_limit_no_maxmemory_but_never_evict() -> None:
    body = _body(resources={"requests": {"memory": "128Mi"}, "limits": {}})
    script = redis.scripts(validate.parse(body))["redis.sh"]
    assert "\nmaxmemory " not in script
    # RQ's jobs and queues must never be evicted silently: at the cap, writes fail loudly
    assert "maxmemory-policy noeviction" in script


def test_the_default_limit_gives_a_maxmemory() -> None:
    script = redis.scripts(validate.parse(_body()))["redis.sh"]
    assert f"\nmaxmemory {int(512 * 2**20 * 0.7)}\n" in script


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("128Mi", Decimal(128 * 2**20)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("2k", Decimal(2000)),
        ("500m", Decimal("0.5")),
        ("1e3", Decimal(1000)),
        ("+7", Decimal(7)),
        (".5M", Decimal(500000)),
        (42, Decimal(42)),
    ],
)
def test_quantities_parse_as_kubernetes_reads_them(text: Any, value: Decimal) -> None:
    assert quantity.parse(text) == value


@pytest.mark.parametrize("bad", ["", "1Qi", "Mi", "-1Mi", "1 Mi", "0x10"])
def test_a_bad_quantity_is_refused_with_its_value(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity.parse(bad)
