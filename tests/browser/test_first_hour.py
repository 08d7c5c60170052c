"""The labeling page's and the results page's first-hour details, in headless Chromium.

Reuses the real site (werkzeug, SQLite file, CSRF on), image server and browser of
``test_labeling_page``. The labeling test walks one annotator through instructions, a broken
image (reported), several levels of undo, undo after "All done" and after a reload, and the
overview's "Nothing left for you"; the results test checks the page's order, the confusion
matrix's room, the recompute that refreshes the page itself, the one-button gold page and the
dataset preview's headers. Both write the README's screenshots into ``docs/img/``.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.jobs.models import FINISHED
from labelhive.jobs.models import JobRecord
from labelhive.reports.models import TaskReport
from labelhive.results import services as consensus
from labelhive.tasks.models import Task
from tests.browser import test_labeling_page as labeling_test
from tests.browser.test_labeling_page import wait_idle
from tests.common.web import PASSWORD
from tests.common.web import make_project
from tests.common.web import make_user

# the labeling page test's fixtures: the site, its image server, Chromium
site = labeling_test.site
images = labeling_test.images
page = labeling_test.page

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
FINISHED_JS = "() => document.getElementById('label-page').dataset.finished === 'true'"


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/account/signin")
    page.get_by_label("User name or e-mail").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def stored(app) -> dict[int, str]:  # noqa: ANN001
    with app.app_context():
        rows = dict(db.session.execute(db.select(Answer.task_id, Answer.info)).all())
        db.session.remove()
    return rows


def press(page: Page, key: str) -> int:
    """Press an answer key on an idle page; wait for the next task or "All done"."""
    current = page.evaluate("window.labelhive.currentId()")
    page.keyboard.press(key)
    page.wait_for_function(f"() => window.labelhive.currentId() !== {current} || ({FINISHED_JS})()")
    return wait_idle(page)


def undo(page: Page) -> int:
    depth = page.evaluate("window.labelhive.undoDepth()")
    page.keyboard.press("u")
    page.wait_for_function(
        f"() => window.labelhive.undoDepth() < {depth} && "
        "document.getElementById('label-page').dataset.busy === 'false'"
    )
    return wait_idle(page)


def test_labeling_page_instructions_broken_image_undo_and_nothing_left(site, images, page):
    base, app = site
    with app.app_context():
        owner = make_user("owner")
        make_user("annie")
        project = make_project(owner, short_name="shapes", answers=("cat", "dog", "none of these"))
        project.info = {**project.info, "instructions": "Look **closely** at the animal."}
        urls = [f"{images}/img{i}.png" for i in (3, 4, 5)]
        urls.insert(1, f"{images}/missing.png")
        for url in urls:
            # imported from an image_url column: the importer keeps it next to url
            info = {"url": url, "image_url": url, "caption": url.rsplit("/", 1)[1]}
            db.session.add(Task(project_id=project.id, info=info, n_answers=2))
        db.session.commit()
        ids = list(db.session.scalars(db.select(Task.id).order_by(Task.id)))
        db.session.remove()
    first, broken, third, fourth = ids
    sign_in(page, base, "annie")

    # first visit: the instructions are open, and no raw image URL is on the page
    page.goto(f"{base}/project/shapes/label")
    assert wait_idle(page) == first
    assert page.get_attribute("#instructions", "open") is not None
    assert "http" not in page.inner_text("#task-info")
    assert page.inner_text("#task-info") == "caption\nimg3.png"
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / "labeling-page.png"))
    # closed once, closed on the next visit
    page.click("#instructions summary")
    # the details' toggle event is dispatched after the click returns: wait for it to be kept
    page.wait_for_function(
        "() => localStorage.getItem('labelhive.instructions.closed.'"
        " + document.getElementById('label-page').dataset.project) === '1'"
    )
    page.reload()
    wait_idle(page)
    assert page.get_attribute("#instructions", "open") is None

    # the broken image: said so, not answerable, reported, then skipped
    assert press(page, "1") == broken
    page.wait_for_function(
        "() => document.getElementById('label-page').dataset.imageFailed === 'true'"
    )
    assert page.get_by_text("Image failed to load").is_visible()
    assert page.get_by_role("button", name="1 cat").is_disabled()
    labeling_test.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(labeling_test.ARTIFACTS / "labeling-image-failed.png"))
    page.keyboard.press("2")  # ignored: nothing is sent for a task that cannot be answered
    page.get_by_role("button", name="Report a problem").click()
    page.wait_for_function(f"() => window.labelhive.currentId() === {third}")
    wait_idle(page)
    assert page.get_by_text("Image failed to load").is_hidden()
    assert stored(app) == {first: "cat"}
    with app.app_context():
        reports = db.session.execute(db.select(TaskReport.task_id, TaskReport.problem)).all()
        db.session.remove()
    assert reports == [(broken, "Image failed to load")]
    # counts in words, through the page scripts' plural helper: "1 answer", not "1 answers"
    page.wait_for_function(
        "() => document.getElementById('progress').textContent.startsWith('You: 1 answer · ')"
    )

    press(page, "2")
    press(page, "3")
    page.wait_for_function(FINISHED_JS)  # the broken task does not come back to her
    assert stored(app) == {first: "cat", third: "dog", fourth: "none of these"}

    # "u" after "All done", then a second level
    assert undo(page) == fourth
    assert undo(page) == third
    assert stored(app) == {first: "cat"}
    press(page, "1")
    press(page, "2")
    page.wait_for_function(FINISHED_JS)
    assert stored(app) == {first: "cat", third: "cat", fourth: "dog"}
    # after a reload too: the page is given the answers it may take back
    page.reload()
    page.wait_for_function(FINISHED_JS)
    assert undo(page) == fourth
    assert stored(app) == {first: "cat", third: "cat"}
    press(page, "1")
    page.wait_for_function(FINISHED_JS)

    # the overview: nothing left for her, and her own progress as a bar
    page.goto(f"{base}/project/shapes/")
    assert page.get_by_role("heading", name="Nothing left for you").is_visible()
    assert page.get_by_role("link", name="Start labeling").count() == 0
    page.screenshot(path=str(labeling_test.ARTIFACTS / "overview-nothing-left.png"))
    assert page.get_attribute("#answers-progress", "value") == "3"
    assert page.get_attribute("#answers-progress", "max") == "4"

    # the owner: answers received of answers needed (4 tasks x 2), not completed tasks (0)
    page.context.clear_cookies()
    sign_in(page, base, "owner")
    page.goto(f"{base}/project/shapes/")
    assert page.get_attribute("#answers-progress", "value") == "3"
    assert page.get_attribute("#answers-progress", "max") == "8"
    assert "3 of 8 answers needed (37%) · 0 of 4 tasks done" in page.inner_text("#progress-text")
    assert page.get_by_role("link", name="Start labeling").is_visible()
    # the Progress page's bar is the same figure
    page.goto(f"{base}/project/shapes/progress")
    assert page.get_attribute("#answers-progress", "value") == "3"
    assert page.get_attribute("#answers-progress", "max") == "8"
    page.goto(f"{base}/project/shapes/")
    page.get_by_role("link", name="Reports").click()
    assert page.inner_text("#reports tbody th") == str(broken)
    assert "annie" in page.inner_text("#reports")


def add_answers(project_id: int, task_ids: list[int], users: list[int], votes: list[str]) -> None:
    """Answers written as the engine stores them, for a project that is only read here."""
    for task_id, vote in zip(task_ids, votes, strict=True):
        for n, user_id in enumerate(users):
            # the last annotator disagrees on every other task
            info = "cat" if n == len(users) - 1 and task_id % 2 else vote
            db.session.add(
                Answer(project_id=project_id, task_id=task_id, user_id=user_id, info=info)
            )
        task = db.session.get(Task, task_id)
        task.n_done, task.state = len(users), "completed"


def test_results_page_recompute_refreshes_itself_and_gold_saves_at_once(site, page):
    base, app = site
    options = ("cat", "dog", "none of these")
    with app.app_context():
        owner = make_user("owner")
        users = [owner.id] + [make_user(f"a{i}").id for i in range(2)]
        project = make_project(owner, short_name="pets", n_tasks=6, n_answers=3, answers=options)
        task_ids = list(db.session.scalars(db.select(Task.id).order_by(Task.id)))
        add_answers(project.id, task_ids, users, ["cat", "dog", "none of these"] * 2)
        # a recomputation in the queue: the page polls its status
        job = JobRecord(
            id="consensus-browser-test",
            kind="consensus",
            func="labelhive.results.jobs.refresh_consensus",
            args=[],
            queue="default",
            project_id=project.id,
        )
        db.session.add(job)
        db.session.commit()
        project_id = project.id
        db.session.remove()
    sign_in(page, base, "owner")
    page.goto(f"{base}/project/pets/results")
    assert page.get_by_text("Consensus has not been computed yet").is_visible()
    assert page.get_by_role("button", name="Recompute consensus now").is_disabled()
    assert page.get_by_role("status").filter(has_text="Recomputing").is_visible()

    # the job ends: the page shows the results by itself
    with app.app_context():
        consensus.recompute(project_id)
        db.session.get(JobRecord, "consensus-browser-test").status = FINISHED
        db.session.commit()
        db.session.remove()
    matrix = page.locator("svg[aria-label='Confusion matrix of answers against consensus']")
    matrix.wait_for()

    # charts first, export forms after them
    order = page.evaluate(
        """() => ["#consensus", "#dataset-preview", "#downloads", "#export-jobs"].map(
            s => document.querySelector(s).getBoundingClientRect().top)"""
    )
    assert order == sorted(order)
    # the rotated column labels fit in the matrix: none is cut at its right edge
    overflow = page.evaluate(
        """() => {
            const svg = document.querySelector("svg[aria-label^='Confusion matrix']");
            const right = svg.getBoundingClientRect().right;
            return [...svg.querySelectorAll("text[transform]")].map(
                t => t.getBoundingClientRect().right - right);
        }"""
    )
    assert len(overflow) == 3 and max(overflow) <= 0
    # the dataset preview: "Votes" over the option names, the file's column name in the title
    headers = page.locator("#dataset-preview thead tr").nth(1).locator("th")
    assert headers.all_inner_texts() == list(options)
    assert (
        headers.nth(2).get_attribute("title")
        == "column votes_none of these in the CSV and Parquet files"
    )
    assert "votes_" not in page.inner_text("#dataset-preview")
    page.screenshot(path=str(DOCS_IMG / "results-page.png"), full_page=True)

    # the button: a real recomputation, and the page again updates itself
    page.get_by_role("button", name="Recompute consensus now").click()
    page.get_by_text("this page shows the new results when done").wait_for()
    page.get_by_role("button", name="Recompute consensus now").wait_for(state="visible")
    page.wait_for_function("() => !document.getElementById('recompute').dataset.statusUrl")
    assert matrix.is_visible()

    # the gold page: several rows changed, one Save
    page.goto(f"{base}/project/pets/gold")
    assert page.get_by_role("button", name="Save").count() == 1
    page.select_option(f"#gold-{task_ids[0]}", "dog")
    page.select_option(f"#gold-{task_ids[2]}", "none of these")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved: 2 tasks changed.").wait_for()
    with app.app_context():
        gold = dict(db.session.execute(db.select(Task.id, Task.gold_answer)).all())
        db.session.remove()
    assert gold[task_ids[0]] == "dog" and gold[task_ids[2]] == "none of these"
    assert [gold[t] for t in task_ids[3:]] == [None] * 3 and gold[task_ids[1]] is None
