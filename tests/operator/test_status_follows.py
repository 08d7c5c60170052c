"""Status follows the children within seconds: kopf watches owned Deployments, StatefulSets
and Jobs (``@kopf.on.event``, filtered by the owner label) and reconciles their project.

The drift loop is set to 600 s here, so every change below reaches the status through a
child's event, not a tick. The emulator has no controllers: the test plays them by patching
the children's ``/status``. The measured time is printed, never asserted.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from labelhive_operator import reconcile
from labelhive_operator import status as st
from labelhive_operator.spec import Project
from tests.operator.conftest import NAMESPACE
from tests.operator.conftest import Cluster
from tests.operator.test_operator import NAME
from tests.operator.test_operator import _condition
from tests.operator.test_operator import _cr
from tests.operator.test_operator import install
from tests.operator.test_operator import make_ready


@pytest.fixture
def slow_drift(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setenv("LABELHIVE_OPERATOR_TIMER_INTERVAL", "600")
    cluster.restart_operator()
    return cluster


def _sts_status(cluster: Cluster, name: str, ready: int) -> None:
    obj = cluster.objects("statefulsets")[name]
    n = obj["spec"]["replicas"]
    cluster.patch(
        f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/{name}/status",
        {
            "status": {
                "replicas": n,
                "readyReplicas": ready,
                "updatedReplicas": n,
                "observedGeneration": obj["metadata"]["generation"],
            }
        },
    )


def test_a_child_becoming_unavailable_changes_the_condition_within_seconds(
    slow_drift: Cluster,
) -> None:
    cluster = slow_drift
    install(cluster)  # the migration Job's success reaches the operator as a Job event
    make_ready(cluster)
    web = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/demo-web/status"
    start = time.monotonic()
    cluster.patch(web, {"status": {"readyReplicas": 0, "availableReplicas": 0}})
    cond = cluster.wait(
        "WebAvailable=False",
        lambda: (
            (c := _condition(cluster.cr(NAME), "WebAvailable")) and c["status"] == "False" and c
        ),
    )
    elapsed = time.monotonic() - start
    # kopf's test runner swaps sys.stdout while the operator runs: print past it
    print(
        f"\nchild Deployment unavailable -> WebAvailable=False in {elapsed * 1000:.0f} ms",
        file=sys.__stdout__,
    )
    assert cond["reason"] == "NoReadyPods"
    assert _condition(cluster.cr(NAME), "Ready")["status"] == "False"


def test_one_sentinel_gone_is_degraded_not_unready(slow_drift: Cluster) -> None:
    cluster = slow_drift
    install(cluster)
    make_ready(cluster)
    _sts_status(cluster, "demo-sentinel", 2)  # a node drain took one of three away
    cluster.wait(
        "Degraded=True",
        lambda: (_condition(cluster.cr(NAME), "Degraded") or {}).get("status") == "True",
    )
    cr = cluster.cr(NAME)
    assert _condition(cr, "Degraded")["message"] == "sentinel 2/3 ready"
    assert _condition(cr, "Ready")["status"] == "True"
    assert _condition(cr, "RedisReady")["status"] == "True"
    _sts_status(cluster, "demo-sentinel", 1)  # below the quorum of 2: no failover possible
    cluster.wait(
        "RedisReady=False",
        lambda: (
            (_condition(cluster.cr(NAME), "RedisReady") or {}).get("reason") == "SentinelQuorumLost"
        ),
    )
    assert _condition(cluster.cr(NAME), "Ready")["status"] == "False"


def _obs(project: Project, **children: dict[str, Any]) -> reconcile.Observed:
    obs = reconcile.Observed()
    for key, obj in children.items():
        kind, name = key.split("__")
        obs.children[(kind, name.replace("_", "-"))] = obj
    return obs


def _workload(replicas: int, ready: int, generation: int = 1, observed: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "readyReplicas": ready,
            "updatedReplicas": replicas,
            "observedGeneration": observed,
        },
    }


def test_progressing_and_degraded_follow_the_workloads() -> None:
    project = Project.from_body({**_cr(), "metadata": {"name": "demo", "namespace": NAMESPACE}})
    steady = _obs(
        project,
        Deployment__demo_web=_workload(2, 2),
        StatefulSet__demo_redis=_workload(3, 3),
        StatefulSet__demo_sentinel=_workload(3, 3),
    )
    conds = {c.type: c for c in reconcile.observe_conditions(project, steady, True, "Succeeded")}
    assert (conds["Progressing"].ok, conds["Degraded"].ok) == (False, False)
    rolling = _obs(project, Deployment__demo_web=_workload(2, 2, generation=2, observed=1))
    conds = {c.type: c for c in reconcile.observe_conditions(project, rolling, True, "Succeeded")}
    assert conds["Progressing"].reason == "RollingOut" and conds["Progressing"].message.endswith(
        "web"
    )
    conds = {c.type: c for c in reconcile.observe_conditions(project, steady, False, "Running")}
    assert conds["Progressing"].reason == "Migrating"
    # Degraded and Progressing never make Ready False by themselves
    merged = st.merge_conditions(
        [],
        [
            st.Cond("Degraded", True, "ReplicasUnavailable"),
            st.Cond("Progressing", True, "RollingOut"),
        ],
        1,
        "2026-01-01T00:00:00Z",
    )
    assert merged[0]["type"] == "Ready" and merged[0]["status"] == "True"
