"""The first-hour pages in headless Chromium: no request for a missing icon, styled error
pages, the new-project form (advanced options folded, the short name derived while typing),
the home card's state and bar, Publish and Archive on the overview, the task list's delete
(with a confirmation) and its narrow-screen layout, the profile and the API key's copy button.

A real LabelHive (werkzeug, threaded, CSRF on) runs in this process on SQLite and on
PostgreSQL (``any_url``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from labelhive.extensions import db
from labelhive.projects.models import Project
from labelhive.tasks.models import Task
from tests.browser.test_labeling_page import CHROMIUM
from tests.browser.test_labeling_page import CHROMIUM_ARGS
from tests.browser.test_labeling_page import serve
from tests.conftest import make_app


@pytest.fixture
def site(any_url: str) -> Iterator[tuple[str, object]]:
    app = make_app(any_url)  # CSRF on, as deployed
    server = make_server("127.0.0.1", 0, app, threaded=True)
    for base in serve(server):
        yield base, app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def browser_page() -> Iterator[tuple[Page, list[tuple[int, str]]]]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        page = context.new_page()
        failures: list[tuple[int, str]] = []
        page.on("response", lambda r: r.status >= 400 and failures.append((r.status, r.url)))
        yield page, failures
        browser.close()


def test_first_hour_pages(site, browser_page) -> None:  # noqa: ANN001
    base, app = site
    page, failures = browser_page
    page.goto(f"{base}/account/signup")
    page.get_by_label("User name").fill("olive")
    page.get_by_label("E-mail").fill("olive@example.org")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_label("Repeat password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/")

    # the new-project form: advanced options folded, the short name follows the name
    page.goto(f"{base}/project/new")
    assert not page.locator("#advanced").evaluate("d => d.open")
    assert not page.get_by_label("Gold rate", exact=False).is_visible()
    page.get_by_label("Name", exact=True).type("Cats & Dogs")
    assert page.locator("#short_name").input_value() == "cats-dogs"
    page.get_by_label("Question").fill("Which animal?")
    page.get_by_label("Answer options, one per line").fill("cat\ndog")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/project/cats-dogs/import")
    assert page.locator("#import-s3").count() == 0  # no S3 configured here
    with app.app_context():
        project = db.session.scalar(db.select(Project))
        db.session.add_all(
            [
                Task(project_id=project.id, info={"url": f"https://x.test/{i}.png"}, n_answers=3)
                for i in range(3)
            ]
        )
        db.session.commit()

    # the home card: a Draft badge and an empty bar
    page.goto(f"{base}/")
    card = page.locator('li.card[data-project="cats-dogs"]')
    assert card.locator(".badge").inner_text() == "Draft"
    assert "0 answers of 9 collected (0%)" in card.inner_text()

    # the overview: Publish, then Archive after a confirmation
    page.goto(f"{base}/project/cats-dogs/")
    page.locator("#publish").click()
    page.wait_for_url(f"{base}/project/cats-dogs/")
    assert page.locator(".page-head .badge").inner_text() == "Published"
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#archive").click()
    page.wait_for_load_state()
    assert page.locator(".page-head .badge").inner_text() == "Archived"

    # the task list: a refused confirmation keeps the task, an accepted one deletes it
    page.goto(f"{base}/project/cats-dogs/tasks")
    assert "3 tasks" in page.inner_text("#task-total")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete task").first.click()
    assert page.locator("#task-table tbody tr").count() == 3
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete task").first.click()
    page.wait_for_load_state()
    assert "2 tasks" in page.inner_text("#task-total")
    # on a phone the table scrolls in its own box: the page itself never scrolls sideways
    page.set_viewport_size({"width": 400, "height": 800})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = page.locator(".table-wrap").evaluate("e => e.scrollWidth > e.clientWidth")
    assert box, "the table is wider than the screen, so its box scrolls"
    page.set_viewport_size({"width": 1100, "height": 900})

    # error pages in the site's layout, with a way back
    page.goto(f"{base}/project/cats-dogs/no-such-page")
    assert page.locator("h1").inner_text() == "Page not found"
    page.locator("#error-home").click()
    page.wait_for_url(f"{base}/")

    # the profile, then a new API key and its copy button
    page.goto(f"{base}/account/profile")
    page.get_by_label("Full name").fill("Olive Oyl")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/account/")
    assert "Olive Oyl" in page.inner_text("main")
    page.get_by_role("button", name="Make a new API key").click()
    key = page.locator("#api-key").input_value()
    page.locator("#copy-api-key").click()
    page.wait_for_function("document.getElementById('copy-status').textContent !== ''")
    assert page.evaluate("navigator.clipboard.readText()") == key

    # no page asked for something missing (favicon.ico included), except the 404 above
    assert [f for f in failures if "no-such-page" not in f[1]] == []
