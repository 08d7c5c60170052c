"""``labelhive-operator delete-projects`` (the chart's pre-delete hook) against the emulated API:
with the real operator running, every project is deleted and gone; without it, the finalizer
holds and the command says so and fails instead of hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labelhive_operator import cli
from labelhive_operator import k8s
from labelhive_operator import settings
from labelhive_operator import uninstall
from tests.operator.conftest import NAMESPACE
from tests.operator.conftest import Cluster
from tests.operator.conftest import _start_loop
from tests.operator.conftest import load_example

BASE = f"/apis/{settings.API_VERSION}"


def _cr(name: str, namespace: str, finalizers: list[str] | None = None) -> dict[str, Any]:
    body = load_example("minimal")
    body["metadata"] = {"name": name, "namespace": namespace}
    if finalizers:
        body["metadata"]["finalizers"] = finalizers
    return body


def _create(client: k8s.Client, body: dict[str, Any]) -> None:
    ns = body["metadata"]["namespace"]
    client.request("POST", f"{BASE}/namespaces/{ns}/labelingprojects", body=body)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[k8s.Client]:
    """The emulated API server alone: no operator, so nobody removes a finalizer."""
    from tests.operator.emulator import start_api

    loop, thread = _start_loop()
    emu, server = asyncio.run_coroutine_threadsafe(start_api(), loop).result(10)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "emu", "cluster": {"server": f"http://127.0.0.1:{server.port}"}}
                ],
                "users": [{"name": "emu", "user": {"token": "test"}}],
                "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "emu"}}],
                "current-context": "emu",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    try:
        yield k8s.Client(k8s.new_api_client())
    finally:

        async def stop() -> None:
            await server.__aexit__(None, None, None)
            await emu.__aexit__(None, None, None)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_the_running_operator_lets_every_project_go(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("one", "two"):
        _create(cluster.client, _cr(name, NAMESPACE))
    # the operator has taken them on: its finalizer is what would make them hang without it
    cluster.wait(
        "finalizers",
        lambda: all(
            settings.FINALIZER
            in ((cluster.cr(n) or {}).get("metadata", {}).get("finalizers") or [])
            for n in ("one", "two")
        ),
    )
    # the real command line, as the hook Job runs it
    assert cli.main(["delete-projects", "--wait", "--timeout", "20"]) == 0
    assert cluster.objects("labelingprojects") == {}
    out = capsys.readouterr().out
    assert f"deleting LabelingProject {NAMESPACE}/one" in out and "gone" in out


def test_without_the_operator_it_fails_naming_what_is_left(
    api: k8s.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(api, _cr("held", "team-a", [settings.FINALIZER]))
    _create(api, _cr("free", "team-a"))
    _create(api, _cr("elsewhere", "team-b", [settings.FINALIZER]))
    slept: list[float] = []
    code = uninstall.delete_projects(
        api, ["team-a"], wait=True, timeout=0.5, poll=0.1, sleep=slept.append
    )
    assert code == 1 and slept  # it waited, then gave up at the deadline
    out = capsys.readouterr().out
    assert "team-a/held" in out and settings.FINALIZER in out and "team-b" not in out
    left = {
        name: item["metadata"]
        for item in api.request("GET", f"{BASE}/labelingprojects")["items"]
        for name in [item["metadata"]["name"]]
    }
    # only the watched namespace was touched; the project without a finalizer is gone
    assert set(left) == {"held", "elsewhere"}
    assert left["held"].get("deletionTimestamp")
    assert not left["elsewhere"].get("deletionTimestamp")


def test_every_namespace_when_none_is_watched(api: k8s.Client) -> None:
    _create(api, _cr("a", "team-a"))
    _create(api, _cr("b", "team-b"))
    assert uninstall.list_projects(api, []) == [("team-a", "a"), ("team-b", "b")]
    assert uninstall.delete_projects(api, [], wait=True, timeout=5, say=lambda _: None) == 0
    assert uninstall.list_projects(api, []) == []


def test_nothing_to_delete_is_success(api: k8s.Client) -> None:
    assert uninstall.delete_projects(api, ["team-a"], wait=True, timeout=1) == 0


def test_a_negative_timeout_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["delete-projects", "--timeout", "-1"])
    assert exc.value.code == 2
    assert "--timeout" in capsys.readouterr().err
