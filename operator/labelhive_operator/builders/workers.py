"""RQ workers (scaled through the CR's scale subresource or an HPA) and the scheduler."""

from __future__ import annotations

from typing import Any

from labelhive_operator.builders import autoscaling
from labelhive_operator.builders import common
from labelhive_operator.builders import identity
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project

WORKER = "worker"
SCHEDULER = "scheduler"
#: where ``labelhive worker --metrics-port`` serves its job metrics (only /metrics)
METRICS_PORT = 9100


def worker_deployment(project: Project, image: str, config_hash: str) -> Manifest:
    """Return the worker Deployment.

    ``spec.replicas`` is left out when an autoscaler owns the replica count (see
    :mod:`.autoscaling`), so a server-side apply by the operator never fights it. With
    ``spec.monitoring`` the worker serves its job metrics on :data:`METRICS_PORT`.
    """
    wk = project.spec.workers
    args = ["worker", "--queues", ",".join(wk.queues)]
    if project.spec.monitoring.enabled:
        args += ["--metrics-port", str(METRICS_PORT)]
    container = common.app_container(project, "worker", image, args, wk.resources.as_k8s())
    container["env"] += identity.env(project)  # the OpenID recheck of leavers runs here
    if project.spec.monitoring.enabled:
        container["ports"] = [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
    pod: dict[str, Any] = {
        "serviceAccountName": common.child_name(project, "app"),
        "securityContext": common.pod_security(common.APP_UID),
        # rq finishes the current job on SIGTERM; give long jobs the time to end
        "terminationGracePeriodSeconds": wk.termination_grace_period_seconds,
        "containers": [container],
        "volumes": [common.tmp_volume()],
    }
    spec: dict[str, Any] = {
        "selector": {"matchLabels": common.selector_labels(project, WORKER)},
        "template": common.pod_template(project, WORKER, config_hash, pod),
    }
    if autoscaling.operator_owns_replicas(project):
        spec = {"replicas": wk.replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(project, common.child_name(project, WORKER), WORKER),
        "spec": spec,
    }


def worker_hpa(project: Project) -> Manifest | None:
    """Return the worker HPA when the operator's HPA owns the replicas (see :mod:`.autoscaling`)."""
    return autoscaling.hpa(project)


def scheduler_deployment(project: Project, image: str, config_hash: str) -> Manifest | None:
    """Return the single-replica scheduler Deployment (``Recreate``: never two schedulers)."""
    sch = project.spec.scheduler
    if not sch.enabled:
        return None
    container = common.app_container(
        project, "scheduler", image, ["scheduler"], sch.resources.as_k8s()
    )
    container["env"] += identity.scheduler_env(project)  # schedules the OpenID recheck
    pod: dict[str, Any] = {
        "serviceAccountName": common.child_name(project, "internal"),
        "securityContext": common.pod_security(common.APP_UID),
        "containers": [container],
        "volumes": [common.tmp_volume()],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(project, common.child_name(project, SCHEDULER), SCHEDULER),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": common.selector_labels(project, SCHEDULER)},
            "template": common.pod_template(project, SCHEDULER, config_hash, pod),
        },
    }
