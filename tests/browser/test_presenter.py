"""A custom task presenter in headless Chromium: sandboxed, and still able to save answers.

The owner's presenter below is hostile: before saving, it tries to read the annotator's
cookies and storage, to reach the parent page, and to call the API with the annotator's
session. It reports what each attempt got in the answer it saves through ``pybossa.saveTask``,
so the stored answer proves both that the legitimate path works and that every probe failed.
A cookie readable by script (not HttpOnly) is planted for the site first: the page itself can
read it, the presenter cannot.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from labelhive.accounts import services as accounts
from labelhive.answers.models import Answer
from labelhive.extensions import db
from labelhive.projects import services as projects
from labelhive.tasks.models import Task
from tests.browser.test_labeling_page import CHROMIUM
from tests.browser.test_labeling_page import CHROMIUM_ARGS
from tests.browser.test_labeling_page import serve
from tests.conftest import make_app

PRESENTER = """
<h2 id="question">Is this a cat?</h2>
<p id="shown"></p>
<script>
function attempt(probe) {
  try { return String(probe()); } catch (e) { return "blocked: " + e.name; }
}
var report = {
  cookie: attempt(function () { return document.cookie; }),
  storage: attempt(function () { return window.localStorage.getItem("secret"); }),
  parent: attempt(function () { return window.parent.document.title; }),
  top_cookie: attempt(function () { return window.top.document.cookie; }),
  origin: String(window.origin)
};
function tryFetch(path, options) {
  try {
    return fetch(path, options).then(
      function (r) { return r.status; },
      function (e) { return "blocked: " + e.name; });
  } catch (e) { return Promise.resolve("blocked: " + e.name); }
}
pybossa.taskLoaded(function (task, deferred) { deferred.resolve(task); });
pybossa.presentTask(function (task, deferred) {
  if (!task.id) { document.getElementById("shown").textContent = "done"; return; }
  document.getElementById("shown").textContent = task.info.caption;
  Promise.all([
    tryFetch("/api/project", { credentials: "include" }),
    tryFetch("/api/taskrun", { method: "POST", credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ project_id: task.project_id, task_id: task.id, info: "stolen" }) })
  ]).then(function (statuses) {
    report.fetch_get = String(statuses[0]);
    report.fetch_post = String(statuses[1]);
    report.caption = task.info.caption;
    report.url = task.info.url;
    pybossa.saveTask(task.id, report).done(function () { deferred.resolve(); });
  });
});
pybossa.run("presented");
</script>
"""


@pytest.fixture
def site(sqlite_url: str) -> Iterator[tuple[str, object]]:
    app = make_app(sqlite_url)  # CSRF on, as deployed
    with app.app_context():
        owner = accounts.create_user("owner", password="a long password", email="o@example.org")
        project = projects.create_project(
            owner,
            {
                "name": "Presented",
                "short_name": "presented",
                "info": {"question": "Cat?", "task_presenter": PRESENTER},
                "published": True,
                "default_n_answers": 1,
                "use_task_presenter": True,
            },
        )
        db.session.add(
            Task(
                project_id=project.id,
                info={"url": "https://img.example/cat.png", "caption": "a tabby"},
                n_answers=1,
                state="ongoing",
                n_done=0,
                n_reserved=0,
            )
        )
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    for base in serve(server):
        yield base, app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def test_presenter_is_sandboxed_and_saves(site, page):
    base, app = site
    page.goto(f"{base}/account/signin")
    page.get_by_label("User name or e-mail").fill("owner")
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    # a cookie script may read, and a stored secret: the site's own page can see both
    page.context.add_cookies([{"name": "readable", "value": "by-script", "url": base}])
    page.evaluate("localStorage.setItem('secret', 'annotator-data')")
    assert "readable=by-script" in page.evaluate("document.cookie")
    session = [c for c in page.context.cookies() if c["name"] == "session"]
    assert session and session[0]["httpOnly"] is True

    response = page.goto(f"{base}/project/presented/label")
    assert response is not None and response.ok
    iframe = page.locator("iframe#presenter")
    assert iframe.get_attribute("sandbox") == "allow-scripts"
    page.wait_for_selector("#finished:not([hidden])")

    with app.app_context():
        answers = db.session.scalars(db.select(Answer)).all()
        db.session.remove()
    # exactly the presenter's saveTask answer: its forged POST did not add one
    assert len(answers) == 1
    report = answers[0].info
    assert report["caption"] == "a tabby"
    assert report["url"] == "https://img.example/cat.png"
    assert report["origin"] == "null"
    for probe in ("cookie", "storage", "parent", "top_cookie", "fetch_get", "fetch_post"):
        assert report[probe].startswith("blocked"), (probe, report[probe])


def test_frame_headers(site):
    base, app = site
    import requests

    with requests.Session() as browser:
        signin = browser.get(f"{base}/account/signin", timeout=5)
        token = signin.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        browser.post(
            f"{base}/account/signin",
            data={"login": "owner", "password": "a long password", "csrf_token": token},
            timeout=5,
        )
        frame = browser.get(f"{base}/presenter/presented/frame", timeout=5)
    assert frame.status_code == 200
    policy = frame.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox allow-scripts;")
    assert "allow-same-origin" not in policy
    assert "connect-src 'none'" in policy
    assert "Set-Cookie" not in frame.headers
    assert "pybossa.run" in frame.text
    # anonymous callers get no presenter
    anonymous = requests.get(f"{base}/presenter/presented/frame", timeout=5, allow_redirects=False)
    assert anonymous.status_code in (302, 401, 404)
