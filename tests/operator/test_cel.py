"""The CRD's CEL rules (``x-kubernetes-validations``), evaluated offline with cel-python.

No API server runs here, so this is not a server-side dry-run: it compiles every rule with a real
CEL implementation and evaluates it the way the API server does (on the defaulted object, each
rule with ``self`` bound to the value at its place in the schema, transition rules only when the
old value exists too). The kind end-to-end test sees the API server's own verdict.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import celpy
import pytest

from tests.operator.conftest import load_example
from tests.operator.test_crd import apply_defaults

Path = tuple[str, ...]
_MISSING = object()


def rules(schema: dict[str, Any], path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Yield ``(path, rule)`` for every CEL rule; ``[]`` in a path stands for each list item."""
    for v in schema.get("x-kubernetes-validations") or []:
        yield path, v["rule"]
    for key, sub in (schema.get("properties") or {}).items():
        yield from rules(sub, (*path, key))
    if isinstance(schema.get("items"), dict):
        yield from rules(schema["items"], (*path, "[]"))


def values_at(obj: Any, path: Path) -> list[Any]:
    """Return the values a rule at ``path`` is evaluated on (none when the field is absent)."""
    if not path:
        return [obj]
    head, *rest = path
    if head == "[]":
        items = obj if isinstance(obj, list) else []
        return [v for item in items for v in values_at(item, tuple(rest))]
    if not isinstance(obj, dict) or head not in obj:
        return []
    return values_at(obj[head], tuple(rest))


def evaluate(rule: str, value: Any, old: Any = _MISSING) -> bool:
    env = celpy.Environment()
    activation = {"self": celpy.json_to_cel(value)}
    if old is not _MISSING:
        activation["oldSelf"] = celpy.json_to_cel(old)
    return bool(env.program(env.compile(rule)).evaluate(activation))


def violations(
    schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None
) -> set[str]:
    """Return the rules ``obj`` breaks (defaults applied first, as the API server does)."""
    obj = apply_defaults(schema, copy.deepcopy(obj))
    old = apply_defaults(schema, copy.deepcopy(old)) if old is not None else None
    broken = set()
    for path, rule in rules(schema):
        transition = "oldSelf" in rule
        if transition and old is None:
            continue  # transition rules run on updates only
        news = values_at(obj, path)
        olds = values_at(old, path) if transition else [_MISSING] * len(news)
        if transition and "[]" in path:
            # no such rule in the CRD today; pairing old and new list items would be needed
            raise AssertionError(f"a transition rule inside a list ({rule}): pair items first")
        for new, prev in zip(news, olds, strict=False):
            if not evaluate(rule, new, prev):
                broken.add(rule)
    return broken


def _spec(example: str = "minimal", **changes: Any) -> dict[str, Any]:
    body = load_example(example)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = body["spec"]
        for key in parents:
            node = node.setdefault(key, {})
        if value is _MISSING:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return body


TAG_XOR_DIGEST = "!(has(self.tag) && has(self.digest))"
MIN_LE_MAX = (
    "!self.autoscaling.enabled || self.autoscaling.minReplicas <= self.autoscaling.maxReplicas"
)
QUORUM = "self.sentinel.quorum <= self.sentinel.replicas"
LABELING_NEEDS_STORAGE = "!has(self.labeling) || has(self.storage)"
KEYS_XOR_IRSA = "!(has(self.credentialsSecretRef) && has(self.roleArn))"
UNIQUE_ANSWERS = "self.all(a, self.exists_one(b, b == a))"
IMMUTABLE = "self == oldSelf"
ENABLED_XOR_EXTERNAL = "!(self.autoscaling.enabled && self.autoscaling.external)"
DB_SECRET_XOR_CLUSTER = "has(self.secretRef) != has(self.cluster)"
BACKUP_KEYS_XOR_IRSA = "has(self.credentialsSecretRef) != has(self.roleArn)"
_BACKUP = {"destinationPath": "s3://backups/demo"}
NAME_RULE = (
    "self.metadata.name.size() <= 40 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"
)


def _named(name: str) -> dict[str, Any]:
    body = load_example("minimal")
    body["metadata"]["name"] = name
    return body


BAD = {
    "tag-and-digest": (
        _spec(image__tag="1.0.0", image__digest="sha256:" + "0" * 64),
        TAG_XOR_DIGEST,
    ),
    "min-above-max": (
        _spec(workers__autoscaling={"enabled": True, "minReplicas": 5, "maxReplicas": 2}),
        MIN_LE_MAX,
    ),
    "quorum-above-sentinels": (_spec(redis__sentinel={"replicas": 3, "quorum": 4}), QUORUM),
    "labeling-without-storage": (_spec("full", storage=_MISSING), LABELING_NEEDS_STORAGE),
    "keys-and-irsa": (
        _spec("full", storage__credentialsSecretRef={"name": "s3-keys"}),
        KEYS_XOR_IRSA,
    ),
    "duplicate-answers": (_spec("full", labeling__answers=["crow", "crow"]), UNIQUE_ANSWERS),
    "own-and-external-autoscaler": (
        _spec(workers__autoscaling={"enabled": True, "external": True}),
        ENABLED_XOR_EXTERNAL,
    ),
    "database-secret-and-cluster": (_spec(database__cluster={}), DB_SECRET_XOR_CLUSTER),
    "database-neither": (_spec(database__secretRef=_MISSING), DB_SECRET_XOR_CLUSTER),
    "backup-without-credentials": (
        _spec(database__secretRef=_MISSING, database__cluster={"backup": _BACKUP}),
        BACKUP_KEYS_XOR_IRSA,
    ),
    "name-with-a-dot": (_named("demo.v2"), NAME_RULE),
    "name-starting-with-a-digit": (_named("9lives"), NAME_RULE),
    "name-of-41-characters": (_named("a" * 41), NAME_RULE),
}


def test_every_rule_compiles_and_has_a_failing_case(crd_schema: dict[str, Any]) -> None:
    found = {rule for _, rule in rules(crd_schema)}
    for rule in found:
        celpy.Environment().compile(rule)
    assert found == {r for _, r in BAD.values()} | {IMMUTABLE}


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_the_examples_pass_every_rule(crd_schema: dict[str, Any], example: str) -> None:
    body = load_example(example)
    assert violations(crd_schema, body) == set()
    assert violations(crd_schema, body, old=body) == set()  # an unchanged update


def test_a_name_of_40_characters_passes(crd_schema: dict[str, Any]) -> None:
    assert violations(crd_schema, _named("a" + "-b" * 19 + "c")) == set()


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_rule_refuses_its_bad_case(crd_schema: dict[str, Any], case: str) -> None:
    body, rule = BAD[case]
    assert violations(crd_schema, body) == {rule}


@pytest.mark.parametrize(
    "change",
    [
        {"redis__storage__size": "8Gi"},
        {"redis__storage__storageClassName": "gp2"},
        {"redis__storage__storageClassName": _MISSING},  # removal: the object-level rule sees it
    ],
    ids=["size", "class", "class-removed"],
)
def test_redis_storage_is_immutable(crd_schema: dict[str, Any], change: dict[str, Any]) -> None:
    old = load_example("full")
    assert violations(crd_schema, _spec("full", **change), old=old) == {IMMUTABLE}
    # other fields may change on the same update
    assert violations(crd_schema, _spec("full", web__replicas=5), old=old) == set()
