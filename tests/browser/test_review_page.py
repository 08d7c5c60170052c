"""The review flow in headless Chromium: an owner makes a colleague a reviewer from the results
browser, the reviewer settles the flagged items with the keyboard only (a number key sets the
final label, "b" sends an item back), and the database holds exactly those decisions.

A real LabelHive (werkzeug, threaded, SQLite file, CSRF on) and a tiny image server run in this
process (the labeling page test's fixtures). The review page's screenshot is saved to
``docs/img/review-page.png`` (shown in the README) and the browser's to ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page
from sqlalchemy import select

from labelhive.accounts.services import create_user
from labelhive.consensus.models import Consensus
from labelhive.extensions import db
from labelhive.projects.services import create_project
from labelhive.results import services as consensus
from labelhive.tasks.models import Task
from tests.browser.test_labeling_page import ARTIFACTS
from tests.browser.test_labeling_page import images  # noqa: F401 (a fixture)
from tests.browser.test_labeling_page import page  # noqa: F401 (a fixture)
from tests.browser.test_labeling_page import site  # noqa: F401 (a fixture)
from tests.common import engine

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "a long password"
# (answers of ann0, ann1), gold answer
ITEMS = {
    "tie": (("cat", "dog"), None),
    "gold": (("cat", "cat"), "bird"),
    "sure": (("cat", "cat"), None),
    "split": (("dog", "bird"), None),
}


def seed(app, image_base: str) -> dict[str, int]:  # noqa: ANN001
    """Owner, reviewer, two annotators, a project with answers and computed consensus."""
    with app.app_context():
        owner = create_user("owner", email="owner@example.org", password=PASSWORD)
        create_user("rita", email="rita@example.org", password=PASSWORD)
        annotators = [create_user(f"ann{i}", email=f"ann{i}@example.org") for i in range(2)]
        db.session.commit()
        project = create_project(
            owner,
            {
                "name": "Animals",
                "short_name": "animals",
                "info": {"question": "Which animal?", "answers": ["cat", "dog", "bird"]},
                "default_n_answers": 2,
                "published": True,
                "consensus_method": "majority_vote",
            },
        )
        db.session.flush()
        tasks = {
            name: Task(
                project_id=project.id,
                info={"url": f"{image_base}/img{i + 5}.png"},
                n_answers=2,
                gold_answer=gold,
            )
            for i, (name, (_, gold)) in enumerate(ITEMS.items())
        }
        db.session.add_all(tasks.values())
        db.session.commit()
        ids = {name: task.id for name, task in tasks.items()}
        for name, (labels, _) in ITEMS.items():
            for user, label in zip(annotators, labels, strict=True):
                engine.submit(db.engine, ids[name], user.id, label, project_id=project.id)
        consensus.recompute(project.id)
        db.session.remove()
    return ids


def sign_in(tab: Page, base: str, name: str) -> None:
    tab.goto(f"{base}/account/signin")
    tab.get_by_label("User name or e-mail").fill(name)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{base}/")


def final(app) -> dict[int, tuple[str, str, str]]:  # noqa: ANN001
    with app.app_context():
        rows = db.session.execute(
            select(Consensus.task_id, Consensus.label, Consensus.method, Consensus.review_state)
        ).all()
        db.session.remove()
    return {row.task_id: (row.label, row.method, row.review_state) for row in rows}


def wait_idle(tab: Page) -> int | None:
    tab.wait_for_function("() => window.review && window.review.idle()")
    return tab.evaluate("window.review.currentId()")


def test_review_the_flagged_items_with_the_keyboard(site, images, page):  # noqa: F811
    base, app = site
    ids = seed(app, images)
    # in queue order: the tie gets a label, the missed gold item its known answer, and the
    # other tie is sent back for one more answer
    flagged = [ids["tie"], ids["gold"], ids["split"]]
    before = final(app)
    assert {i for i, (_, _, state) in before.items() if state == "needs_review"} == set(flagged)

    # the owner browses the items: ties filtered, keyboard details, then grants the role
    sign_in(page, base, "owner")
    page.goto(f"{base}/project/animals/items?tie=1")
    rows = page.locator("tr.item-row")
    assert rows.count() == 2  # the one-to-one ties: "tie" and "split"
    assert "tie" in page.inner_text(f'tr[data-item="{ids["tie"]}"]')
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    detail = page.locator(f'tr[data-detail="{ids["split"]}"]')
    detail.wait_for(state="visible")
    assert "ann0: dog" in detail.inner_text() and "ann1: bird" in detail.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{base}/project/animals/items")
    page.screenshot(path=str(ARTIFACTS / "results-browser.png"), full_page=True)
    page.get_by_label("User name").fill("rita")
    page.get_by_role("button", name="Make reviewer").click()
    assert "rita is now a reviewer" in page.inner_text(".flashes")
    page.context.clear_cookies()

    # the reviewer: keyboard only
    sign_in(page, base, "rita")
    page.goto(f"{base}/project/animals/review")
    current = wait_idle(page)
    assert current == flagged[0]
    assert "tie" in page.inner_text("#reasons")
    votes = page.inner_text("#votes")
    assert "ann0" in votes and "ann1" in votes
    page.wait_for_function(
        "() => { const i = document.getElementById('review-image'); "
        "return i.complete && i.naturalWidth > 0; }"
    )
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / "review-page.png"), full_page=True)

    decided: dict[int, str] = {}
    # "n" moves on without deciding, "p" comes back
    page.keyboard.press("n")
    page.wait_for_function(f"() => window.review.currentId() === {flagged[1]}")
    page.keyboard.press("p")
    page.wait_for_function(f"() => window.review.currentId() === {flagged[0]}")
    wait_idle(page)
    # a key with a modifier is the browser's, not a decision
    page.keyboard.press("Control+3")
    assert page.evaluate("() => [window.review.idle(), window.review.decisions.length]") == [
        True,
        0,
    ]
    for key, label in (("2", "dog"), ("3", "bird")):
        item = wait_idle(page)
        # held down: the auto-repeated presses are ignored (the shortcuts shared with the
        # labeling page), so the next item is not decided by the same key
        page.keyboard.down(key)
        page.keyboard.down(key)
        page.keyboard.up(key)
        page.wait_for_function(f"() => window.review.decisions.length === {len(decided) + 1}")
        decided[item] = label
    last = wait_idle(page)
    page.keyboard.press("b")
    page.wait_for_function("() => window.review.decisions.length === 3")
    page.wait_for_selector("#finished", state="visible")

    after = final(app)
    for item, label in decided.items():
        assert after[item] == (label, "reviewed", "reviewed")
    assert after[last][2] == "sent_back"
    assert after[ids["sure"]] == before[ids["sure"]]  # untouched
    with app.app_context():
        assert db.session.get(Task, last).n_answers == 3
        db.session.remove()
