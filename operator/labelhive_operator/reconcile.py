"""One idempotent reconcile: observe, build, apply what differs, report status.

A second run with nothing changed only reads: children are compared with what the API server
holds and applied only when a desired field differs (drift or a spec change), and the status
patch is returned only when it differs from the current status.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from labelhive_operator import builders
from labelhive_operator import labeling
from labelhive_operator import migration
from labelhive_operator import settings
from labelhive_operator import status as st
from labelhive_operator import validate
from labelhive_operator.builders import common
from labelhive_operator.builders import migrate
from labelhive_operator.builders import secrets as gen_secrets
from labelhive_operator.builders import web
from labelhive_operator.k8s import CHILD_KINDS
from labelhive_operator.k8s import Client
from labelhive_operator.spec import Project

#: post_event(type, reason, message): "Normal"/"Warning" Events on the LabelingProject
EventSink = Callable[[str, str, str], None]


@dataclass
class Observed:
    """What one reconcile saw and did."""

    children: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    missing_secrets: list[str] = field(default_factory=list)
    generated: dict[str, dict[str, str]] = field(default_factory=dict)


def is_subset(want: Any, have: Any) -> bool:
    """Return whether every field of ``want`` is present and equal in ``have``.

    The API server adds defaults and status; only the fields we declare are compared.
    """
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and is_subset(v, have[k]) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(is_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    return bool(want == have)


def _decode(secret: dict[str, Any] | None) -> dict[str, str]:
    if secret is None:
        return {}
    data = secret.get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def ensure_generated_secrets(client: Client, project: Project, obs: Observed) -> None:
    """Create the generated Secrets once (random values); read them on later runs."""
    for name, keys in gen_secrets.generated_keys(project).items():
        live = client.get("v1", "Secret", project.namespace, name)
        if live is None:
            values = {k: secrets.token_urlsafe(32) for k in keys}
            if client.create(gen_secrets.generated_secret(project, name, values)):
                obs.generated[name] = values
                continue
            live = client.get("v1", "Secret", project.namespace, name)
        obs.generated[name] = _decode(live)


def referenced_secrets_digest(client: Client, project: Project, obs: Observed) -> str:
    """Return a digest of the referenced Secrets' data (DB URI, S3 credentials).

    Only the digest leaves this function: values are never logged or put into a manifest.
    """
    names = [project.spec.database.secret_ref.name]
    storage = project.spec.storage
    if storage is not None and storage.credentials_secret_ref is not None:
        names.append(storage.credentials_secret_ref.name)
    parts = []
    for name in names:
        data = _decode(client.get("v1", "Secret", project.namespace, name))
        if not data:
            obs.missing_secrets.append(name)
        parts.append(common.digest(name, data))
    return common.digest(parts)


def list_children(client: Client, project: Project) -> dict[tuple[str, str], dict[str, Any]]:
    """Return the project's existing children keyed by (kind, name), by ownerReference uid."""
    selector = ",".join(
        [
            f"{settings.LABEL_INSTANCE}={project.name}",
            f"{settings.LABEL_MANAGED_BY}={settings.MANAGED_BY}",
        ]
    )
    out = {}
    for api_version, kind in CHILD_KINDS:
        for obj in client.list(api_version, kind, project.namespace, selector):
            refs = (obj.get("metadata") or {}).get("ownerReferences") or []
            if any(r.get("uid") == project.uid and r.get("controller") for r in refs):
                obj.setdefault("apiVersion", api_version)
                obj.setdefault("kind", kind)
                out[(kind, obj["metadata"]["name"])] = obj
    return out


def migration_gate(
    client: Client,
    body: Any,
    project: Project,
    cur: dict[str, Any],
    obs: Observed,
    events: EventSink,
) -> tuple[migration.Gate, dict[str, Any]]:
    """Decide the migration gate (:mod:`.migration`); return it and ``status.migration``.

    Web, workers and scheduler move to a new image only once its migration Job succeeded;
    until then they keep running the recorded image (or do not exist on a first install).
    A success is recorded on the ``LabelingProject`` here, synchronously, before anything is
    deleted and before the caller releases the per-object lock.
    """
    name = migrate.job_name(project)
    annotations = dict((body.get("metadata") or {}).get("annotations") or {})
    jobs = {
        key[1]: st.job_state(obj)
        for key, obj in obs.children.items()
        if key[0] == "Job"
        and ((obj.get("metadata") or {}).get("labels") or {}).get(settings.LABEL_COMPONENT)
        == migrate.COMPONENT
    }
    gate = migration.decide(
        name, project.spec.image.ref, migration.recorded(annotations, cur), jobs
    )
    record_now = gate.record if gate.migrated else None
    if record_now is not None and record_now != migration.from_annotations(annotations):
        client.patch(
            settings.API_VERSION,
            settings.KIND,
            project.namespace,
            project.name,
            {"metadata": {"annotations": {migration.ANNOTATION: record_now.to_annotation()}}},
        )
        if (cur.get("migration") or {}).get("job") != name or not cur["migration"].get("succeeded"):
            events("Normal", "MigrationSucceeded", f"job {name} succeeded")
    prev = cur.get("migration") or {}
    if gate.state == "Failed" and prev.get("state") != "Failed":
        events("Warning", "MigrationFailed", f"job {name} failed; rollout blocked")
    elif gate.run_job and name not in jobs:
        events("Normal", "MigrationStarted", f"job {name} for {project.spec.image.ref}")
    record = {
        "image": project.spec.image.ref,
        "job": name,
        "state": gate.state,
        "succeeded": gate.migrated,
    }
    return gate, record


def apply_children(
    client: Client,
    project: Project,
    desired: list[dict[str, Any]],
    obs: Observed,
    keep: frozenset[tuple[str, str]] = frozenset(),
) -> None:
    """Apply children that differ from the cluster; delete owned children no longer desired.

    Children in ``keep`` (kind, name) are left as they are: neither applied nor deleted.
    """
    wanted = set()
    for obj in desired:
        key = (obj["kind"], obj["metadata"]["name"])
        wanted.add(key)
        live = obs.children.get(key)
        if live is None or not is_subset(obj, live):
            obs.children[key] = client.apply(obj)
            obs.applied.append(f"{key[0]}/{key[1]}")
    for key, live in list(obs.children.items()):
        if key not in wanted and key not in keep:
            client.delete(live["apiVersion"], key[0], project.namespace, key[1])
            obs.deleted.append(f"{key[0]}/{key[1]}")
            del obs.children[key]


def observe_conditions(
    project: Project, obs: Observed, migrated: bool, mig_state: str
) -> list[st.Cond]:
    """Return the observed conditions (``Ready`` is derived later)."""
    ch = obs.children
    name = project.name
    conds = [
        st.Cond("Reconciled", False, "SecretMissing", "missing: " + ", ".join(obs.missing_secrets))
        if obs.missing_secrets
        else st.Cond("Reconciled", True, "Applied", f"{len(ch)} objects in sync"),
        st.Cond("Migrated", migrated, f"Migration{mig_state}", project.spec.image.ref),
    ]
    redis_ok = (
        all(
            r >= d
            for r, d in (
                st.ready_of(ch.get(("StatefulSet", f"{name}-{c}"))) for c in ("redis", "sentinel")
            )
        )
        and ("StatefulSet", f"{name}-redis") in ch
    )
    conds.append(st.Cond("RedisReady", redis_ok, "Ready" if redis_ok else "NotReady"))
    web_r, web_d = st.ready_of(ch.get(("Deployment", f"{name}-web")))
    conds.append(st.Cond("WebAvailable", web_r >= 1, "Available" if web_r else "NoReadyPods"))
    wk_r, wk_d = st.ready_of(ch.get(("Deployment", f"{name}-worker")))
    wk_ok = ("Deployment", f"{name}-worker") in ch and (wk_r >= 1 or wk_d == 0)
    conds.append(st.Cond("WorkersAvailable", wk_ok, "Available" if wk_ok else "NoReadyPods"))
    return conds


def sync_labeling(project: Project, obs: Observed, web_ready: bool) -> tuple[st.Cond, dict]:
    """Sync ``spec.labeling`` when the web tier is up; return its condition and status."""
    if not web_ready:
        return st.Cond("LabelingSynced", False, "WaitingForWeb", "web not available yet"), {}
    key = obs.generated.get(common.app_secret(project), {}).get("admin-api-key", "")
    url = settings.app_url_template().format(name=project.name, namespace=project.namespace)
    try:
        prog = labeling.sync(project, url, key)
    except labeling.LabelingError as e:
        return st.Cond("LabelingSynced", False, "AppUnreachable", str(e)), {}
    return st.Cond("LabelingSynced", True, "Synced", f"project {prog.project_id}"), {
        "projectId": prog.project_id,
        "shortName": project.labeling_short_name,
        "tasks": prog.tasks,
        "completed": prog.completed,
        "answers": prog.answers,
        "progressPercent": st.progress_percent(prog.tasks, prog.completed),
    }


def reconcile(body: Any, client: Client, now: str, events: EventSink) -> dict[str, Any] | None:
    """Bring the cluster to the state ``body`` declares.

    :param body: the ``LabelingProject`` (kopf body or dict).
    :param client: the API client.
    :param now: RFC 3339 timestamp for condition transitions.
    :param events: where to post Events on transitions.
    :return: the new ``status`` when it differs from the current one, else ``None``.
    :raise validate.InvalidSpec: before any write, when a child could not carry the spec.
    """
    project = validate.parse(body)
    cur: dict[str, Any] = dict(body.get("status") or {})
    generation = int(body["metadata"].get("generation") or 1)
    if project.spec.paused:
        conds = [st.Cond("Reconciled", False, "Paused", "spec.paused is true")]
        return _diff(
            cur,
            {
                **cur,
                "conditions": st.merge_conditions(
                    cur.get("conditions") or [], conds, generation, now
                ),
            },
        )
    obs = Observed()
    ensure_generated_secrets(client, project, obs)
    ref_digest = referenced_secrets_digest(client, project, obs)
    obs.children = list_children(client, project)
    gate, mig_record = migration_gate(client, body, project, cur, obs, events)
    migrated, mig_state = gate.migrated, gate.state
    workload_image = gate.workload_image
    if workload_image and workload_image != cur.get("currentImage"):
        events("Normal", "RolloutStarted", f"workloads now run {workload_image}")
    redis_digest = common.digest(obs.generated.get(common.redis_auth_secret(project)))
    inputs = builders.Inputs(
        workload_image=workload_image,
        run_migration=gate.run_job,
        app_secrets_hash=common.digest(ref_digest, obs.generated),
        redis_secrets_hash=redis_digest,
    )
    keep = frozenset(("Job", name) for name in gate.keep_jobs)
    apply_children(client, project, builders.build_all(project, inputs), obs, keep)
    conds = observe_conditions(project, obs, migrated, mig_state)
    new: dict[str, Any] = {"observedGeneration": generation, "migration": mig_record}
    if workload_image:
        new["currentImage"] = workload_image
    if project.spec.labeling is not None:
        web_ready = next(c.ok for c in conds if c.type == "WebAvailable")
        lab_cond, lab_status = sync_labeling(project, obs, web_ready and migrated)
        conds.append(lab_cond)
        new["labeling"] = lab_status or cur.get("labeling") or {}
    _summaries(project, obs, new)
    new["conditions"] = st.merge_conditions(cur.get("conditions") or [], conds, generation, now)
    _transition_events(cur, new, events)
    return _diff(cur, new)


def failure_status(body: Any, reason: str, message: str, now: str) -> dict[str, Any] | None:
    """Return the status after a reconcile that stopped early (``None`` when unchanged).

    ``Reconciled`` and ``Ready`` turn ``False`` with ``reason`` and ``message``; everything else
    keeps what the last complete reconcile observed.
    """
    cur: dict[str, Any] = dict(body.get("status") or {})
    generation = int(body["metadata"].get("generation") or 1)
    failure = st.Cond("Reconciled", False, reason, message[:1024])
    conds = st.failed_conditions(cur.get("conditions") or [], failure, generation, now)
    return _diff(cur, {"observedGeneration": generation, "conditions": conds})


def _summaries(project: Project, obs: Observed, new: dict[str, Any]) -> None:
    web_r, web_d = st.ready_of(obs.children.get(("Deployment", f"{project.name}-web")))
    worker = obs.children.get(("Deployment", f"{project.name}-worker"))
    wk_r, wk_d = st.ready_of(worker)
    wk_now = int(((worker or {}).get("status") or {}).get("replicas") or 0)
    new["web"] = {"replicas": web_d, "readyReplicas": web_r, "readyOfDesired": f"{web_r}/{web_d}"}
    new["workers"] = {
        "replicas": wk_now,
        "readyReplicas": wk_r,
        "readyOfDesired": f"{wk_r}/{wk_d}",
        "selector": common.selector_string(project, "worker"),
    }
    url = web.url(project)
    if url:
        new["url"] = url


def _transition_events(cur: dict[str, Any], new: dict[str, Any], events: EventSink) -> None:
    was = (st.condition(cur, "Ready") or {}).get("status")
    now = st.condition(new, "Ready") or {}
    if now.get("status") != was and now.get("status") == "True":
        events("Normal", "Ready", "all components are available")
    elif now.get("status") != was and was == "True":
        events("Warning", "NotReady", str(now.get("message", "")))


def _diff(cur: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """Return ``new`` if writing it would change ``status``, else ``None`` (no write)."""
    merged = {**cur, **new}
    return None if merged == cur else new
