"""The ``LabelingProject`` spec as frozen Pydantic models.

Defaults mirror the CRD's ``default:`` values so that a manifest rendered offline (no API server
to apply them) equals what the operator sees in a cluster; ``tests/operator`` checks the two agree.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic.alias_generators import to_camel

from labelhive_operator import settings

Quantity = int | str


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid"
    )


class Resources(_Model):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)

    def as_k8s(self) -> dict[str, Any]:
        """Return the container ``resources`` stanza."""
        out: dict[str, Any] = {}
        if self.requests:
            out["requests"] = dict(self.requests)
        if self.limits:
            out["limits"] = dict(self.limits)
        return out


def _res(cpu: str, memory: str, limit: str) -> Any:
    return Field(
        default_factory=lambda: Resources(
            requests={"cpu": cpu, "memory": memory}, limits={"memory": limit}
        )
    )


class Image(_Model):
    repository: str = settings.DEFAULT_APP_REPOSITORY
    tag: str | None = None
    digest: str | None = None
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"

    @property
    def ref(self) -> str:
        """The full image reference (digest wins; the operator's configured app image when
        neither is set: :func:`settings.default_app_image`)."""
        if self.digest:
            return f"{self.repository}@{self.digest}"
        if self.tag:
            return f"{self.repository}:{self.tag}"
        return settings.default_app_image(self.repository)


class HAProxy(_Model):
    image: str = "haproxy:2.8.16-alpine"
    # haproxy.cfg: maxconn 4096 x 2 buffers of tune.bufsize 32 KiB ~ 300 MiB at full load
    resources: Resources = _res("50m", "32Mi", "320Mi")


class Web(_Model):
    replicas: int = 2
    gunicorn_workers: int = 2
    resources: Resources = _res("250m", "256Mi", "512Mi")
    haproxy: HAProxy = Field(default_factory=HAProxy)


class Keda(_Model):
    list_length: int = 10
    activation_list_length: int = 0
    polling_interval_seconds: int = 15
    cooldown_seconds: int = 300


class Autoscaling(_Model):
    enabled: bool = False
    provider: Literal["HPA", "KEDA"] = "HPA"
    external: bool = False
    min_replicas: int = 1
    max_replicas: int = 10
    target_cpu_utilization_percentage: int = Field(70, alias="targetCPUUtilizationPercentage")
    keda: Keda = Field(default_factory=Keda)

    @property
    def replicas_owner(self) -> Literal["Operator", "HPA", "KEDA", "External"]:
        """Who writes the worker Deployment's ``spec.replicas`` (the operator only for Operator)."""
        if self.external:
            return "External"
        return self.provider if self.enabled else "Operator"


class Workers(_Model):
    replicas: int = 2
    queues: tuple[str, ...] = ("high", "default", "low")
    termination_grace_period_seconds: int = 300
    resources: Resources = _res("250m", "256Mi", "1Gi")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)


class RedisExporter(_Model):
    enabled: bool = True
    image: str = "oliver006/redis_exporter:v1.67.0-alpine"
    resources: Resources = _res("10m", "16Mi", "64Mi")


class Dashboard(_Model):
    enabled: bool = True
    labels: dict[str, str] = Field(default_factory=lambda: {"grafana_dashboard": "1"})


class Monitoring(_Model):
    enabled: bool = False
    interval: str = "30s"
    labels: dict[str, str] = Field(default_factory=dict)
    namespace_labels: dict[str, str] = Field(default_factory=dict)
    redis_exporter: RedisExporter = Field(default_factory=RedisExporter)
    dashboard: Dashboard = Field(default_factory=Dashboard)


class Scheduler(_Model):
    enabled: bool = True
    resources: Resources = _res("50m", "128Mi", "256Mi")


class RedisStorage(_Model):
    size: str = "1Gi"
    storage_class_name: str | None = None


class Sentinel(_Model):
    replicas: int = 3
    quorum: int = 2
    down_after_milliseconds: int = 5000
    failover_timeout_milliseconds: int = 60000
    parallel_syncs: int = 1
    resources: Resources = _res("25m", "32Mi", "64Mi")


class Redis(_Model):
    image: str = "redis:7.4.2-alpine"
    replicas: int = 3
    master_name: str = "mymaster"
    resources: Resources = _res("100m", "128Mi", "512Mi")
    storage: RedisStorage = Field(default_factory=RedisStorage)
    sentinel: Sentinel = Field(default_factory=Sentinel)


class SecretKeyRef(_Model):
    name: str
    key: str = "uri"


class CredentialsRef(_Model):
    name: str
    access_key_id_key: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_key: str = "AWS_SECRET_ACCESS_KEY"


class PostgresBackup(_Model):
    destination_path: str
    endpoint_url: str | None = Field(None, alias="endpointURL")
    credentials_secret_ref: CredentialsRef | None = None
    role_arn: str | None = None
    schedule: str = "0 0 2 * * *"
    retention_policy: str = "30d"


class PostgresStorage(_Model):
    size: str = "10Gi"
    storage_class_name: str | None = None


class PostgresCluster(_Model):
    instances: int = 3
    image_name: str | None = None
    storage: PostgresStorage = Field(default_factory=PostgresStorage)
    resources: Resources = _res("250m", "512Mi", "1Gi")
    backup: PostgresBackup | None = None


class Database(_Model):
    secret_ref: SecretKeyRef | None = None
    cluster: PostgresCluster | None = None
    port: int = 5432


class Storage(_Model):
    bucket: str
    endpoint_url: str | None = Field(None, alias="endpointURL")
    region: str = "us-east-1"
    proxy_prefix: str = "/s3"
    credentials_secret_ref: CredentialsRef | None = None
    role_arn: str | None = None


class Ingress(_Model):
    host: str
    class_name: str | None = None
    tls_secret_name: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)


def _cidr(value: str) -> str:
    # per item, so the error's location names the index; validate.py adds the CRD's pattern
    ipaddress.ip_network(value, strict=False)
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


class NetworkPolicy(_Model):
    enabled: bool = True
    ingress_namespace_labels: dict[str, str] = Field(default_factory=dict)
    ingress_pod_labels: dict[str, str] = Field(default_factory=dict)
    ingress_cidrs: tuple[Cidr, ...] = Field((), alias="ingressCIDRs")
    egress_cidrs: tuple[Cidr, ...] = Field((), alias="egressCIDRs")


class PodDisruptionBudgets(_Model):
    enabled: bool = True


class Labeling(_Model):
    title: str
    question: str
    answers: tuple[str, ...]
    short_name: str | None = None
    redundancy: int = 3
    source_prefix: str = ""
    import_interval_seconds: int = 3600


class ValueRef(_Model):
    """One key of a Secret (its value is never in the spec)."""

    name: str
    key: str


class Oidc(_Model):
    issuer: str
    client_id: str
    client_secret_ref: ValueRef
    scopes: str = "openid email profile"
    groups_claim: str = "groups"
    group_roles: str = ""
    provider_name: str = "single sign-on"
    # the recheck of leavers (the app's README): the scope that brings a refresh token,
    # seconds between rechecks, seconds kept without a refresh token (None: until sign-in)
    offline_scope: str = "offline_access"
    recheck_interval_seconds: int = 300
    max_age_without_refresh_seconds: int | None = None


class Ldap(_Model):
    url: str
    user_base: str
    user_filter: str = "(uid={login})"
    group_base: str = ""
    group_filter: str = "(member={dn})"
    group_roles: str = ""
    bind_dn: str = Field("", alias="bindDN")
    bind_password_ref: ValueRef | None = None
    ca_ref: ValueRef | None = None


class Identity(_Model):
    """Sign-in through the organisation's OpenID provider or LDAP directory (the app's README)."""

    oidc: Oidc | None = None
    ldap: Ldap | None = None
    break_glass_admins: tuple[str, ...] = ()
    session_seconds: int = 28800


class ProjectSpec(_Model):
    database: Database
    image: Image = Field(default_factory=Image)
    web: Web = Field(default_factory=Web)
    workers: Workers = Field(default_factory=Workers)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    redis: Redis = Field(default_factory=Redis)
    storage: Storage | None = None
    ingress: Ingress | None = None
    network_policy: NetworkPolicy = Field(default_factory=NetworkPolicy)
    pod_disruption_budgets: PodDisruptionBudgets = Field(default_factory=PodDisruptionBudgets)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    labeling: Labeling | None = None
    identity: Identity | None = None
    deletion_policy: Literal["Retain", "Delete"] = "Retain"
    paused: bool = False


class Project(_Model):
    """The parts of a ``LabelingProject`` object the builders need."""

    name: str
    namespace: str
    spec: ProjectSpec
    uid: str = ""
    #: the ``kubectl.kubernetes.io/restartedAt`` annotation: a new value rolls every workload
    restarted_at: str = ""

    @classmethod
    def from_body(cls, body: Any) -> Project:
        """Parse a ``LabelingProject`` object (a kopf body or a plain dict).

        :param body: the object with ``metadata`` and ``spec``.
        :return: the parsed project.
        :raise pydantic.ValidationError: when the spec does not match the model.
        """
        meta = body["metadata"]
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace") or "default",
            uid=meta.get("uid") or "",
            restarted_at=str(
                (meta.get("annotations") or {}).get(settings.RESTARTED_AT_ANNOTATION) or ""
            ),
            spec=ProjectSpec.model_validate(dict(body.get("spec") or {})),
        )

    @property
    def labeling_short_name(self) -> str | None:
        """The app-side short name of the declared labeling project."""
        if self.spec.labeling is None:
            return None
        return self.spec.labeling.short_name or self.name
