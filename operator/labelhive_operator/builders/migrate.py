"""The migration Job: one per image version (and admin bootstrap), gating the rollout."""

from __future__ import annotations

from typing import Any

from labelhive_operator import settings
from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project

COMPONENT = "migration"


def job_name(project: Project) -> str:
    """Return the migration Job name for the spec's image (its first attempt).

    Job templates are immutable, so a new image (or turning the admin bootstrap on) gives a
    new Job; the name depends on nothing else, so retries never duplicate it.
    """
    bootstrap = project.spec.labeling is not None
    return common.child_name(
        project, f"migrate-{common.digest(project.spec.image.ref, bootstrap)[:10]}"
    )


def attempt_name(first: str, attempt: int) -> str:
    """Return the Job name of one attempt: ``first``, then ``first-2``, ``first-3``...

    A failed Job cannot be run again (its template is immutable and its backoff is spent), so
    each attempt is a new Job. Project names have at most 40 characters, so ``first`` has at
    most 59 and attempt 999 (``-999``, :data:`MAX_ATTEMPT`) still fits the 63 of a label value
    (the Job controller labels its Pods with the Job's name).
    """
    if not 1 <= attempt <= MAX_ATTEMPT:
        raise ValueError(f"attempt {attempt} is outside 1..{MAX_ATTEMPT}")
    return first if attempt == 1 else f"{first}-{attempt}"


def attempt_of(first: str, name: str) -> int | None:
    """Return which attempt of ``first`` the Job ``name`` is, or ``None`` if it is none."""
    if name == first:
        return 1
    head, _, tail = name.rpartition("-")
    if head == first and tail.isdigit() and not tail.startswith("0"):
        number = int(tail)
        return number if 2 <= number <= MAX_ATTEMPT else None
    return None


#: the last attempt a Job name can hold (:func:`attempt_name`)
MAX_ATTEMPT = 999


def job(project: Project, attempt: int = 1) -> Manifest:
    """Return the migration Job: ``labelhive db upgrade``, then the operator's admin user.

    The admin user is only created when ``spec.labeling`` needs the operator to talk to the app;
    its API key comes from the generated Secret (``--api-key-from-env``). A failing container
    leaves its last log lines as its termination message (``FallbackToLogsOnError``), which
    the operator reads from the failed Pod's status for the ``Migrated`` condition.

    :param attempt: the attempt number (:func:`attempt_name`); every attempt is the same Pod.
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
    for container in [*init, *containers]:
        container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    if init:
        pod["initContainers"] = init
    template = common.pod_template(project, COMPONENT, common.digest(image), pod)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": common.metadata(project, attempt_name(job_name(project), attempt), COMPONENT),
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 1800,
            "template": template,
        },
    }


def _resources() -> dict[str, Any]:
    return {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
