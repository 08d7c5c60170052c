"""The annotation rules on real SQLite and PostgreSQL databases, through the former engine's
names (:mod:`tests.common.engine`, which calls :mod:`labelhive.annotation.service`)."""

from __future__ import annotations

import datetime as dt
import random
import threading
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

from labelhive.accounts.services import create_user
from labelhive.annotation import service
from labelhive.annotation.core import Caller
from labelhive.answers.models import Answer
from labelhive.db import utcnow
from labelhive.extensions import db
from labelhive.models import Lease
from labelhive.models import Project
from labelhive.models import Result
from labelhive.models import Task
from labelhive.tasks import driver
from labelhive.tasks.rules import Refusal
from tests.common import engine
from tests.common.engine import EngineError
from tests.conftest import make_app


@pytest.fixture
def eng_app(any_url: str):
    app = make_app(any_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def setup_project(
    n_users: int = 3,
    tasks: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> tuple[Project, list[int], list[int]]:
    users = [create_user(f"user{i}") for i in range(n_users)]
    project = Project(
        name="Animals",
        short_name="animals",
        owner_id=users[0].id,
        info={"question": "Which animal?", "answers": ["cat", "dog", "bird"]},
        **settings,
    )
    db.session.add(project)
    db.session.flush()
    rows = [Task(project_id=project.id, **spec) for spec in (tasks or [{}])]
    db.session.add_all(rows)
    db.session.commit()
    return project, [u.id for u in users], [t.id for t in rows]


def claimed_id(project: Project, user_id: int, **kwargs: Any) -> int | None:
    claim = engine.claim(db.engine, project.id, user_id, **kwargs)
    return None if claim is None else claim.task["id"]


def fresh():  # noqa: ANN201
    """The test's session, with its snapshot ended: SQLite keeps a read snapshot per transaction."""
    db.session.rollback()
    return db.session


def answers_of(task_id: int) -> int:
    return fresh().scalar(select(func.count()).where(Answer.task_id == task_id))


def test_depth_first_finishes_the_task_closest_to_done(eng_app):
    project, users, tasks = setup_project(
        n_users=3, tasks=[{"n_answers": 3}, {"n_answers": 3}, {"n_answers": 3}]
    )
    # user0 answers the second task: it becomes the closest to done
    engine.submit(db.engine, tasks[1], users[0], "cat")
    assert claimed_id(project, users[1]) == tasks[1]


def test_breadth_first_spreads_answers(eng_app):
    project, users, tasks = setup_project(
        n_users=3, tasks=[{"n_answers": 3}, {"n_answers": 3}], ordering="breadth_first"
    )
    engine.submit(db.engine, tasks[0], users[0], "cat")
    assert claimed_id(project, users[1]) == tasks[1]


def test_priority_comes_before_the_strategy(eng_app):
    project, users, tasks = setup_project(
        n_users=2, tasks=[{"priority_0": 0.0}, {"priority_0": 0.9}, {"priority_0": 0.5}]
    )
    assert claimed_id(project, users[1]) == tasks[1]


def test_random_strategy_hands_out_every_task(eng_app):
    specs = [{"n_answers": 1} for _ in range(12)]
    project, users, tasks = setup_project(n_users=13, tasks=specs, ordering="random")
    handed = set()
    for user in users[1:]:
        task_id = claimed_id(project, user)
        handed.add(task_id)
        engine.submit(db.engine, task_id, user, "dog")
    assert handed == set(tasks)


def test_claim_returns_the_held_lease_and_never_over_leases(eng_app):
    project, users, tasks = setup_project(n_users=4, tasks=[{"n_answers": 2}])
    first = engine.claim(db.engine, project.id, users[0])
    again = engine.claim(db.engine, project.id, users[0])
    assert again.resumed and again.task["id"] == first.task["id"]
    assert claimed_id(project, users[1]) == tasks[0]
    # two live leases fill n_answers=2: nobody else gets the task
    assert claimed_id(project, users[2]) is None


def test_expired_leases_are_ignored_by_claims_and_swept(eng_app):
    project, users, tasks = setup_project(n_users=3, tasks=[{"n_answers": 1}], lease_ttl=60)
    start = utcnow()
    assert claimed_id(project, users[0], now=start) == tasks[0]
    assert claimed_id(project, users[1], now=start + dt.timedelta(seconds=30)) is None
    later = start + dt.timedelta(seconds=61)
    assert claimed_id(project, users[1], now=later) == tasks[0]
    # user0's lease was swept by that claim: exactly one live lease remains
    assert fresh().scalar(select(func.count()).select_from(Lease)) == 1
    assert engine.sweep_expired(db.engine, now=later + dt.timedelta(seconds=61)) == 1
    assert fresh().scalar(select(Task.n_reserved).where(Task.id == tasks[0])) == 0


def test_late_submit_is_accepted_only_while_room_remains(eng_app):
    project, users, tasks = setup_project(n_users=4, tasks=[{"n_answers": 2}], lease_ttl=60)
    start = utcnow()
    engine.claim(db.engine, project.id, users[0], now=start)
    late = start + dt.timedelta(seconds=120)
    # room remains: user0's late answer is stored
    engine.submit(db.engine, tasks[0], users[0], "cat", now=late)
    engine.claim(db.engine, project.id, users[1], now=start)
    engine.claim(db.engine, project.id, users[2], now=late)
    # user1's lease expired and user2 holds the last slot: user1 is refused, nothing stored
    with pytest.raises(EngineError) as refused:
        engine.submit(db.engine, tasks[0], users[1], "dog", now=late + dt.timedelta(seconds=1))
    assert refused.value.reason is Refusal.NO_ROOM
    engine.submit(db.engine, tasks[0], users[2], "bird", now=late + dt.timedelta(seconds=2))
    assert answers_of(tasks[0]) == 2


def test_submit_is_idempotent_and_one_answer_per_user(eng_app):
    project, users, tasks = setup_project(n_users=2, tasks=[{"n_answers": 3}])
    engine.claim(db.engine, project.id, users[1])
    first = engine.submit(db.engine, tasks[0], users[1], "cat")
    retry = engine.submit(db.engine, tasks[0], users[1], "cat")
    assert first.created and not retry.created
    assert retry.answer["id"] == first.answer["id"]
    with pytest.raises(EngineError) as changed:
        engine.submit(db.engine, tasks[0], users[1], "dog")
    assert changed.value.reason is Refusal.ALREADY_ANSWERED
    assert answers_of(tasks[0]) == 1


def test_invalid_answer_and_unknown_task_are_refused(eng_app):
    project, users, tasks = setup_project(n_users=2)
    with pytest.raises(EngineError) as bad:
        engine.submit(db.engine, tasks[0], users[1], "cow")
    assert bad.value.reason is Refusal.INVALID_ANSWER
    with pytest.raises(EngineError) as missing:
        engine.submit(db.engine, 999_999, users[1], "cat")
    assert missing.value.reason is Refusal.TASK_NOT_FOUND
    with pytest.raises(EngineError) as wrong:
        engine.submit(db.engine, tasks[0], users[1], "cat", project_id=project.id + 1)
    assert wrong.value.reason is Refusal.WRONG_PROJECT
    assert answers_of(tasks[0]) == 0


def test_completion_writes_one_result(eng_app):
    project, users, tasks = setup_project(n_users=3, tasks=[{"n_answers": 2}])
    engine.submit(db.engine, tasks[0], users[1], "cat")
    assert not fresh().scalars(select(Result)).all()
    done = engine.submit(db.engine, tasks[0], users[2], "dog")
    assert done.completed_task
    result = fresh().scalars(select(Result)).one()
    assert sorted(result.task_run_ids) == sorted(
        db.session.scalars(select(Answer.id).where(Answer.task_id == tasks[0])).all()
    )
    assert fresh().get(Task, tasks[0]).state == "completed"
    # a complete task is handed to nobody
    assert claimed_id(project, users[0]) is None


def test_gold_tasks_are_served_at_the_rate_and_do_not_count(eng_app):
    specs = [{"n_answers": 1, "gold_answer": "cat"}, {"n_answers": 1}]
    project, users, tasks = setup_project(n_users=4, tasks=specs, gold_rate=1.0)
    rng = random.Random(3)
    # with rate 1 every user gets the gold task first, beyond its n_answers of 1
    for user in users[1:]:
        assert claimed_id(project, user, rng=rng) == tasks[0]
        engine.submit(db.engine, tasks[0], user, "dog")
    gold = fresh().get(Task, tasks[0])
    assert gold.state == "ongoing" and answers_of(tasks[0]) == 3
    # the regular task still has its slot
    assert claimed_id(project, users[1], rng=rng) == tasks[1]


def test_redundancy_changes_on_a_task_with_answers(eng_app):
    project, users, tasks = setup_project(n_users=4, tasks=[{"n_answers": 3}])
    engine.submit(db.engine, tasks[0], users[1], "cat")
    engine.submit(db.engine, tasks[0], users[2], "cat")
    engine.claim(db.engine, project.id, users[3])
    # lowering to the answers it has completes the task; the lease holder is refused
    assert engine.set_redundancy(db.engine, 2, task_ids=[tasks[0]]) == 1
    assert fresh().get(Task, tasks[0]).state == "completed"
    assert fresh().scalar(select(func.count()).select_from(Result)) == 1
    with pytest.raises(EngineError) as refused:
        engine.submit(db.engine, tasks[0], users[3], "dog")
    assert refused.value.reason is Refusal.NO_ROOM
    # raising it reopens the task for one more answer
    engine.set_redundancy(db.engine, 3, project_id=project.id)
    assert fresh().get(Task, tasks[0]).state == "ongoing"
    assert claimed_id(project, users[3]) == tasks[0]
    engine.submit(db.engine, tasks[0], users[3], "dog")
    assert answers_of(tasks[0]) == 3
    with pytest.raises(ValueError, match="between 1 and"):
        engine.set_redundancy(db.engine, 0, project_id=project.id)


def test_skip_hides_a_task_until_only_skipped_ones_remain(eng_app):
    project, users, tasks = setup_project(n_users=2, tasks=[{}, {}])
    first = claimed_id(project, users[1])
    assert engine.release(db.engine, first, users[1], skip=True)
    second = claimed_id(project, users[1])
    assert second != first
    engine.submit(db.engine, second, users[1], "cat")
    # only the skipped task is left: it is offered again rather than nothing
    assert claimed_id(project, users[1]) == first


def test_undo_reopens_the_answer_until_the_task_completes(eng_app):
    project, users, tasks = setup_project(n_users=3, tasks=[{"n_answers": 2}])
    answer = engine.submit(db.engine, tasks[0], users[1], "cat").answer
    claim = engine.undo(db.engine, answer["id"], users[1])
    assert claim.task["id"] == tasks[0]
    assert answers_of(tasks[0]) == 0
    engine.submit(db.engine, tasks[0], users[1], "dog")
    last = engine.submit(db.engine, tasks[0], users[2], "dog").answer
    with pytest.raises(EngineError) as late:
        engine.undo(db.engine, last["id"], users[2])
    assert late.value.reason is Refusal.TASK_COMPLETED
    with pytest.raises(EngineError):
        engine.undo(db.engine, last["id"], users[1])  # not user1's answer


def test_renew_extends_a_held_lease_only(eng_app):
    project, users, tasks = setup_project(n_users=2, lease_ttl=60)
    start = utcnow()
    engine.claim(db.engine, project.id, users[1], now=start)
    renewed = engine.renew(db.engine, tasks[0], users[1], now=start + dt.timedelta(seconds=50))
    assert renewed == start + dt.timedelta(seconds=110)
    assert engine.renew(db.engine, tasks[0], users[0]) is None


def test_claim_ahead_takes_a_second_lease_within_the_slots(eng_app):
    project, users, tasks = setup_project(n_users=3, tasks=[{"n_answers": 1}, {"n_answers": 1}])
    first = engine.claim(db.engine, project.id, users[1])
    ahead = engine.claim_ahead(db.engine, project.id, users[1])
    assert {first.task["id"], ahead.task["id"]} == set(tasks)
    # both slots are reserved by user1: nobody else gets a task, user1 gets no third
    assert claimed_id(project, users[2]) is None
    assert engine.claim_ahead(db.engine, project.id, users[1]) is None
    # a plain claim still returns the oldest lease
    assert claimed_id(project, users[1]) == first.task["id"]


def test_sqlite_writers_of_one_process_queue_before_they_take_a_connection(sqlite_url):
    """Not in SQLite's busy handler, which sleeps up to 100 ms between polls of the lock."""
    app = make_app(sqlite_url)
    with app.app_context():
        project, users, _ = setup_project(tasks=[{}, {}])
        eng, pid = db.engine, project.id
        pool = eng.pool
        outcome: list[engine.Claim | None] = []
        with service.store_for(eng).transaction():
            holding = pool.checkedout()
            second = threading.Thread(
                target=lambda: outcome.append(engine.claim(eng, pid, users[1]))
            )
            second.start()
            second.join(0.5)
            # the second writer waits on the lock, without a connection and without a result
            assert second.is_alive() and outcome == []
            assert pool.checkedout() == holding
        second.join(10)
        assert outcome and outcome[0] is not None
        db.session.remove()
        db.engine.dispose()


# --- PostgreSQL: the claim's read and its take in one statement -------------------------------


@pytest.fixture
def pg_app(pg_url: str):
    # what earlier tests' claims taught this process about their projects (same ids, another
    # database) stays with their engines: nothing to forget by hand
    app = make_app(pg_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _counting_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The executor's driver statements from now on (their first line), in order."""
    sent: list[str] = []
    for name in ("one", "one_dict"):
        original = getattr(driver, name)

        def counted(raw, statement, values, _original=original):  # noqa: ANN001, ANN202
            sent.append(statement.sql.splitlines()[0])
            return _original(raw, statement, values)

        monkeypatch.setattr(driver, name, counted)
    return sent


def test_a_claim_after_the_first_is_one_statement(pg_app, monkeypatch):
    project, users, tasks = setup_project(n_users=3, tasks=[{"n_answers": 3}] * 2, published=True)
    sent = _counting_statements(monkeypatch)
    start = utcnow()
    first = engine.claim(db.engine, project.id, users[0], now=start)
    assert len(sent) == 2  # the read, then the take
    second = engine.claim(db.engine, project.id, users[1], now=start)
    assert len(sent) == 3  # both at once: this process knows the project's settings now
    # depth first still: the task user0 holds is the closest to done
    assert first.task["id"] == second.task["id"] == tasks[0]
    assert second.expires_at == start + dt.timedelta(seconds=project.lease_ttl)
    leases = fresh().scalars(select(Lease).where(Lease.user_id == users[1])).all()
    assert [(lease.task_id, lease.expires_at) for lease in leases] == [
        (tasks[0], second.expires_at)
    ]
    assert fresh().scalar(select(Task.n_reserved).where(Task.id == tasks[0])) == 2


def test_a_changed_ordering_and_ttl_are_read_not_assumed(pg_app):
    project, users, tasks = setup_project(n_users=3, tasks=[{"n_answers": 3}] * 2, published=True)
    assert claimed_id(project, users[0]) == tasks[0]  # depth first; remembered
    stored = fresh().get(Project, project.id)
    stored.ordering, stored.lease_ttl = "breadth_first", 1234
    db.session.commit()
    start = utcnow()
    claim = engine.claim(db.engine, project.id, users[1], now=start)
    # breadth first: the task nobody holds
    assert claim.task["id"] == tasks[1]
    assert claim.expires_at == start + dt.timedelta(seconds=1234)
    lease = fresh().scalar(select(Lease).where(Lease.user_id == users[1]))
    assert lease.expires_at == claim.expires_at


def test_a_refused_caller_keeps_nothing_the_one_statement_claim_took(pg_app):
    # a draft: its owner (users[0]) may work on it, nobody else
    project, users, tasks = setup_project(n_users=3, tasks=[{"n_answers": 3}], published=False)
    assert service.claim(project.id, Caller(users[0])).task["id"] == tasks[0]
    # the process knows the project now: the next claim is the one statement, and its take is
    # conditioned on the caller's right to contribute, read in the same statement
    with pytest.raises(service.Refused) as refused:
        service.claim(project.id, Caller(users[1]))
    assert refused.value.reason == Refusal.FORBIDDEN
    holders = fresh().scalars(select(Lease.user_id).where(Lease.task_id == tasks[0])).all()
    assert holders == [users[0]]
    assert fresh().scalar(select(Task.n_reserved).where(Task.id == tasks[0])) == 1


def test_the_one_statement_claim_falls_back_to_skipped_tasks(pg_app):
    project, users, tasks = setup_project(n_users=2, tasks=[{"n_answers": 1}], published=True)
    assert claimed_id(project, users[0]) == tasks[0]
    engine.release(db.engine, tasks[0], users[0], skip=True)
    # the statement sent with the read leaves skipped tasks out; offered again all the same
    assert claimed_id(project, users[0]) == tasks[0]
