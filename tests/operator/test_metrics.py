"""The operator's own metrics: the pure bookkeeping, and ``/metrics`` of the real operator."""

from __future__ import annotations

import copy
import urllib.error
import urllib.request
from typing import Any

import kopf
from prometheus_client.parser import text_string_to_metric_families

from labelhive_operator import metrics
from labelhive_operator import settings
from tests.operator.conftest import NAMESPACE
from tests.operator.conftest import Cluster
from tests.operator.test_operator import LP
from tests.operator.test_operator import install
from tests.operator.test_operator import make_ready
from tests.operator.test_validate import _body

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    """Return every sample of the operator's ``/metrics``: (name, labels) → value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape_when_up(cluster: Cluster) -> Samples:
    """Scrape once the operator serves (KopfRunner returns before the startup handler ran)."""

    def attempt() -> Samples | None:
        try:
            return scrape(cluster.metrics_port)
        except urllib.error.URLError:
            return None

    return cluster.wait("the metrics endpoint", attempt)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((f"labelhive_operator_{name}", frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == f"labelhive_operator_{name}")


# -- pure bookkeeping ---------------------------------------------------------------------


def test_each_error_has_its_outcome() -> None:
    assert metrics.outcome_of(None) == "ok"
    assert metrics.outcome_of(kopf.PermanentError("bad spec")) == "permanent_error"
    assert metrics.outcome_of(kopf.TemporaryError("409", delay=15)) == "requeue"
    assert metrics.outcome_of(ValueError("boom")) == "error"
    assert set(metrics.OUTCOMES) == {"ok", "requeue", "permanent_error", "error"}


def test_projects_are_counted_by_condition_and_status() -> None:
    ready = {"type": "Ready", "status": "True"}
    not_ready = {"type": "Ready", "status": "False", "reason": "InvalidSpec"}
    reconciled = {"type": "Reconciled", "status": "True"}
    counted = metrics.count_conditions(
        {("a", "x"): [ready, reconciled], ("a", "y"): [not_ready], ("b", "x"): [ready]}
    )
    assert counted == {("Ready", "True"): 2, ("Ready", "False"): 1, ("Reconciled", "True"): 1}
    assert metrics.count_conditions({}) == {}


def _deployment(name: str, image: str) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": name}, "spec": {"image": image}}


def test_only_an_unchanged_manifest_applied_again_is_a_drift_correction() -> None:
    web, worker = _deployment("d-web", "app:1"), _deployment("d-worker", "app:1")
    # the first apply of each child (also the first after a restart) corrects nothing
    corrected, record = metrics.drift_corrections({}, [web, worker])
    assert corrected == {}
    # the same intent applied again: the cluster had changed under it
    corrected, record = metrics.drift_corrections(record, [copy.deepcopy(web)])
    assert corrected == {"Deployment": 1}
    # a new intent (a rollout) is not drift, and it is what the next comparison starts from
    rolled = _deployment("d-web", "app:2")
    corrected, record = metrics.drift_corrections(record, [rolled])
    assert corrected == {}
    assert metrics.drift_corrections(record, [rolled])[0] == {"Deployment": 1}


def test_only_jobs_of_the_migration_component_are_migration_runs() -> None:
    def job(component: str) -> dict[str, Any]:
        labels = {settings.LABEL_COMPONENT: component}
        return {"kind": "Job", "metadata": {"name": f"d-{component}", "labels": labels}}

    migration = job("migration")
    other = job("backup")
    deployment = {"kind": "Deployment", "metadata": {"labels": migration["metadata"]["labels"]}}
    assert metrics.migration_jobs([migration, other, deployment]) == 1


def test_a_forgotten_project_leaves_the_gauge_and_the_drift_record() -> None:
    m = metrics.Metrics()
    web = _deployment("d-web", "app:1")
    m.reconciled(("ns", "d"), None, 0.1, [{"type": "Ready", "status": "True"}], [web])
    assert m.conditions() == {("Ready", "True"): 1}
    m.forget(("ns", "d"))
    assert m.conditions() == {}
    # recreated later: its first apply again corrects nothing
    m.reconciled(("ns", "d"), None, 0.1, [], [web])
    drift = m.registry.get_sample_value(
        "labelhive_operator_drift_corrections_total", {"kind": "Deployment"}
    )
    assert drift is None  # no series: never counted
    ok = m.registry.get_sample_value("labelhive_operator_reconciles_total", {"outcome": "ok"})
    assert ok == 2


def test_port_zero_serves_nothing() -> None:
    assert metrics.serve(metrics.Metrics(), 0, "127.0.0.1") is None


# -- the real operator --------------------------------------------------------------------


def test_the_operator_counts_its_reconciles_drift_and_errors(cluster: Cluster) -> None:
    """Scraped from the running operator: successes, the migration Job, the projects gauge; a
    child changed by hand is counted as corrected drift; an invalid spec as a permanent error."""
    port = cluster.metrics_port
    scrape_when_up(cluster)
    install(cluster)
    make_ready(cluster)
    got = cluster.wait(
        "a successful reconcile counted",
        lambda: (s := scrape(port)) and value(s, "reconciles_total", outcome="ok") >= 1 and s,
    )
    assert value(got, "migration_jobs_created_total") == 1
    assert value(got, "migration_jobs_finished_total", result="succeeded") == 1
    assert value(got, "reconcile_duration_seconds_count") >= 1
    assert value(got, "last_successful_reconcile_timestamp_seconds") > 0
    assert value(got, "projects", condition="Ready", status="True") == 1
    assert value(got, "reconciles_total", outcome="permanent_error") == 0
    assert total(got, "drift_corrections_total") == 0  # nobody changed a child yet

    # someone relabels a child the operator owns: the next reconcile puts it back
    part_of = {settings.LABEL_PART_OF: "someone-else"}
    cluster.patch(
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/demo-scheduler",
        {"metadata": {"labels": part_of}},
    )
    got = cluster.wait(
        "the drift correction counted",
        lambda: (
            (s := scrape(port)) and value(s, "drift_corrections_total", kind="Deployment") and s
        ),
    )
    assert value(got, "drift_corrections_total", kind="Deployment") >= 1

    # a project whose spec no child can carry: a permanent error, Ready=False in the gauge
    cluster.client.request(
        "POST", LP, body=_body("bad", networkPolicy={"ingressCIDRs": ["10.0.0.300/16"]})
    )
    got = cluster.wait(
        "the invalid spec counted",
        lambda: (
            (s := scrape(port))
            and value(s, "reconciles_total", outcome="permanent_error") >= 1
            and value(s, "projects", condition="Ready", status="False") == 1
            and s
        ),
    )
    assert value(got, "projects", condition="Ready", status="True") == 1
    assert value(got, "projects", condition="Reconciled", status="False") == 1

    # the deleted project leaves the gauge
    cluster.client.request("DELETE", f"{LP}/bad")
    cluster.wait(
        "the deleted project gone from the gauge",
        lambda: value(scrape(port), "projects", condition="Ready", status="False") == 0,
    )


def test_a_restarted_operator_serves_its_metrics_on_the_same_port(cluster: Cluster) -> None:
    """The cleanup handler frees the port: a new operator process binds it again."""
    assert total(scrape_when_up(cluster), "reconciles_total") == 0  # no project yet
    cluster.restart_operator()
    samples = scrape_when_up(cluster)
    assert value(samples, "reconciles_total", outcome="ok") == 0
    assert ("labelhive_operator_reconciles_total", frozenset({("outcome", "error")})) in samples
