"""Names fixed on day one: API coordinates, prefixes, labels, defaults.

Changing the finalizer or the annotation prefixes on a running fleet makes kopf treat every
object as new (operator-bar.md §1.7), so they live here as constants and nowhere else.
"""

from __future__ import annotations

import os

from labelhive_operator import __version__

GROUP = "labelhive.io"
VERSION = "v1alpha1"
PLURAL = "labelingprojects"
KIND = "LabelingProject"
API_VERSION = f"{GROUP}/{VERSION}"

#: the fieldManager of every server-side apply
FIELD_MANAGER = "labelhive-operator"
#: kopf's finalizer and its progress/diff-base annotations, under our own prefix
FINALIZER = f"{GROUP}/finalizer"
ANNOTATION_PREFIX = GROUP
DIFFBASE_KEY = "last-handled-configuration"
REPORTING_COMPONENT = "labelhive-operator"

#: pod template annotation whose change rolls the Pods (config and secret checksums)
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
#: on the LabelingProject: "roll everything" (copied to every workload's pod template, as
#: ``kubectl rollout restart`` sets it on one; CloudNativePG's restart uses the same key)
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"

#: the app image repository (the CRD's default for ``spec.image.repository``)
DEFAULT_APP_REPOSITORY = "ghcr.io/labelhive/labelhive"
#: the app tag when the operator's Deployment sets none (``labelhive-operator render`` on a
#: laptop); the chart always sets ``LABELHIVE_OPERATOR_APP_TAG`` (see :func:`default_app_image`)
DEFAULT_APP_TAG = __version__

#: ports and paths of the web Pod: HAProxy is the entry point
HAPROXY_PORT = 8080
HAPROXY_HEALTH_PATH = "/haproxy-health"
GUNICORN_PORT = 5000
REDIS_PORT = 6379
SENTINEL_PORT = 26379

#: label keys (selectors use only name + instance + component; they are immutable)
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
APP_NAME = "labelhive"
MANAGED_BY = "labelhive-operator"
#: label of the operator's own Pods, allowed through the web NetworkPolicy (labeling sync)
OPERATOR_POD_LABELS = {LABEL_NAME: "labelhive-operator"}

#: the app user the operator acts as when it syncs spec.labeling
OPERATOR_APP_USER = "labelhive-operator"
ADMIN_API_KEY_ENV = "LABELHIVE_ADMIN_API_KEY"


def default_app_image(repository: str) -> str:
    """Return the app image of a project whose spec pins neither ``image.tag`` nor ``digest``.

    The version comes from the operator's Deployment (the chart's ``appImage``), never from the
    operator's own image, so upgrading the operator does not upgrade an unpinned project's app.

    :param repository: the project's ``spec.image.repository``.
    :return: ``repository@LABELHIVE_OPERATOR_APP_DIGEST`` when that is set and ``repository`` is
        the default one (a digest names one image in one repository; a mirror may have pushed
        another), else ``repository:LABELHIVE_OPERATOR_APP_TAG`` (default :data:`DEFAULT_APP_TAG`).
    """
    digest = os.environ.get("LABELHIVE_OPERATOR_APP_DIGEST", "")
    if digest and repository == DEFAULT_APP_REPOSITORY:
        return f"{repository}@{digest}"
    return f"{repository}:{os.environ.get('LABELHIVE_OPERATOR_APP_TAG') or DEFAULT_APP_TAG}"


def timer_interval() -> float:
    """Return the drift/status timer interval in seconds.

    :return: ``LABELHIVE_OPERATOR_TIMER_INTERVAL`` or 60; tests shorten it.
    """
    return float(os.environ.get("LABELHIVE_OPERATOR_TIMER_INTERVAL", "60"))


#: the port of the operator's own ``/metrics`` (the chart's ``metrics.port``)
METRICS_PORT = 9100


def metrics_port() -> int:
    """Return the port the operator serves its own metrics on; 0 serves none.

    :return: ``LABELHIVE_OPERATOR_METRICS_PORT`` or :data:`METRICS_PORT`.
    """
    return int(os.environ.get("LABELHIVE_OPERATOR_METRICS_PORT", str(METRICS_PORT)))


def metrics_address() -> str:
    """Return the address the metrics endpoint binds (every interface: Prometheus scrapes the
    Pod IP); ``LABELHIVE_OPERATOR_METRICS_ADDRESS`` overrides it (tests bind the loopback)."""
    return os.environ.get("LABELHIVE_OPERATOR_METRICS_ADDRESS", "0.0.0.0")


def app_url_template() -> str:
    """Return the template of the in-cluster URL of a project's web Service.

    :return: a ``str.format`` template with ``name`` and ``namespace``; overridable for
        development through ``LABELHIVE_OPERATOR_APP_URL``.
    """
    default = "http://{name}-web.{namespace}.svc:" + str(HAPROXY_PORT)
    return os.environ.get("LABELHIVE_OPERATOR_APP_URL", default)
