"""Claims and submits are not held up by rows that merely reference a task (PostgreSQL).

Inserting a row with a foreign key to ``task`` (a consensus row, a result, a report) takes
``FOR KEY SHARE`` on the task's row until that transaction ends. A ``FOR UPDATE`` lock conflicts
with it: a claim's ``FOR UPDATE SKIP LOCKED`` then skips every task the consensus job is writing
labels for, and answers "nothing left" for as long as the job's store transaction lasts (seconds
at a million items), and a submit's ``FOR UPDATE`` waits that long. The task row locks are
``FOR NO KEY UPDATE``: they still exclude each other, and no longer exclude key-share readers.
SQLite has no row locks, so this is PostgreSQL's alone.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection
from sqlalchemy import insert
from sqlalchemy import select

from labelhive.annotation import service
from labelhive.annotation.core import Caller
from labelhive.consensus.models import Consensus
from labelhive.extensions import db
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user


def write_consensus(conn: Connection, project_id: int) -> int:
    tasks = list(conn.scalars(select(Task.id).where(Task.project_id == project_id)))
    conn.execute(
        insert(Consensus),
        [
            {"project_id": project_id, "task_id": t, "label": "cat", "method": "majority"}
            for t in tasks
        ],
    )
    return len(tasks)


def test_a_claim_finds_tasks_while_consensus_rows_for_them_are_being_written(pg_app):
    owner, ann = make_user("owner"), make_user("ann")
    project = make_project(owner, n_tasks=3, n_answers=1)
    # warm: PostgreSQL's claim is then its one statement (the read and the take)
    assert service.claim(project.id, Caller(owner.id)) is not None
    with db.engine.connect() as writer, writer.begin():
        assert write_consensus(writer, project.id) == 3
        # the consensus job has not committed: the claims still find the two free tasks
        first = service.claim(project.id, Caller(ann.id))
        assert first is not None
        assert service.submit(first.task["id"], Caller(ann.id), "cat").created
        second = service.claim(project.id, Caller(ann.id))
        assert second is not None and second.task["id"] != first.task["id"]


def test_a_submit_does_not_wait_for_the_consensus_job_to_commit(pg_app):
    owner = make_user("owner")
    project = make_project(owner, n_tasks=1, n_answers=1)
    claim = service.claim(project.id, Caller(owner.id))
    assert claim is not None
    outcome: list[object] = []

    def submit() -> None:
        with pg_app.app_context():
            outcome.append(service.submit(claim.task["id"], Caller(owner.id), "dog"))

    with db.engine.connect() as writer, writer.begin():
        write_consensus(writer, project.id)
        submitting = threading.Thread(target=submit, daemon=True)
        submitting.start()
        # a liveness check, not a timing one: blocked on the row lock, it would never end
        # before the writer's transaction does
        submitting.join(60)
        blocked = submitting.is_alive()
    submitting.join(60)
    assert not blocked, "the submit waited for the consensus rows' transaction"
    assert outcome and outcome[0].created  # type: ignore[attr-defined]
