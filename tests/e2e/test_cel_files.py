"""The invalid LabelingProjects run.sh sends to the API server (``--dry-run=server``), checked here.

On kind the API server must refuse each file of ``tests/e2e/invalid/`` with the message in its
``# refused:`` line. Here, without an API server, each file is checked to pass the structural
schema (so the refusal can only come from a CEL rule), to break exactly the rule whose message
it expects (cel-python, tests/operator/test_cel.py), and every rule of the CRD to have its file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.e2e.test_references import CRD
from tests.e2e.test_references import HERE
from tests.e2e.test_references import script
from tests.e2e.test_references import shell_var
from tests.operator.test_cel import IMMUTABLE
from tests.operator.test_cel import rules
from tests.operator.test_cel import violations

FILES = sorted((HERE / "invalid").glob("*.yaml"))


def schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    return dict(version["schema"]["openAPIV3Schema"])


def messages(node: dict[str, Any]) -> dict[str, str]:
    """Return rule → message of every CEL rule in the schema."""
    out = {v["rule"]: v["message"] for v in node.get("x-kubernetes-validations") or []}
    for sub in (node.get("properties") or {}).values():
        out |= messages(sub)
    if isinstance(node.get("items"), dict):
        out |= messages(node["items"])
    return out


def expected(path: Path) -> str:
    (want,) = re.findall(r"^# refused: (.+)$", path.read_text(), re.M)
    return want


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_file_breaks_exactly_the_rule_it_names(path: Path) -> None:
    crd_schema = schema()
    body = yaml.safe_load(path.read_text())
    assert body["metadata"]["namespace"] == shell_var("NS")
    # structurally valid: only a CEL rule can refuse it
    jsonschema.Draft7Validator(crd_schema).validate(body)
    broken = violations(crd_schema, body)
    assert [messages(crd_schema)[rule] for rule in broken] == [expected(path)]


def test_every_rule_has_a_file_and_run_sh_sends_them_all() -> None:
    crd_schema = schema()
    broken = {
        rule for path in FILES for rule in violations(crd_schema, yaml.safe_load(path.read_text()))
    }
    # the transition rule needs an existing object: run.sh patches the project under test
    assert broken | {IMMUTABLE} == {rule for _, rule in rules(crd_schema)}
    assert 'for file in "$HERE"/invalid/*.yaml' in script()
    assert "kubectl apply --dry-run=server" in script()
    assert messages(crd_schema)[IMMUTABLE] in script()
    assert 'patch lp "$PROJECT" --dry-run=server' in script()
