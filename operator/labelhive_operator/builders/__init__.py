"""Pure builders: a ``LabelingProject`` (plus a few observed facts) → Kubernetes manifests.

No module in this package does I/O, logs, reads a clock or draws random numbers; the same
functions back the operator's reconcile and ``labelhive-operator render``.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelhive_operator import optional_apis
from labelhive_operator.builders import autoscaling
from labelhive_operator.builders import common
from labelhive_operator.builders import migrate
from labelhive_operator.builders import monitoring
from labelhive_operator.builders import network
from labelhive_operator.builders import policies
from labelhive_operator.builders import postgres_cluster
from labelhive_operator.builders import redis
from labelhive_operator.builders import web
from labelhive_operator.builders import workers
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project


@dataclass(frozen=True)
class Inputs:
    """Facts from the cluster the manifests depend on.

    :param workload_image: the image web/worker/scheduler run; ``None`` until the first
        migration succeeded (then no workload is built at all).
    :param run_migration: whether the migration Job for the spec's image is still wanted.
    :param app_secrets_hash: digest of the Secret data the app Pods read (rolls them on change).
    :param redis_secrets_hash: digest of the Redis password (rolls Redis and Sentinel).
    :param served: the optional kinds (KEDA, prometheus-operator, CloudNativePG) the API server
        serves; an offline render assumes all of them.
    """

    workload_image: str | None
    run_migration: bool = True
    app_secrets_hash: str = ""
    redis_secrets_hash: str = ""
    served: frozenset[tuple[str, str]] = optional_apis.ALL


def render_inputs(project: Project) -> Inputs:
    """Return the inputs of an offline render: everything at the spec's image."""
    return Inputs(workload_image=project.spec.image.ref, run_migration=True)


def build_all(project: Project, inputs: Inputs) -> list[Manifest]:
    """Build every child object of a project, each with its controller ownerReference.

    :param project: the parsed ``LabelingProject``.
    :param inputs: observed facts (image gate, secret digests).
    :return: manifests in apply order (config before the Pods that read it).
    """
    haproxy_cm = web.configmap(project)
    redis_cm = redis.configmap(project)
    app_hash = common.digest(haproxy_cm["data"], inputs.app_secrets_hash)
    objs: list[Manifest | None] = [
        *postgres_cluster.objects(project, inputs.served),
        *policies.service_accounts(project),
        haproxy_cm,
        redis_cm,
        *redis.services(project),
        web.service(project),
        # Redis and Sentinel each hash only their own scripts: they roll separately
        *redis.statefulsets(project, inputs.redis_secrets_hash),
        *network.policies(project),
        *policies.pdbs(project),
    ]
    if inputs.run_migration:
        objs.append(migrate.job(project))
    if inputs.workload_image is not None:
        image = inputs.workload_image
        objs += [
            web.deployment(project, image, app_hash),
            workers.worker_deployment(project, image, app_hash),
            workers.scheduler_deployment(project, image, app_hash),
        ]
    objs += [
        *autoscaling.objects(project, inputs.served),
        web.ingress(project),
        *monitoring.objects(project, inputs.served),
    ]
    return [common.owned(project, o) for o in objs if o is not None]
