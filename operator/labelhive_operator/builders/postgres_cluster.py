"""A CloudNativePG ``Cluster`` (and its ``ScheduledBackup``) for ``spec.database.cluster``.

For a team without a DBA: the CloudNativePG operator runs a primary and streaming replicas
(``instances``), fails over when the primary's node goes, and archives WAL plus base backups to
S3 (barman) when ``backup`` is set. The app reaches the primary through the ``<cluster>-rw``
Service; CloudNativePG generates the ``<cluster>-app`` Secret whose ``uri`` key the app reads as
``DATABASE_URL`` (its host is that Service). Built only where ``postgresql.cnpg.io/v1`` is served.
"""

from __future__ import annotations

from typing import Any

from labelhive_operator import optional_apis
from labelhive_operator import settings
from labelhive_operator.builders import common
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project

COMPONENT = "database"
#: the database and owner CloudNativePG's initdb creates
DATABASE = "labelhive"


def cluster_name(project: Project) -> str:
    return common.child_name(project, "db")


def app_secret(project: Project) -> str:
    """The Secret CloudNativePG generates for the application user (keys ``uri``, ``password``)."""
    return f"{cluster_name(project)}-app"


def rw_service(project: Project) -> str:
    """The Service of the current primary."""
    return f"{cluster_name(project)}-rw"


def _backup(project: Project) -> dict[str, Any] | None:
    db = project.spec.database.cluster
    if db is None or db.backup is None:
        return None
    b = db.backup
    if b.credentials_secret_ref is not None:
        ref = b.credentials_secret_ref
        creds: dict[str, Any] = {
            "accessKeyId": {"name": ref.name, "key": ref.access_key_id_key},
            "secretAccessKey": {"name": ref.name, "key": ref.secret_access_key_key},
        }
    else:
        creds = {"inheritFromIAMRole": True}
    store: dict[str, Any] = {
        "destinationPath": b.destination_path,
        "s3Credentials": creds,
        "wal": {"compression": "gzip"},
        "data": {"compression": "gzip"},
    }
    if b.endpoint_url:
        store["endpointURL"] = b.endpoint_url
    return {"barmanObjectStore": store, "retentionPolicy": b.retention_policy}


def cluster(project: Project) -> Manifest | None:
    """Return the ``Cluster``, or ``None`` without ``spec.database.cluster``."""
    db = project.spec.database.cluster
    if db is None:
        return None
    storage: dict[str, Any] = {"size": db.storage.size}
    if db.storage.storage_class_name:
        storage["storageClass"] = db.storage.storage_class_name
    spec: dict[str, Any] = {
        "instances": db.instances,
        "primaryUpdateStrategy": "unsupervised",
        "bootstrap": {"initdb": {"database": DATABASE, "owner": DATABASE}},
        "storage": storage,
        "resources": db.resources.as_k8s(),
        "enablePDB": project.spec.pod_disruption_budgets.enabled,
    }
    if db.image_name:
        spec["imageName"] = db.image_name
    backup = _backup(project)
    if backup is not None:
        spec["backup"] = backup
        if db.backup is not None and db.backup.role_arn:
            spec["serviceAccountTemplate"] = {
                "metadata": {"annotations": {"eks.amazonaws.com/role-arn": db.backup.role_arn}}
            }
    return {
        "apiVersion": optional_apis.PG_CLUSTER[0],
        "kind": "Cluster",
        "metadata": common.metadata(project, cluster_name(project), COMPONENT),
        "spec": spec,
    }


def scheduled_backup(project: Project) -> Manifest | None:
    """Return the ``ScheduledBackup`` (six-field cron), or ``None`` without ``backup``."""
    db = project.spec.database.cluster
    if db is None or db.backup is None:
        return None
    return {
        "apiVersion": optional_apis.PG_SCHEDULED_BACKUP[0],
        "kind": "ScheduledBackup",
        "metadata": common.metadata(project, common.child_name(project, "db-backup"), COMPONENT),
        "spec": {
            "schedule": db.backup.schedule,
            "cluster": {"name": cluster_name(project)},
            "backupOwnerReference": "self",
            "method": "barmanObjectStore",
            "immediate": True,
        },
    }


def network_policy(project: Project) -> Manifest | None:
    """Return the egress rule from the app's Pods to the Cluster's instances (port 5432).

    The project's default deny covers its own Pods only; the instances are CloudNativePG's.
    """
    if project.spec.database.cluster is None or not project.spec.network_policy.enabled:
        return None
    app_pods = {
        "matchLabels": {
            settings.LABEL_NAME: settings.APP_NAME,
            settings.LABEL_INSTANCE: project.name,
        }
    }
    instances = {"matchLabels": {"cnpg.io/cluster": cluster_name(project)}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": common.metadata(project, common.child_name(project, "db-egress"), COMPONENT),
        "spec": {
            "podSelector": app_pods,
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"podSelector": instances}],
                    "ports": [{"protocol": "TCP", "port": project.spec.database.port}],
                }
            ],
        },
    }


def objects(project: Project, served: frozenset[tuple[str, str]]) -> list[Manifest]:
    """Return the Cluster and ScheduledBackup where CloudNativePG's API is served."""
    if optional_apis.PG_CLUSTER not in served:
        return []
    out = [cluster(project), network_policy(project)]
    if optional_apis.PG_SCHEDULED_BACKUP in served:
        out.append(scheduled_backup(project))
    return [o for o in out if o is not None]
