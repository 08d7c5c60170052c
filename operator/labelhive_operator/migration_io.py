"""The migration gate's side of the world: what it reads and writes around :mod:`.migration`.

It reads the migration Jobs (listed with the other children), the failed Pod's termination
message, and, once the spec's image is migrated and served, the app's schema revision; it
records a success on the ``LabelingProject`` and removes the retry annotation once read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labelhive_operator import labeling
from labelhive_operator import migration
from labelhive_operator import settings
from labelhive_operator import status as st
from labelhive_operator.builders import common
from labelhive_operator.builders import migrate
from labelhive_operator.k8s import ApiError
from labelhive_operator.k8s import Client
from labelhive_operator.spec import Project

#: post_event(type, reason, message)
EventSink = Callable[[str, str, str], None]

#: the label the Job controller puts on its Pods (Kubernetes 1.27+)
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@dataclass(frozen=True)
class Outcome:
    """The gate, and what the status says about it.

    :param gate: the decision (:func:`.migration.decide`).
    :param status: ``status.migration``.
    :param message: the ``Migrated`` condition's message.
    :param recorded: whether this reconcile wrote the record (a success seen the first time).
    """

    gate: migration.Gate
    status: dict[str, Any]
    message: str
    recorded: bool = False


def _jobs(children: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        key[1]: obj
        for key, obj in children.items()
        if key[0] == "Job"
        and ((obj.get("metadata") or {}).get("labels") or {}).get(settings.LABEL_COMPONENT)
        == migrate.COMPONENT
    }


def failed_log_line(client: Client, namespace: str, job: dict[str, Any]) -> str | None:
    """Return the last log line a failed Pod of ``job`` left, if the Pods can be read."""
    meta = job.get("metadata") or {}
    try:
        data = client.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            query=[("labelSelector", f"{JOB_NAME_LABEL}={meta.get('name')}")],
        )
    except ApiError:
        return None  # no `pods: list` (an older chart's RBAC): the message says less
    return migration.last_log_line((data or {}).get("items") or [], str(meta.get("uid") or ""))


def app_schema(
    project: Project, children: dict[Any, Any], generated: dict[str, Any]
) -> dict[str, Any]:
    """Return what the app says about its schema (``{}`` when it cannot be asked now).

    Asked only with the operator's admin key (created with ``spec.labeling``) and when a
    web Pod is ready; an unreachable app or an error answer counts as "unknown".
    """
    key = generated.get(common.app_secret(project), {}).get("admin-api-key", "")
    ready, _ = st.ready_of(children.get(("Deployment", f"{project.name}-web")))
    if project.spec.labeling is None or not key or ready < 1:
        return {}
    url = settings.app_url_template().format(name=project.name, namespace=project.namespace)
    try:
        return labeling.schema_state(url, key)
    except labeling.LabelingError:
        return {}


def decide(
    client: Client,
    body: Any,
    project: Project,
    cur: dict[str, Any],
    children: dict[tuple[str, str], dict[str, Any]],
    generated: dict[str, Any],
    now: str,
) -> Outcome:
    """Decide the gate from the cluster (and the app); record a success at once.

    A success is recorded on the ``LabelingProject`` here, synchronously, before anything is
    deleted and before the caller releases the per-object lock.
    """
    first = migrate.job_name(project)
    image = project.spec.image.ref
    annotations = dict((body.get("metadata") or {}).get("annotations") or {})
    jobs = _jobs(children)
    states = {name: st.job_state(obj) for name, obj in jobs.items()}
    failed_at = {n: t for n, obj in jobs.items() if (t := st.job_failure(obj))}
    record = migration.recorded(annotations, cur)
    retry = migration.RETRY_ANNOTATION in annotations

    def gate_for(db_behind: bool) -> migration.Gate:
        return migration.decide(
            first,
            image,
            record,
            states,
            failed_at=failed_at,
            now=now,
            retry=retry,
            db_behind=db_behind,
        )

    gate = gate_for(False)
    db: dict[str, Any] = {}
    if gate.migrated:
        db = app_schema(project, children, generated)
        if db.get("behind"):
            gate = gate_for(True)
    recorded = gate.migrated and gate.record != migration.from_annotations(annotations)
    if recorded and gate.record is not None:
        client.patch(
            settings.API_VERSION,
            settings.KIND,
            project.namespace,
            project.name,
            {"metadata": {"annotations": {migration.ANNOTATION: gate.record.to_annotation()}}},
        )
    prev = cur.get("migration") or {}
    line = _failure_line(client, project, gate, jobs, states, prev)
    status: dict[str, Any] = {
        "image": image,
        "job": gate.job,
        "attempt": gate.attempt,
        "state": gate.state,
        "succeeded": gate.migrated,
    }
    if line and not gate.migrated:
        status["lastFailure"] = line
    elif prev.get("lastFailure"):
        status["lastFailure"] = None  # merge-patch: remove it
    if gate.retry_at:
        status["retryAt"] = gate.retry_at
    elif prev.get("retryAt"):
        status["retryAt"] = None
    return Outcome(gate, status, migration.condition_message(gate, image, line, db), recorded)


def _failure_line(
    client: Client,
    project: Project,
    gate: migration.Gate,
    jobs: dict[str, dict[str, Any]],
    states: dict[str, str],
    prev: dict[str, Any],
) -> str | None:
    """The failed attempt's last log line: the current attempt's, else the previous one's
    (its Job is deleted once the next attempt runs, so the status keeps the line)."""
    if gate.migrated:
        return None
    failed = gate.job if gate.state == "Failed" else None
    if failed is None and gate.attempt > 1:
        before = migrate.attempt_name(migrate.job_name(project), gate.attempt - 1)
        failed = before if states.get(before) == "Failed" else None
    line = failed_log_line(client, project.namespace, jobs[failed]) if failed else None
    return line or (prev.get("lastFailure") if gate.attempt > 1 or failed else None)


def desired_job(project: Project, gate: migration.Gate, children: dict[Any, Any]) -> list[Any]:
    """Return the attempt's Job to apply: only when it does not exist yet (Jobs are immutable:
    an existing one is followed as it is, whatever template an older operator gave it)."""
    if gate.run_job and ("Job", gate.job) not in children:
        return [common.owned(project, migrate.job(project, gate.attempt))]
    return []


def kept_jobs(gate: migration.Gate, children: dict[Any, Any]) -> frozenset[tuple[str, str]]:
    """Return the migration Jobs neither applied nor deleted: the recorded one and the
    current attempt's (older attempts go)."""
    names = set(gate.keep_jobs)
    if gate.run_job and ("Job", gate.job) in children:
        names.add(gate.job)
    return frozenset(("Job", name) for name in names)


def post_events(
    project: Project, outcome: Outcome, cur: dict[str, Any], created: bool, events: EventSink
) -> None:
    """Post the Events of this reconcile's transitions (each once)."""
    gate, prev = outcome.gate, cur.get("migration") or {}
    if outcome.recorded and (prev.get("job") != gate.job or not prev.get("succeeded")):
        events("Normal", "MigrationSucceeded", f"job {gate.job} succeeded")
    elif gate.state == "Failed" and (prev.get("state") != "Failed" or prev.get("job") != gate.job):
        line = outcome.status.get("lastFailure") or "no log line"
        events("Warning", "MigrationFailed", f"job {gate.job} failed: {line}; rollout blocked")
    elif created and gate.reason == "DatabaseBehind" and gate.attempt > 1:
        events("Warning", "DatabaseBehind", outcome.message)
    elif created and gate.attempt > 1:
        why = "retry requested" if gate.retried else "backoff elapsed"
        events("Normal", "MigrationRetried", f"attempt {gate.attempt}: job {gate.job} ({why})")
    elif created:
        events("Normal", "MigrationStarted", f"job {gate.job} for {project.spec.image.ref}")


def consume_retry(
    client: Client, body: Any, project: Project, gate: migration.Gate, events: EventSink
) -> None:
    """Remove the retry annotation once read (after the new attempt's Job was applied)."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    if migration.RETRY_ANNOTATION not in annotations:
        return
    client.patch(
        settings.API_VERSION,
        settings.KIND,
        project.namespace,
        project.name,
        {"metadata": {"annotations": {migration.RETRY_ANNOTATION: None}}},
    )
    if not gate.retried:
        events(
            "Normal",
            "MigrationRetryIgnored",
            f"nothing to retry: attempt {gate.attempt} (job {gate.job}) is {gate.state.lower()}",
        )
