"""The labeling page's JSON endpoints through the Flask test client."""

from __future__ import annotations

import re

from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.storage.scope import S3Scope
from labelhive.tasks.images import image_url_for
from labelhive.tasks.models import Lease
from labelhive.tasks.models import Task
from tests.common import engine
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in


def answers() -> list[tuple[int, int, str]]:
    db.session.commit()
    rows = db.session.scalars(db.select(Answer).order_by(Answer.id))
    return [(a.task_id, a.user_id, a.info) for a in rows]


def leases(user_id: int) -> set[int]:
    db.session.commit()
    return set(db.session.scalars(db.select(Lease.task_id).where(Lease.user_id == user_id)))


def post(client, what: str, body: dict | None = None):  # noqa: ANN001, ANN201
    return client.post(f"/project/pets/label/{what}", json=body or {})


def test_label_page_renders_buttons_with_shortcuts(client):
    alice = make_user("alice")
    make_project(alice, n_tasks=1)
    sign_in(client, "alice")
    page = client.get("/project/pets/label").get_data(as_text=True)
    assert "Which animal?" in page
    assert re.search(r'data-answer="dog"\s+data-key="2"', page)
    assert "<kbd>3</kbd>" in page


def test_state_holds_the_task_on_screen_and_the_next(client):
    alice = make_user("alice")
    make_project(alice, n_tasks=3)
    sign_in(client, "alice")
    data = post(client, "state").get_json()
    ids = [t["id"] for t in data["tasks"]]
    assert len(ids) == 2 and leases(alice.id) == set(ids)
    assert data["tasks"][0]["image"] == "http://127.0.0.1:9/img0.png"
    assert data["tasks"][0]["info"] == {"name": "img0"}
    assert data["progress"] == {"mine": 0, "total": 3}
    # asking again hands out nothing new
    assert [t["id"] for t in post(client, "state").get_json()["tasks"]] == ids


def test_answer_skip_undo_round_trip(client):
    alice = make_user("alice")
    p = make_project(alice, n_tasks=4, n_answers=2)
    sign_in(client, "alice")
    first, second = (t["id"] for t in post(client, "state").get_json()["tasks"])
    done = post(client, "answer", {"task_id": first, "answer": "dog"})
    assert done.status_code == 200
    body = done.get_json()
    assert body["tasks"][0]["id"] == second and len(body["tasks"]) == 2
    third = body["tasks"][1]["id"]
    assert answers() == [(first, alice.id, "dog")]
    assert body["progress"]["mine"] == 1

    skipped = post(client, "skip", {"task_id": second}).get_json()
    assert second not in [t["id"] for t in skipped["tasks"]]
    fourth = skipped["tasks"][1]["id"]

    undone = post(client, "undo", {"answer_id": body["answer_id"], "release_task_id": fourth})
    assert undone.status_code == 200
    assert undone.get_json()["task"]["id"] == first
    assert answers() == []
    assert leases(alice.id) == {first, third}
    db.session.commit()
    assert sum(t.n_reserved for t in db.session.scalars(db.select(Task))) == 2
    assert p.id


def test_refused_answers_say_why(client):
    alice = make_user("alice")
    p = make_project(alice, n_tasks=2, n_answers=1)
    bob = make_user("bob")
    sign_in(client, "alice")
    task_id = post(client, "state").get_json()["tasks"][0]["id"]
    invalid = post(client, "answer", {"task_id": task_id, "answer": "horse"})
    assert invalid.status_code == 400
    assert invalid.get_json()["reason"] == "invalid_answer"
    # alice's lease lapses, bob fills the task: her late answer is refused, nothing stored
    db.session.commit()
    db.session.execute(db.update(Lease).values(expires_at=Lease.created))
    db.session.commit()
    claim = engine.claim(db.engine, p.id, bob.id)
    assert claim.task["id"] == task_id
    engine.submit(db.engine, task_id, bob.id, "cat")
    late = post(client, "answer", {"task_id": task_id, "answer": "dog"})
    assert late.status_code == 409
    assert late.get_json()["reason"] == "no_room"
    assert "already has all the answers" in late.get_json()["error"]
    assert answers() == [(task_id, bob.id, "cat")]
    assert post(client, "answer", {"answer": "dog"}).status_code == 400


def test_undo_is_refused_once_the_task_is_complete(client):
    alice = make_user("alice")
    make_project(alice, n_tasks=2, n_answers=1)
    sign_in(client, "alice")
    task_id = post(client, "state").get_json()["tasks"][0]["id"]
    answer_id = post(client, "answer", {"task_id": task_id, "answer": "dog"}).get_json()[
        "answer_id"
    ]
    refused = post(client, "undo", {"answer_id": answer_id})
    assert refused.status_code == 409
    assert "Too late to undo" in refused.get_json()["error"]
    assert len(answers()) == 1


def test_finished_project_hands_out_nothing(client):
    alice = make_user("alice")
    make_project(alice, n_tasks=1, n_answers=1)
    sign_in(client, "alice")
    (task,) = post(client, "state").get_json()["tasks"]
    final = post(client, "answer", {"task_id": task["id"], "answer": "cat"}).get_json()
    assert final["tasks"] == []
    assert final["progress"] == {"mine": 1, "total": 1}


def test_heartbeat_renews_own_leases_only(client):
    alice = make_user("alice")
    p = make_project(alice, n_tasks=3, n_answers=1)
    bob = make_user("bob")
    other = engine.claim(db.engine, p.id, bob.id).task["id"]
    sign_in(client, "alice")
    ids = [t["id"] for t in post(client, "state").get_json()["tasks"]]
    renewed = post(client, "heartbeat", {"task_ids": [*ids, other]}).get_json()["renewed"]
    assert renewed == {str(ids[0]): True, str(ids[1]): True}
    renewed = post(client, "heartbeat", {"task_ids": [other]}).get_json()["renewed"]
    assert renewed == {str(other): False}


def test_look_ahead_leases_keep_redundancy_exact(client):
    alice = make_user("alice")
    p = make_project(alice, n_tasks=2, n_answers=1)
    bob = make_user("bob")
    sign_in(client, "alice")
    assert len(post(client, "state").get_json()["tasks"]) == 2
    # both slots are held by alice: bob gets nothing, and no task is over-reserved
    assert engine.claim_ahead(db.engine, p.id, bob.id) is None
    assert engine.claim(db.engine, p.id, bob.id) is None
    db.session.commit()
    assert [t.n_reserved for t in db.session.scalars(db.select(Task))] == [1, 1]


def test_gold_answers_never_reach_the_page(client):
    alice = make_user("alice")
    p = make_project(alice)
    db.session.add(
        Task(
            project_id=p.id,
            info={"url": "https://example.org/g.png", "gold": "cat", "note": "x"},
            gold_answer="cat",
        )
    )
    p.gold_rate = 1.0
    db.session.commit()
    sign_in(client, "alice")
    response = post(client, "state")
    (task,) = response.get_json()["tasks"]
    assert task["info"] == {"note": "x"}
    assert "gold" not in response.get_data(as_text=True)


def test_json_endpoints_need_a_signed_in_contributor(client):
    alice = make_user("alice")
    make_project(alice, n_tasks=1, published=False)
    assert post(client, "state").status_code == 401
    make_user("bob")
    sign_in(client, "bob")
    assert post(client, "state").status_code == 404
    assert post(client, "answer", {"task_id": 1, "answer": "cat"}).status_code == 404


NO_S3 = S3Scope(())


def test_image_url_for_loads_only_http_urls_and_own_static_files():
    assert image_url_for({"url": "https://example.org/a.png"}, NO_S3) == "https://example.org/a.png"
    assert image_url_for({"image": "http://h/x.jpg", "url": 3}, NO_S3) == "http://h/x.jpg"
    for bad in ("javascript:alert(1)", "data:image/png;base64,AA", "/local.png", "//h/x", ""):
        assert image_url_for({"url": bad}, NO_S3) is None
    assert image_url_for(["not", "a", "dict"], NO_S3) is None
    # the demo project's images are this site's static files
    assert image_url_for({"url": "/static/demo/shape-01.svg"}, NO_S3) == "/static/demo/shape-01.svg"
    for bad in ("/static/../config.py", "/static/..%2f/x", "/static\\x", "/staticx/a.png"):
        assert image_url_for({"url": bad}, NO_S3) is None


def test_the_labeling_page_has_its_own_generous_limit(client):
    """A fast annotator outlasts the site's per-route default; a flood is still stopped."""
    alice = make_user("alice")
    make_project(alice, n_tasks=3)
    sign_in(client, "alice")
    # more than the site's default of 300 per route
    statuses = {post(client, "heartbeat").status_code for _ in range(320)}
    assert statuses == {200}


def test_the_labeling_limit_is_shared_by_the_pages_endpoints(sqlite_url):
    from tests.conftest import make_app

    app = make_app(sqlite_url, WTF_CSRF_ENABLED=False, RATELIMIT_LABELING="5 per minute")
    with app.app_context():
        client = app.test_client()
        alice = make_user("alice")
        make_project(alice, n_tasks=3)
        sign_in(client, "alice")
        codes = [post(client, what).status_code for what in ("state", "heartbeat") * 3]
        assert codes[:5] == [200] * 5 and codes[5] == 429
        assert client.get("/project/pets/label").status_code == 429
        db.session.remove()
        db.engine.dispose()
