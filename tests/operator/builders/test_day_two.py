"""Autoscaling modes, monitoring objects and the CloudNativePG Cluster, as the builders make them.

Built-in kinds are validated with kubernetes-validate (strict); KEDA, prometheus-operator and
CloudNativePG objects against those projects' own CRD schemas (vendored in
``tests/operator/crdschemas``), with unknown fields refused.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from labelhive_operator import optional_apis
from labelhive_operator import settings
from labelhive_operator import validate
from labelhive_operator.builders import autoscaling
from labelhive_operator.render import render_project
from tests.operator import crdschemas
from tests.operator.conftest import load_example

DAY_TWO = {
    "workers": {"autoscaling": {"enabled": True, "provider": "KEDA", "maxReplicas": 20}},
    "monitoring": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "database": {
        "cluster": {
            "instances": 3,
            "storage": {"size": "20Gi", "storageClassName": "gp3"},
            "backup": {
                "destinationPath": "s3://acme-pg-backups/birds",
                "credentialsSecretRef": {"name": "pg-backup-s3"},
                "schedule": "0 30 1 * * *",
            },
        }
    },
}


def _body(**spec: Any) -> dict[str, Any]:
    body = load_example("full")
    body["spec"] = {**body["spec"], **copy.deepcopy(spec)}
    return body


def _by_kind(objs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def _validate_any(obj: dict[str, Any]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    if key in optional_apis.RESOURCES:
        crdschemas.validate(obj, optional_apis.RESOURCES[key])
    else:
        kubernetes_validate.validate(obj, "1.33.0", strict=True)


def test_day_two_example_builds_valid_objects_of_every_optional_kind() -> None:
    objs = render_project(_body(**DAY_TWO))
    kinds = {(o["apiVersion"], o["kind"]) for o in objs}
    assert optional_apis.ALL <= kinds
    for obj in objs:
        _validate_any(obj)


@pytest.mark.parametrize(
    ("obj_kind", "plural", "breakage"),
    [
        ("ScaledObject", "scaledobjects", lambda o: o["spec"].update(maxReplicas=3)),
        ("ServiceMonitor", "servicemonitors", lambda o: o["spec"]["endpoints"][0].update(prot=1)),
        ("PrometheusRule", "prometheusrules", lambda o: o["spec"]["groups"][0].pop("name")),
        ("Cluster", "clusters", lambda o: o["spec"].update(instances="three")),
    ],
)
def test_the_vendored_schemas_refuse_a_broken_object(obj_kind: str, plural: str, breakage) -> None:  # noqa: ANN001
    obj = next(o for o in render_project(_body(**DAY_TWO)) if o["kind"] == obj_kind)
    crdschemas.validate(obj, plural)
    breakage(obj)
    with pytest.raises(jsonschema.ValidationError):
        crdschemas.validate(obj, plural)


# --- autoscaling -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auto", "owner", "extra_kinds"),
    [
        ({}, "Operator", set()),
        ({"enabled": True}, "HPA", {"HorizontalPodAutoscaler"}),
        ({"enabled": True, "provider": "KEDA"}, "KEDA", {"ScaledObject", "TriggerAuthentication"}),
        ({"external": True}, "External", set()),
    ],
    ids=["operator", "hpa", "keda", "external"],
)
def test_each_mode_has_one_owner_of_replicas(auto: dict, owner: str, extra_kinds: set) -> None:
    objs = render_project(_body(workers={"replicas": 4, "autoscaling": auto}))
    worker = _by_kind(objs)[("Deployment", "birds-worker")]
    assert ("replicas" in worker["spec"]) == (owner == "Operator")
    if owner == "Operator":
        assert worker["spec"]["replicas"] == 4
    scaling = {"HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication"}
    assert {o["kind"] for o in objs} & scaling == extra_kinds


def test_keda_scales_on_the_rq_list_of_every_queue_through_the_sentinels() -> None:
    objs = render_project(_body(workers={"queues": ["high", "default"], **DAY_TWO["workers"]}))
    so = _by_kind(objs)[("ScaledObject", "birds-worker")]
    assert so["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "birds-worker",
    }
    assert so["spec"]["maxReplicaCount"] == 20
    lists = [t["metadata"]["listName"] for t in so["spec"]["triggers"]]
    assert lists == ["rq:queue:high", "rq:queue:default"]
    for trigger in so["spec"]["triggers"]:
        assert trigger["type"] == "redis-sentinel"
        addresses = trigger["metadata"]["addresses"].split(",")
        assert len(addresses) == 3
        assert all(a.endswith(f".svc:{settings.SENTINEL_PORT}") for a in addresses)
        assert trigger["authenticationRef"] == {"name": "birds-worker-redis"}
    auth = _by_kind(objs)[("TriggerAuthentication", "birds-worker-redis")]
    # the password by reference only
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {
        "password",
        "sentinelPassword",
    }
    assert {r["name"] for r in auth["spec"]["secretTargetRef"]} == {"birds-redis-auth"}


def test_keda_is_left_out_where_its_api_is_not_served() -> None:
    project = validate.parse(_body(**DAY_TWO) | {"metadata": {"name": "b", "uid": "u"}})
    assert autoscaling.objects(project, frozenset()) == []
    assert len(autoscaling.objects(project, optional_apis.ALL)) == 2


def _live(replicas: int, managers: dict[str, str]) -> dict[str, Any]:
    """A Deployment as the API server returns it, ``managers``: name → operation."""
    fields = {"f:spec": {"f:replicas": {}, "f:template": {}}}
    return {
        "metadata": {
            "name": "birds-worker",
            "managedFields": [
                {"manager": m, "operation": op, "fieldsType": "FieldsV1", "fieldsV1": fields}
                for m, op in managers.items()
            ],
        },
        "spec": {"replicas": replicas},
    }


def test_the_handover_applies_the_live_count_when_the_operator_still_owns_replicas() -> None:
    objs = render_project(_body(workers={"autoscaling": {"external": True}}))
    desired = _by_kind(objs)[("Deployment", "birds-worker")]
    live = _live(7, {settings.FIELD_MANAGER: "Apply"})
    handover = autoscaling.replicas_handover(desired, live)
    assert handover == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "birds-worker", "namespace": desired["metadata"]["namespace"]},
        "spec": {"replicas": 7},
    }


def test_no_handover_once_the_autoscaler_owns_replicas_or_when_the_operator_keeps_them() -> None:
    auto = render_project(_body(workers={"autoscaling": {"external": True}}))
    desired = _by_kind(auto)[("Deployment", "birds-worker")]
    # the HPA controller's Update took the field: nothing left to hand over
    taken = _live(7, {"kube-controller-manager": "Update"})
    assert autoscaling.replicas_handover(desired, taken) is None
    assert autoscaling.replicas_handover(desired, None) is None
    objs = render_project(_body(workers={"autoscaling": {}}))
    own = _by_kind(objs)[("Deployment", "birds-worker")]
    assert autoscaling.replicas_handover(own, _live(7, {settings.FIELD_MANAGER: "Apply"})) is None


# --- monitoring --------------------------------------------------------------------------------


def test_metrics_are_scraped_from_ports_no_ingress_reaches() -> None:
    objs = _by_kind(render_project(_body(**DAY_TWO)))
    sm = objs[("ServiceMonitor", "birds")]
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = sm["spec"]["selector"]["matchLabels"]
    scraped = [
        o
        for (kind, _), o in objs.items()
        if kind == "Service"
        and all(o["metadata"]["labels"].get(k) == v for k, v in selector.items())
    ]
    ports = {o["metadata"]["name"]: o["spec"]["ports"][0]["targetPort"] for o in scraped}
    assert ports == {
        "birds-web-metrics": settings.GUNICORN_PORT,
        "birds-worker-metrics": 9100,
        "birds-redis-metrics": 9121,
        "birds-sentinel-metrics": 9121,
    }
    assert settings.HAPROXY_PORT not in ports.values()
    # the Ingress still points only at the web Service's HAProxy port
    ingress = objs[("Ingress", "birds")]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "birds-web"
    # every scraped port is declared on a container of the selected Pods
    pods = {
        o["spec"]["template"]["metadata"]["labels"][settings.LABEL_COMPONENT]: o["spec"]["template"]
        for (kind, _), o in objs.items()
        if kind in ("Deployment", "StatefulSet")
    }
    for svc in scraped:
        component = svc["spec"]["selector"][settings.LABEL_COMPONENT]
        declared = {
            p["containerPort"]
            for c in pods[component]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        assert svc["spec"]["ports"][0]["targetPort"] in declared, svc["metadata"]["name"]
    worker = objs[("Deployment", "birds-worker")]["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"][-2:] == ["--metrics-port", "9100"]


def test_prometheus_is_let_in_on_the_metrics_ports_only() -> None:
    body = _body(**DAY_TWO)
    body["spec"]["monitoring"]["namespaceLabels"] = {"kubernetes.io/metadata.name": "monitoring"}
    np = _by_kind(render_project(body))[("NetworkPolicy", "birds-metrics")]
    (rule,) = np["spec"]["ingress"]
    assert sorted(p["port"] for p in rule["ports"]) == [settings.GUNICORN_PORT, 9100, 9121]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def test_alerts_cover_what_matters_and_read_metrics_that_exist() -> None:
    objs = _by_kind(render_project(_body(**DAY_TWO)))
    rules = objs[("PrometheusRule", "birds")]["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r["expr"] for r in rules}
    assert set(alerts) == {
        "LabelHiveOverCollection",
        "LabelHiveJobsFailing",
        "LabelHiveMigrationFailed",
        "LabelHiveNoAnswers",
        "LabelHiveSentinelNoQuorum",
    }
    assert "labelhive_over_collection_total" in alerts["LabelHiveOverCollection"]
    assert 'outcome="failed"' in alerts["LabelHiveJobsFailing"]
    assert 'job_name=~"birds-migrate-.*"' in alerts["LabelHiveMigrationFailed"]
    assert alerts["LabelHiveSentinelNoQuorum"].endswith("< 2")  # the spec's quorum
    assert "> 3600" in alerts["LabelHiveNoAnswers"]


def test_app_metric_names_in_alerts_and_dashboard_are_the_apps() -> None:
    """Every ``labelhive_*`` series the rules and the dashboard read is one the app exports."""
    import re

    from labelhive import metrics
    from labelhive.projects import monitoring as project_monitoring

    exported = set()
    for collector in (
        metrics.CLAIMS, metrics.SUBMITS, metrics.LEASES_EXPIRED, metrics.OVER_COLLECTION,
        metrics.CLAIM_SECONDS, metrics.SUBMIT_SECONDS, metrics.JOB_SECONDS,
    ):  # fmt: skip
        for family in collector.describe():
            exported |= {family.name, f"{family.name}_total", f"{family.name}_count"}
            exported.add(f"{family.name}_bucket")
    exported |= {"labelhive_queue_depth", "labelhive_queue_failed_jobs"}
    exported |= set(project_monitoring.NAMES)
    objs = _by_kind(render_project(_body(**DAY_TWO)))
    rules = objs[("PrometheusRule", "birds")]["spec"]["groups"][0]["rules"]
    board = json.loads(next(iter(objs[("ConfigMap", "birds-dashboard")]["data"].values())))
    exprs = [r["expr"] for r in rules] + [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(labelhive_[a-z_]+)\{", e)}
    assert used - exported == set()


def test_dashboard_configmap_is_labelled_for_grafana_and_shows_the_six_panels() -> None:
    objs = _by_kind(render_project(_body(**DAY_TWO)))
    cm = objs[("ConfigMap", "birds-dashboard")]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(cm["data"]["labelhive-birds.json"])
    assert [p["title"] for p in board["panels"]] == [
        "Answers per minute",
        "Claim and submit latency",
        "Lease expiries per minute",
        "Queue lengths",
        "Job outcomes per minute",
        "Consensus age",
    ]


def test_monitoring_crds_missing_leaves_out_only_their_objects() -> None:
    from labelhive_operator import builders

    project = validate.parse(_body(**DAY_TWO) | {"metadata": {"name": "birds", "uid": "u"}})
    inputs = builders.Inputs(workload_image="x:1", served=frozenset())
    kinds = {o["kind"] for o in builders.build_all(project, inputs)}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "ScaledObject", "Cluster"}
    assert "ConfigMap" in kinds


def test_redis_exporter_reads_its_own_pod_with_the_password_by_reference() -> None:
    objs = _by_kind(render_project(_body(**DAY_TWO)))
    for sts, port in (("birds-redis", 6379), ("birds-sentinel", 26379)):
        containers = objs[("StatefulSet", sts)]["spec"]["template"]["spec"]["containers"]
        exporter = next(c for c in containers if c["name"] == "exporter")
        env = {e["name"]: e for e in exporter["env"]}
        assert env["REDIS_ADDR"]["value"] == f"redis://127.0.0.1:{port}"
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "birds-redis-auth"
        assert exporter["securityContext"]["readOnlyRootFilesystem"] is True
        assert exporter["resources"]["limits"]["memory"]
    plain = _by_kind(render_project(_body()))
    pod = plain[("StatefulSet", "birds-redis")]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["redis"]


# --- CloudNativePG -----------------------------------------------------------------------------


def test_the_app_reads_the_cluster_s_generated_secret_and_no_external_one() -> None:
    body = _body(**DAY_TWO)
    body["spec"]["database"] = {"cluster": DAY_TWO["database"]["cluster"]}
    objs = _by_kind(render_project(body))
    cluster = objs[("Cluster", "birds-db")]
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["storage"] == {"size": "20Gi", "storageClass": "gp3"}
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://acme-pg-backups/birds"
    assert store["s3Credentials"]["accessKeyId"] == {
        "name": "pg-backup-s3",
        "key": "AWS_ACCESS_KEY_ID",
    }
    backup = objs[("ScheduledBackup", "birds-db-backup")]
    assert backup["spec"]["schedule"] == "0 30 1 * * *"
    assert backup["spec"]["cluster"] == {"name": "birds-db"}
    for key in [("Deployment", "birds-web"), ("Deployment", "birds-worker")]:
        env = objs[key]["spec"]["template"]["spec"]["containers"][-1]["env"]
        db = next(e for e in env if e["name"] == "DATABASE_URL")
        assert db["valueFrom"]["secretKeyRef"] == {"name": "birds-db-app", "key": "uri"}
    egress = objs[("NetworkPolicy", "birds-db-egress")]["spec"]["egress"][0]
    assert egress["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "birds-db"}}}]


def test_irsa_backups_inherit_the_role_from_the_cluster_service_account() -> None:
    cluster = copy.deepcopy(DAY_TWO["database"]["cluster"])
    cluster["backup"] = {"destinationPath": "s3://b/p", "roleArn": "arn:aws:iam::1:role/pg"}
    objs = _by_kind(render_project(_body(database={"cluster": cluster})))
    spec = objs[("Cluster", "birds-db")]["spec"]
    assert spec["backup"]["barmanObjectStore"]["s3Credentials"] == {"inheritFromIAMRole": True}
    annotations = spec["serviceAccountTemplate"]["metadata"]["annotations"]
    assert annotations == {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/pg"}
    crdschemas.validate(objs[("Cluster", "birds-db")], "clusters")


@pytest.mark.parametrize(
    ("database", "field"),
    [
        ({}, "spec.database"),
        ({"secretRef": {"name": "db"}, "cluster": {}}, "spec.database"),
    ],
    ids=["neither", "both"],
)
def test_database_must_be_one_of_secret_or_cluster(database: dict, field: str) -> None:
    with pytest.raises(validate.InvalidSpec) as err:
        validate.parse(_body(database=database))
    assert [p.field for p in err.value.problems] == [field]
