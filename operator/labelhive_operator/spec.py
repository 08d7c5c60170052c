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
        """The full image reference (digest wins; the operator's version when neither is set)."""
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or settings.DEFAULT_APP_TAG}"


class HAProxy(_Model):
    image: str = "haproxy:2.8.16-alpine"
    # haproxy.cfg: maxconn 4096 x 2 buffers of tune.bufsize 32 KiB ~ 300 MiB at full load
    resources: Resources = _res("50m", "32Mi", "320Mi")


class Web(_Model):
    replicas: int = 2
    gunicorn_workers: int = 2
    resources: Resources = _res("250m", "256Mi", "512Mi")
    haproxy: HAProxy = Field(default_factory=HAProxy)


class Autoscaling(_Model):
    enabled: bool = False
    min_replicas: int = 1
    max_replicas: int = 10
    target_cpu_utilization_percentage: int = Field(70, alias="targetCPUUtilizationPercentage")


class Workers(_Model):
    replicas: int = 2
    queues: tuple[str, ...] = ("high", "default", "low")
    termination_grace_period_seconds: int = 300
    resources: Resources = _res("250m", "256Mi", "1Gi")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)


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


class Database(_Model):
    secret_ref: SecretKeyRef
    port: int = 5432


class CredentialsRef(_Model):
    name: str
    access_key_id_key: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_key: str = "AWS_SECRET_ACCESS_KEY"


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
    labeling: Labeling | None = None
    deletion_policy: Literal["Retain", "Delete"] = "Retain"
    paused: bool = False


class Project(_Model):
    """The parts of a ``LabelingProject`` object the builders need."""

    name: str
    namespace: str
    spec: ProjectSpec
    uid: str = ""

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
            spec=ProjectSpec.model_validate(dict(body.get("spec") or {})),
        )

    @property
    def labeling_short_name(self) -> str | None:
        """The app-side short name of the declared labeling project."""
        if self.spec.labeling is None:
            return None
        return self.spec.labeling.short_name or self.name
