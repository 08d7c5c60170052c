"""Gold tasks from the web UI: the list, setting and clearing a known answer, access, secrecy."""

from __future__ import annotations

from labelhive.consensus import gold
from labelhive.extensions import db
from labelhive.tasks.models import Task
from tests.common import engine
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in


def _gold_answers(project_id: int) -> dict[int, str | None]:
    db.session.commit()  # a fresh snapshot: the requests share this session
    rows = db.session.execute(
        db.select(Task.id, Task.gold_answer).where(Task.project_id == project_id)
    )
    return dict(rows.all())


def test_owner_sets_and_clears_gold_from_the_task_list(client) -> None:
    alice = make_user("alice")
    project = make_project(alice, n_tasks=3)
    first, second, _ = sorted(_gold_answers(project.id))
    sign_in(client, "alice")
    page = client.get("/project/pets/gold").get_data(as_text=True)
    # one form for the page, one field per task (labelled gold_answer-<id>), one Save button
    assert page.count('name="gold_answer-') == 3 and f'name="gold_answer-{first}"' in page
    assert page.count('action="/project/pets/gold"') == 1 and page.count(">Save</button>") == 1
    assert '<option value="" selected>not gold</option>' in page

    response = client.post(f"/project/pets/gold/{first}", data={"gold_answer": "dog"})
    assert response.status_code == 302 and response.headers["Location"] == "/project/pets/gold"
    assert _gold_answers(project.id)[first] == "dog"
    page = client.get("/project/pets/gold?only=gold").get_data(as_text=True)
    assert page.count('name="gold_answer-') == 1
    assert '<option value="dog" selected>dog</option>' in page
    assert f"Task {first} is gold: dog." in page

    # an answer outside the options is refused with a message; nothing changes
    client.post(f"/project/pets/gold/{second}", data={"gold_answer": "cow"})
    assert "must be one of the project" in client.get("/project/pets/gold").get_data(as_text=True)
    assert _gold_answers(project.id)[second] is None

    # clearing makes it an ordinary task again
    client.post(f"/project/pets/gold/{first}", data={"gold_answer": "", "only": "gold"})
    assert _gold_answers(project.id)[first] is None


def test_gold_page_pages_and_refuses_other_projects_tasks(client, monkeypatch) -> None:
    alice = make_user("alice")
    pets = make_project(alice, n_tasks=3)
    birds = make_project(alice, short_name="birds", n_tasks=1)
    (other,) = _gold_answers(birds.id)
    monkeypatch.setattr(gold, "PAGE_SIZE", 2)
    sign_in(client, "alice")
    ids = sorted(_gold_answers(pets.id))
    page = client.get("/project/pets/gold").get_data(as_text=True)
    assert f"/project/pets/gold?after={ids[1]}" in page
    page = client.get(f"/project/pets/gold?after={ids[1]}").get_data(as_text=True)
    assert page.count('name="gold_answer-') == 1 and "Next page" not in page
    # a task of another project, through this project's URL
    client.post(f"/project/pets/gold/{other}", data={"gold_answer": "cat"})
    assert _gold_answers(birds.id)[other] is None
    assert f"Task {other} is not a task of this project" in client.get(
        "/project/pets/gold"
    ).get_data(as_text=True)


def test_only_managers_see_or_set_gold(client) -> None:
    alice = make_user("alice")
    make_user("bob")
    project = make_project(alice, n_tasks=1)
    (task_id,) = _gold_answers(project.id)
    sign_in(client, "bob")
    assert client.get("/project/pets/gold").status_code == 403
    assert client.post(f"/project/pets/gold/{task_id}", data={"gold_answer": "cat"}).status_code
    assert _gold_answers(project.id)[task_id] is None


def test_gold_set_in_the_ui_never_reaches_annotators(client) -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    project = make_project(alice, n_tasks=1)
    project.gold_rate = 1.0
    db.session.commit()
    (task_id,) = _gold_answers(project.id)
    sign_in(client, "alice")
    client.post(f"/project/pets/gold/{task_id}", data={"gold_answer": "bird"})
    assert _gold_answers(project.id)[task_id] == "bird"
    client.post("/account/signout")

    # the API's newtask and the task itself, as the annotator holding it
    handed = client.get(f"/api/project/{project.id}/newtask", query_string={"api_key": bob.api_key})
    assert handed.get_json()["id"] == task_id
    assert "bird" not in handed.get_data(as_text=True)
    got = client.get(f"/api/task/{task_id}", query_string={"api_key": bob.api_key})
    assert got.status_code == 200 and "bird" not in got.get_data(as_text=True)
    # the labeling page's payload
    sign_in(client, "bob")
    state = client.post("/project/pets/label/state", json={})
    assert [t["id"] for t in state.get_json()["tasks"]] == [task_id]
    assert "bird" not in state.get_data(as_text=True)
    # the page lists "bird" as an answer button, but nothing says which is gold
    assert "gold" not in client.get("/project/pets/label").get_data(as_text=True).lower()


def test_a_completed_task_made_gold_reopens_and_completes_again_when_cleared(client) -> None:
    alice = make_user("alice")
    project = make_project(alice, n_tasks=1, n_answers=1)
    claim = engine.claim(db.engine, project.id, alice.id)
    engine.submit(db.engine, claim.task["id"], alice.id, "cat")
    task_id = claim.task["id"]
    sign_in(client, "alice")

    def state() -> str:
        db.session.commit()
        return db.session.get(Task, task_id).state

    assert state() == "completed"
    client.post(f"/project/pets/gold/{task_id}", data={"gold_answer": "dog"})
    assert state() == "ongoing"
    client.post(f"/project/pets/gold/{task_id}", data={"gold_answer": ""})
    assert state() == "completed"
