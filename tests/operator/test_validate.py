"""What the CRD admits but a child cannot carry: refused by the spec check and by the CRD alike."""

from __future__ import annotations

import copy
import ipaddress
import random
import re
from typing import Any

import jsonschema
import kopf
import pytest

from labelhive_operator import handlers
from labelhive_operator import k8s
from labelhive_operator import validate
from labelhive_operator.validate import InvalidSpec
from tests.operator.conftest import ROOT
from tests.operator.conftest import Cluster
from tests.operator.conftest import load_example
from tests.operator.test_cel import violations
from tests.operator.test_operator import LP
from tests.operator.test_operator import PLURALS
from tests.operator.test_operator import _condition
from tests.operator.test_operator import _db_secret

NOW = "2026-01-01T00:00:00Z"


def _body(name: str = "demo", **spec: Any) -> dict[str, Any]:
    body = load_example("minimal")
    body["metadata"]["name"] = name
    for dotted, value in spec.items():
        *parents, leaf = dotted.split("__")
        node = body["spec"]
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return body


def _quantity(value: Any) -> dict[str, Any]:
    return _body(workers__resources={"requests": {"cpu": value}, "limits": {"memory": "1Gi"}})


#: every case: (body, the field the problem must name)
BAD = {
    "name-with-a-dot": (_body("demo.v2"), "metadata.name"),
    "name-starting-with-a-digit": (_body("9lives"), "metadata.name"),
    "name-of-45-characters": (_body("a" * 45), "metadata.name"),
    "name-of-44-characters": (_body("a" * 44), "metadata.name"),  # the Job and StatefulSet
    "name-with-capitals": (_body("Demo"), "metadata.name"),
    "octet-above-255": (
        _body(networkPolicy={"ingressCIDRs": ["10.0.0.300/16"]}),
        "spec.networkPolicy.ingressCIDRs[0]",
    ),
    "prefix-above-32": (
        _body(networkPolicy={"egressCIDRs": ["10.0.0.0/8", "10.0.0.0/33"]}),
        "spec.networkPolicy.egressCIDRs[1]",
    ),
    "ipv6-with-two-gaps": (
        _body(networkPolicy={"egressCIDRs": ["fd00::1::2/64"]}),
        "spec.networkPolicy.egressCIDRs[0]",
    ),
    "not-a-quantity": (_quantity("lots"), "spec.workers.resources.requests.cpu"),
    "two-dots": (_quantity("1.5.5"), "spec.workers.resources.requests.cpu"),
    "negative-string": (_quantity("-1"), "spec.workers.resources.requests.cpu"),
    "negative-integer": (_quantity(-2), "spec.workers.resources.requests.cpu"),
    "fractional-exponent": (_quantity("1e1.5"), "spec.workers.resources.requests.cpu"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_spec_check_names_the_field(case: str) -> None:
    body, field = BAD[case]
    with pytest.raises(InvalidSpec) as info:
        validate.parse(body)
    assert field in [p.field for p in info.value.problems]
    assert field in str(info.value)


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_crd_refuses_what_the_spec_check_refuses(crd_schema: dict[str, Any], case: str) -> None:
    body, _ = BAD[case]
    schema_ok = jsonschema.Draft7Validator(crd_schema).is_valid(body)
    assert not schema_ok or violations(crd_schema, body), "the API server would admit it"


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_the_examples_pass_both(crd_schema: dict[str, Any], example: str) -> None:
    body = load_example(example)
    assert validate.parse(body).name == body["metadata"]["name"]
    jsonschema.Draft7Validator(crd_schema).validate(body)
    assert violations(crd_schema, body) == set()


def test_good_values_pass_both(crd_schema: dict[str, Any]) -> None:
    body = _body(
        "a" + "-b" * 19 + "c",  # 40 characters
        networkPolicy={
            "ingressCIDRs": ["10.0.0.1/16", "0.0.0.0/0", "2001:db8::/32", "::/0"],
            "egressCIDRs": ["fd00:1:2:3:4:5:6:7/128", "192.168.255.255/32"],
        },
        web__resources={"requests": {"cpu": 1, "memory": "1.5Gi"}, "limits": {"cpu": "2e3"}},
        workers__resources={"requests": {"cpu": "0.25", "memory": "+128974848"}},
    )
    validate.parse(body)
    jsonschema.Draft7Validator(crd_schema).validate(body)
    assert violations(crd_schema, body) == set()


def test_several_problems_are_reported_together() -> None:
    # a leading zero: Python's parser takes it, the CRD's pattern (and Go's) does not
    body = _body("9x", networkPolicy={"ingressCIDRs": ["10.0.0.0/016"]})
    body["spec"]["redis"] = {"resources": {"limits": {"memory": "big"}}}
    with pytest.raises(InvalidSpec) as info:
        validate.parse(body)
    assert [p.field for p in info.value.problems] == [
        "metadata.name",
        "spec.networkPolicy.ingressCIDRs[0]",
        "spec.redis.resources.limits.memory",
    ]
    # a value the model itself refuses does not hide the name
    body = _body("9x", networkPolicy={"ingressCIDRs": ["1.2.3.4/40"]})
    with pytest.raises(InvalidSpec) as info:
        validate.parse(body)
    assert [p.field for p in info.value.problems] == [
        "metadata.name",
        "spec.networkPolicy.ingressCIDRs[0]",
    ]


def test_a_model_error_names_the_field_too() -> None:
    body = _body()
    body["spec"]["workers"] = {"replicas": "many"}
    with pytest.raises(InvalidSpec) as info:
        validate.parse(body)
    assert info.value.problems[0].field == "spec.workers.replicas"


def test_the_crd_carries_the_checks_own_bounds(crd: dict[str, Any]) -> None:
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    root = version["schema"]["openAPIV3Schema"]
    (rule,) = root["x-kubernetes-validations"]
    assert f"size() <= {validate.MAX_NAME_LENGTH}" in rule["rule"]
    assert f"matches('{validate.DNS1035_LABEL}')" in rule["rule"]
    np = root["properties"]["spec"]["properties"]["networkPolicy"]["properties"]
    for key in ("ingressCIDRs", "egressCIDRs"):
        items = np[key]["items"]
        assert items["pattern"] == validate.CIDR_PATTERN
        assert items["maxLength"] == validate.CIDR_MAX_LENGTH and items["format"] == "cidr"
    quantity = root["properties"]["spec"]["properties"]["web"]["properties"]["resources"]
    value = quantity["properties"]["requests"]["additionalProperties"]
    assert value["pattern"] == validate.QUANTITY_PATTERN and value["minimum"] == 0


def test_the_name_bound_fits_the_longest_child() -> None:
    # 43 today: the StatefulSet NAME-sentinel may have at most 52 characters
    assert validate.max_name_length() >= validate.MAX_NAME_LENGTH
    # the umbrella chart refuses longer project names with the same number
    helpers = (ROOT / "templates" / "_helpers.tpl").read_text()
    assert f"longer than {validate.MAX_NAME_LENGTH} characters" in helpers


def test_the_cidr_pattern_admits_only_what_parses() -> None:
    rng = random.Random(20)
    alphabet = "0123456789abcdef.:/"
    for _ in range(20000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 20)))
        if re.match(validate.CIDR_PATTERN, s):
            ipaddress.ip_network(s, strict=False)  # raises if the pattern was too loose
    for _ in range(2000):
        v4 = ipaddress.IPv4Address(rng.getrandbits(32))
        v6 = ipaddress.IPv6Address(rng.getrandbits(128) >> rng.choice([0, 16, 64, 112]))
        for text in (
            f"{v4}/{rng.randint(0, 32)}",
            f"{v6.compressed}/{rng.randint(0, 128)}",
            f"{v6.exploded}/{rng.randint(0, 128)}",
        ):
            assert validate.is_cidr(text), text


# -- the handler: condition, Event, kopf error ------------------------------------------


def _events() -> tuple[list[tuple[str, str, str]], Any]:
    got: list[tuple[str, str, str]] = []
    return got, lambda *e: got.append(e)


def test_an_invalid_spec_becomes_a_condition_an_event_and_a_permanent_error() -> None:
    body = _body(networkPolicy={"ingressCIDRs": ["10.0.0.300/16"]})
    body["metadata"]["generation"] = 3
    events, post = _events()
    # the client is never used: nothing is read or written before the spec is valid
    status, error = handlers.reconcile_or_report(body, None, NOW, post)
    assert isinstance(error, kopf.PermanentError)
    assert status is not None and status["observedGeneration"] == 3
    cond = _condition({"status": status}, "Reconciled")
    assert cond is not None and cond["status"] == "False" and cond["reason"] == "InvalidSpec"
    assert "spec.networkPolicy.ingressCIDRs[0]" in cond["message"]
    ready = _condition({"status": status}, "Ready")
    assert ready is not None and ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert events == [("Warning", "InvalidSpec", cond["message"])]
    # the next reconcile (the timer) finds the same: no status write, no second Event
    again = {**body, "status": status}
    status2, error2 = handlers.reconcile_or_report(again, None, NOW, post)
    assert status2 is None and isinstance(error2, kopf.PermanentError)
    assert len(events) == 1


def test_an_unexpected_error_becomes_a_reconcile_error_without_details() -> None:
    from kubernetes.client import ApiClient
    from kubernetes.client import Configuration

    config = Configuration()
    config.host = "http://127.0.0.1:9"  # nothing listens: a connection error, not an API answer
    config.retries = 0
    body = _body()
    body["status"] = {"conditions": [{"type": "Migrated", "status": "True", "reason": "x"}]}
    events, post = _events()
    status, error = handlers.reconcile_or_report(body, k8s.Client(ApiClient(config)), NOW, post)
    assert error is not None and not isinstance(error, kopf.PermanentError | k8s.ApiError)
    cond = _condition({"status": status}, "Reconciled")
    assert cond is not None and cond["reason"] == "ReconcileError"
    assert "127.0.0.1" not in cond["message"]  # the log has the details, not the object
    assert type(error).__name__ in cond["message"]
    # what the last complete reconcile saw is kept
    assert _condition({"status": status}, "Migrated") == body["status"]["conditions"][0]
    assert [e[:2] for e in events] == [("Warning", "ReconcileError")]


# -- the real operator ---------------------------------------------------------------------


def test_the_operator_reports_an_invalid_spec_and_builds_nothing(cluster: Cluster) -> None:
    _db_secret(cluster)
    body = _body(networkPolicy={"ingressCIDRs": ["10.0.0.300/16"]})  # the emulator has no CRD
    cluster.client.request("POST", LP, body=copy.deepcopy(body))
    cond = cluster.wait(
        "Reconciled=False/InvalidSpec",
        lambda: (
            (c := _condition(cluster.cr("demo"), "Reconciled"))
            and c["reason"] == "InvalidSpec"
            and c
        ),
    )
    assert cond["status"] == "False" and "ingressCIDRs[0]" in cond["message"]
    events = cluster.wait(
        "InvalidSpec event",
        lambda: [e for e in cluster.objects("events").values() if e["reason"] == "InvalidSpec"],
    )
    assert events[0]["type"] == "Warning" and "10.0.0.300/16" in events[0]["message"]
    # not one child, not even the generated Secrets
    assert [p for p in PLURALS.values() if p != "secrets" and cluster.objects(p)] == []
    assert set(cluster.objects("secrets")) == {"demo-db"}
    # a fixed spec reconciles (kopf did not give up on the object)
    cluster.patch(f"{LP}/demo", {"spec": {"networkPolicy": {"ingressCIDRs": ["10.0.0.0/16"]}}})
    cluster.wait("migration job", lambda: cluster.objects("jobs"))
    cluster.wait(
        "Reconciled=True",
        lambda: (_condition(cluster.cr("demo"), "Reconciled") or {}).get("status") == "True",
    )
    time_events = [e for e in cluster.objects("events").values() if e["reason"] == "InvalidSpec"]
    assert len(time_events) == 1  # posted once, not on every timer tick
