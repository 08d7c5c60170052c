"""The labeling page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

A real LabelHive (werkzeug, threaded, SQLite file, CSRF on) and a tiny image server run in this
process on free loopback ports. The test signs up the first user, creates a project, imports a
CSV of images, labels ten images with the keyboard only (skipping one, undoing one), checks the
database holds exactly what was typed, and checks that hostile text in the question, an answer
option and a task's info is shown as text. It saves screenshots and the keypress-to-next-image
times under ``test-artifacts/`` (figures only: tests never assert timings).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from labelhive.accounts.models import User
from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.projects.models import Project
from tests.conftest import make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
N_IMAGES = 12
# each payload would set window.__xss and open a dialog if it ever ran
QUESTION = 'Which <script>window.__xss="q";alert(1)</script> animal? <img src=x onerror="alert(2)">'
EVIL_OPTION = "<img src=x onerror=\"window.__xss='o';alert(3)\">bird"
EVIL_INFO = '<script>window.__xss="i";alert(4)</script><img src=x onerror="alert(5)">'


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def serve(server) -> Iterator[str]:  # noqa: ANN001
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def images() -> Iterator[str]:
    pictures = {
        f"/img{i}.png": png(480, 360, ((i * 53) % 256, (i * 97) % 256, (i * 151) % 256))
        for i in range(N_IMAGES)
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = pictures.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body or b"")))
            self.send_header("Cache-Control", "max-age=3600")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    yield from serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


@pytest.fixture
def site(sqlite_url: str) -> Iterator[tuple[str, object]]:
    app = make_app(sqlite_url)  # CSRF on, as deployed
    server = make_server("127.0.0.1", 0, app, threaded=True)
    for base in serve(server):
        yield base, app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def stored_answers(app) -> dict[int, str]:  # noqa: ANN001
    with app.app_context():
        rows = db.session.execute(db.select(Answer.task_id, Answer.info)).all()
        db.session.remove()
    return dict(rows)


def wait_idle(page: Page) -> int:
    # predicates are arrow functions: a bare expression is eval'ed in the page, which the
    # site's Content-Security-Policy (no 'unsafe-eval') refuses
    page.wait_for_function("() => window.labelhive && window.labelhive.idle()")
    return page.evaluate("window.labelhive.currentId()")


def press_and_wait_for_next(page: Page, key: str) -> int:
    """Press a key on an idle page; return the id of the task now on screen."""
    before = page.evaluate("window.labelhive.swaps.length")
    page.keyboard.press(key)
    page.wait_for_function(f"() => window.labelhive.swaps.length > {before}")
    return wait_idle(page)


def test_label_with_the_keyboard(site, images, page):
    base, app = site
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # the first account becomes admin
    page.goto(f"{base}/account/signup")
    page.get_by_label("User name").fill("owner")
    page.get_by_label("E-mail").fill("owner@example.org")
    page.get_by_label("Password", exact=True).fill("a long password")
    page.get_by_label("Repeat password").fill("a long password")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/project/new")
    page.get_by_label("Name", exact=True).fill("Animals")
    page.get_by_label("Short name (used in URLs)").fill("animals")
    page.get_by_label("Question").fill(QUESTION)
    page.get_by_label("Answer options, one per line").fill(f"cat\ndog\n{EVIL_OPTION}")
    page.get_by_label("Redundancy (answers per task)").fill("2")
    page.get_by_label("Instructions (Markdown)").fill("Look **closely**. <script>alert(6)</script>")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(f"{base}/project/animals/import")

    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["url", "caption"])
    writer.writerow([f"{images}/img0.png", EVIL_INFO])
    writer.writerows([f"{images}/img{i}.png", f"picture {i}"] for i in range(1, N_IMAGES))
    page.get_by_label("CSV, JSON or JSONL file").set_input_files(
        {"name": "images.csv", "mimeType": "text/csv", "buffer": table.getvalue().encode()}
    )
    page.get_by_role("button", name="Preview").click()
    assert f"{N_IMAGES} tasks will be imported" in page.inner_text("#import-total")
    page.get_by_role("button", name=f"Import {N_IMAGES} tasks").click()
    # a background job: its page polls the status (static/job.js) and shows the result
    page.wait_for_url(f"{base}/project/animals/jobs/import-*")
    assert page.get_attribute("#job", "data-status-url") or page.is_visible("#job-result")
    page.wait_for_selector("#job-result")
    assert f"Imported {N_IMAGES} tasks" in page.inner_text("#job-result")
    page.get_by_role("link", name="See the project's progress").click()
    page.wait_for_url(f"{base}/project/animals/progress")
    page.goto(f"{base}/project/animals/settings")
    page.get_by_role("button", name="Publish").click()

    page.goto(f"{base}/project/animals/label")
    first = wait_idle(page)
    # hostile text is on the page as text, and none of it ran
    assert page.inner_text("#question") == QUESTION
    assert EVIL_OPTION in page.inner_text(".answers")
    assert EVIL_INFO in page.inner_text("#task-info")
    assert "<script>alert(6)</script>" in page.text_content(".instructions")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "labeling-page.png"), full_page=True)

    options = {"1": "cat", "2": "dog", "3": EVIL_OPTION}
    typed: dict[int, str] = {}
    current = first
    answer_swaps: list[float] = []
    last = current  # the task answered last: the one "u" brings back
    keys = iter("1231s231u2312")
    for key in keys:
        if key == "s":
            current = press_and_wait_for_next(page, "s")
            continue
        if key == "u":
            undone = last
            page.keyboard.press("u")
            page.wait_for_function(f"() => window.labelhive.currentId() === {undone}")
            current = wait_idle(page)
            del typed[undone]
            assert stored_answers(app) == typed
            continue
        last = current
        typed[current] = options[key]
        current = press_and_wait_for_next(page, key)
        answer_swaps.append(page.evaluate("window.labelhive.swaps.at(-1).ms"))
    assert len(typed) == 10
    assert stored_answers(app) == typed

    # the rest of the project, then the "finished" message
    while not page.evaluate("document.getElementById('label-page').dataset.finished === 'true'"):
        typed[current] = "cat"
        page.keyboard.press("1")
        page.wait_for_function(
            f"() => window.labelhive.currentId() !== {current} || "
            "document.getElementById('label-page').dataset.finished === 'true'"
        )
        current = wait_idle(page)
    assert page.get_by_text("All done!").is_visible()
    assert len(typed) == N_IMAGES
    assert stored_answers(app) == typed

    assert dialogs == []
    assert page.evaluate("window.__xss") is None

    # the eleven answer keypresses that labeled the ten images (one answer was undone and given
    # again); skip and undo swaps are not counted: undo waits for the server by design
    assert len(answer_swaps) == 11
    median = statistics.median(answer_swaps)
    (ARTIFACTS / "labeling-timings.json").write_text(
        json.dumps({"keypress_to_next_image_ms": answer_swaps, "median_ms": median}, indent=2)
    )
    print(f"\nkeypress -> next image visible: median {median:.1f} ms over {len(answer_swaps)}")

    with app.app_context():
        owner = db.session.scalar(db.select(User).where(User.name == "owner"))
        project = db.session.scalar(db.select(Project).where(Project.short_name == "animals"))
        assert owner.admin and project.published
        db.session.remove()


def test_labeling_page_at_phone_width(site, images, page):
    base, app = site
    with app.app_context():
        from tests.common.web import make_project
        from tests.common.web import make_user

        owner = make_user("owner")
        project = make_project(owner, short_name="phone", n_tasks=0)
        from labelhive.tasks.models import Task

        for i in range(3):
            db.session.add(Task(project_id=project.id, info={"url": f"{images}/img{i}.png"}))
        db.session.commit()
        db.session.remove()
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{base}/account/signin")
    page.get_by_label("User name or e-mail").fill("owner")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/project/phone/label")
    wait_idle(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.get_by_role("button", name="1 cat").is_visible()
    page.get_by_role("button", name="2 dog").click()
    page.wait_for_function("() => window.labelhive.swaps.length === 1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "labeling-page-phone.png"), full_page=True)
