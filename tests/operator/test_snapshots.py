"""Snapshots of ``labelhive-operator render`` for the examples.

Every change to what the operator applies shows up as a reviewable diff of
``tests/operator/snapshots/*.yaml``. After an intended change, rerun this file with
``LABELHIVE_UPDATE_SNAPSHOTS=1``, review the diff and commit it with the change.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import yaml

from labelhive_operator.render import render_stream
from tests.operator.conftest import EXAMPLES

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def rendered(example: str) -> str:
    out = io.StringIO()
    docs = list(yaml.safe_load_all((EXAMPLES / f"{example}.yaml").read_text()))
    # without generated Secrets: their values are random
    assert render_stream(docs, out) > 0
    return out.getvalue()


@pytest.mark.parametrize("example", ["minimal", "full"])
def test_render_matches_the_snapshot(example: str) -> None:
    path = SNAPSHOTS / f"{example}.yaml"
    text = rendered(example)
    assert text == rendered(example)  # deterministic, or a snapshot would be meaningless
    if os.environ.get("LABELHIVE_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
    assert path.exists(), f"no snapshot: run with LABELHIVE_UPDATE_SNAPSHOTS=1 ({path})"
    assert text == path.read_text(), (
        f"{path.name} differs from the render: if intended, rerun with "
        "LABELHIVE_UPDATE_SNAPSHOTS=1 and review the diff"
    )
