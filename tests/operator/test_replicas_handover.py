"""Switching who owns the worker replicas never drops the workers to one.

The real operator runs against the emulator with server-side apply field ownership tracked for
Deployments (``Emulator.manage_fields_of``, :mod:`tests.operator.managed_fields`): an apply that
leaves out a field its manager alone owned removes it, as the API server does, and the API server
then defaults ``replicas`` to 1. The emulator does not default, so an absent ``replicas`` is read
as 1 here. The emulator has no HPA or scale subresource: the test plays the autoscaler with an
Update (a merge-patch under its own field manager) of the Deployment; a real HPA writes through
``/scale``, which the API server records as the same kind of Update.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest

from labelhive_operator import settings
from labelhive_operator.builders import autoscaling
from tests.operator import managed_fields
from tests.operator.conftest import NAMESPACE
from tests.operator.conftest import Cluster
from tests.operator.test_operator import LP
from tests.operator.test_operator import NAME
from tests.operator.test_operator import install

WORKER = "demo-worker"
DEPLOYMENT = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{WORKER}"
AUTOSCALER = "my-autoscaler"
REPLICAS = ("spec", "replicas")


@pytest.fixture
def tracked(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster with field ownership tracked for Deployments (before anything exists)."""
    cluster.emu.manage_fields_of.add("deployments")
    yield cluster


def _worker(cluster: Cluster) -> dict[str, Any]:
    return cluster.objects("deployments")[WORKER]


def _replicas(obj: dict[str, Any]) -> int:
    """The count the API server would hold: an absent ``replicas`` defaults to 1."""
    return int(obj["spec"].get("replicas", 1))


def _replica_owners(obj: dict[str, Any]) -> set[tuple[str, str]]:
    owners = managed_fields.owners_of(obj)
    return {key for key, paths in owners.items() if REPLICAS in paths}


def _history(cluster: Cluster, since: int = 0) -> list[int]:
    """Every count the worker Deployment held after resourceVersion ``since``, in order."""

    async def snap() -> list[int]:
        async with cluster.emu._lock:
            return [
                _replicas(ev["object"])
                for rv, res, ev in cluster.emu._log
                if res.plural == "deployments"
                and rv > since
                and ev["object"]["metadata"]["name"] == WORKER
                and ev["type"] != "DELETED"
            ]

    return asyncio.run_coroutine_threadsafe(snap(), cluster.loop).result(5)


def _autoscale(cluster: Cluster, replicas: int, manager: str = AUTOSCALER) -> None:
    """Play an autoscaler: an Update of ``spec.replicas`` under its own field manager."""
    cluster.client.request(
        "PATCH",
        DEPLOYMENT,
        query=[("fieldManager", manager)],
        body={"spec": {"replicas": replicas}},
        content_type="application/merge-patch+json",
    )


def _rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def _edit_and_wait(cluster: Cluster, grace: int) -> None:
    """Change something else of the workers and wait until the operator applied it."""
    cluster.patch(f"{LP}/{NAME}", {"spec": {"workers": {"terminationGracePeriodSeconds": grace}}})
    cluster.wait(
        f"grace period {grace} applied",
        lambda: (
            _worker(cluster)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == grace
        ),
    )


def _switch_to_external(cluster: Cluster) -> int:
    """Operator → External, an edit, the autoscaler's Update to 7, another edit.

    :return: the worker's resourceVersion before the switch.
    """
    install(cluster)
    worker = _worker(cluster)
    assert _replicas(worker) == 2
    assert _replica_owners(worker) == {(settings.FIELD_MANAGER, "Apply")}
    before = _rv(worker)
    cluster.patch(f"{LP}/{NAME}", {"spec": {"workers": {"autoscaling": {"external": True}}}})
    # an edit before the autoscaler first writes (an HPA whose count equals the current one
    # writes nothing at all): the operator's apply without replicas must not remove them
    _edit_and_wait(cluster, 400)
    _autoscale(cluster, 7)
    _edit_and_wait(cluster, 600)
    return before


def test_operator_to_external_keeps_the_autoscaler_s_count(tracked: Cluster) -> None:
    before = _switch_to_external(tracked)
    worker = _worker(tracked)
    assert _replicas(worker) == 7
    # the autoscaler's Update took the field from the hand-over manager; nobody else holds it
    assert _replica_owners(worker) == {(AUTOSCALER, "Update")}
    history = _history(tracked, before)
    assert history[0] == 2 and history[-1] == 7
    assert set(history) == {2, 7}, f"the count left 2 → 7: {history}"


def test_without_the_handover_the_switch_drops_the_workers_to_one(
    tracked: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code before the hand-over: the emulator's ownership shows the drop it caused."""
    monkeypatch.setattr(autoscaling, "replicas_handover", lambda desired, live: None)
    before = _switch_to_external(tracked)
    history = _history(tracked, before)
    assert 1 in history, history  # the operator's apply removed the field it alone owned
    assert history[-1] == 7  # until the autoscaler's next write


def test_hpa_to_operator_keeps_the_count_and_the_operator_owns_it_again(tracked: Cluster) -> None:
    install(tracked, workers={"autoscaling": {"enabled": True}})
    tracked.wait("the HPA", lambda: WORKER in tracked.objects("horizontalpodautoscalers"))
    assert "replicas" not in _worker(tracked)["spec"], "the HPA's replicas are not the operator's"
    _autoscale(tracked, 7, manager="kube-controller-manager")
    before = _rv(_worker(tracked))
    # the documented switch: set the replicas to the current count in the same edit
    tracked.patch(
        f"{LP}/{NAME}",
        {"spec": {"workers": {"replicas": 7, "autoscaling": {"enabled": False}}}},
    )
    tracked.wait("the HPA gone", lambda: not tracked.objects("horizontalpodautoscalers"))
    # the count the operator wants is the live one: nothing differs, nothing is written, and
    # the HPA's manager keeps the field until a count differs
    assert _replicas(_worker(tracked)) == 7
    _edit_and_wait(tracked, 600)
    assert _replicas(_worker(tracked)) == 7
    # a forced apply of another count takes the field from the HPA's manager
    tracked.patch(f"{LP}/{NAME}", {"spec": {"workers": {"replicas": 4}}})
    tracked.wait("scaled to 4", lambda: _worker(tracked)["spec"].get("replicas") == 4)
    assert _replica_owners(_worker(tracked)) == {(settings.FIELD_MANAGER, "Apply")}
    history = _history(tracked, before)
    assert history[-1] == 4 and set(history) == {7, 4}, history
    assert history.index(4) == len(history) - history[::-1].index(7), history  # 7s, then 4s


# --- the emulator's ownership rules themselves (pure) -------------------------------------------


def _dep(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": spec}


def _apply(old: dict[str, Any] | None, manager: str, force: bool = True, **spec: Any) -> Any:
    """Apply ``spec`` as the emulator does: merged into the live object, then ownership."""
    merged = copy.deepcopy(old) if old else _dep()
    merged["spec"].update(spec)
    return managed_fields.apply(old, _dep(**spec), merged, manager, force)


def test_an_apply_that_leaves_out_a_field_it_alone_owned_removes_it() -> None:
    obj = _apply(None, "a", replicas=3, paused=False)
    obj = _apply(obj, "a", paused=False)
    assert obj["spec"] == {"paused": False}
    assert managed_fields.owners_of(obj) == {("a", "Apply"): {("spec", "paused")}}


def test_a_field_shared_with_another_manager_stays_when_one_leaves_it_out() -> None:
    obj = _apply(None, "a", replicas=3)
    obj = _apply(obj, "b", replicas=3)
    assert managed_fields.owners_of(obj) == {("a", "Apply"): {REPLICAS}, ("b", "Apply"): {REPLICAS}}
    obj = _apply(obj, "a", paused=False)
    assert obj["spec"] == {"replicas": 3, "paused": False}
    assert managed_fields.owners_of(obj) == {
        ("a", "Apply"): {("spec", "paused")},
        ("b", "Apply"): {REPLICAS},
    }


def test_an_update_takes_a_changed_field_and_an_unforced_apply_conflicts() -> None:
    obj = _apply(None, "a", replicas=3)
    obj = managed_fields.update(obj, {**copy.deepcopy(obj), "spec": {"replicas": 5}}, "hpa")
    assert managed_fields.owners_of(obj) == {("hpa", "Update"): {REPLICAS}}
    with pytest.raises(managed_fields.ApplyConflict, match=r"\.spec\.replicas \(owned by hpa\)"):
        _apply(obj, "a", force=False, replicas=3)
    # the same value is no conflict: the field is shared
    shared = _apply(obj, "a", force=False, replicas=5)
    assert set(managed_fields.owners_of(shared)) == {("hpa", "Update"), ("a", "Apply")}
    # a forced apply of another value takes it
    taken = _apply(obj, "a", replicas=3)
    assert managed_fields.owners_of(taken) == {("a", "Apply"): {REPLICAS}}
    assert managed_fields.to_fields_v1({REPLICAS}) == {"f:spec": {"f:replicas": {}}}


def test_an_update_that_writes_the_same_value_takes_nothing() -> None:
    obj = _apply(None, "a", replicas=3)
    obj = managed_fields.update(obj, copy.deepcopy(obj), "hpa")
    assert managed_fields.owners_of(obj) == {("a", "Apply"): {REPLICAS}}
