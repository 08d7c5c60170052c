"""``userprogress`` does not tell an annotator which tasks were gold (issue 22, finding 5).

An annotator answers a project of real and gold tasks through the API, reading
``userprogress`` after each answer: every answer moves ``done`` by one and ``total`` never
moves, gold or not. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from labelhive.extensions import db
from labelhive.tasks.models import Task
from tests.common.web import make_project
from tests.common.web import make_user
from tests.conftest import make_app


def test_every_answer_moves_userprogress_alike_gold_or_not(any_url: str) -> None:
    app = make_app(any_url, RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=False)
    with app.app_context():
        owner = make_user("owner")
        project = make_project(owner, n_tasks=3, n_answers=1)
        project.gold_rate = 1.0  # gold first while any is left: no chance involved
        project_id = project.id
        for i in range(3):
            db.session.add(
                Task(
                    project_id=project_id,
                    info={"url": f"http://127.0.0.1:9/gold{i}.png"},
                    n_answers=1,
                    gold_answer="cat",
                )
            )
        db.session.commit()
        gold_ids = set(db.session.scalars(db.select(Task.id).where(Task.gold_answer.is_not(None))))
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
