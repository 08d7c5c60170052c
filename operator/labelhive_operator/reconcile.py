"""One idempotent reconcile: observe, build, apply what differs, report status.

A second run with nothing changed only reads: children are compared with what the API server
holds and applied only when a desired field differs (drift or a spec change), and the status
patch is returned only when it differs from the current status.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from labelhive_operator import builders
from labelhive_operator import labeling
from labelhive_operator import migration_io
from labelhive_operator import settings
from labelhive_operator import sourceimport
from labelhive_operator import status as st
from labelhive_operator import validate
from labelhive_operator.builders import autoscaling
from labelhive_operator.builders import common
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
        follow_deletion_policy(client, project, name, live)
        obs.generated[name] = _decode(live)


def follow_deletion_policy(
    client: Client, project: Project, name: str, live: dict[str, Any] | None
) -> None:
    """Give a generated Secret the ownerReference ``deletionPolicy`` asks for, whichever way
    the policy was switched: ``Delete`` adds it (GC removes the Secret with the project),
    ``Retain`` removes it (the Secret outlives the project, with the Redis volumes).
    """
    if live is None:
        return
    want = gen_secrets.owner_references(project)
    have = (live.get("metadata") or {}).get("ownerReferences") or []
    if [r.get("uid") for r in have] != [r["uid"] for r in want]:
        client.patch(
            "v1", "Secret", project.namespace, name, {"metadata": {"ownerReferences": want or None}}
        )


def referenced_secrets_digest(client: Client, project: Project, obs: Observed) -> str:
    """Return a digest of the referenced Secrets' data (DB URI, S3 credentials).

    Only the digest leaves this function: values are never logged or put into a manifest.
    """
    names = [common.database_secret(project)[0]]
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


def list_children(
    client: Client, project: Project, served: frozenset[tuple[str, str]] = frozenset()
) -> dict[tuple[str, str], dict[str, Any]]:
    """Return the project's existing children keyed by (kind, name), by ownerReference uid.

    Optional kinds (KEDA, prometheus-operator, CloudNativePG) are listed where ``served``.
    """
    selector = ",".join(
        [
            f"{settings.LABEL_INSTANCE}={project.name}",
            f"{settings.LABEL_MANAGED_BY}={settings.MANAGED_BY}",
        ]
    )
    out = {}
    for api_version, kind in [*CHILD_KINDS, *sorted(served)]:
        for obj in client.list(api_version, kind, project.namespace, selector):
            refs = (obj.get("metadata") or {}).get("ownerReferences") or []
            if any(r.get("uid") == project.uid and r.get("controller") for r in refs):
                obj.setdefault("apiVersion", api_version)
                obj.setdefault("kind", kind)
                out[(kind, obj["metadata"]["name"])] = obj
    return out


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
        handover = autoscaling.replicas_handover(obj, live)
        if handover is not None:
            client.apply(handover, field_manager=autoscaling.HANDOVER_MANAGER)
        if live is None or handover is not None or not is_subset(obj, live):
            obs.children[key] = client.apply(obj)
            obs.applied.append(f"{key[0]}/{key[1]}")
    for key, live in list(obs.children.items()):
        if key not in wanted and key not in keep:
            client.delete(live["apiVersion"], key[0], project.namespace, key[1])
            obs.deleted.append(f"{key[0]}/{key[1]}")
            del obs.children[key]


def observe_conditions(
    project: Project,
    obs: Observed,
    migrated: bool,
    mig_state: str,
    mig_message: str = "",
    mig_reason: str = "",
) -> list[st.Cond]:
    """Return the observed conditions (``Ready`` is derived later).

    Availability conditions say whether each component serves (at least one ready web and
    worker Pod; a Redis master and a Sentinel quorum); ``Degraded`` says whether any runs below
    its desired replicas; ``Progressing`` whether a rollout or a migration is under way.
    """
    ch = obs.children
    name = project.name
    conds = [
        st.Cond("Reconciled", False, "SecretMissing", "missing: " + ", ".join(obs.missing_secrets))
        if obs.missing_secrets
        else st.Cond("Reconciled", True, "Applied", f"{len(ch)} objects in sync"),
        st.Cond(
            "Migrated",
            migrated,
            mig_reason or f"Migration{mig_state}",
            mig_message or project.spec.image.ref,
        ),
    ]
    redis = ch.get(("StatefulSet", f"{name}-redis"))
    redis_r, _ = st.ready_of(redis)
    sent_r, _ = st.ready_of(ch.get(("StatefulSet", f"{name}-sentinel")))
    quorum = project.spec.redis.sentinel.quorum
    if redis is None or redis_r < 1:
        conds.append(st.Cond("RedisReady", False, "NotReady", "no ready Redis Pod"))
    elif sent_r < quorum:
        msg = f"{sent_r} Sentinels ready, quorum is {quorum}: no failover possible"
        conds.append(st.Cond("RedisReady", False, "SentinelQuorumLost", msg))
    else:
        conds.append(st.Cond("RedisReady", True, "Ready"))
    web_r, web_d = st.ready_of(ch.get(("Deployment", f"{name}-web")))
    conds.append(st.Cond("WebAvailable", web_r >= 1, "Available" if web_r else "NoReadyPods"))
    wk_r, wk_d = st.ready_of(ch.get(("Deployment", f"{name}-worker")))
    wk_ok = ("Deployment", f"{name}-worker") in ch and (wk_r >= 1 or wk_d == 0)
    conds.append(st.Cond("WorkersAvailable", wk_ok, "Available" if wk_ok else "NoReadyPods"))
    conds += [_progressing(project, obs, mig_state), _degraded(project, obs)]
    return conds


#: the workloads ``Degraded`` and ``Progressing`` look at: (kind, name suffix, what to call it)
WORKLOADS = (
    ("Deployment", "web", "web"),
    ("Deployment", "worker", "workers"),
    ("Deployment", "scheduler", "scheduler"),
    ("StatefulSet", "redis", "redis"),
    ("StatefulSet", "sentinel", "sentinel"),
)


def _degraded(project: Project, obs: Observed) -> st.Cond:
    """``Degraded=True`` when a workload that exists runs below its desired replicas."""
    short = []
    for kind, suffix, label in WORKLOADS:
        obj = obs.children.get((kind, f"{project.name}-{suffix}"))
        ready, desired = st.ready_of(obj)
        if obj is not None and ready < desired:
            short.append(f"{label} {ready}/{desired}")
    if short:
        return st.Cond("Degraded", True, "ReplicasUnavailable", ", ".join(short) + " ready")
    return st.Cond("Degraded", False, "AllReplicasReady")


def _progressing(project: Project, obs: Observed, mig_state: str) -> st.Cond:
    """``Progressing=True`` while a migration runs or a workload rolls out."""
    if mig_state in ("Pending", "Running"):
        return st.Cond("Progressing", True, "Migrating", f"migration {mig_state.lower()}")
    rolling = [
        label
        for kind, suffix, label in WORKLOADS
        if st.rolling(obs.children.get((kind, f"{project.name}-{suffix}")))
    ]
    if rolling:
        return st.Cond("Progressing", True, "RollingOut", "rolling out: " + ", ".join(rolling))
    return st.Cond("Progressing", False, "Stable", "every workload runs its latest template")


def source_import(
    project: Project, url: str, key: str, project_id: int, prev: dict[str, Any]
) -> dict[str, Any]:
    """Start or follow the app's import of ``spec.labeling.sourcePrefix`` (:mod:`.sourceimport`).

    :return: ``status.labeling.sourceImport``.
    """
    lab, storage = project.spec.labeling, project.spec.storage
    if lab is None or storage is None or not lab.source_prefix:
        return {}
    job_id = str(prev.get("jobId") or "")
    job = labeling.import_job(url, key, job_id) if job_id else None
    decision = sourceimport.decide(
        lab.source_prefix, lab.import_interval_seconds, time.time(), prev, job
    )
    if not decision.start:
        return decision.status
    started = labeling.start_import(
        url, key, project_id, storage.bucket, lab.source_prefix, sourceimport.EXTENSIONS
    )
    return sourceimport.started(decision.status, started)


def sync_labeling(
    project: Project, obs: Observed, web_ready: bool, prev_import: dict[str, Any] | None = None
) -> tuple[st.Cond, dict]:
    """Sync ``spec.labeling`` when the web tier is up; return its condition and status."""
    prev_import = prev_import or {}
    if not web_ready:
        return st.Cond("LabelingSynced", False, "WaitingForWeb", "web not available yet"), {}
    key = obs.generated.get(common.app_secret(project), {}).get("admin-api-key", "")
    url = settings.app_url_template().format(name=project.name, namespace=project.namespace)
    try:
        prog = labeling.sync(project, url, key)
    except labeling.LabelingError as e:
        return st.Cond("LabelingSynced", False, "AppUnreachable", str(e)), {}
    try:
        imported = source_import(project, url, key, prog.project_id, prev_import)
    except labeling.LabelingError as e:
        imported = {**prev_import, "state": "Unknown", "message": str(e)}
    return st.Cond("LabelingSynced", True, "Synced", f"project {prog.project_id}"), {
        "sourceImport": imported,
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
    served = client.served()
    obs.children = list_children(client, project, served)
    # the migration gate (retries, restored databases): migration_io.py, migration.py
    mig = migration_io.decide(client, body, project, cur, obs.children, obs.generated, now)
    gate = mig.gate
    migrated, mig_state = gate.migrated, gate.state
    workload_image = gate.workload_image
    if workload_image and workload_image != cur.get("currentImage"):
        events("Normal", "RolloutStarted", f"workloads now run {workload_image}")
    redis_digest = common.digest(obs.generated.get(common.redis_auth_secret(project)))
    inputs = builders.Inputs(
        workload_image=workload_image,
        run_migration=False,  # the attempt's Job comes from migration_io.desired_job
        app_secrets_hash=common.digest(ref_digest, obs.generated),
        redis_secrets_hash=redis_digest,
        served=served,
    )
    keep = migration_io.kept_jobs(gate, obs.children)
    job = migration_io.desired_job(project, gate, obs.children)
    apply_children(client, project, [*builders.build_all(project, inputs), *job], obs, keep)
    migration_io.post_events(project, mig, cur, bool(job), events)
    migration_io.consume_retry(client, body, project, gate, events)
    conds = observe_conditions(project, obs, migrated, mig_state, mig.message, gate.reason)
    new: dict[str, Any] = {"observedGeneration": generation, "migration": mig.status}
    if workload_image:
        new["currentImage"] = workload_image
    if project.spec.labeling is not None:
        web_ready = next(c.ok for c in conds if c.type == "WebAvailable")
        prev_import = (cur.get("labeling") or {}).get("sourceImport") or {}
        lab_cond, lab_status = sync_labeling(project, obs, web_ready and migrated, prev_import)
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
