"""Fixtures for the chart tests: the repository root loaded and rendered by the real Helm engine.

``helm-python-sdk`` (import ``helm_python``) bundles Helm v4's engine as a library: no ``helm``
binary, no cluster. Loading honours ``.helmignore``, rendering enforces ``values.schema.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from helm_python import _native

ROOT = Path(__file__).resolve().parents[2]
SUBCHART = ROOT / "charts" / "labelhive-operator"
CRD_FILE = SUBCHART / "files" / "labelhive.io_labelingprojects.yaml"
MAXIMAL = Path(__file__).with_name("values-maximal.yaml")
RELEASE = "lh"
NAMESPACE = "labelhive"


@dataclass(frozen=True)
class Rendered:
    """One rendered object and the template that produced it."""

    template: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def maximal_values() -> dict[str, Any]:
    """Return the values file that sets every knob of the chart."""
    return yaml.safe_load(MAXIMAL.read_text())


def render(
    chart: helm_python.Chart,
    values: dict[str, Any] | None = None,
    api_versions: list[str] | None = None,
    **opts: Any,
) -> list[Rendered]:
    """Render the chart and parse every manifest into objects (NOTES.txt left out).

    :param chart: the loaded root chart; rendering mutates it (Helm drops the subcharts whose
        condition is false from the loaded chart), so pass a fresh one per render.
    :param values: user values (``None``: the defaults).
    :param api_versions: extra API versions the cluster serves (``helm template --api-versions``,
        what ``.Capabilities.APIVersions.Has`` sees); ``None``: only the built-in ones.
    :param opts: ``is_install``/``is_upgrade`` (default: an install).
    :return: the rendered objects in template order.
    """
    opts.setdefault("is_install", not opts.get("is_upgrade", False))
    if api_versions is None:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, **opts)
    else:
        # Chart.render does not pass api_versions on; the engine's render call takes it
        options = {"name": RELEASE, "namespace": NAMESPACE, "api_versions": api_versions, **opts}
        raw = _native.call_string(
            "helm_render", chart._raw(), json.dumps(values or {}), json.dumps(options)
        )
        manifests = json.loads(raw)
    out: list[Rendered] = []
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                out.append(Rendered(template, doc))
    return out


def notes(chart: helm_python.Chart, values: dict[str, Any] | None = None) -> str:
    """Return the rendered NOTES.txt."""
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    (text,) = [t for name, t in manifests.items() if name.endswith("templates/NOTES.txt")]
    return text


def by_kind(objs: list[Rendered], kind: str) -> list[dict[str, Any]]:
    """Return the objects of one kind."""
    return [r.obj for r in objs if r.kind == kind]


def load() -> helm_python.Chart:
    """Return the root chart (the repository root), freshly loaded (it takes milliseconds)."""
    return helm_python.Chart.load(ROOT)


@pytest.fixture
def chart() -> helm_python.Chart:
    """The root chart, loaded for one test (a render may change the loaded chart)."""
    return load()


@pytest.fixture(scope="module")
def default_objects() -> list[Rendered]:
    """The chart rendered with its default values."""
    return render(load())


@pytest.fixture(scope="module")
def maximal_objects() -> list[Rendered]:
    """The chart rendered with every knob set."""
    return render(load(), maximal_values())
