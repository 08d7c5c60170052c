"""The whole-database consistency check, and ``labelhive check``, on a real SQLite database.

Each inconsistency is made the way a bug would make it (a counter or a row written behind the
engine's back) and must be reported with a sentence naming the task.
"""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import update

from labelhive.accounts.services import create_user
from labelhive.annotation import consistency
from labelhive.answers.models import Answer
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.models import Lease
from labelhive.models import Project
from labelhive.models import Result
from labelhive.models import Task
from tests.common import engine
from tests.common.processes import labelhive_cli


@pytest.fixture
def labeled(app: Flask) -> dict[str, list[int]]:
    """Two tasks of redundancy 2: task 0 complete (2 answers), task 1 with one answer and one
    live lease."""
    users = [create_user(f"user{i}") for i in range(3)]
    project = Project(
        name="Animals",
        short_name="animals",
        owner_id=users[0].id,
        info={"question": "Which animal?", "answers": ["cat", "dog"]},
        published=True,
    )
    db.session.add(project)
    db.session.flush()
    tasks = [Task(project_id=project.id, n_answers=2) for _ in range(2)]
    db.session.add_all(tasks)
    db.session.commit()
    ids = [t.id for t in tasks]
    for user in users[:2]:
        claim = engine.claim(db.engine, project.id, user.id)
        engine.submit(db.engine, claim.task["id"], user.id, "cat", project_id=project.id)
    engine.claim(db.engine, project.id, users[0].id)  # task 1 (task 0 is full)
    last = engine.claim(db.engine, project.id, users[2].id)
    engine.submit(db.engine, last.task["id"], users[2].id, "dog", project_id=project.id)
    return {"tasks": ids, "users": [u.id for u in users]}


def execute(statement) -> None:  # noqa: ANN001
    with db.engine.begin() as conn:
        conn.execute(statement)


def test_engine_made_data_is_consistent(labeled):
    report = consistency.check(db.engine)
    assert report.ok, report.problems
    assert (report.tasks, report.answers, report.results) == (2, 3, 1)
    assert report.summary().startswith("Consistent: 2 tasks, 3 answers")


def test_counter_behind_the_rows_is_reported(labeled):
    first, second = labeled["tasks"]
    execute(update(Task).where(Task.id == second).values(n_done=0, n_reserved=0))
    report = consistency.check(db.engine)
    assert report.problems == [
        f"Task {second}: n_done is 0 but it has 1 answers; n_reserved is 0 but it has 1 leases."
    ]
    assert report.summary().startswith("Inconsistent: 1 problem(s)")


def test_over_collection_and_wrong_state_are_reported(labeled):
    first, _ = labeled["tasks"]
    project_id = db.session.get(Task, first).project_id
    db.session.rollback()
    # user 2 answered only the other task
    third = labeled["users"][2]
    execute(
        insert(Answer).values(
            project_id=project_id, task_id=first, user_id=third, info="dog", created=utcnow()
        )
    )
    execute(update(Task).where(Task.id == first).values(n_done=3, state="ongoing"))
    assert consistency.check(db.engine).problems == [
        f"Task {first}: 3 answers exceed its redundancy of 2; state is ongoing with 3 of 2 answers."
    ]
    # completed again, its result no longer lists every answer
    execute(update(Task).where(Task.id == first).values(state="completed"))
    problems = consistency.check(db.engine).problems
    assert problems[0] == f"Task {first}: 3 answers exceed its redundancy of 2."
    assert problems[1].startswith(f"Result 1 of task {first} lists answers [1, 2] but"), problems


def test_result_missing_an_answer_is_reported(labeled):
    first, _ = labeled["tasks"]
    execute(update(Result).where(Result.task_id == first).values(task_run_ids=[]))
    problems = consistency.check(db.engine).problems
    assert len(problems) == 1 and problems[0].startswith("Result"), problems
    execute(delete(Result).where(Result.task_id == first))
    assert consistency.check(db.engine).problems == [
        f"Task {first} is completed with 0 current results (expected 1)."
    ]


def test_orphan_leases_are_reported(labeled):
    first, second = labeled["tasks"]
    project_id = db.session.get(Task, first).project_id
    db.session.rollback()
    long_ago = utcnow() - dt.timedelta(hours=1)
    execute(update(Lease).where(Lease.task_id == second).values(expires_at=long_ago))
    report = consistency.check(db.engine)
    assert len(report.problems) == 1 and "was never swept" in report.problems[0]
    # within the grace it is the sweep's to delete, not a fault
    assert consistency.check(db.engine, lease_grace=dt.timedelta(hours=2)).ok
    # a lease on a completed task
    execute(
        insert(Lease).values(
            project_id=project_id,
            task_id=first,
            user_id=labeled["users"][2],
            created=utcnow(),
            expires_at=utcnow() + dt.timedelta(minutes=5),
        )
    )
    execute(update(Task).where(Task.id == first).values(n_reserved=1))
    problems = consistency.check(db.engine, lease_grace=dt.timedelta(hours=2)).problems
    assert problems == [f"Task {first}: completed but still leased 1 time(s)."]


def test_one_project_is_checked_alone(labeled):
    _, second = labeled["tasks"]
    execute(update(Task).where(Task.id == second).values(n_done=7))
    project_id = db.session.get(Task, second).project_id
    db.session.rollback()
    assert not consistency.check(db.engine, project_id=project_id).ok
    assert consistency.check(db.engine, project_id=project_id + 1).ok


def test_cli_check_exits_1_with_a_sentence(app, labeled, sqlite_url):
    env = {"DATABASE_URL": sqlite_url}
    ok = labelhive_cli("check", env=env)
    assert ok.stdout.startswith("Consistent: 2 tasks, 3 answers, 1 leases, 1 results.")
    _, second = labeled["tasks"]
    execute(update(Task).where(Task.id == second).values(n_done=2))
    bad = labelhive_cli("check", "--project", "animals", env=env, check=False)
    assert bad.returncode == 1
    assert f"Task {second}: n_done is 2 but it has 1 answers" in bad.stderr
    assert "Error: Inconsistent: 1 problem(s)" in bad.stderr
