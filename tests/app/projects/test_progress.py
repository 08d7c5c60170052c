"""What "progress" means (labelhive.projects.progress) and the labeling page's read-only checks
(has_work, undoable, what an annotator is sent), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.extensions import db
from labelhive.projects import progress
from labelhive.tasks import labeling
from labelhive.tasks.models import Task
from tests.common import engine
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


def answer(project_id: int, user_id: int) -> int:
    """Claim the next task for the user and answer it; return the task's id."""
    claim = engine.claim(db.engine, project_id, user_id)
    assert claim is not None
    engine.submit(db.engine, claim.task["id"], user_id, "cat", project_id=project_id)
    db.session.commit()
    return claim.task["id"]


def test_progress_counts_answers_of_answers_needed_not_only_completed_tasks(app: Flask) -> None:
    owner, annie, bob = make_user("owner"), make_user("annie"), make_user("bob")
    project = make_project(owner, n_tasks=4, n_answers=2)
    db.session.add(Task(project_id=project.id, info={"url": "http://x/g.png"}, gold_answer="cat"))
    db.session.commit()
    assert progress.of(project.id) == progress.Progress(0, 8, 0, 4)
    for _ in range(3):
        answer(project.id, annie.id)
    # three answers in, no task complete: the bar is not empty (the old one counted tasks)
    assert progress.of(project.id) == progress.Progress(3, 8, 0, 4)
    assert progress.of(project.id).percent == 37
    first = answer(project.id, bob.id)
    assert db.session.get(Task, first).state == "completed"
    assert progress.of(project.id) == progress.Progress(4, 8, 1, 4)
    # one query for several projects; a project without tasks gets zeros
    empty = make_project(owner, short_name="empty")
    figures = progress.for_projects([project.id, empty.id])
    assert figures[empty.id] == progress.Progress() and figures[empty.id].percent == 0
    # an annotator's own figures count gold tasks like the others
    assert progress.of_annotator(project.id, annie.id) == progress.Progress(3, 5, 0, 5)


def test_has_work_until_nothing_is_left_for_this_user(app: Flask) -> None:
    owner, annie, bob = make_user("owner"), make_user("annie"), make_user("bob")
    project = make_project(owner, n_tasks=2, n_answers=2)
    assert labeling.has_work(project.id, annie.id)
    answer(project.id, annie.id)
    assert labeling.has_work(project.id, annie.id)
    answer(project.id, annie.id)
    # both tasks answered by her, still open for others: nothing left for her, work for bob
    assert not labeling.has_work(project.id, annie.id)
    assert labeling.has_work(project.id, bob.id)
    # a task bob holds is work for him even when no other task has room
    claim = engine.claim(db.engine, project.id, bob.id)
    db.session.commit()
    assert claim is not None and labeling.has_work(project.id, bob.id)
    # a gold task is work only when the claim may serve it (gold rate above 0)
    db.session.add(Task(project_id=project.id, info={"url": "http://x/g.png"}, gold_answer="cat"))
    db.session.commit()
    assert not labeling.has_work(project.id, annie.id)
    project.gold_rate = 0.2
    db.session.commit()
    assert labeling.has_work(project.id, annie.id)


def test_undoable_lists_the_latest_answers_of_open_tasks_oldest_first(app: Flask) -> None:
    owner, annie, bob = make_user("owner"), make_user("annie"), make_user("bob")
    project = make_project(owner, n_tasks=3, n_answers=2)
    first, second = answer(project.id, annie.id), answer(project.id, annie.id)
    ids = labeling.undoable(project.id, annie.id)
    assert len(ids) == 2 and ids == sorted(ids)
    # bob completes the first task: its answer can no longer be taken back
    while answer(project.id, bob.id) != first:
        pass
    assert db.session.get(Task, first).state == "completed"
    assert len(labeling.undoable(project.id, annie.id)) == 1
    claim = engine.undo(db.engine, labeling.undoable(project.id, annie.id)[0], annie.id)
    assert claim.task["id"] == second


def test_an_annotator_is_sent_no_image_url_key(app: Flask) -> None:
    # an import keeps the original column (image_url, any case) next to the url it adds
    info = {"url": "http://x/a.png", "Image_URL": "http://x/a.png", "caption": "a cat"}
    sent = labeling.for_annotator({"id": 1, "info": info}, _NoS3())
    assert sent["image"] == "http://x/a.png"
    assert sent["info"] == {"caption": "a cat"}


class _NoS3:
    """No S3 storage: only http(s) images are used (no scope is consulted)."""
