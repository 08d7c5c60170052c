"""``labelhive-operator delete-projects``: delete every LabelingProject and wait until it is gone.

The chart runs it as a ``pre-delete`` hook Job. ``helm uninstall`` deletes the kinds it does not
know last, after the operator's Deployment, so without the hook every LabelingProject would hang
in ``Terminating`` on the operator's finalizer with nobody left to remove it. The hook runs while
the operator still runs: the operator's delete handler clears each finalizer, and the children go
with their project through GC (Redis PVCs and generated Secrets stay with ``deletionPolicy:
Retain``; the external database is never touched).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterable

from labelhive_operator import k8s
from labelhive_operator import settings

Project = tuple[str, str]  # (namespace, name)


def collections(namespaces: Iterable[str]) -> list[str]:
    """Return the LabelingProject collection URLs to work on.

    :param namespaces: the watched namespaces; none means every namespace (one cluster-wide list).
    """
    base = f"/apis/{settings.GROUP}/{settings.VERSION}"
    named = [ns for ns in namespaces if ns]
    if not named:
        return [f"{base}/{settings.PLURAL}"]
    return [f"{base}/namespaces/{ns}/{settings.PLURAL}" for ns in named]


def list_projects(client: k8s.Client, namespaces: Iterable[str]) -> list[Project]:
    """Return ``(namespace, name)`` of every LabelingProject in those namespaces, sorted."""
    found: set[Project] = set()
    for url in collections(namespaces):
        for item in (client.request("GET", url) or {}).get("items") or []:
            meta = item["metadata"]
            found.add((meta["namespace"], meta["name"]))
    return sorted(found)


def delete_projects(
    client: k8s.Client,
    namespaces: Iterable[str],
    *,
    wait: bool,
    timeout: float,
    poll: float = 2.0,
    say: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Delete every LabelingProject; with ``wait``, return only once all of them are gone.

    :param client: the API client.
    :param namespaces: the watched namespaces (none: all).
    :param wait: wait until the API server no longer lists any of them.
    :param timeout: how long to wait, in seconds.
    :return: 0 when nothing is left (or ``wait`` is off), 1 when some still exist at the deadline.
    """
    namespaces = list(namespaces)
    projects = list_projects(client, namespaces)
    for ns, name in projects:
        url = f"{collections([ns])[0]}/{name}"
        try:
            client.request("DELETE", url)
        except k8s.ApiError as e:
            if e.status != 404:  # already gone is what we want
                raise
        say(f"deleting LabelingProject {ns}/{name}")
    if not wait or not projects:
        say(f"{len(projects)} LabelingProject(s) deleted")
        return 0
    deadline = clock() + timeout
    while True:
        left = list_projects(client, namespaces)
        if not left:
            say(f"{len(projects)} LabelingProject(s) deleted and gone")
            return 0
        if clock() >= deadline:
            names = ", ".join(f"{ns}/{name}" for ns, name in left)
            say(
                f"still terminating after {timeout:g} s: {names}. Is the operator running? "
                f"Its finalizer {settings.FINALIZER} is removed by the operator; see "
                "operator/README.md 'Deletion'."
            )
            return 1
        sleep(poll)
