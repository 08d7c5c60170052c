"""The migration Job: one per image version (and admin bootstrap), gating the rollout."""

from __future__ import annotations

from typing import Any

from labelhive_operator import settings
from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project

COMPONENT = "migration"


def job_name(project: Project) -> str:
    """Return the migration Job name for the spec's image.

    Job templates are immutable, so a new image (or turning the admin bootstrap on) gives a
    new Job; the name depends on nothing else, so retries never duplicate it.
    """
    bootstrap = project.spec.labeling is not None
    return common.child_name(
        project, f"migrate-{common.digest(project.spec.image.ref, bootstrap)[:10]}"
    )


def job(project: Project) -> Manifest:
    """Return the migration Job: ``labelhive db upgrade``, then the operator's admin user.

    The admin user is only created when ``spec.labeling`` needs the operator to talk to the app;
    its API key comes from the generated Secret (``--api-key-from-env``).
    """
    image = project.spec.image.ref
    upgrade = common.app_container(project, "db-upgrade", image, ["db", "upgrade"], _resources())
    containers: list[dict[str, Any]]
    init: list[dict[str, Any]] = []
    if project.spec.labeling is not None:
        admin = common.app_container(
            project,
            "admin-user",
            image,
            [
                "users",
                "create",
                settings.OPERATOR_APP_USER,
                "--admin",
                "--api-key-from-env",
                settings.ADMIN_API_KEY_ENV,
                # the Job runs once per image version: keep the user, re-set its key
                "--exist-ok",
            ],
            _resources(),
        )
        admin["env"].append(
            common.secret_env(
                settings.ADMIN_API_KEY_ENV, common.app_secret(project), "admin-api-key"
            )
        )
        # init containers run in order: the schema first, then the user
        init, containers = [upgrade], [admin]
    else:
        containers = [upgrade]
    pod: dict[str, Any] = {
        "serviceAccountName": common.child_name(project, "internal"),
        "securityContext": common.pod_security(common.APP_UID),
        "restartPolicy": "Never",
        "containers": containers,
        "volumes": [common.tmp_volume()],
    }
    if init:
        pod["initContainers"] = init
    template = common.pod_template(project, COMPONENT, common.digest(image), pod)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": common.metadata(project, job_name(project), COMPONENT),
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 1800,
            "template": template,
        },
    }


def _resources() -> dict[str, Any]:
    return {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
