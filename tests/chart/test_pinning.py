"""Releases a cluster operator can pin: digests for both images, the app version apart.

The chart takes the operator image's digest (``image.digest``) and the app image's
(``appImage.digest``), and passes the app's to the operator, which gives it to every project
that pins no image itself. The app version is the chart's ``appImage`` (the root chart's
``appVersion``), never the operator's own version: a new operator image upgrades no project.
"""

from __future__ import annotations

from typing import Any

import helm_python
import pytest
import yaml

from labelhive_operator import settings
from labelhive_operator.render import render_project
from tests.chart.conftest import ROOT
from tests.chart.conftest import SUBCHART
from tests.chart.conftest import by_kind
from tests.chart.conftest import load
from tests.chart.conftest import render
from tests.operator.conftest import load_example

OPERATOR_DIGEST = "sha256:" + "0f" * 32
APP_DIGEST = "sha256:" + "a1" * 32
APP = settings.DEFAULT_APP_REPOSITORY


def operator_container(values: dict[str, Any] | None = None) -> dict[str, Any]:
    objs = render(load(), values)
    (deployment,) = [
        d for d in by_kind(objs, "Deployment") if d["metadata"]["name"].endswith("operator")
    ]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def project_images(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, **image: Any) -> set[str]:
    """Return the images the operator, started with the chart's ``env``, gives a project."""
    for key in ("LABELHIVE_OPERATOR_APP_TAG", "LABELHIVE_OPERATOR_APP_DIGEST"):
        if key in env:
            monkeypatch.setenv(key, env[key])
        else:
            monkeypatch.delenv(key, raising=False)
    body = load_example("minimal")
    if image:
        body["spec"]["image"] = image
    seen: dict[str, set[str]] = {}
    for obj in render_project(body):
        pod = (obj.get("spec") or {}).get("template", {}).get("spec") or {}
        component = obj["metadata"]["labels"][settings.LABEL_COMPONENT]
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            if c["image"].startswith(body["spec"].get("image", {}).get("repository", APP)):
                seen.setdefault(component, set()).add(c["image"])
    # every workload that runs the app, and the migration Job, run the one image
    assert set(seen) == {"web", "worker", "scheduler", "migration"}, seen
    return set().union(*seen.values())


def test_the_operator_image_is_pinned_by_digest() -> None:
    container = operator_container({"labelhive-operator": {"image": {"digest": OPERATOR_DIGEST}}})
    assert container["image"] == f"ghcr.io/labelhive/labelhive-operator@{OPERATOR_DIGEST}"


def test_the_app_version_is_the_root_charts_app_version_not_the_operators() -> None:
    root = yaml.safe_load((ROOT / "Chart.yaml").read_text())
    sub_values = yaml.safe_load((SUBCHART / "values.yaml").read_text())
    root_values = yaml.safe_load((ROOT / "values.yaml").read_text())
    assert sub_values["appImage"]["tag"] == root["appVersion"]
    assert root_values["labelhive-operator"]["appImage"]["tag"] == root["appVersion"]
    env = env_of(operator_container())
    assert env["LABELHIVE_OPERATOR_APP_TAG"] == root["appVersion"]
    assert "LABELHIVE_OPERATOR_APP_DIGEST" not in env


def test_a_new_operator_image_leaves_the_app_image_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    before = env_of(operator_container())
    after = env_of(
        operator_container(
            {"labelhive-operator": {"image": {"tag": "9.9.9"}, "appImage": {"tag": "0.1.0"}}}
        )
    )
    assert after == before
    images = project_images(after, monkeypatch)
    # the operator of a newer version (its own __version__) runs the same app
    monkeypatch.setattr(settings, "DEFAULT_APP_TAG", "9.9.9")
    assert project_images(after, monkeypatch) == images == {f"{APP}:0.1.0"}


def test_the_app_digest_reaches_every_workload_of_an_unpinned_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = env_of(operator_container({"labelhive-operator": {"appImage": {"digest": APP_DIGEST}}}))
    assert env["LABELHIVE_OPERATOR_APP_DIGEST"] == APP_DIGEST
    assert project_images(env, monkeypatch) == {f"{APP}@{APP_DIGEST}"}


def test_a_project_pin_wins_and_a_mirror_gets_the_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_of(operator_container({"labelhive-operator": {"appImage": {"digest": APP_DIGEST}}}))
    assert project_images(env, monkeypatch, tag="0.0.9") == {f"{APP}:0.0.9"}
    own = "sha256:" + "c3" * 32
    assert project_images(env, monkeypatch, digest=own) == {f"{APP}@{own}"}
    # a digest names an image in one repository: a mirror gets the version by tag
    mirror = "registry.example.com/mirror/labelhive"
    assert project_images(env, monkeypatch, repository=mirror) == {f"{mirror}:0.1.0"}


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"appImage": {"digest": "sha256:abc"}}, "digest"),
        ({"appImage": {"tag": ""}}, "tag"),
        ({"appImage": {"tga": "1"}}, "tg"),
    ],
    ids=["short digest", "empty tag", "typo"],
)
def test_bad_app_image_values_are_refused(values: dict[str, Any], needle: str) -> None:
    with pytest.raises(helm_python.HelmError) as err:
        render(load(), {"labelhive-operator": values})
    assert needle in str(err.value)
