"""The pure builders: schema-valid, restricted, resourced, no secret values, deterministic."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from labelhive_operator import builders
from labelhive_operator.builders import redis
from labelhive_operator.render import render_project
from labelhive_operator.spec import Project
from tests.operator.conftest import load_example

EXAMPLES = ["minimal", "full"]


def _objects(name: str, **kw: Any) -> list[dict[str, Any]]:
    return render_project(load_example(name), **kw)


def _pod_specs(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for o in objs:
        tmpl = (o.get("spec") or {}).get("template")
        if tmpl:
            out.append((f"{o['kind']}/{o['metadata']['name']}", tmpl["spec"]))
    return out


@pytest.mark.parametrize("version", ["1.29.0", "1.33.0"])
@pytest.mark.parametrize("example", EXAMPLES)
def test_every_object_validates_strictly(example: str, version: str) -> None:
    objs = _objects(example, with_secrets=True)
    assert len(objs) >= 20
    for obj in objs:
        kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_catches_a_misspelled_field() -> None:
    obj = _objects("minimal")[0]
    obj["automountServiceAccountTokn"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, "1.33.0", strict=True)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_pod_meets_restricted_pod_security(example: str) -> None:
    pods = _pod_specs(_objects(example))
    assert {p for p, _ in pods} >= {
        "Deployment/demo-web" if example == "minimal" else "Deployment/birds-web"
    }
    for where, pod in pods:
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False, where
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (where, c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}, (where, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (where, c["name"])
            assert sc["runAsNonRoot"] is True
        for v in pod["volumes"]:
            # restricted allows only these volume types
            assert set(v) - {"name"} <= {"emptyDir", "configMap", "secret", "projected"}, v


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_container_has_requests_and_a_memory_limit(example: str) -> None:
    for where, pod in _pod_specs(_objects(example)):
        for c in pod.get("initContainers", []) + pod["containers"]:
            res = c["resources"]
            assert res["requests"]["cpu"] and res["requests"]["memory"], (where, c["name"])
            assert res["limits"]["memory"], (where, c["name"])


@pytest.mark.parametrize("example", EXAMPLES)
def test_no_secret_value_outside_the_secrets(example: str) -> None:
    objs = _objects(example, with_secrets=True)
    secrets = [o for o in objs if o["kind"] == "Secret"]
    values = [v for s in secrets for v in s["stringData"].values()]
    assert len(values) == 3
    others = json.dumps([o for o in objs if o["kind"] != "Secret"])
    assert not [v for v in values if v in others]
    # references only: the app reads them through secretKeyRef
    assert '"secretKeyRef": {"name": "' in others


def test_builders_are_deterministic_and_owned() -> None:
    body = load_example("full")
    body["metadata"]["uid"] = "u-1"
    project = Project.from_body(body)
    inputs = builders.render_inputs(project)
    first, second = builders.build_all(project, inputs), builders.build_all(project, inputs)
    assert first == second
    names = [(o["kind"], o["metadata"]["name"]) for o in first]
    assert len(names) == len(set(names))
    for o in first:
        assert "generateName" not in o["metadata"]
        (ref,) = o["metadata"]["ownerReferences"]
        assert ref == {
            "apiVersion": "labelhive.io/v1alpha1",
            "kind": "LabelingProject",
            "name": "birds",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }


def test_autoscaled_workers_leave_replicas_to_the_hpa() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in _objects("full")}
    assert "replicas" not in objs[("Deployment", "birds-worker")]["spec"]
    assert objs[("HorizontalPodAutoscaler", "birds-worker")]["spec"]["maxReplicas"] == 20
    minimal = {(o["kind"], o["metadata"]["name"]): o for o in _objects("minimal")}
    assert minimal[("Deployment", "demo-worker")]["spec"]["replicas"] == 2
    assert ("HorizontalPodAutoscaler", "demo-worker") not in minimal


def test_workloads_wait_for_the_first_migration() -> None:
    body = load_example("minimal")
    body["metadata"]["uid"] = "u"
    project = Project.from_body(body)
    objs = builders.build_all(project, builders.Inputs(workload_image=None, run_migration=True))
    kinds = {o["kind"] for o in objs}
    assert "Job" in kinds and "Deployment" not in kinds


def test_config_change_changes_the_pod_template_hash() -> None:
    body = load_example("minimal")
    body["metadata"]["uid"] = "u"
    project = Project.from_body(body)

    def web_hash(secrets_hash: str) -> str:
        inputs = builders.Inputs(workload_image="x:1", app_secrets_hash=secrets_hash)
        (dep,) = [
            o
            for o in builders.build_all(project, inputs)
            if o["metadata"]["name"] == "demo-web" and o["kind"] == "Deployment"
        ]
        return dep["spec"]["template"]["metadata"]["annotations"]["labelhive.io/config-hash"]

    assert web_hash("a") == web_hash("a") != web_hash("b")


def test_sentinel_layout_follows_the_bar() -> None:
    project = Project.from_body(load_example("minimal"))
    script = redis.scripts(project)["sentinel.sh"]
    assert "sentinel monitor $REDIS_MASTER $MASTER 6379 2" in script
    assert (
        "sentinel resolve-hostnames yes" in script and "sentinel announce-hostnames yes" in script
    )
    assert "/run/sentinel/sentinel.conf" in script  # a writable copy on an emptyDir
    assert "requirepass $REDIS_PASSWORD" in redis.scripts(project)["redis.sh"]
    for obj in _objects("full") + _objects("minimal"):
        assert "bitnami" not in json.dumps(obj)
    sts = {o["metadata"]["name"]: o for o in _objects("minimal") if o["kind"] == "StatefulSet"}
    assert sts["demo-sentinel"]["spec"]["replicas"] == 3
    assert sts["demo-redis"]["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "redis:"
    )


def test_network_policies_keep_redis_to_the_project() -> None:
    objs = {o["metadata"]["name"]: o for o in _objects("minimal") if o["kind"] == "NetworkPolicy"}
    deny = objs["demo-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny
    (rule,) = objs["demo-redis"]["spec"]["ingress"]
    (peer,) = rule["from"]
    assert "namespaceSelector" not in peer  # same namespace only
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "demo"


def _policies(**network_policy: Any) -> dict[str, dict[str, Any]]:
    body = load_example("minimal")
    body["spec"]["networkPolicy"] = network_policy
    objs = render_project(body)
    return {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "NetworkPolicy"}


def _web_peers(policies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    (rule,) = policies["demo-web"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    operator_peer, *others = rule["from"]
    assert operator_peer["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "labelhive-operator"
    }
    return others


def test_web_ingress_is_limited_to_the_declared_controller() -> None:
    # nothing declared: the controller could be anywhere in the cluster
    assert _web_peers(_policies()) == [{"namespaceSelector": {}}]
    peers = _web_peers(
        _policies(
            ingressNamespaceLabels={"kubernetes.io/metadata.name": "ingress"},
            ingressPodLabels={"app": "envoy"},
            ingressCIDRs=["10.0.0.0/16"],
        )
    )
    assert peers == [
        {
            # one peer: those Pods in those namespaces (ANDed), not either
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}},
            "podSelector": {"matchLabels": {"app": "envoy"}},
        },
        {"ipBlock": {"cidr": "10.0.0.0/16"}},
    ]
    # an external load balancer only: no namespace is let in
    assert _web_peers(_policies(ingressCIDRs=["10.1.0.0/24"])) == [
        {"ipBlock": {"cidr": "10.1.0.0/24"}}
    ]


def test_app_egress_is_limited_to_the_database_and_s3() -> None:
    (rule,) = _policies()["demo-egress-app"]["egress"]
    assert rule == {"ports": [{"protocol": "TCP", "port": 5432}]}  # minimal: no storage
    full = {
        o["metadata"]["name"]: o["spec"] for o in _objects("full") if o["kind"] == "NetworkPolicy"
    }
    (rule,) = full["birds-egress-app"]["egress"]
    assert rule == {
        "ports": [{"protocol": "TCP", "port": 5432}, {"protocol": "TCP", "port": 443}],
        "to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}],
    }


def test_a_bad_cidr_is_refused_before_it_reaches_the_api() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        _policies(egressCIDRs=["10.0.0.300/16"])


@pytest.mark.parametrize(("example", "hops"), [("minimal", "1"), ("full", "2")])
def test_web_trusts_exactly_the_proxies_in_front_of_it(example: str, hops: str) -> None:
    """The sidecar, plus the Ingress when there is one, each append to X-Forwarded-For."""
    objs = {(o["kind"], o["metadata"]["name"]): o for o in _objects(example)}
    name = "demo-web" if example == "minimal" else "birds-web"
    web = objs[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in web["env"]}
    assert env["LABELHIVE_PROXY_FIX"] == hops
    worker = objs[("Deployment", name.replace("web", "worker"))]
    worker_env = {e["name"] for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "LABELHIVE_PROXY_FIX" not in worker_env
