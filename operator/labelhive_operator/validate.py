"""What the CRD admits but a child object cannot carry, found before anything is built or applied.

One pure function, :func:`parse`, turns a ``LabelingProject`` body into a :class:`Project` or
raises :class:`InvalidSpec` naming every bad field. The reconcile reports that as
``Reconciled=False/InvalidSpec`` without touching children. The CRD carries the same bounds (the
``metadata.name`` CEL rule, the CIDR and quantity patterns below, checked equal by the tests), so on
a real API server a bad value is refused at admission; this check covers objects admitted before
the CRD had those bounds, and CRDs applied by hand.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import pydantic

from labelhive_operator import builders
from labelhive_operator.spec import Project
from labelhive_operator.spec import ProjectSpec

#: Services: DNS-1035 label (starts with a letter); the project name is one too
DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
#: the rest: DNS-1123 subdomain (lowercase labels joined by dots)
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

#: the longest LabelingProject name the CRD admits (``x-kubernetes-validations`` at the root);
#: the children allow :func:`max_name_length` (43), the rest is room for a longer suffix later
#: without tightening the CRD (which would refuse updates of existing objects)
MAX_NAME_LENGTH = 40

#: a Kubernetes resource quantity (``k8s.io/apimachinery`` ``resource.Quantity``), non-negative
#: (container requests and limits must be >= 0), integer exponents only
QUANTITY_PATTERN = r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$"
QUANTITY_MAX_LENGTH = 64

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"({_OCTET}\.){{3}}{_OCTET}"
_H = "[0-9a-fA-F]{1,4}"
# every way to write 8 groups with at most one "::" (no zone, no embedded IPv4)
_IPV6 = "|".join(
    [
        rf"({_H}:){{7}}{_H}",
        rf"({_H}:){{1,7}}:",
        *(rf"({_H}:){{1,{7 - n}}}(:{_H}){{{n}}}" for n in range(1, 7)),
        rf":(:{_H}){{1,7}}",
        "::",
    ]
)
#: an IPv4 or IPv6 CIDR as ``ipBlock.cidr`` takes it (host bits may be set, as the API allows)
CIDR_PATTERN = (
    rf"^({_IPV4}/(3[0-2]|[12][0-9]|[0-9])|({_IPV6})/(12[0-8]|1[01][0-9]|[1-9][0-9]|[0-9]))$"
)
CIDR_MAX_LENGTH = 49

#: name limits of the kinds the operator builds, where stricter than a DNS-1123 subdomain
_LABEL_KINDS = {
    # DNS-1035: a Service name is a DNS label
    "Service": (DNS1035_LABEL, 63),
    # the controller-revision-hash label of its Pods is ``<name>-<hash of up to 10>``
    "StatefulSet": (DNS1123_SUBDOMAIN, 52),
    # the ``batch.kubernetes.io/job-name`` label of its Pods carries the name
    "Job": (DNS1123_SUBDOMAIN, 63),
    # CloudNativePG names Services <cluster>-rw/-ro/-r and Jobs <cluster>-<n>-initdb after it
    "Cluster": (DNS1035_LABEL, 50),
}


@dataclass(frozen=True)
class Problem:
    """One field the children cannot carry.

    :param field: the field path (``metadata.name``, ``spec.networkPolicy.ingressCIDRs[0]``).
    :param message: what is wrong with it.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidSpec(ValueError):
    """The ``LabelingProject`` cannot be built; the spec (or name) must change."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)


def parse(body: Any) -> Project:
    """Parse and validate a ``LabelingProject`` body.

    :param body: the object (kopf body or dict) with ``metadata`` and ``spec``.
    :return: the project, every child of which the API server can store.
    :raise InvalidSpec: naming every field that is wrong.
    """
    try:
        project = Project.from_body(body)
    except pydantic.ValidationError as e:
        name = _name_problems(str(body["metadata"].get("name", "")))
        raise InvalidSpec(name + [_from_pydantic(err) for err in e.errors()]) from None
    found = problems(project)
    if found:
        raise InvalidSpec(found)
    return project


def problems(project: Project) -> list[Problem]:
    """Return what in a parsed project no child could carry (empty when it can be built)."""
    found = (
        _name_problems(project.name)
        + _cidr_problems(project)
        + _quantity_problems(project)
        + _choice_problems(project)
    )
    if not found:
        # build only what the checks above admit: builders may assume well-formed fields
        found = child_name_problems(project)
    return found


def child_name_problems(project: Project) -> list[Problem]:
    """Return the children whose name is too long or malformed for their kind."""
    out = []
    inputs = builders.Inputs(workload_image=project.spec.image.ref, run_migration=True)
    for obj in builders.build_all(project, inputs):
        kind, name = obj["kind"], obj["metadata"]["name"]
        pattern, limit = _LABEL_KINDS.get(kind, (DNS1123_SUBDOMAIN, 253))
        if len(name) > limit or not re.match(pattern, name):
            out.append(
                Problem(
                    "metadata.name",
                    f"the {kind} {name!r} ({len(name)} characters) is not a valid name "
                    f"(at most {limit}); use a name of at most {MAX_NAME_LENGTH} characters",
                )
            )
    return out


def max_name_length() -> int:
    """Return the longest project name every child of a fully configured project accepts."""
    spec = ProjectSpec.model_validate(
        {
            "database": {"secretRef": {"name": "db"}},
            "storage": {"bucket": "bucket", "credentialsSecretRef": {"name": "s3"}},
            "ingress": {"host": "example.com"},
            "labeling": {"title": "t", "question": "q", "answers": ["a", "b"]},
            "workers": {"autoscaling": {"enabled": True, "provider": "KEDA"}},
            "monitoring": {"enabled": True},
        }
    )
    n = 1
    while not child_name_problems(Project(name="a" * (n + 1), namespace="ns", spec=spec)):
        n += 1
    return n


def is_quantity(value: Any) -> bool:
    """Return whether ``value`` is a non-negative Kubernetes quantity (int or string)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return (
        isinstance(value, str)
        and len(value) <= QUANTITY_MAX_LENGTH
        and re.match(QUANTITY_PATTERN, value) is not None
    )


def is_cidr(value: str) -> bool:
    """Return whether ``value`` is an IPv4/IPv6 CIDR the API server and the CRD both accept."""
    if len(value) > CIDR_MAX_LENGTH or not re.match(CIDR_PATTERN, value):
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _name_problems(name: str) -> list[Problem]:
    if re.match(DNS1035_LABEL, name) and len(name) <= 63:
        return []
    return [
        Problem(
            "metadata.name",
            f"{name!r} must be a DNS-1035 label (lowercase letters, digits and '-', starting "
            f"with a letter) of at most {MAX_NAME_LENGTH} characters: it names Services",
        )
    ]


def _cidr_problems(project: Project) -> list[Problem]:
    np = project.spec.network_policy
    out = []
    for key, values in (("ingressCIDRs", np.ingress_cidrs), ("egressCIDRs", np.egress_cidrs)):
        for i, cidr in enumerate(values):
            if not is_cidr(cidr):
                out.append(
                    Problem(
                        f"spec.networkPolicy.{key}[{i}]",
                        f"{cidr!r} is not an IPv4 or IPv6 CIDR (like 10.0.0.0/16)",
                    )
                )
    return out


def _quantity_problems(project: Project) -> list[Problem]:
    spec = project.spec
    places = {
        "spec.web.resources": spec.web.resources,
        "spec.web.haproxy.resources": spec.web.haproxy.resources,
        "spec.workers.resources": spec.workers.resources,
        "spec.scheduler.resources": spec.scheduler.resources,
        "spec.redis.resources": spec.redis.resources,
        "spec.redis.sentinel.resources": spec.redis.sentinel.resources,
        "spec.monitoring.redisExporter.resources": spec.monitoring.redis_exporter.resources,
    }
    if spec.database.cluster is not None:
        places["spec.database.cluster.resources"] = spec.database.cluster.resources
    out = []
    for path, res in places.items():
        for part, values in (("requests", res.requests), ("limits", res.limits)):
            for key, value in values.items():
                if not is_quantity(value):
                    out.append(
                        Problem(
                            f"{path}.{part}.{key}",
                            f"{value!r} is not a non-negative quantity (like 250m, 1.5, 512Mi)",
                        )
                    )
    if not is_quantity(spec.redis.storage.size):
        out.append(
            Problem("spec.redis.storage.size", f"{spec.redis.storage.size!r} is not a quantity")
        )
    return out


def _choice_problems(project: Project) -> list[Problem]:
    """The CRD's either-or CEL rules, for objects admitted without them."""
    spec = project.spec
    out = []
    if (spec.database.secret_ref is None) == (spec.database.cluster is None):
        out.append(
            Problem("spec.database", "set secretRef (an external database) or cluster, exactly one")
        )
    if spec.workers.autoscaling.enabled and spec.workers.autoscaling.external:
        out.append(Problem("spec.workers.autoscaling", "set enabled or external, not both"))
    return out


def _from_pydantic(err: Any) -> Problem:
    path = "spec"
    for part in err.get("loc") or ():
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return Problem(path, str(err.get("msg", "invalid")))
