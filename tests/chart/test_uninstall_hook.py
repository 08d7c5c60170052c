"""The pre-delete hook: ``helm uninstall`` deletes every LabelingProject while the operator still
runs (Helm deletes kinds it does not know last, so without it projects hang on the finalizer)."""

from __future__ import annotations

from typing import Any

from tests.chart.conftest import Rendered
from tests.chart.conftest import by_kind
from tests.chart.conftest import load
from tests.chart.conftest import render

HOOK = "helm.sh/hook"


def hooks(objs: list[Rendered]) -> dict[str, list[dict[str, Any]]]:
    """Hook objects by kind."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in objs:
        if HOOK in (r.obj["metadata"].get("annotations") or {}):
            out.setdefault(r.kind, []).append(r.obj)
    return out


def weight(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["annotations"]["helm.sh/hook-weight"])


def allows(role: dict[str, Any], verbs: set[str]) -> bool:
    return any(
        "labelhive.io" in rule["apiGroups"]
        and "labelingprojects" in rule["resources"]
        and verbs <= set(rule["verbs"])
        for rule in role["rules"]
    )


def test_a_pre_delete_job_deletes_the_projects_before_the_operator_goes(
    default_objects: list[Rendered],
) -> None:
    found = hooks(default_objects)
    (job,) = found["Job"]
    (sa,) = found["ServiceAccount"]
    (role,) = found["ClusterRole"]
    (binding,) = found["ClusterRoleBinding"]
    for obj in (job, sa, role, binding):
        annotations = obj["metadata"]["annotations"]
        # pre-delete hooks run (and a Job is waited for) before Helm deletes any release object
        assert annotations[HOOK] == "pre-delete"
        policies = set(annotations["helm.sh/hook-delete-policy"].split(","))
        assert policies == {"before-hook-creation", "hook-succeeded"}
    # RBAC exists before the Job runs: lower weights are created first
    assert weight(sa) < weight(binding) < weight(job) and weight(role) < weight(job)
    (operator,) = by_kind(default_objects, "Deployment")
    assert HOOK not in (operator["metadata"].get("annotations") or {})

    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["labelhive-operator"]
    assert container["args"][:2] == ["delete-projects", "--wait"]
    assert container["args"][2:] == ["--timeout", "240"]
    assert container["image"] == operator["spec"]["template"]["spec"]["containers"][0]["image"]
    assert {"name": "WATCH_NAMESPACE", "value": ""} in container["env"]  # every namespace
    assert pod["restartPolicy"] == "Never" and job["spec"]["activeDeadlineSeconds"] > 240
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True

    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "labelhive"}
    ]
    assert allows(role, {"get", "list", "watch", "delete"})
    # nothing but that: the hook cannot touch anything else
    assert [r["resources"] for r in role["rules"]] == [["labelingprojects"]]


def test_namespace_scope_gets_a_role_per_watched_namespace() -> None:
    values = {
        "labelhive-operator": {
            "rbac": {"scope": "namespace"},
            "watchNamespaces": ["team-a", "team-b"],
            "cleanupOnUninstall": {"timeoutSeconds": 100},
        }
    }
    found = hooks(render(load(), values))
    assert "ClusterRole" not in found and "ClusterRoleBinding" not in found
    assert sorted(r["metadata"]["namespace"] for r in found["Role"]) == ["team-a", "team-b"]
    assert all(allows(r, {"get", "list", "watch", "delete"}) for r in found["Role"])
    assert sorted(b["metadata"]["namespace"] for b in found["RoleBinding"]) == ["team-a", "team-b"]
    (job,) = found["Job"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert {"name": "WATCH_NAMESPACE", "value": "team-a,team-b"} in container["env"]
    assert container["args"][-1] == "100"


def test_the_hook_can_be_turned_off() -> None:
    objs = render(load(), {"labelhive-operator": {"cleanupOnUninstall": {"enabled": False}}})
    assert hooks(objs) == {}
    assert by_kind(objs, "Deployment")  # the operator itself is still there
