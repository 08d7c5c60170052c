"""Kinds of other projects' APIs the operator writes only where their CRDs are installed.

The operator asks the API server's discovery (``GET /apis/<group>/<version>``) on every
reconcile which of them are served; builders skip the kinds that are not, and the reconcile
lists (and so can delete) only the served ones.
"""

from __future__ import annotations

SCALED_OBJECT = ("keda.sh/v1alpha1", "ScaledObject")
TRIGGER_AUTHENTICATION = ("keda.sh/v1alpha1", "TriggerAuthentication")
SERVICE_MONITOR = ("monitoring.coreos.com/v1", "ServiceMonitor")
PROMETHEUS_RULE = ("monitoring.coreos.com/v1", "PrometheusRule")
PG_CLUSTER = ("postgresql.cnpg.io/v1", "Cluster")
PG_SCHEDULED_BACKUP = ("postgresql.cnpg.io/v1", "ScheduledBackup")

#: (apiVersion, kind) → plural
RESOURCES: dict[tuple[str, str], str] = {
    SCALED_OBJECT: "scaledobjects",
    TRIGGER_AUTHENTICATION: "triggerauthentications",
    SERVICE_MONITOR: "servicemonitors",
    PROMETHEUS_RULE: "prometheusrules",
    PG_CLUSTER: "clusters",
    PG_SCHEDULED_BACKUP: "scheduledbackups",
}

#: every optional kind (what an offline render assumes is served)
ALL: frozenset[tuple[str, str]] = frozenset(RESOURCES)

#: the group versions discovery is asked about
GROUP_VERSIONS: tuple[str, ...] = tuple(sorted({api for api, _ in RESOURCES}))
