"""Adaptive redundancy under concurrency, on PostgreSQL: the cap is never exceeded.

Annotator threads claim and answer at random (so answers often disagree) while completed tasks
whose agreement is below the threshold get one more annotator. Some threads also repeat the
escalation decision late (as a retried follow-up would). A monitor thread checks, while they
run, that no task's redundancy exceeds the cap and no task holds more answers than its
redundancy; at the end every task is settled: agreement reached, or the cap.
"""

from __future__ import annotations

import collections
import random
import threading

from sqlalchemy import func
from sqlalchemy import select

from labelhive import metrics
from labelhive.accounts.services import create_user
from labelhive.answers.models import Answer
from labelhive.consensus import adaptive
from labelhive.extensions import db
from labelhive.projects.services import apply_settings
from labelhive.projects.services import create_project
from labelhive.tasks.models import Task
from tests.common import engine
from tests.conftest import make_app

CAP = 5
START = 2
THRESHOLD = 0.99
N_TASKS = 25
N_ANNOTATORS = 10
N_THREADS = 8
OPTIONS = ["cat", "dog", "bird"]


def _over_collection() -> float:
    return metrics.OVER_COLLECTION._value.get()


def test_adaptive_redundancy_never_exceeds_the_cap_under_concurrency(pg_url: str) -> None:
    app = make_app(pg_url)
    with app.app_context():
        owner = create_user("owner", email="owner@example.org")
        users = [create_user(f"a{i}", email=f"a{i}@example.org") for i in range(N_ANNOTATORS)]
        project = create_project(
            owner,
            {
                "name": "Pets",
                "short_name": "pets",
                "info": {"question": "Which animal?", "answers": OPTIONS},
                "default_n_answers": START,
                "published": True,
            },
        )
        apply_settings(
            project,
            {
                "adaptive_redundancy": True,
                "adaptive_threshold": THRESHOLD,
                "adaptive_max_answers": CAP,
            },
        )
        db.session.add_all(
            Task(project_id=project.id, info={"url": f"{i}.jpg"}, n_answers=START)
            for i in range(N_TASKS)
        )
        db.session.commit()
        project_id = project.id
        user_ids = [u.id for u in users]
        db.session.remove()
    over_before = _over_collection()

    violations: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    queue = collections.deque(user_ids)
    queue_lock = threading.Lock()
    escalations = collections.Counter()

    def annotator(seed: int) -> None:
        rng = random.Random(seed)
        with app.app_context():
            try:
                while True:
                    with queue_lock:
                        if not queue:
                            return
                        user_id = queue[0]
                        queue.rotate(-1)
                    claim = engine.claim(db.engine, project_id, user_id, rng=rng)
                    if claim is None:
                        with queue_lock:
                            if user_id in queue:
                                queue.remove(user_id)
                        continue
                    task_id = claim.task["id"]
                    try:
                        submitted = engine.submit(db.engine, task_id, user_id, rng.choice(OPTIONS))
                    except engine.EngineError:
                        continue
                    if adaptive.after_submit(db.engine, submitted):
                        escalations[task_id] += 1
                    # a late, repeated decision from the same (now stale) read changes nothing
                    if submitted.completed_task and rng.random() < 0.5:
                        if adaptive.escalate(db.engine, task_id):
                            escalations[task_id] += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

    def monitor() -> None:
        with app.app_context():
            while not stop.is_set():
                with db.engine.connect() as conn:
                    counted = (
                        select(func.count())
                        .where(Answer.task_id == Task.id)
                        .correlate(Task)
                        .scalar_subquery()
                    )
                    rows = conn.execute(
                        select(Task.id, Task.n_answers, counted).where(
                            Task.project_id == project_id
                        )
                    ).all()
                for task_id, n_answers, n_stored in rows:
                    if n_answers > CAP or n_stored > n_answers:
                        violations.append(f"task {task_id}: n={n_answers} answers={n_stored}")
                stop.wait(0.01)

    watcher = threading.Thread(target=monitor)
    watcher.start()
    threads = [threading.Thread(target=annotator, args=(seed,)) for seed in range(N_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    watcher.join()
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    assert violations == []

    with app.app_context():
        # an annotator who found no work may leave just before a task reopens: finish those
        rng = random.Random(99)
        progress = True
        while progress:
            progress = False
            for user_id in user_ids:
                claim = engine.claim(db.engine, project_id, user_id, rng=rng)
                if claim is None:
                    continue
                progress = True
                task_id = claim.task["id"]
                submitted = engine.submit(db.engine, task_id, user_id, rng.choice(OPTIONS))
                if adaptive.after_submit(db.engine, submitted):
                    escalations[task_id] += 1
        tasks = db.session.execute(
            select(Task.id, Task.n_answers, Task.state, Task.n_done).where(
                Task.project_id == project_id
            )
        ).all()
        answers: dict[int, list[str]] = collections.defaultdict(list)
        for task_id, info in db.session.execute(select(Answer.task_id, Answer.info)):
            answers[task_id].append(info)
        db.session.remove()
        db.engine.dispose()
    raised = 0
    for task_id, n_answers, state, n_done in tasks:
        stored = answers[task_id]
        assert START <= n_answers <= CAP
        assert state == "completed" and n_done == len(stored) == n_answers
        # each raise was by exactly one, so the raises add up to the growth
        assert escalations[task_id] == n_answers - START
        agreement = adaptive.agreement_of(stored)
        assert agreement >= THRESHOLD or n_answers == CAP, (task_id, stored)
        raised += n_answers > START
    print(f"\nadaptive redundancy: {raised} of {N_TASKS} tasks got extra annotators")
    assert raised > 0
    assert _over_collection() == over_before


def test_a_stale_decision_is_a_no_op(pg_app) -> None:
    from tests.common.web import make_project
    from tests.common.web import make_user

    project = make_project(make_user("alice"), n_tasks=1, n_answers=2)
    task_id = db.session.scalar(select(Task.id))
    db.session.commit()
    assert engine.set_redundancy(db.engine, 3, task_ids=[task_id], expect_n_answers=2) == 1
    # the same decision again, from the old read: nothing changes
    assert engine.set_redundancy(db.engine, 3, task_ids=[task_id], expect_n_answers=2) == 0
    assert engine.set_redundancy(db.engine, 2, task_ids=[task_id], expect_n_answers=2) == 0
    assert db.session.scalar(select(Task.n_answers).where(Task.id == task_id)) == 3
    assert project.adaptive_redundancy is False
