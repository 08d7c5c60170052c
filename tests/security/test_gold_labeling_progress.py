"""The labeling page's progress does not tell an annotator which tasks were gold (issue 22).

An annotator answers a project of real and gold tasks (one answer each) on the labeling page,
reading every progress figure the page's JSON endpoints return after each answer: each answer
moves the annotator's count by one and nothing else, gold or not. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from labelhive.extensions import db
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app
from tests.security.test_gold_progress import gold_project


def test_every_answer_moves_the_labeling_progress_alike_gold_or_not(any_url: str) -> None:
    app = make_app(any_url, RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=False)
    with app.app_context():
        _, _, gold_ids = gold_project()
        make_user("annie")
        client = app.test_client()
        sign_in(client, "annie")

        state = client.post("/project/pets/label/state", json={}).get_json()
        before = state["progress"]
        assert before == {"mine": 0, "total": 6}
        kinds = set()
        while state["tasks"]:
            task_id = state["tasks"][0]["id"]
            kinds.add(task_id in gold_ids)
            answered = client.post(
                "/project/pets/label/answer", json={"task_id": task_id, "answer": "dog"}
            )
            assert answered.status_code == 200, answered.get_data(as_text=True)
            state = answered.get_json()
            expected = {**before, "mine": before["mine"] + 1}
            assert state["progress"] == expected, f"gold={task_id in gold_ids}"
            # the plain state read agrees with the answer's response
            again = client.post("/project/pets/label/state", json={}).get_json()
            assert again["progress"] == expected
            before = expected
        assert kinds == {True, False}, "answered gold and real tasks"
        assert before == {"mine": 6, "total": 6}
        db.engine.dispose()
