"""Items of the operator bar (operator/README.md, "The bar, item by item") no other test showed.

Each test names its item. The operator-in-the-loop ones run the real kopf operator against the
emulator (``cluster``); the rest read what the operator builds, registers or configures.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any
from urllib.parse import parse_qs

import kopf
import pytest
import yaml

from labelhive_operator import cli
from labelhive_operator import handlers
from labelhive_operator import main
from labelhive_operator import settings
from labelhive_operator.render import render_project
from tests.operator.conftest import CRD_PATH
from tests.operator.conftest import ROOT
from tests.operator.conftest import Cluster
from tests.operator.conftest import load_example
from tests.operator.emulator import APPLY
from tests.operator.emulator import TEST_USER_AGENT
from tests.operator.test_operator import LP
from tests.operator.test_operator import NAME
from tests.operator.test_operator import _condition
from tests.operator.test_operator import install


def _objects(example: str, **spec: Any) -> list[dict[str, Any]]:
    body = load_example(example)
    body["spec"].update(spec)
    return render_project(body)


def _by(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


# --- MUST 3: children written with server-side apply under one fixed field manager ------------


def test_every_child_write_is_a_forced_apply_under_the_operators_field_manager(
    cluster: Cluster,
) -> None:
    install(cluster)
    cluster.patch(f"{LP}/{NAME}", {"spec": {"workers": {"replicas": 3}}})
    cluster.wait(
        "scaled",
        lambda: cluster.objects("deployments")["demo-worker"]["spec"].get("replicas") == 3,
    )
    children, posts = [], []
    for r in cluster.emu.writes(0):
        if r.headers.get("User-Agent", "").startswith(TEST_USER_AGENT):
            continue  # the test's own kubectl and controller writes
        method = str(r.method).upper().rsplit(".", 1)[-1]
        path = r.url.path
        if "/labelingprojects/" in path or path.endswith("/events"):
            continue  # kopf's own writes to the handled object and its Events
        if method == "POST":
            posts.append(path)
            continue
        children.append(r)
    # the generated Secrets are the one exception: created once (POST), never re-applied
    assert posts and all(p.endswith("/secrets") for p in posts), posts
    assert len(children) > 10
    for r in children:
        method = str(r.method).upper().rsplit(".", 1)[-1]
        params = parse_qs(r.url.query_string)
        if method == "DELETE":
            continue
        if r.url.path.rsplit("/", 2)[-2] == "secrets":
            continue  # the ownerReference that follows deletionPolicy (merge-patch)
        assert r.headers.get("Content-Type", "").startswith(APPLY), r.url.path
        assert params["fieldManager"] == [settings.FIELD_MANAGER], r.url
        assert params["force"] == ["true"], r.url


# --- MUST 8 and 9: how kopf runs, pinned versions, frozen names ---------------------------------


def test_kopf_runs_standalone_with_liveness_and_json_logs() -> None:
    argv = cli.kopf_argv([])
    assert "--standalone" in argv and "--log-format=json" in argv
    assert any(a.startswith("--liveness=http://0.0.0.0:") for a in argv)


def test_kopf_and_python_are_pinned_and_the_names_are_the_projects() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"  # kopf's watch inactivity detection
    deps = [d for group in project.get("optional-dependencies", {}).values() for d in group]
    (kopf_pin,) = [d for d in [*project.get("dependencies", []), *deps] if d.startswith("kopf")]
    assert kopf_pin == "kopf>=1.44"
    conf = kopf.OperatorSettings()
    main.configure(conf)
    assert conf.persistence.finalizer == "labelhive.io/finalizer"
    progress = conf.persistence.progress_storage
    diffbase = conf.persistence.diffbase_storage
    assert (
        isinstance(progress, kopf.AnnotationsProgressStorage) and progress.prefix == "labelhive.io"
    )
    assert (
        isinstance(diffbase, kopf.AnnotationsDiffBaseStorage) and diffbase.prefix == "labelhive.io"
    )


# --- MUST 10: no change-detecting handlers on Secrets or other foreign objects ----------------


def test_only_the_labelingproject_has_change_detecting_handlers() -> None:
    assert handlers  # imported: the handlers are registered
    registry = kopf.get_default_registry()
    own = ("labelhive.io", "labelingprojects")
    changing = registry._changing.get_all_handlers()
    assert changing
    for h in [*changing, *registry._spawning.get_all_handlers()]:
        assert (h.selector.group, h.selector.any_name) == own, h.id
    # children are watched with on.event (no diff base stored), never Secrets
    watched = {
        (h.selector.group, h.selector.any_name) for h in registry._watching.get_all_handlers()
    }
    assert watched == {own, ("apps", "deployments"), ("apps", "statefulsets"), ("batch", "jobs")}
    assert not registry._indexing.get_all_handlers()


# --- MUST 16: PDBs with a switch ----------------------------------------------------------------


def test_pdbs_for_web_workers_redis_and_sentinel_and_a_switch_to_drop_them() -> None:
    pdbs = _by(_objects("minimal"), "PodDisruptionBudget")
    assert set(pdbs) == {"demo-web", "demo-worker", "demo-redis", "demo-sentinel"}
    for pdb in pdbs.values():
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        component = pdb["metadata"]["name"].removeprefix("demo-")
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == component
    off = _objects("minimal", podDisruptionBudgets={"enabled": False})
    assert _by(off, "PodDisruptionBudget") == {}


# --- SHOULD 27: the drift loop's interval and jitter --------------------------------------------


def test_the_drift_loop_ticks_every_minute_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABELHIVE_OPERATOR_TIMER_INTERVAL")
    assert 30 <= settings.timer_interval() <= 120
    ticks = {handlers.jittered(60.0) for _ in range(50)}
    assert all(54.0 <= t <= 66.0 for t in ticks) and len(ticks) > 1


# --- SHOULD 29: placement of Redis, Sentinel and web --------------------------------------------


def test_redis_sentinel_and_web_spread_softly_over_hosts_and_zones() -> None:
    objs = _objects("minimal")
    pods = {
        name: o["spec"]["template"]
        for name, o in {**_by(objs, "StatefulSet"), **_by(objs, "Deployment")}.items()
    }
    for name in ("demo-redis", "demo-sentinel", "demo-web"):
        labels = pods[name]["metadata"]["labels"]
        spec = pods[name]["spec"]
        (anti,) = spec["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        term = anti["podAffinityTerm"]
        assert term["topologyKey"] == "kubernetes.io/hostname", name
        assert term["labelSelector"]["matchLabels"].items() <= labels.items(), name
        assert (
            "requiredDuringSchedulingIgnoredDuringExecution"
            not in spec["affinity"]["podAntiAffinity"]
        )
        (spread,) = spec["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone", name
        assert spread["whenUnsatisfiable"] == "ScheduleAnyway", name  # soft: one-zone clusters
        assert spread["labelSelector"]["matchLabels"].items() <= labels.items(), name


# --- SHOULD 31: ServiceAccounts ----------------------------------------------------------------


def test_only_the_s3_users_get_the_irsa_account_and_nobody_chooses_one() -> None:
    objs = _objects("full")
    accounts = _by(objs, "ServiceAccount")
    with_role = {
        n
        for n, sa in accounts.items()
        if (sa["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn")
    }
    (app_sa,) = with_role
    for o in objs:
        tmpl = (o.get("spec") or {}).get("template")
        if not tmpl or o["kind"] == "Cluster":
            continue
        pod = tmpl["spec"]
        component = tmpl["metadata"]["labels"]["app.kubernetes.io/component"]
        assert pod["automountServiceAccountToken"] is False, o["metadata"]["name"]
        expected = app_sa if component in ("web", "worker") else "birds-internal"
        assert pod["serviceAccountName"] == expected, (o["metadata"]["name"], component)
    # the spec has no field that picks a ServiceAccount (it would hand out the IRSA role)
    assert "serviceAccount" not in CRD_PATH.read_text()


# --- SHOULD 34: Events and kopf's posting settings ----------------------------------------------


def test_events_come_from_explicit_calls_under_the_operators_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POD_NAME", "labelhive-operator-7d9f")
    conf = kopf.OperatorSettings()
    main.configure(conf)
    assert conf.posting.reporting_component == "labelhive-operator"
    assert conf.posting.reporting_instance == "labelhive-operator-7d9f"
    assert conf.posting.loggers is False and conf.posting.enabled is True


# --- SHOULD 35: the pause switch ---------------------------------------------------------------


def test_a_paused_project_changes_no_child_and_says_so(cluster: Cluster) -> None:
    install(cluster)
    cluster.patch(f"{LP}/{NAME}", {"spec": {"paused": True}})
    cluster.wait(
        "Reconciled=False/Paused",
        lambda: (_condition(cluster.cr(NAME), "Reconciled") or {}).get("reason") == "Paused",
    )
    mark = cluster.request_count()
    cluster.patch(f"{LP}/{NAME}", {"spec": {"workers": {"replicas": 5}}})
    generation = (cluster.cr(NAME) or {})["metadata"]["generation"]
    cluster.wait(
        "the paused edit seen",
        lambda: (
            (_condition(cluster.cr(NAME), "Reconciled") or {}).get("observedGeneration")
            == generation
        ),
    )
    writes = [
        r.url.path
        for r in cluster.writes_since(mark)
        if not r.headers.get("User-Agent", "").startswith(TEST_USER_AGENT)
        and "/labelingprojects/" not in r.url.path
        and not r.url.path.endswith("/events")
    ]
    assert writes == []
    assert cluster.objects("deployments")["demo-worker"]["spec"]["replicas"] == 2
    cluster.patch(f"{LP}/{NAME}", {"spec": {"paused": False}})
    cluster.wait(
        "unpaused: the edit applied",
        lambda: cluster.objects("deployments")["demo-worker"]["spec"].get("replicas") == 5,
    )


# --- SHOULD 36: aggregated ClusterRoles for tenants -----------------------------------------------


def test_tenants_get_labelingprojects_through_view_and_edit_not_the_operators_rights() -> None:
    from tests.chart.conftest import by_kind
    from tests.chart.conftest import load
    from tests.chart.conftest import render

    roles = {r["metadata"]["name"]: r for r in by_kind(render(load()), "ClusterRole")}
    view = next(r for n, r in roles.items() if n.endswith("-view"))
    edit = next(r for n, r in roles.items() if n.endswith("-edit"))
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    for role in (view, edit):
        for rule in role["rules"]:
            assert rule["apiGroups"] == ["labelhive.io"], role["metadata"]["name"]
            assert all(r.startswith("labelingprojects") for r in rule["resources"])
    assert {v for rule in view["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}
    # the operator's own role is aggregated nowhere
    for name, role in roles.items():
        if name.endswith(("-view", "-edit")):
            continue
        labels = role["metadata"].get("labels") or {}
        assert not [k for k in labels if k.startswith("rbac.authorization.k8s.io/aggregate")], name


# --- SHOULD 39: the ingress class comes from the spec ---------------------------------------------


def test_the_ingress_class_and_annotations_come_from_the_spec_with_no_nginx_default() -> None:
    (ingress,) = _by(_objects("full"), "Ingress").values()
    assert ingress["spec"]["ingressClassName"] == "alb"
    body = load_example("minimal")
    body["spec"]["ingress"] = {"host": "x.example.com", "annotations": {"a.example/b": "c"}}
    (plain,) = _by(render_project(body), "Ingress").values()
    assert "ingressClassName" not in plain["spec"]  # the cluster's default class
    assert plain["metadata"]["annotations"] == {"a.example/b": "c"}
    rendered = yaml.safe_dump_all(render_project(load_example("full")))
    assert not re.search(r"nginx", rendered + CRD_PATH.read_text(), re.I)


# --- SHOULD 35: the roll-everything annotation --------------------------------------------------

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
WORKLOADS = {
    "deployments": ("demo-web", "demo-worker", "demo-scheduler"),
    "statefulsets": ("demo-redis", "demo-sentinel"),
}


def _restarted_at(cluster: Cluster) -> dict[str, str | None]:
    out = {}
    for plural, names in WORKLOADS.items():
        objs = cluster.objects(plural)
        for name in names:
            meta = objs[name]["spec"]["template"]["metadata"]
            out[name] = (meta.get("annotations") or {}).get(RESTARTED_AT)
    return out


def test_the_restarted_at_annotation_rolls_every_workload_and_no_job(cluster: Cluster) -> None:
    install(cluster)
    assert set(_restarted_at(cluster).values()) == {None}
    jobs = cluster.objects("jobs")
    for stamp in ("2026-12-06T10:00:00Z", "2026-12-06T11:00:00Z"):
        cluster.patch(f"{LP}/{NAME}", {"metadata": {"annotations": {RESTARTED_AT: stamp}}})
        cluster.wait(
            f"every workload restarted at {stamp}",
            lambda stamp=stamp: set(_restarted_at(cluster).values()) == {stamp},
        )
    # the migration Job (immutable template) is neither changed nor replaced
    assert cluster.objects("jobs") == jobs
    body = load_example("minimal")
    body["metadata"]["annotations"] = {RESTARTED_AT: "2026-12-06T10:00:00Z"}
    (job,) = _by(render_project(body), "Job").values()
    assert RESTARTED_AT not in job["spec"]["template"]["metadata"]["annotations"]
