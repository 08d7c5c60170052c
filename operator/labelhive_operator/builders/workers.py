"""RQ workers (scaled through the CR's scale subresource or an HPA) and the scheduler."""

from __future__ import annotations

from typing import Any

from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project

WORKER = "worker"
SCHEDULER = "scheduler"


def worker_deployment(project: Project, image: str, config_hash: str) -> Manifest:
    """Return the worker Deployment.

    ``spec.replicas`` is left out when an HPA owns the replica count, so a server-side apply by
    the operator never fights the autoscaler.
    """
    wk = project.spec.workers
    container = common.app_container(
        project, "worker", image, ["worker", "--queues", ",".join(wk.queues)], wk.resources.as_k8s()
    )
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
    if not wk.autoscaling.enabled:
        spec = {"replicas": wk.replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(project, common.child_name(project, WORKER), WORKER),
        "spec": spec,
    }


def worker_hpa(project: Project) -> Manifest | None:
    """Return the worker HPA when ``spec.workers.autoscaling.enabled``."""
    auto = project.spec.workers.autoscaling
    if not auto.enabled:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": common.metadata(project, common.child_name(project, WORKER), WORKER),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": common.child_name(project, WORKER),
            },
            "minReplicas": auto.min_replicas,
            "maxReplicas": auto.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": auto.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def scheduler_deployment(project: Project, image: str, config_hash: str) -> Manifest | None:
    """Return the single-replica scheduler Deployment (``Recreate``: never two schedulers)."""
    sch = project.spec.scheduler
    if not sch.enabled:
        return None
    container = common.app_container(
        project, "scheduler", image, ["scheduler"], sch.resources.as_k8s()
    )
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
