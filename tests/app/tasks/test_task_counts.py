"""The task counts that the database's triggers keep (migration 0019), on both databases.

Whatever changes a task, through the app or by hand in SQL, the sums of a project's
``task_count`` rows must equal counts of its task rows and of its open (ongoing, not gold) ones.
The fold (PostgreSQL's lease sweep) must keep every sum while leaving one row per project.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from labelhive.annotation import service
from labelhive.annotation.core import Caller
from labelhive.extensions import db
from labelhive.imports import writer as task_services
from labelhive.jobs import records
from labelhive.projects.models import Project
from labelhive.tasks import counts
from labelhive.tasks.models import Task
from labelhive.tasks.models import TaskCount
from labelhive.tasks.schemas import TaskSpec
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app


@pytest.fixture
def app(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def counted(project_id: int) -> int:
    """The open tasks the triggers kept."""
    db.session.rollback()
    return db.session.scalar(select(counts.open_tasks_of(project_id)))


def actual(project_id: int) -> int:
    """A count of the open task rows."""
    return db.session.scalar(
        select(func.count())
        .select_from(Task)
        .where(Task.project_id == project_id, Task.state == "ongoing")
        .where(Task.gold_answer.is_(None))
    )


def all_counted(project_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(select(counts.tasks_of(project_id)))


def all_actual(project_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Task).where(Task.project_id == project_id)
    )


def rows() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(TaskCount))


def fold() -> int:
    with db.engine.begin() as conn:
        return counts.fold(conn)


def import_(project: Project, n: int, **spec: object) -> None:
    task_services.import_tasks(
        project, [TaskSpec(info={"n": i}, **spec) for i in range(n)], batch_size=7
    )
    db.session.commit()


def answer_all(project_id: int, user_ids: list[int]) -> int:
    """Every user answers every task they are given; the answers stored."""
    stored = 0
    for user_id in user_ids:
        while (claim := service.claim(project_id, Caller(user_id))) is not None:
            service.submit(claim.task["id"], Caller(user_id), "cat", follow_up=False)
            stored += 1
    return stored


def test_the_count_follows_imports_answers_undo_redundancy_gold_and_deletes(app: Flask) -> None:
    owner = make_user("owner")
    annie, bob = make_user("annie"), make_user("bob")
    pets = make_project(owner, n_tasks=0)
    other = make_project(owner, short_name="other", n_tasks=0)
    checks: list[tuple[str, int, int]] = []

    def check(step: str) -> None:
        for project_id in (pets.id, other.id):
            checks.append((step, counted(project_id), actual(project_id)))
            checks.append((step, all_counted(project_id), all_actual(project_id)))

    import_(pets, 20, n_answers=2)
    import_(pets, 3, gold_answer="cat")  # gold: never open
    import_(other, 5, n_answers=1)
    check("import")
    assert counted(pets.id) == 20 and counted(other.id) == 5
    assert all_counted(pets.id) == 23

    assert answer_all(pets.id, [annie.id, bob.id]) == 20 * 2
    check("every task complete")
    assert counted(pets.id) == 0

    service.set_redundancy(3, project_id=pets.id)  # reopens all 20
    check("redundancy raised")
    assert counted(pets.id) == 20
    service.set_redundancy(2, project_id=pets.id)  # completes them again
    check("redundancy lowered")

    # one more answer needed of a task, then taken back: it reopens and completes
    task_id = db.session.scalar(select(Task.id).where(Task.project_id == other.id).limit(1))
    carol = make_user("carol")
    claim = service.claim(other.id, Caller(carol.id))
    assert claim is not None
    submitted = service.submit(claim.task["id"], Caller(carol.id), "dog", follow_up=False)
    check("a task of other completed")
    assert counted(other.id) == 4
    service.set_redundancy(2, task_ids=[claim.task["id"]])
    service.undo(submitted.answer["id"], Caller(carol.id), keep_lease=False)
    check("undone after a raise")

    # by hand, as an operator's SQL would: gold set and unset, state changed, rows deleted
    db.session.execute(update(Task).where(Task.id == task_id).values(gold_answer="dog"))
    db.session.commit()
    check("made gold")
    db.session.execute(update(Task).where(Task.id == task_id).values(gold_answer=None))
    db.session.execute(update(Task).where(Task.project_id == other.id).values(state="completed"))
    db.session.commit()
    check("all of other completed by hand")
    assert counted(other.id) == 0
    db.session.execute(update(Task).where(Task.project_id == other.id).values(state="ongoing"))
    db.session.execute(delete(Task).where(Task.project_id == other.id, Task.id % 2 == 0))
    db.session.commit()
    check("half of other deleted")
    assert counted(other.id) == actual(other.id) > 0

    assert [c for c in checks if c[1] != c[2]] == []


def test_the_fold_keeps_each_sum_in_one_row_and_forgets_deleted_projects(app: Flask) -> None:
    owner, annie = make_user("owner"), make_user("annie")
    projects = [make_project(owner, short_name=f"p{n}", n_tasks=0) for n in range(3)]
    for project in projects:
        import_(project, 12, n_answers=1)
    for project in projects[:2]:
        answer_all(project.id, [annie.id])
    import_(projects[1], 4, n_answers=1)
    before = {p.id: actual(p.id) for p in projects}
    assert [counted(p.id) for p in projects] == [before[p.id] for p in projects] == [0, 4, 12]

    gone = projects[2].id
    db.session.delete(db.session.get(Project, gone))
    db.session.commit()
    kept = rows()
    folded = fold()
    assert rows() == kept - folded
    assert counted(projects[0].id) == 0 and counted(projects[1].id) == 4
    assert [all_counted(p.id) for p in projects[:2]] == [12, 16]
    # no row of the deleted project is left, and a project keeps at most one row
    project_ids = list(db.session.scalars(select(TaskCount.project_id)))
    assert gone not in project_ids
    assert len(project_ids) == len(set(project_ids))
    if db.engine.dialect.name == "postgresql":
        # every import statement and every completion added a row, all folded away
        assert folded > 3
    assert fold() == 0


def test_the_lease_sweep_folds_the_counts(app: Flask) -> None:
    owner, annie = make_user("owner"), make_user("annie")
    pets = make_project(owner, n_tasks=0)
    import_(pets, 6, n_answers=1)
    answer_all(pets.id, [annie.id])
    import_(pets, 2, n_answers=1)
    records.submit("sweep-1", "sweep_leases", "sweep-1", kind="sweep")
    db.session.commit()  # without Redis the job runs in a thread of this process
    for _ in range(400):
        db.session.rollback()
        record = records.get_record("sweep-1")
        if record is not None and record.status in (records.FINISHED, records.FAILED):
            break
        time.sleep(0.05)
    assert record is not None and record.status == records.FINISHED
    assert counted(pets.id) == 2
    assert rows() == 1
    # PostgreSQL: the rows of two imports and six completions folded into one (7 gone);
    # SQLite kept one all along
    expected = 7 if db.engine.dialect.name == "postgresql" else 0
    assert record.result == {"swept": 0, "folded": expected}


def test_a_long_import_does_not_hold_back_completions_elsewhere_in_the_project(
    pg_app: Flask,
) -> None:
    """Each change adds a row, so an import's open transaction, which added one, holds no lock
    that a completion in the same project waits for (a single counter row would)."""
    owner = make_user("owner")
    pets = make_project(owner, n_tasks=0)
    import_(pets, 3, n_answers=1)
    task_id = db.session.scalar(select(Task.id).where(Task.project_id == pets.id).limit(1))
    with db.engine.connect() as importing, db.engine.connect() as completing:
        importing.execute(
            Task.__table__.insert(),
            [{"project_id": pets.id, "info": {"n": i}, "n_answers": 1} for i in range(50)],
        )
        # the import is still open; a completion must not wait for it
        completing.execute(text("SET lock_timeout = '3s'"))
        completing.execute(update(Task).where(Task.id == task_id).values(state="completed"))
        completing.commit()
        assert counted(pets.id) == 2
        importing.commit()
    assert counted(pets.id) == 52 == actual(pets.id)
    assert all_counted(pets.id) == 53 == all_actual(pets.id)
