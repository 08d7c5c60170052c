"""The home page's cards take their figures from :mod:`labelhive.projects.progress`, the one
definition of progress: a manager's card reads like the overview (answers of answers needed,
gold left out), an annotator's card counts their own answers of all tasks, so that it moves
alike for a gold and a real task. On SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask

from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.projects import progress
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app


@pytest.fixture
def site(any_url: str) -> Iterator[Flask]:
    app = make_app(any_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def project_with_gold(owner, short_name: str) -> tuple[int, Task, Task]:  # noqa: ANN001
    """A published project of one real and one gold task (one answer each)."""
    project = make_project(owner, short_name=short_name, n_tasks=1, n_answers=1)
    gold = Task(project_id=project.id, info={"url": "http://x/g.png"}, n_answers=1)
    gold.gold_answer = "cat"
    db.session.add(gold)
    db.session.commit()
    real = db.session.scalar(db.select(Task).where(Task.project_id == project.id).limit(1))
    return project.id, real, gold


def give(task: Task, user_id: int) -> None:
    """An answer stored as the engine stores it: the row and the task's counter."""
    db.session.add(Answer(project_id=task.project_id, task_id=task.id, user_id=user_id, info="cat"))
    task.n_done += 1
    db.session.commit()


def card(html: str, short_name: str) -> str:
    """The text of one project's card, tags removed."""
    found = re.search(rf'<li class="card" data-project="{short_name}">(.*?)</li>', html, re.S)
    assert found, short_name
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_an_annotators_card_moves_alike_for_gold_and_real_answers(site: Flask) -> None:
    make_user("admin")
    owner, annie = make_user("owner"), make_user("annie")
    real_id, real, _ = project_with_gold(owner, "real")
    gold_id, _, gold = project_with_gold(owner, "gold")
    give(real, annie.id)  # annie answered the real task of one, the gold task of the other
    give(gold, annie.id)
    client = site.test_client()
    sign_in(client, "annie")
    home = client.get("/").get_data(as_text=True)
    assert card(home, "real") == card(home, "gold").replace("Gold", "Real")
    assert "You answered 1 of 2 tasks" in card(home, "gold")
    assert re.search(rf'id="progress-{gold_id}" max="2" value="1"', home)
    # the same figures as the overview shows her, for many projects at once
    both = progress.for_annotator([real_id, gold_id], annie.id)
    assert both == {i: progress.of_annotator(i, annie.id) for i in (real_id, gold_id)}
    # the owner's cards count answers needed by real tasks only, as the overview does
    sign_in(client, "owner")
    home = client.get("/").get_data(as_text=True)
    assert "1 answer of 1 collected (100%)" in card(home, "real")
    assert "0 answers of 1 collected (0%)" in card(home, "gold")
    overview = client.get("/project/gold/").get_data(as_text=True)
    assert "0 of 1 answer needed (0%)" in overview
