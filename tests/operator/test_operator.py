"""The real kopf operator against kmock's Kubernetes emulator.

The emulator has no controllers: no Pods run, no Deployment or Job ever gets a status by itself.
Where the operator waits on one (the migration Job gating the rollout, readiness for ``Ready``),
the test plays that controller by patching the child's ``status``, and says so. It also has no
scale subresource: scaling is done by patching ``spec.workers.replicas``, which is the field the
CRD's scale subresource maps to. Garbage collection by ownerReference is not emulated either, so
deletion is checked through the finalizer and the ownerReferences the objects carry.
"""

from __future__ import annotations

import copy
import datetime
import json
import time
from typing import Any

import yaml

from labelhive_operator import builders
from labelhive_operator import reconcile
from labelhive_operator.builders import migrate
from labelhive_operator.spec import Project
from tests.operator.conftest import CRD_PATH
from tests.operator.conftest import NAMESPACE
from tests.operator.conftest import Cluster
from tests.operator.conftest import load_example

LP = f"/apis/labelhive.io/v1alpha1/namespaces/{NAMESPACE}/labelingprojects"
NAME = "demo"

# kinds → REST plural, for every child the operator builds
PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Service": "services",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "Job": "jobs",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Secret": "secrets",
}


def _cr(**spec: Any) -> dict[str, Any]:
    body = load_example("minimal")
    body["spec"]["ingress"] = {"host": "demo.example.com"}
    body["spec"]["image"] = {"tag": "1.0.0"}
    body["spec"].update(spec)
    return body


def _db_secret(cluster: Cluster) -> None:
    cluster.client.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "demo-db", "namespace": NAMESPACE},
            "data": {"uri": "cG9zdGdyZXNxbDovL3U="},
        }
    )


def _condition(cr: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in ((cr or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return c
    return None


def _job_done(cluster: Cluster, name: str) -> None:
    """Play the Job controller: mark the migration Job complete."""
    cluster.patch(
        f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}/status",
        {"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}},
    )


def _deploy_ready(cluster: Cluster, kind: str, name: str) -> None:
    """Play the Deployment/StatefulSet controller: report every replica ready."""
    plural = PLURALS[kind]
    group = f"/apis/apps/v1/namespaces/{NAMESPACE}/{plural}/{name}"
    obj = cluster.objects(plural)[name]
    n = obj["spec"].get("replicas", 1)
    gen = obj["metadata"]["generation"]
    cluster.patch(
        group + "/status",
        {
            "status": {
                "observedGeneration": gen,
                "replicas": n,
                "readyReplicas": n,
                "updatedReplicas": n,
            }
        },
    )


def install(cluster: Cluster, **spec: Any) -> dict[str, Any]:
    """Create the CR (``spec`` overrides), let the migration succeed, wait for the workloads."""
    _db_secret(cluster)
    cluster.client.request("POST", LP, body=_cr(**spec))
    job = cluster.wait("migration job", lambda: cluster.objects("jobs"))
    (job_name,) = job
    assert not cluster.objects("deployments"), "workloads must wait for the migration"
    _job_done(cluster, job_name)
    cluster.wait("web deployment", lambda: "demo-web" in cluster.objects("deployments"))
    cluster.wait(
        "migration recorded",
        lambda: (
            ((cluster.cr(NAME) or {}).get("status") or {}).get("migration", {}).get("succeeded")
        ),
    )
    return cluster.cr(NAME) or {}


def make_ready(cluster: Cluster) -> dict[str, Any]:
    for kind, name in [
        ("Deployment", "demo-web"),
        ("Deployment", "demo-worker"),
        ("Deployment", "demo-scheduler"),
        ("StatefulSet", "demo-redis"),
        ("StatefulSet", "demo-sentinel"),
    ]:
        _deploy_ready(cluster, kind, name)
    return cluster.wait(
        "Ready=True", lambda: (_condition(cluster.cr(NAME), "Ready") or {}).get("status") == "True"
    )


def test_create_builds_every_child_with_owner_and_conditions(cluster: Cluster) -> None:
    install(cluster)
    cr = cluster.cr(NAME)
    assert cr is not None
    project = Project.from_body(cr)
    inputs = builders.Inputs(workload_image=project.spec.image.ref, run_migration=False)
    expected = {(o["kind"], o["metadata"]["name"]) for o in builders.build_all(project, inputs)}
    for kind, name in expected:
        cluster.wait(f"{kind}/{name}", lambda k=kind, n=name: n in cluster.objects(PLURALS[k]))
        obj = cluster.objects(PLURALS[kind])[name]
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref["uid"] == cr["metadata"]["uid"] and ref["controller"] is True, (kind, name)
    # the succeeded Job of the running image stays (a durable record); the success is recorded
    # on the LabelingProject too
    (job_name,) = cluster.objects("jobs")
    cluster.wait("migration recorded", lambda: _recorded(cluster))
    assert _recorded(cluster) == {"job": job_name, "image": project.spec.image.ref}
    cr = cluster.wait(
        "conditions", lambda: _condition(cluster.cr(NAME), "Migrated") and cluster.cr(NAME)
    )
    status = cr["status"]
    assert status["observedGeneration"] == cr["metadata"]["generation"]
    assert _condition(cr, "Migrated")["status"] == "True"
    assert _condition(cr, "Ready")["status"] == "False"  # nothing runs: no controllers here
    assert all(
        c["observedGeneration"] == cr["metadata"]["generation"] for c in status["conditions"]
    )
    assert status["url"] == "http://demo.example.com/"
    # everything written is declared in the CRD: a structural schema would prune the rest silently
    assert undeclared(status_schema(), status) == []
    assert status["workers"]["selector"] == (
        "app.kubernetes.io/component=worker,app.kubernetes.io/instance=demo,"
        "app.kubernetes.io/name=labelhive"
    )
    assert cr["metadata"]["finalizers"] == ["labelhive.io/finalizer"]
    annotations = cr["metadata"]["annotations"]
    assert "labelhive.io/last-handled-configuration" in annotations
    assert not [k for k in annotations if k.startswith("kopf.zalando.org")]
    # the database URI lives only in its own Secret: no child carries it
    children = _children(cluster)
    assert not [k for k, v in children.items() if "postgresql://u" in json.dumps(v)]
    ready = make_ready(cluster)
    assert ready
    assert (cluster.cr(NAME) or {})["status"]["workers"]["readyOfDesired"] == "2/2"


def test_scaling_workers_changes_only_the_worker_deployment(cluster: Cluster) -> None:
    install(cluster)
    make_ready(cluster)
    before = {k: v["metadata"]["resourceVersion"] for k, v in _children(cluster).items()}
    # what `kubectl scale lp/demo --replicas=5` writes through the scale subresource
    cluster.patch(f"{LP}/{NAME}", {"spec": {"workers": {"replicas": 5}}})
    cluster.wait(
        "worker scaled",
        lambda: cluster.objects("deployments")["demo-worker"]["spec"]["replicas"] == 5,
    )
    time.sleep(1.0)  # a few timer ticks: nothing else may move
    after = {k: v["metadata"]["resourceVersion"] for k, v in _children(cluster).items()}
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {("Deployment", "demo-worker")}


def test_new_image_runs_a_new_migration_then_rolls_templates(cluster: Cluster) -> None:
    install(cluster)
    old_web = cluster.objects("deployments")["demo-web"]
    (old_job,) = cluster.objects("jobs")
    cluster.patch(f"{LP}/{NAME}", {"spec": {"image": {"tag": "1.1.0"}}})
    jobs = cluster.wait("new migration job", lambda: len(cluster.objects("jobs")) == 2)
    jobs = cluster.objects("jobs")
    (job_name,) = set(jobs) - {old_job}
    cr = cluster.cr(NAME) or {}
    assert job_name == migrate.job_name(Project.from_body(cr))
    assert jobs[job_name]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.1.0")
    time.sleep(0.8)  # gated: until the Job succeeds the workloads keep the migrated image
    web = cluster.objects("deployments")["demo-web"]
    assert web["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.0.0")
    cr = cluster.cr(NAME) or {}
    assert _condition(cr, "Migrated")["status"] == "False"
    _job_done(cluster, job_name)

    def rolled() -> bool:
        deps = cluster.objects("deployments")
        return all(
            d["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.1.0")
            for d in deps.values()
        )

    cluster.wait("rolled templates", rolled)
    # the new Job is the record now: the old image's Job goes, the new one stays
    cluster.wait("old job removed", lambda: set(cluster.objects("jobs")) == {job_name})
    assert _recorded(cluster)["job"] == job_name
    assert (
        cluster.objects("deployments")["demo-web"]["metadata"]["resourceVersion"]
        != (old_web["metadata"]["resourceVersion"])
    )
    cluster.wait(
        "current image",
        lambda: (cluster.cr(NAME) or {})["status"].get("currentImage", "").endswith(":1.1.0"),
    )


def test_second_reconcile_with_nothing_changed_writes_nothing(cluster: Cluster) -> None:
    install(cluster)
    make_ready(cluster)
    cluster.wait("migration recorded", lambda: _recorded(cluster))
    time.sleep(0.7)  # let the timer settle the status
    start = cluster.request_count()
    time.sleep(1.5)  # several timer ticks of the real operator
    assert cluster.writes_since(start) == []
    assert cluster.request_count() > start  # the timer did run and read
    # one reconcile, counted request by request through the operator's own client
    from labelhive_operator import k8s

    client = k8s.Client(k8s.new_api_client())
    events: list[tuple[str, str, str]] = []
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    new_status = reconcile.reconcile(cluster.cr(NAME), client, now, lambda *e: events.append(e))
    assert new_status is None
    assert client.writes == 0
    assert events == []
    print(f"no-op reconcile: {client.reads} GET requests, {client.writes} writes")
    # 2 generated + 1 referenced Secret GETs, discovery of the 3 optional API groups (none
    # served here), then one LIST per child kind; nothing else
    assert client.reads == 2 + 1 + 3 + len(k8s.CHILD_KINDS) == 16


def test_config_change_rolls_pods_through_the_hash(cluster: Cluster) -> None:
    install(cluster)
    before = cluster.objects("deployments")["demo-web"]["spec"]["template"]["metadata"]
    cluster.patch(
        f"/api/v1/namespaces/{NAMESPACE}/secrets/demo-db", {"data": {"uri": "cG9zdGdyZXM6Ly92Mg=="}}
    )

    def rolled() -> bool:
        meta = cluster.objects("deployments")["demo-web"]["spec"]["template"]["metadata"]
        return meta["annotations"] != before["annotations"]

    cluster.wait("hash changed", rolled)


def test_delete_completes_the_finalizer_and_retains_data(cluster: Cluster) -> None:
    install(cluster)
    sts = cluster.objects("statefulsets")["demo-redis"]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    cluster.client.request("DELETE", f"{LP}/{NAME}")
    cluster.wait("CR gone", lambda: cluster.cr(NAME) is None)
    generated = cluster.objects("secrets")
    for name in ("demo-redis-auth", "demo-app-secrets"):
        # Retain: no ownerReference, so garbage collection keeps them with the Redis volumes
        assert name in generated and not generated[name]["metadata"].get("ownerReferences")


def test_a_failed_migration_blocks_the_rollout_and_says_so(cluster: Cluster) -> None:
    install(cluster)
    (old_job,) = cluster.objects("jobs")
    cluster.patch(f"{LP}/{NAME}", {"spec": {"image": {"tag": "1.1.0"}}})
    cluster.wait("new migration job", lambda: len(cluster.objects("jobs")) == 2)
    (job_name,) = set(cluster.objects("jobs")) - {old_job}
    # play the Job controller: the migration failed for good
    cluster.patch(
        f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{job_name}/status",
        {"status": {"failed": 4, "conditions": [{"type": "Failed", "status": "True"}]}},
    )
    cond = cluster.wait(
        "Migrated=False/MigrationFailed",
        lambda: (
            (c := _condition(cluster.cr(NAME), "Migrated"))
            and c["reason"] == "MigrationFailed"
            and c
        ),
    )
    assert cond["status"] == "False" and cond["message"].endswith(":1.1.0")
    cr = cluster.cr(NAME) or {}
    assert _condition(cr, "Ready")["status"] == "False"
    assert cr["status"]["migration"]["state"] == "Failed"
    assert cr["status"]["currentImage"].endswith(":1.0.0")
    events = cluster.wait(
        "MigrationFailed event",
        lambda: [e for e in cluster.objects("events").values() if e["reason"] == "MigrationFailed"],
    )
    (event,) = events  # posted once, not on every timer tick
    assert event["type"] == "Warning" and event["involvedObject"]["name"] == NAME
    assert job_name in event["message"]
    # the old version keeps serving: no template moved to the failed image
    for dep in cluster.objects("deployments").values():
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.0.0")
    assert job_name in cluster.objects("jobs")  # kept for `kubectl logs job/...`
    # the running image's record is untouched; its Job stays until a newer one succeeded
    assert _recorded(cluster)["job"] == old_job and old_job in cluster.objects("jobs")


def _recorded(cluster: Cluster) -> dict[str, Any] | None:
    """The migration record the operator keeps on the LabelingProject, if any."""
    raw = ((cluster.cr(NAME) or {}).get("metadata", {}).get("annotations") or {}).get(
        "labelhive.io/migrated"
    )
    return json.loads(raw) if raw else None


def status_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def undeclared(schema: dict[str, Any], value: Any, path: str = "status") -> list[str]:
    """Return the paths in ``value`` that ``schema`` does not declare (what pruning would drop)."""
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties") or {}
        out = []
        for key, sub in value.items():
            if key not in props:
                out.append(f"{path}.{key}")
            else:
                out += undeclared(props[key], sub, f"{path}.{key}")
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            p for i, v in enumerate(value) for p in undeclared(schema["items"], v, f"{path}[{i}]")
        ]
    return []


def test_the_undeclared_check_finds_a_stray_field() -> None:
    status = {"conditions": [{"type": "Ready", "bogus": 1}], "web": {"replicas": 1, "x": 2}}
    assert undeclared(status_schema(), status) == [
        "status.conditions[0].bogus",
        "status.web.x",
    ]


def _children(cluster: Cluster) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for kind, plural in PLURALS.items():
        for name, obj in cluster.objects(plural).items():
            if obj["metadata"].get("ownerReferences"):
                out[(kind, name)] = copy.deepcopy(obj)
    return out
