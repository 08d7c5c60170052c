"""No progress figure an annotator reads through the API or the project page tells which tasks
were gold (issue 22).

An annotator answers a project of real and gold tasks, reading ``userprogress``, the project's
stats and its page after each answer: what moves is the same for a gold answer as for a real
one. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from labelhive.extensions import db
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app


def gold_project() -> tuple[int, str, set[int]]:
    """A published project of 3 real and 3 gold tasks (one answer each), gold served first
    while any is left (no chance involved); returns its id, short name and the gold task ids."""
    owner = make_user("owner")
    project = make_project(owner, n_tasks=3, n_answers=1)
    project.gold_rate = 1.0
    for i in range(3):
        db.session.add(
            Task(
                project_id=project.id,
                info={"url": f"http://127.0.0.1:9/gold{i}.png"},
                n_answers=1,
                gold_answer="cat",
            )
        )
    db.session.commit()
    gold = set(db.session.scalars(db.select(Task.id).where(Task.gold_answer.is_not(None))))
    return project.id, project.short_name, gold


def test_every_answer_moves_userprogress_alike_gold_or_not(any_url: str) -> None:
    app = make_app(any_url, RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=False)
    with app.app_context():
        project_id, _, gold_ids = gold_project()
        key = make_user("annie").api_key
        client = app.test_client()
        auth = {"Authorization": key}

        def progress() -> dict:
            response = client.get(f"/api/project/{project_id}/userprogress", headers=auth)
            assert response.status_code == 200
            return response.get_json()

        before = progress()
        answered_gold = answered = 0
        while task := client.get(f"/api/project/{project_id}/newtask", headers=auth).get_json():
            answered += 1
            answered_gold += task["id"] in gold_ids
            posted = client.post(
                "/api/taskrun", headers=auth, json={"task_id": task["id"], "info": "dog"}
            )
            assert posted.status_code == 200, posted.get_data(as_text=True)
            after = progress()
            assert after == {"done": before["done"] + 1, "total": before["total"]}
            before = after
        assert answered_gold > 0 and answered > answered_gold, "served gold and real tasks"
        db.engine.dispose()


def test_the_stats_and_project_page_an_annotator_sees_move_alike_gold_or_not(
    any_url: str,
) -> None:
    """``/api/project/<id>/stats``, ``?stats=1`` and the project page, read after each answer:
    what changes is the same for a gold answer as for a real one (with ``n_answers=1`` a real
    task completes at once, a gold one never: a completed count would tell them apart)."""
    import re

    from tests.common.web import sign_in

    app = make_app(any_url, RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=False)
    with app.app_context():
        project_id, short_name, gold_ids = gold_project()
        key = make_user("annie").api_key
        client = app.test_client()
        sign_in(client, "annie")
        auth = {"Authorization": key}

        def seen() -> tuple:
            stats = client.get(f"/api/project/{project_id}/stats", headers=auth).get_json()
            listed = client.get(f"/api/project/{project_id}?stats=1", headers=auth).get_json()
            page = client.get(f"/project/{short_name}/").get_data(as_text=True)
            # the figures in the page's text (not in tag names such as <h2>)
            text = re.sub(r"<[^>]+>", " ", page.split("<h1>", 1)[1])
            numbers = tuple(int(n) for n in re.findall(r"\d+", text))
            return stats, listed["stats"], numbers

        changes: dict[bool, set] = {True: set(), False: set()}
        first = True
        before = seen()
        assert "n_completed_tasks" not in before[0] and "n_gold_tasks" not in before[0]
        assert before[0]["n_tasks"] == 6  # gold tasks counted in the total
        while task := client.get(f"/api/project/{project_id}/newtask", headers=auth).get_json():
            posted = client.post(
                "/api/taskrun", headers=auth, json={"task_id": task["id"], "info": "dog"}
            )
            assert posted.status_code == 200, posted.get_data(as_text=True)
            after = seen()
            moved = (
                frozenset(k for k in after[0] if after[0][k] != before[0][k]),
                frozenset(k for k in after[1] if after[1][k] != before[1][k]),
                tuple(a - b for a, b in zip(after[2], before[2], strict=True)),
            )
            if first:  # the annotator's first answer also makes them one of the annotators
                first = False
            else:
                changes[task["id"] in gold_ids].add(moved)
            before = after
        assert changes[True] and changes[False], "served gold and real tasks"
        assert changes[True] == changes[False]
        db.engine.dispose()
