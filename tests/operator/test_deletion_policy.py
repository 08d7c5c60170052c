"""``deletionPolicy`` decides what outlives the project, whichever way it was switched.

The generated Secrets are created once and never re-applied, so their ownerReference (what
GC deletes them by) is set and removed by a patch when the policy changes; the Redis
StatefulSet's ``persistentVolumeClaimRetentionPolicy.whenDeleted`` follows through the apply.
The emulator has no garbage collector and no StatefulSet controller: the test checks the
ownerReferences GC goes by and the retention policy the StatefulSet controller applies to the
PVCs; that the volumes really go (or stay) is the kind end-to-end test's.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.operator.conftest import Cluster
from tests.operator.test_operator import LP
from tests.operator.test_operator import NAME
from tests.operator.test_operator import install

GENERATED = ("demo-redis-auth", "demo-app-secrets")


def _state(cluster: Cluster) -> tuple[str, dict[str, list[Any]]]:
    """Return the Redis volumes' ``whenDeleted`` and each generated Secret's owner uids."""
    sts = cluster.objects("statefulsets")["demo-redis"]
    secrets = cluster.objects("secrets")
    owners = {
        name: [r["uid"] for r in secrets[name]["metadata"].get("ownerReferences") or []]
        for name in GENERATED
    }
    return sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"], owners


def _switch(cluster: Cluster, policy: str, uid: str) -> None:
    cluster.patch(f"{LP}/{NAME}", {"spec": {"deletionPolicy": policy}})
    owned = [uid] if policy == "Delete" else []
    cluster.wait(
        f"deletionPolicy {policy} applied",
        lambda: _state(cluster) == (policy, {n: owned for n in GENERATED}),
    )


@pytest.mark.parametrize(
    ("first", "then"),
    [("Retain", "Delete"), ("Delete", "Retain")],
    ids=["retain-to-delete", "delete-to-retain"],
)
def test_a_switched_policy_decides_what_the_deletion_takes(
    cluster: Cluster, first: str, then: str
) -> None:
    cr = install(cluster, deletionPolicy=first)
    uid = cr["metadata"]["uid"]
    assert _state(cluster) == (first, {n: [uid] if first == "Delete" else [] for n in GENERATED})
    _switch(cluster, then, uid)
    cluster.client.request("DELETE", f"{LP}/{NAME}")
    cluster.wait("CR gone", lambda: cluster.cr(NAME) is None)
    # what GC goes by once the owner is gone: owned Secrets go with it, the others stay
    when_deleted, owners = _state(cluster)
    assert when_deleted == then
    assert owners == {n: [uid] if then == "Delete" else [] for n in GENERATED}
