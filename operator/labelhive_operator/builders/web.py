"""The web component: gunicorn behind an HAProxy native sidecar, its Service and config."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from labelhive_operator import settings
from labelhive_operator.builders import common
from labelhive_operator.builders import haproxy_cfg
from labelhive_operator.builders import identity
from labelhive_operator.builders.common import Manifest
from labelhive_operator.spec import Project

COMPONENT = "web"
#: how long a deleted web Pod keeps serving before gunicorn gets SIGTERM
PRE_STOP_SECONDS = 5
#: max-age of the Strict-Transport-Security header behind a TLS Ingress (one year)
HSTS_SECONDS = 31536000


def s3_upstream(project: Project) -> tuple[str, int, bool] | None:
    """Return ``(host, port, tls)`` of the S3 endpoint HAProxy forwards to, if any.

    :param project: the project.
    :return: ``None`` without ``spec.storage``; else the endpoint (AWS regional by default).
    """
    st = project.spec.storage
    if st is None:
        return None
    url = urlsplit(st.endpoint_url or f"https://s3.{st.region}.amazonaws.com")
    tls = url.scheme == "https"
    return url.hostname or "", url.port or (443 if tls else 80), tls


def haproxy_config() -> str:
    """Return haproxy.cfg: the project's own ``haproxy/haproxy.cfg``, byte for byte.

    The file takes everything from environment variables (:func:`haproxy_env`), so it is the
    same for every project; ``labelhive serve --with-proxy`` and the integration tests run it too.
    """
    return haproxy_cfg.TEXT


def haproxy_env(project: Project) -> list[dict[str, str]]:
    """Return the sidecar's environment: every variable ``haproxy.cfg`` reads.

    The same values ``labelhive.storage.proxy.haproxy_env`` computes for ``labelhive serve
    --with-proxy`` (a test compares the two). Without ``spec.storage`` ``S3_UPSTREAM`` and its
    host/SNI/CA and ``S3_PROXY_BUCKETS`` stay unset, so the file refuses every request on the S3
    prefix (no bucket is allowed; 503 if one got past).

    :param project: the project.
    :return: ``env`` entries of the haproxy container, in a fixed order.
    """
    st = project.spec.storage
    prefix = ((st.proxy_prefix if st is not None else "/s3").rstrip("/")) or "/s3"
    env = {
        "HAPROXY_LISTEN": f":{settings.HAPROXY_PORT}",
        "HAPROXY_APP": f"127.0.0.1:{settings.GUNICORN_PORT}",
        "S3_PROXY_PREFIX": prefix,
        "S3_UPSTREAM_TLS": "0",
    }
    if st is not None:
        # the only bucket a proxied URL may name (unset: the file refuses every one)
        env["S3_PROXY_BUCKETS"] = st.bucket
    upstream = s3_upstream(project)
    if upstream is not None:
        host, port, tls = upstream
        default_port = 443 if tls else 80
        env |= {
            "S3_UPSTREAM": f"{host}:{port}",
            # the Host header the URLs were signed for: with the port only when not the default
            "S3_UPSTREAM_HOST": host if port == default_port else f"{host}:{port}",
            "S3_UPSTREAM_TLS": "1" if tls else "0",
            "S3_UPSTREAM_SNI": host,
            "S3_UPSTREAM_CA_FILE": "@system-ca",
        }
    return [{"name": k, "value": v} for k, v in env.items()]


def configmap(project: Project) -> Manifest:
    """Return the HAProxy ConfigMap (the same file for every project)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": common.metadata(project, common.child_name(project, "haproxy"), COMPONENT),
        "data": {"haproxy.cfg": haproxy_config()},
    }


def _haproxy_sidecar(project: Project) -> dict[str, Any]:
    hp = project.spec.web.haproxy
    return {
        "name": "haproxy",
        "image": hp.image,
        # a native sidecar: starts before gunicorn and stops after it
        "restartPolicy": "Always",
        "args": ["-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
        "env": haproxy_env(project),
        "ports": [{"name": "http", "containerPort": settings.HAPROXY_PORT, "protocol": "TCP"}],
        # haproxy.cfg fails this monitor while gunicorn is down in HAProxy's own view, so the
        # sidecar is Ready only when HAProxy would send a request on to gunicorn
        "readinessProbe": {
            "httpGet": {"path": settings.HAPROXY_HEALTH_PATH, "port": "http"},
            "periodSeconds": 5,
        },
        "resources": hp.resources.as_k8s(),
        "securityContext": common.container_security(),
        "volumeMounts": [
            {"name": "haproxy-config", "mountPath": "/usr/local/etc/haproxy", "readOnly": True},
            {"name": "haproxy-tmp", "mountPath": "/tmp"},
        ],
    }


def tls_env(project: Project) -> list[dict[str, str]]:
    """Return the web container's env for a TLS Ingress: Secure session cookies and HSTS.

    The app sends ``Strict-Transport-Security`` only on responses to HTTPS requests (the
    Ingress's ``X-Forwarded-Proto``, trusted through ``LABELHIVE_PROXY_FIX``).

    :param project: the project.
    :return: nothing without ``spec.ingress.tlsSecretName``.
    """
    ing = project.spec.ingress
    if ing is None or not ing.tls_secret_name:
        return []
    return [
        {"name": "SESSION_COOKIE_SECURE", "value": "1"},
        {"name": "LABELHIVE_HSTS_SECONDS", "value": str(HSTS_SECONDS)},
    ]


def deployment(project: Project, image: str, config_hash: str) -> Manifest:
    """Return the web Deployment (HAProxy on :8080 is the Pod's entry point).

    gunicorn listens on every address of the Pod (:5000), because the kubelet sends its probes
    (and Prometheus its scrapes) to the Pod IP; the NetworkPolicy lets other Pods reach only
    HAProxy's port, and HAProxy answers ``/metrics`` and ``/readyz`` with 404.
    """
    web = project.spec.web
    gunicorn = common.app_container(
        project,
        "web",
        image,
        [
            "serve",
            "--host",
            "0.0.0.0",  # the probes go to the Pod IP (see the docstring)
            "--port",
            str(settings.GUNICORN_PORT),
            "--workers",
            str(web.gunicorn_workers),
        ],
        web.resources.as_k8s(),
    )
    # the HAProxy sidecar appends to X-Forwarded-For, and so does the Ingress when there is one
    hops = 2 if project.spec.ingress is not None else 1
    gunicorn["env"].append({"name": "LABELHIVE_PROXY_FIX", "value": str(hops)})
    gunicorn["env"] += tls_env(project)
    gunicorn["env"] += identity.env(project)
    gunicorn["ports"] = [
        {"name": "app", "containerPort": settings.GUNICORN_PORT, "protocol": "TCP"}
    ]
    gunicorn["livenessProbe"] = {
        "httpGet": {"path": "/healthz", "port": "app"},
        "periodSeconds": 10,
        "failureThreshold": 6,
    }
    gunicorn["readinessProbe"] = {
        "httpGet": {"path": "/readyz", "port": "app"},
        "periodSeconds": 5,
    }
    # a deleted Pod leaves the Service's endpoints while it still serves: kube-proxy and the
    # ingress controller learn of it a moment later, so gunicorn (then the sidecar) stops only
    # once they have (requests still routed to the Pod meanwhile would fail during a rollout)
    gunicorn["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}}
    pod: dict[str, Any] = {
        "serviceAccountName": common.child_name(project, "app"),
        "securityContext": common.pod_security(common.APP_UID),
        "initContainers": [_haproxy_sidecar(project)],
        "containers": [gunicorn],
        "volumes": [
            common.tmp_volume(),
            {"name": "haproxy-tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
            {
                "name": "haproxy-config",
                "configMap": {"name": common.child_name(project, "haproxy")},
            },
        ],
        **common.soft_spread(project, COMPONENT),
    }
    template = common.pod_template(project, COMPONENT, config_hash, pod)
    # the conventional scrape annotations: gunicorn's port, which HAProxy does not expose
    template["metadata"]["annotations"] |= {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(settings.GUNICORN_PORT),
        "prometheus.io/path": "/metrics",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": common.metadata(project, common.child_name(project, COMPONENT), COMPONENT),
        "spec": {
            "replicas": web.replicas,
            "selector": {"matchLabels": common.selector_labels(project, COMPONENT)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": template,
        },
    }


def service(project: Project) -> Manifest:
    """Return the web Service (HAProxy's port)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": common.metadata(project, common.child_name(project, COMPONENT), COMPONENT),
        "spec": {
            "type": "ClusterIP",
            "selector": common.selector_labels(project, COMPONENT),
            "ports": [
                {
                    "name": "http",
                    "port": settings.HAPROXY_PORT,
                    # a number: a port named only on a native sidecar does not reach the
                    # EndpointSlices on Kubernetes 1.29-1.31
                    "targetPort": settings.HAPROXY_PORT,
                    "protocol": "TCP",
                }
            ],
        },
    }


def ingress(project: Project) -> Manifest | None:
    """Return the Ingress for ``spec.ingress`` (nothing controller-specific hard-coded)."""
    ing = project.spec.ingress
    if ing is None:
        return None
    meta = common.metadata(project, project.name, COMPONENT)
    if ing.annotations:
        meta["annotations"] = dict(ing.annotations)
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": ing.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {
                                    "name": common.child_name(project, COMPONENT),
                                    "port": {"name": "http"},
                                }
                            },
                        }
                    ]
                },
            }
        ]
    }
    if ing.class_name:
        spec["ingressClassName"] = ing.class_name
    if ing.tls_secret_name:
        spec["tls"] = [{"hosts": [ing.host], "secretName": ing.tls_secret_name}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def url(project: Project) -> str | None:
    """Return the public URL of the project (from the Ingress host)."""
    ing = project.spec.ingress
    if ing is None:
        return None
    return f"{'https' if ing.tls_secret_name else 'http'}://{ing.host}/"
