"""Who owns the worker replicas, and the objects that scale them.

Three modes (``spec.workers.autoscaling``), one owner of ``Deployment.spec.replicas`` each:

- ``Operator`` (default): the operator applies ``spec.workers.replicas`` (the scale subresource,
  which ``kubectl scale`` or an autoscaler targeting the ``LabelingProject`` writes);
- ``HPA`` / ``KEDA`` (``enabled``): an autoscaler the operator builds owns them: an
  ``autoscaling/v2`` HPA on CPU, or a KEDA ``ScaledObject`` on the Redis list length of each RQ
  queue (``rq:queue:<name>``, read through the Sentinels);
- ``External``: an autoscaler the user owns targets the worker Deployment.

Outside ``Operator`` the operator leaves ``replicas`` out of what it applies. Leaving a field out
of an apply that its manager alone owns would *remove* it (the Deployment would default to one
replica), so the field is handed over first, as the Kubernetes server-side apply docs describe
("Transferring ownership"): a second field manager applies the live value, then the operator's
apply without the field gives up only its own share, and the autoscaler's next write takes it.
"""

from __future__ import annotations

from typing import Any

from labelhive_operator import optional_apis
from labelhive_operator import settings
from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project

#: the field manager that holds ``replicas`` between the operator and an autoscaler
HANDOVER_MANAGER = "labelhive-operator-handover"
#: RQ's Redis list of a queue (``rq.Queue.redis_queue_namespace_prefix`` + name)
RQ_QUEUE_KEY = "rq:queue:{}"
WORKER = "worker"


def operator_owns_replicas(project: Project) -> bool:
    """Return whether the operator writes the worker Deployment's ``spec.replicas``."""
    return project.spec.workers.autoscaling.replicas_owner == "Operator"


def _owns(live: dict[str, Any], manager: str, path: tuple[str, ...]) -> bool:
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        node: Any = entry.get("fieldsV1") or {}
        for part in path:
            node = node.get(f"f:{part}") if isinstance(node, dict) else None
        if node is not None:
            return True
    return False


def replicas_handover(desired: Manifest, live: dict[str, Any] | None) -> Manifest | None:
    """Return the apply that hands ``spec.replicas`` over, or ``None`` when none is needed.

    Needed when the operator's intent for a Deployment has no ``replicas`` while the live object
    says the operator's field manager still owns them (the mode just changed away from
    ``Operator``). The returned object carries only the live value, to be applied under
    :data:`HANDOVER_MANAGER` before the operator's own apply.

    :param desired: the Deployment the operator is about to apply.
    :param live: the Deployment as the API server holds it (with ``managedFields``).
    """
    if live is None or desired.get("kind") != "Deployment" or "replicas" in desired["spec"]:
        return None
    if not _owns(live, settings.FIELD_MANAGER, ("spec", "replicas")):
        return None
    current = (live.get("spec") or {}).get("replicas")
    if current is None:
        return None
    meta = desired["metadata"]
    return {
        "apiVersion": desired["apiVersion"],
        "kind": "Deployment",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": {"replicas": current},
    }


def hpa(project: Project) -> Manifest | None:
    """Return the worker HPA (provider ``HPA``, CPU utilisation)."""
    auto = project.spec.workers.autoscaling
    if auto.replicas_owner != "HPA":
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


def trigger_auth_name(project: Project) -> str:
    return common.child_name(project, "worker-redis")


def trigger_authentication(project: Project) -> Manifest:
    """Return the KEDA ``TriggerAuthentication``: the generated Redis password, by reference."""
    ref = {"name": common.redis_auth_secret(project), "key": "password"}
    return {
        "apiVersion": optional_apis.TRIGGER_AUTHENTICATION[0],
        "kind": "TriggerAuthentication",
        "metadata": common.metadata(project, trigger_auth_name(project), WORKER),
        "spec": {
            "secretTargetRef": [
                {"parameter": "password", **ref},
                {"parameter": "sentinelPassword", **ref},
            ]
        },
    }


def scaled_object(project: Project) -> Manifest:
    """Return the KEDA ``ScaledObject``: one ``redis-sentinel`` list trigger per worker queue.

    KEDA scales to the largest of the triggers' wishes: ``ceil(length / listLength)`` workers
    for the longest queue, between ``minReplicas`` and ``maxReplicas``.
    """
    wk = project.spec.workers
    auto, keda = wk.autoscaling, wk.autoscaling.keda
    addresses = ",".join(f"{h}:{settings.SENTINEL_PORT}" for h in common.sentinel_hosts(project))
    triggers = [
        {
            "type": "redis-sentinel",
            "name": f"queue-{queue}",
            "metadata": {
                "addresses": addresses,
                "sentinelMaster": project.spec.redis.master_name,
                "listName": RQ_QUEUE_KEY.format(queue),
                "listLength": str(keda.list_length),
                "activationListLength": str(keda.activation_list_length),
            },
            "authenticationRef": {"name": trigger_auth_name(project)},
        }
        for queue in wk.queues
    ]
    return {
        "apiVersion": optional_apis.SCALED_OBJECT[0],
        "kind": "ScaledObject",
        "metadata": common.metadata(project, common.child_name(project, WORKER), WORKER),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": common.child_name(project, WORKER),
            },
            "minReplicaCount": auto.min_replicas,
            "maxReplicaCount": auto.max_replicas,
            "pollingInterval": keda.polling_interval_seconds,
            "cooldownPeriod": keda.cooldown_seconds,
            "triggers": triggers,
        },
    }


def objects(project: Project, served: frozenset[tuple[str, str]]) -> list[Manifest]:
    """Return the autoscaler objects of the project's mode (KEDA's only where it is served)."""
    owner = project.spec.workers.autoscaling.replicas_owner
    if owner == "HPA":
        return [o for o in [hpa(project)] if o is not None]
    if owner == "KEDA" and {optional_apis.SCALED_OBJECT, optional_apis.TRIGGER_AUTHENTICATION} <= (
        served
    ):
        return [trigger_authentication(project), scaled_object(project)]
    return []
