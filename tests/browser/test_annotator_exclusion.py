"""Excluding a spammer in headless Chromium: on the results page an owner excludes the annotator
who answers "cat" to everything, the page follows the recomputation and shows the new labels and
who excluded whom; "Include again" brings the old labels back. The database agrees each time.

A real LabelHive (werkzeug, threaded, SQLite file, CSRF on) and a tiny image server run in this
process (the labeling page test's fixtures). The results page with the exclusion and the
answers-per-hour chart is saved to ``docs/img/annotator-exclusion.png`` (shown in the README).
"""

from __future__ import annotations

from playwright.sync_api import Page
from playwright.sync_api import expect
from sqlalchemy import select

from labelhive.accounts.services import create_user
from labelhive.consensus.models import AnnotatorExclusion
from labelhive.consensus.models import Consensus
from labelhive.extensions import db
from labelhive.projects.services import create_project
from labelhive.results import services as consensus
from labelhive.tasks.models import Task
from tests.browser.test_labeling_page import ARTIFACTS
from tests.browser.test_labeling_page import images  # noqa: F401 (a fixture)
from tests.browser.test_labeling_page import page  # noqa: F401 (a fixture)
from tests.browser.test_labeling_page import site  # noqa: F401 (a fixture)
from tests.browser.test_review_page import DOCS_IMG
from tests.browser.test_review_page import PASSWORD
from tests.browser.test_review_page import sign_in
from tests.common import engine

# answers of (spam, ann1); spam answers "cat" to everything
ITEMS = {"first": ("cat", "dog"), "second": ("cat", "bird"), "third": ("cat", "cat")}


def seed(app, image_base: str) -> dict[str, int]:  # noqa: ANN001
    with app.app_context():
        owner = create_user("owner", email="owner@example.org", password=PASSWORD)
        annotators = [
            create_user("spam", email="spam@example.org"),
            create_user("ann1", email="ann1@example.org"),
        ]
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
            name: Task(project_id=project.id, info={"url": f"{image_base}/img{i}.png"}, n_answers=2)
            for i, name in enumerate(ITEMS)
        }
        db.session.add_all(tasks.values())
        db.session.commit()
        ids = {name: task.id for name, task in tasks.items()}
        for name, labels in ITEMS.items():
            for user, label in zip(annotators, labels, strict=True):
                engine.submit(db.engine, ids[name], user.id, label, project_id=project.id)
        consensus.recompute(project.id)
        db.session.remove()
    return ids


def stored(app) -> tuple[dict[int, str | None], list[int]]:  # noqa: ANN001
    with app.app_context():
        labels = dict(db.session.execute(select(Consensus.task_id, Consensus.label)).all())
        excluded = list(db.session.scalars(select(AnnotatorExclusion.user_id)))
        db.session.remove()
    return labels, excluded


def preview_label(tab: Page, task_id: int) -> object:
    # the dataset preview's row of the item: its label cell (the second column)
    return tab.locator(f"#dataset-preview tbody tr:has(th:text-is('{task_id}')) td").first


def recomputed(tab: Page) -> None:
    """Wait until the page shows no running recomputation (results.js reloads it at the end)."""
    tab.wait_for_load_state()
    expect(tab.locator("#recompute-status")).to_have_count(0, timeout=30_000)
    tab.wait_for_load_state()


def test_exclude_a_spammer_then_include_again(site, images, page):  # noqa: F811
    base, app = site
    ids = seed(app, images)
    before, _ = stored(app)
    # one-to-one ties go to the first option in sorted order: cat twice, and bird
    assert [before[ids[n]] for n in ITEMS] == ["cat", "bird", "cat"]

    sign_in(page, base, "owner")
    page.goto(f"{base}/project/animals/results")
    expect(preview_label(page, ids["first"])).to_have_text("cat")
    page.get_by_role("button", name="Exclude spam from consensus").click()
    expect(page.locator(".flashes")).to_contain_text("spam's answers are left out of consensus")
    # the page follows the recomputation and reloads when it ends: the annotators it measured
    # are ann1 alone, and the labels are the new ones
    recomputed(page)
    expect(page.locator("#annotator-table tbody tr")).to_have_count(1)
    expect(page.locator("#annotator-table tbody")).to_contain_text("ann1")
    expect(preview_label(page, ids["first"])).to_have_text("dog")
    excluded = page.locator("#excluded-table tbody tr")
    expect(excluded).to_have_count(1)
    expect(excluded).to_contain_text("spam")
    expect(excluded).to_contain_text("owner")
    after, who = stored(app)
    assert [after[ids[n]] for n in ITEMS] == ["dog", "bird", "cat"]
    assert len(who) == 1
    expect(page.locator("#answers-per-hour rect")).not_to_have_count(0)
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / "annotator-exclusion.png"), full_page=True)

    page.get_by_role("button", name="Include spam in consensus again").click()
    expect(page.locator(".flashes")).to_contain_text("Their answers count again")
    recomputed(page)
    expect(page.locator("#annotator-table tbody tr")).to_have_count(2)
    expect(preview_label(page, ids["first"])).to_have_text("cat")
    expect(page.locator("#excluded-table")).to_have_count(0)
    again, who = stored(app)
    assert again == before and who == []
