"""The operator's Deployment and RBAC: what operator/README.md and the bar require."""

from __future__ import annotations

import re
from typing import Any

from labelhive_operator import __version__
from labelhive_operator import cli
from labelhive_operator.builders import common
from tests.chart.conftest import ROOT
from tests.chart.conftest import Rendered
from tests.chart.conftest import by_kind
from tests.chart.conftest import load
from tests.chart.conftest import maximal_values
from tests.chart.conftest import render

Rules = set[tuple[str, str, frozenset[str]]]


def readme_rbac() -> tuple[Rules, Rules]:
    """Parse operator/README.md's RBAC table into (every-mode rules, cluster-wide-only rules)."""
    text = (ROOT / "operator" / "README.md").read_text()
    section = text[text.index("## RBAC") :]
    every: Rules = set()
    cluster_only: Rules = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        group = cells[0].strip("`").replace('""', "")
        verbs = frozenset(v.strip() for v in cells[2].split(","))
        for resource in cells[1].split(","):
            rule = (group, resource.strip(), verbs)
            (cluster_only if "cluster-wide mode only" in cells[3] else every).add(rule)
    assert len(every) >= 10 and len(cluster_only) == 2, (every, cluster_only)
    return every, cluster_only


def rules_of(role: dict[str, Any]) -> Rules:
    return {
        (group, resource, frozenset(rule["verbs"]))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def is_hook(obj: dict[str, Any]) -> bool:
    return "helm.sh/hook" in (obj["metadata"].get("annotations") or {})


def operator_role(objs: list[Rendered], kind: str) -> list[dict[str, Any]]:
    # the aggregated view/edit roles are for tenants, the hook's for the uninstall cleanup
    return [
        o
        for o in by_kind(objs, kind)
        if not o["metadata"]["name"].endswith(("-view", "-edit")) and not is_hook(o)
    ]


def test_cluster_wide_rbac_is_exactly_the_readme_table(default_objects: list[Rendered]) -> None:
    every, cluster_only = readme_rbac()
    (role,) = operator_role(default_objects, "ClusterRole")
    assert rules_of(role) == every | cluster_only
    assert by_kind(default_objects, "Role") == []
    (binding,) = operator_role(default_objects, "ClusterRoleBinding")
    (sa,) = operator_role(default_objects, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "labelhive"}
    ]


def test_namespace_scoped_rbac_is_a_role_per_watched_namespace(
    maximal_objects: list[Rendered],
) -> None:
    every, _ = readme_rbac()
    roles = operator_role(maximal_objects, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["labelhive", "labelhive-staging"]
    assert all(rules_of(r) == every for r in roles)
    assert operator_role(maximal_objects, "ClusterRole") == []
    assert by_kind(maximal_objects, "ClusterRoleBinding") == []
    bindings = operator_role(maximal_objects, "RoleBinding")
    assert {b["metadata"]["namespace"] for b in bindings} == {"labelhive", "labelhive-staging"}
    assert all(b["subjects"][0]["name"] == "hive-operator-sa" for b in bindings)
    (deployment,) = by_kind(maximal_objects, "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WATCH_NAMESPACE"]["value"] == "labelhive,labelhive-staging"


def test_namespace_scope_defaults_to_the_release_namespace() -> None:
    objs = render(load(), {"labelhive-operator": {"rbac": {"scope": "namespace"}}})
    (role,) = operator_role(objs, "Role")
    assert role["metadata"]["namespace"] == "labelhive"
    (deployment,) = by_kind(objs, "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "WATCH_NAMESPACE", "value": "labelhive"} in env


def test_no_wildcards_or_dangerous_verbs(
    default_objects: list[Rendered], maximal_objects: list[Rendered]
) -> None:
    for r in default_objects + maximal_objects:
        for rule in r.obj.get("rules", []):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
            assert "pods/exec" not in rule["resources"]
            if "secrets" in rule["resources"]:
                assert not {"list", "watch"} & set(rule["verbs"])


def test_the_deployment_runs_one_standalone_kopf(default_objects: list[Rendered]) -> None:
    (deployment,) = by_kind(default_objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["labelhive-operator"] and container["args"] == ["run"]
    assert container["image"] == f"ghcr.io/labelhive/labelhive-operator:{__version__}"
    # the liveness probe reads the endpoint `labelhive-operator run` passes to kopf
    liveness = re.fullmatch(r"http://0\.0\.0\.0:(\d+)(/\S+)", cli.LIVENESS)
    assert liveness is not None
    assert container["livenessProbe"]["httpGet"] == {"path": liveness[2], "port": "health"}
    assert {"name": "health", "containerPort": int(liveness[1]), "protocol": "TCP"} in container[
        "ports"
    ]
    assert "--standalone" in cli.kopf_argv([])
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in (
        container["env"]
    )
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


def test_the_pod_is_restricted_with_a_read_only_root(default_objects: list[Rendered]) -> None:
    (deployment,) = by_kind(default_objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == common.APP_UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["emptyDir"]["medium"] == "Memory"


def test_image_placement_and_pull_secrets_come_from_values(
    maximal_objects: list[Rendered],
) -> None:
    op = maximal_values()["labelhive-operator"]
    (deployment,) = by_kind(maximal_objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"{op['image']['repository']}@{op['image']['digest']}"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == op["resources"]
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints"):
        assert pod[key] == op[key], key
    assert pod["priorityClassName"] == op["priorityClassName"]
    assert deployment["spec"]["template"]["metadata"]["annotations"] == op["podAnnotations"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["LABELHIVE_OPERATOR_TIMER_INTERVAL"] == "30"
    assert env["LABELHIVE_OPERATOR_APP_URL"] == op["extraEnv"][0]["value"]


def test_the_tag_defaults_to_the_app_version_and_follows_the_values() -> None:
    objs = render(load(), {"labelhive-operator": {"image": {"tag": "1.2.3"}}})
    (deployment,) = by_kind(objs, "Deployment")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/labelhive/labelhive-operator:1.2.3"
    assert load().metadata["appVersion"] == __version__
