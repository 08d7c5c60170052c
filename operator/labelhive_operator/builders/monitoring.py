"""Prometheus and Grafana objects: metrics Services, ServiceMonitor, alerts, dashboard.

Metrics never go through the public port: HAProxy (the web Service, the Ingress) answers
``/metrics`` with 404. Prometheus scrapes the Pods' own ports through Services of their own that
no Ingress points at: gunicorn's port (web), ``labelhive worker --metrics-port`` (workers) and the
``redis_exporter`` sidecars (Redis, Sentinel). The ServiceMonitor and the PrometheusRule are built
only where ``monitoring.coreos.com/v1`` is served; the dashboard is a plain ConfigMap that
Grafana's sidecar picks up by label.
"""

from __future__ import annotations

import json
from typing import Any

from labelhive_operator import optional_apis
from labelhive_operator import settings
from labelhive_operator.builders import common
from labelhive_operator.builders import redis
from labelhive_operator.builders import workers
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project

COMPONENT = "monitoring"
#: label of the metrics Services the ServiceMonitor selects
METRICS_LABEL = f"{settings.GROUP}/metrics"


def metrics_ports(project: Project) -> dict[str, int]:
    """Return component → container port Prometheus scrapes (Redis/Sentinel with the exporter)."""
    ports = {"web": settings.GUNICORN_PORT, "worker": workers.METRICS_PORT}
    if project.spec.monitoring.redis_exporter.enabled:
        ports |= {"redis": redis.EXPORTER_PORT, "sentinel": redis.EXPORTER_PORT}
    return ports


def services(project: Project) -> list[Manifest]:
    """Return one headless ``<name>-<component>-metrics`` Service per scraped component."""
    out = []
    for component, port in metrics_ports(project).items():
        meta = common.metadata(
            project, common.child_name(project, f"{component}-metrics"), component
        )
        meta["labels"][METRICS_LABEL] = "true"
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {
                    "clusterIP": "None",
                    "selector": common.selector_labels(project, component),
                    "ports": [
                        {"name": "metrics", "port": port, "targetPort": port, "protocol": "TCP"}
                    ],
                },
            }
        )
    return out


def network_policy(project: Project) -> Manifest | None:
    """Return the NetworkPolicy that lets Prometheus in, on the metrics ports only."""
    mon = project.spec.monitoring
    if not project.spec.network_policy.enabled:
        return None
    ports = sorted(set(metrics_ports(project).values()))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": common.metadata(project, common.child_name(project, "metrics"), COMPONENT),
        "spec": {
            "podSelector": {
                "matchLabels": {
                    settings.LABEL_NAME: settings.APP_NAME,
                    settings.LABEL_INSTANCE: project.name,
                }
            },
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": dict(mon.namespace_labels)}}],
                    "ports": [{"protocol": "TCP", "port": p} for p in ports],
                }
            ],
        },
    }


def service_monitor(project: Project) -> Manifest:
    """Return the ServiceMonitor over the metrics Services (port ``metrics``)."""
    mon = project.spec.monitoring
    meta = common.metadata(project, project.name, COMPONENT)
    meta["labels"] |= dict(mon.labels)
    return {
        "apiVersion": optional_apis.SERVICE_MONITOR[0],
        "kind": "ServiceMonitor",
        "metadata": meta,
        "spec": {
            "selector": {
                "matchLabels": {settings.LABEL_INSTANCE: project.name, METRICS_LABEL: "true"}
            },
            "namespaceSelector": {"matchNames": [project.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": mon.interval}],
        },
    }


def _sel(project: Project, components: tuple[str, ...], **labels: str) -> str:
    """Return a PromQL label selector for the series scraped from ``components``' Services."""
    svcs = "|".join(common.child_name(project, f"{c}-metrics") for c in components)
    extra = "".join(f',{k}="{v}"' for k, v in labels.items())
    return f'{{namespace="{project.namespace}",service=~"{svcs}"{extra}}}'


APP = ("web", "worker")


def alert_rules(project: Project) -> list[dict[str, Any]]:
    """Return the alerting rules: each one something an operator of the project must act on."""
    ns, name = project.namespace, project.name
    app = _sel(project, APP)
    summary = {"project": name}
    rules: list[dict[str, Any]] = [
        {
            "alert": "LabelHiveOverCollection",
            "expr": f"max(labelhive_over_collection_total{app}) > 0",
            "labels": {"severity": "critical"},
            "annotations": {
                **summary,
                "summary": "A task holds more counted answers than it asked for.",
                "description": "labelhive_over_collection_total must stay 0; see the app logs.",
            },
        },
        {
            "alert": "LabelHiveJobsFailing",
            "expr": (
                "sum by (kind) (increase(labelhive_job_seconds_count"
                f"{_sel(project, APP, outcome='failed')}[15m])) > 0"
            ),
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                **summary,
                "summary": "Background jobs of kind {{ $labels.kind }} are failing.",
                "description": "See the failed job registry and the worker logs.",
            },
        },
        {
            "alert": "LabelHiveMigrationFailed",
            "expr": (
                f'max(kube_job_status_failed{{namespace="{ns}",job_name=~"{name}-migrate-.*"}}) > 0'
            ),
            "for": "1m",
            "labels": {"severity": "critical"},
            "annotations": {
                **summary,
                "summary": "The migration Job failed; the rollout of the new image is blocked.",
                "description": f"kubectl describe lp/{name} -n {ns}; kubectl logs job/<the Job>.",
            },
        },
        {
            "alert": "LabelHiveNoAnswers",
            "expr": (
                "(time() - max by (project) "
                f"(labelhive_project_last_answer_timestamp_seconds{app})) > 3600"
                f" and max by (project) (labelhive_project_open_tasks{app}) > 0"
            ),
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                **summary,
                "summary": "Published project {{ $labels.project }} got no answer for an hour.",
                "description": "It still has open tasks: are annotators able to reach it?",
            },
        },
    ]
    if project.spec.monitoring.redis_exporter.enabled:
        sen = project.spec.redis.sentinel
        master = project.spec.redis.master_name
        sel = _sel(project, ("sentinel",), master_name=master)
        rules.append(
            {
                "alert": "LabelHiveSentinelNoQuorum",
                "expr": f"max(redis_sentinel_master_ok_sentinels{sel}) < {sen.quorum}",
                "for": "2m",
                "labels": {"severity": "critical"},
                "annotations": {
                    **summary,
                    "summary": "Sentinel has no quorum: a dead master would not fail over.",
                    "description": f"Fewer than {sen.quorum} Sentinels see the master {master}.",
                },
            }
        )
    return rules


def prometheus_rule(project: Project) -> Manifest:
    """Return the PrometheusRule with :func:`alert_rules`."""
    meta = common.metadata(project, project.name, COMPONENT)
    meta["labels"] |= dict(project.spec.monitoring.labels)
    return {
        "apiVersion": optional_apis.PROMETHEUS_RULE[0],
        "kind": "PrometheusRule",
        "metadata": meta,
        "spec": {"groups": [{"name": f"labelhive-{project.name}", "rules": alert_rules(project)}]},
    }


def _panel(n: int, title: str, exprs: list[tuple[str, str]], unit: str) -> dict[str, Any]:
    return {
        "id": n,
        "type": "timeseries",
        "title": title,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (n % 2), "y": 8 * (n // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(65 + i), "expr": e, "legendFormat": legend}
            for i, (e, legend) in enumerate(exprs)
        ],
    }


def dashboard(project: Project) -> dict[str, Any]:
    """Return the Grafana dashboard model (JSON) of one project."""
    app = _sel(project, APP)
    web = _sel(project, ("web",))
    accepted = _sel(project, ("web",), outcome="accepted")

    def latency(metric: str, quantile: str) -> tuple[str, str]:
        expr = (
            f"histogram_quantile({quantile}, sum by (le) (rate({metric}_seconds_bucket{web}[5m])))"
        )
        return expr, f"{metric} p{quantile[2:].ljust(2, '0')}"

    answers = f"sum(rate(labelhive_submits_total{accepted}[5m])) * 60"
    expiries = f"sum(rate(labelhive_leases_expired_total{app}[5m])) * 60"
    depth = f"max by (queue) (labelhive_queue_depth{app})"
    failed = f"max by (queue) (labelhive_queue_failed_jobs{app})"
    jobs = f"sum by (kind, outcome) (rate(labelhive_job_seconds_count{app}[5m])) * 60"
    consensus = f"time() - max by (project) (labelhive_consensus_computed_timestamp_seconds{app})"
    latencies = [latency(m, q) for m in ("claim", "submit") for q in ("0.5", "0.95")]
    panels: list[tuple[str, list[tuple[str, str]], str]] = [
        ("Answers per minute", [(answers, "answers")], "short"),
        ("Claim and submit latency", latencies, "s"),
        ("Lease expiries per minute", [(expiries, "expired")], "short"),
        ("Queue lengths", [(depth, "{{queue}}"), (failed, "{{queue}} failed")], "short"),
        ("Job outcomes per minute", [(jobs, "{{kind}} {{outcome}}")], "short"),
        ("Consensus age", [(consensus, "{{project}}")], "s"),
    ]
    return {
        "title": f"LabelHive {project.namespace}/{project.name}",
        "uid": f"labelhive-{common.digest(project.namespace, project.name)[:12]}",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "tags": ["labelhive"],
        "panels": [_panel(i, t, e, u) for i, (t, e, u) in enumerate(panels)],
    }


def dashboard_configmap(project: Project) -> Manifest:
    """Return the dashboard ConfigMap (labelled for Grafana's dashboard sidecar)."""
    meta = common.metadata(project, common.child_name(project, "dashboard"), COMPONENT)
    meta["labels"] |= dict(project.spec.monitoring.dashboard.labels)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {f"labelhive-{project.name}.json": json.dumps(dashboard(project), indent=1)},
    }


def objects(project: Project, served: frozenset[tuple[str, str]]) -> list[Manifest]:
    """Return the monitoring objects (none unless ``spec.monitoring.enabled``)."""
    mon = project.spec.monitoring
    if not mon.enabled:
        return []
    out: list[Manifest | None] = [*services(project), network_policy(project)]
    if mon.dashboard.enabled:
        out.append(dashboard_configmap(project))
    if optional_apis.SERVICE_MONITOR in served:
        out.append(service_monitor(project))
    if optional_apis.PROMETHEUS_RULE in served:
        out.append(prometheus_rule(project))
    return [o for o in out if o is not None]
