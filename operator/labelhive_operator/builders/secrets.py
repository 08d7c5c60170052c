"""Secrets the operator generates (Redis password, session key, the operator's app API key).

Values are passed in: builders never generate randomness. The operator creates these Secrets
once and never overwrites them; they carry an ownerReference only with ``deletionPolicy:
Delete``, so a retained Redis volume keeps a matching password after the project is deleted.
"""

from __future__ import annotations

from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project


def generated_keys(project: Project) -> dict[str, tuple[str, ...]]:
    """Return the generated Secret names and the keys each one holds."""
    return {
        common.redis_auth_secret(project): ("password",),
        common.app_secret(project): ("secret-key", "admin-api-key"),
    }


def generated_secret(project: Project, name: str, values: dict[str, str]) -> Manifest:
    """Return one generated Secret with the given values.

    :param project: the owning project.
    :param name: one of :func:`generated_keys`.
    :param values: key → value, made by the caller (``secrets.token_urlsafe``).
    :return: the Secret manifest (``stringData``).
    """
    obj: Manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": common.metadata(project, name, "secrets"),
        "type": "Opaque",
        "stringData": dict(values),
    }
    if project.spec.deletion_policy == "Delete":
        common.owned(project, obj)
    return obj


def owner_references(project: Project) -> list[dict[str, object]]:
    """Return the ownerReferences a generated Secret carries under ``deletionPolicy``."""
    return [common.owner_reference(project)] if project.spec.deletion_policy == "Delete" else []
