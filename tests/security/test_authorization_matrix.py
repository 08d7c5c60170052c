"""Who may call what: every route of the URL map (web and API) x five roles, exact statuses.

Roles: ``anon`` (no session, no key), ``annotator`` (signed in, answered a task of project A),
``owner`` (owns A), ``other`` (owns project B, a stranger to A), ``admin``. Web routes are
called with the role's session cookie, API routes with its API key. Writes act on a fresh
throwaway project of A's owner (with tasks, an answer, a result, a helping material, a job),
so one role's allowed delete does not change what the next role sees.

Every response must also carry the security headers (CSP with ``frame-ancestors``,
``nosniff``, ``Referrer-Policy``, ``X-Frame-Options``).

The URL map is enumerated: a route (endpoint and method) without a row in :data:`MATRIX`
fails :func:`test_every_route_has_an_expectation`, so no new route escapes the matrix.
"""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from labelhive import starters
from labelhive.accounts.models import User
from labelhive.accounts.models import hash_api_key
from labelhive.accounts.services import create_user
from labelhive.accounts.services import regenerate_api_key
from labelhive.consensus.models import Result
from labelhive.extensions import db
from labelhive.helping import services as helping
from labelhive.jobs.models import JobRecord
from labelhive.projects.models import Project
from labelhive.projects.services import create_project
from labelhive.review import services as review
from labelhive.tasks.models import Task
from tests.common import engine
from tests.conftest import make_app

ROLES = ("anon", "annotator", "owner", "other", "admin")
_counter = itertools.count()


@dataclass
class Target:
    """The objects of one project that URLs point at."""

    project: int
    short_name: str
    task_open: int  # not answered by the annotator, room left
    task_done: int  # answered by the annotator (complete: it has a result)
    answer: int
    result: int
    material: int
    material_file: str
    job: str
    category: int


class World:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.users: dict[str, User] = {}
        self.ids: dict[str, int] = {}
        self.users["admin"] = create_user("admin", email="admin@example.org")
        for name in ("annotator", "owner", "other", "victim"):
            self.users[name] = create_user(name, email=f"{name}@example.org")
        db.session.commit()
        self.ids = {name: user.id for name, user in self.users.items()}
        self.keys = {name: user.api_key for name, user in self.users.items()}
        self.a = self.target("alpha")
        self.b = self.project(self.users["other"], "beta").id
        db.session.commit()

    def project(self, owner: User, short_name: str, published: bool = True) -> Project:
        project = create_project(
            owner,
            {
                "name": short_name.title(),
                "short_name": short_name,
                "info": {"question": "Which?", "answers": ["cat", "dog"]},
                "default_n_answers": 1,
                "published": published,
            },
        )
        db.session.flush()
        return project

    def target(self, short_name: str | None = None) -> Target:
        """A project of ``owner`` with everything a URL may name."""
        short_name = short_name or f"t{next(_counter)}"
        owner = db.session.get(User, self.ids["owner"])
        project = self.project(owner, short_name)
        tasks = [
            Task(project_id=project.id, info={"url": "https://x.test/a.png"}, n_answers=n)
            for n in (1, 3)
        ]
        db.session.add_all(tasks)
        material = helping.save_upload(
            project.id, "help.txt", io.BytesIO(b"help"), size=None, limit=100
        )
        stored = material.file_name
        material.media_url = f"/helping/{project.id}/{stored}"
        category = helping.create_category(
            {"name": f"Cat {short_name}", "short_name": f"cat-{short_name}"}
        )
        job = starters.start_export(project, owner, "tasks", "csv")
        review.grant(project, "victim", owner.id)  # a reviewer for the revoke rows
        db.session.commit()
        submitted = engine.submit(
            db.engine, tasks[0].id, self.ids["annotator"], "cat", project_id=project.id
        )
        # a new snapshot: reading tasks[0].id above began one before the engine's commit
        db.session.rollback()
        result_id = db.session.scalar(db.select(Result.id).where(Result.task_id == tasks[0].id))
        _wait_for_job(job.id)
        return Target(
            project=project.id,
            short_name=short_name,
            task_open=tasks[1].id,
            task_done=tasks[0].id,
            answer=submitted.answer["id"],
            result=result_id,
            material=material.id,
            material_file=stored,
            job=job.id,
            category=category.id,
        )

    def key(self, role: str) -> str:
        # /account/api-key replaces the caller's key, and only its hash is stored: a key that
        # no longer matches is replaced by a new known one
        with self.app.app_context():
            user = db.session.get(User, self.ids[role])
            if user.api_key_hash != hash_api_key(self.keys[role]):
                self.keys[role] = regenerate_api_key(user)
                db.session.commit()
            return self.keys[role]

    def fresh_target(self) -> Target:
        with self.app.app_context():
            # in-process jobs (consensus, exports) write to SQLite: let them finish first
            _settle_jobs()
            return self.target()

    def client(self, role: str) -> FlaskClient:
        client = self.app.test_client()
        if role != "anon":
            with client.session_transaction() as session:
                # id:session_version: signing out everywhere or a new key moves it on
                with self.app.app_context():
                    session["_user_id"] = db.session.get(User, self.ids[role]).get_id()
                session["_fresh"] = True
        return client


def _settle_jobs() -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.rollback()
        busy = db.session.scalar(
            db.select(db.func.count())
            .select_from(JobRecord)
            .where(JobRecord.status.in_(("queued", "running")))
        )
        db.session.rollback()
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError("background jobs did not finish")


def _wait_for_job(job_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # end the transaction each time: SQLite's writer lock must go to the job's thread
        db.session.rollback()
        record = db.session.get(JobRecord, job_id)
        status, error = record.status, record.error
        db.session.rollback()
        if status in ("finished", "failed"):
            assert status == "finished", error
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


@dataclass(frozen=True)
class Call:
    """One request: ``url`` formats with the target's fields; ``fresh`` means a write that
    gets a new target for each role; ``json``/``form`` are the body."""

    url: str
    fresh: bool = False
    json: Any = None
    form: dict[str, Any] | None = None


# (endpoint, method) -> the call and the status for (anon, annotator, owner, other, admin)
MATRIX: dict[tuple[str, str], tuple[Call, tuple[int, int, int, int, int]]] = {}


def row(endpoint: str, method: str, call: Call, *statuses: int) -> None:
    assert len(statuses) == len(ROLES)
    MATRIX[(endpoint, method)] = (call, statuses)


def _body(call: Call, target: Target, world: World) -> tuple[Any, Any]:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**vars(target), victim=world.ids["victim"])
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return fill(call.json), fill(call.form)


def request(world: World, role: str, endpoint: str, method: str) -> int:
    call, _ = MATRIX[(endpoint, method)]
    target = world.fresh_target() if call.fresh else world.a
    url = call.url.format(**vars(target), victim=world.ids["victim"], b=world.b)
    json_body, form = _body(call, target, world)
    client = world.client(role)
    headers = {}
    if url.startswith("/api/") and role != "anon":
        headers["Authorization"] = world.key(role)
        client = world.app.test_client()  # the key alone authenticates
    response = client.open(url, method=method, json=json_body, data=form, headers=headers)
    status = response.status_code
    # every response of every route, whoever asks, carries the security headers
    policy = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors" in policy, (url, role)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", (url, role)
    assert response.headers.get("Referrer-Policy"), (url, role)
    assert response.headers.get("X-Frame-Options"), (url, role)
    if status == 302 and "/account/signin" in response.headers.get("Location", ""):
        return 0  # 0: sent to the sign-in page
    return status


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path = tmp_path_factory.mktemp("matrix")
    app = make_app(
        f"sqlite:///{path / 'labelhive.db'}",
        WTF_CSRF_ENABLED=False,
        RATELIMIT_ENABLED=False,
        EXPORT_DIR=str(path / "exports"),
    )
    # no app context stays pushed: each request gets its own (its own g, user and session)
    with app.app_context():
        world = World(app)
    yield world
    with app.app_context():
        db.engine.dispose()


# 0 = redirected to sign in. Keep rows grouped as the URL map is.
P = "/project/{short_name}"
A = "/api/project/{project}"
# --- site, accounts and admin
row("projects.index", "GET", Call("/"), 0, 200, 200, 200, 200)
row("static", "GET", Call("/static/labelhive.css"), 200, 200, 200, 200, 200)
row("health.healthz", "GET", Call("/healthz"), 200, 200, 200, 200, 200)
row("health.readyz", "GET", Call("/readyz"), 200, 200, 200, 200, 200)
row("health.metrics_view", "GET", Call("/metrics"), 200, 200, 200, 200, 200)
row("accounts.signin", "GET", Call("/account/signin"), 200, 200, 200, 200, 200)
row("accounts.signin", "POST", Call("/account/signin", form={}), 200, 200, 200, 200, 200)
# sign-in through an identity provider: not configured in this world, so not there for anyone
row("identity.oidc_start", "GET", Call("/account/signin/oidc"), 404, 404, 404, 404, 404)
row("identity.oidc_callback", "GET", Call("/account/signin/oidc/callback"), 404, 404, 404, 404, 404)
row("identity.ldap_signin", "GET", Call("/account/signin/ldap"), 404, 404, 404, 404, 404)
row("identity.ldap_signin", "POST", Call("/account/signin/ldap", form={}), 404, 404, 404, 404, 404)
row("accounts.signup", "GET", Call("/account/signup"), 200, 302, 302, 302, 302)
row("accounts.signup", "POST", Call("/account/signup", form={}), 200, 302, 302, 302, 302)
row("accounts.signout", "POST", Call("/account/signout", form={}), 0, 0, 0, 0, 0)
row("accounts.account", "GET", Call("/account/"), 0, 200, 200, 200, 200)
# the new key is shown once, in the response (issue 22)
row("accounts.regenerate_api_key", "POST", Call("/account/api-key", form={}), 0, 200, 200, 200, 200)
row("accounts.change_password", "GET", Call("/account/password"), 0, 200, 200, 200, 200)
row("accounts.change_password", "POST", Call("/account/password", form={}), 0, 200, 200, 200, 200)
row(
    "accounts.signout_everywhere",
    "POST",
    Call("/account/signout-everywhere", form={}),
    0,
    0,
    0,
    0,
    0,
)
row("accounts.verify", "GET", Call("/account/verify/forged"), 0, 0, 0, 0, 0)
row("accounts.verify", "POST", Call("/account/verify/forged", form={}), 0, 0, 0, 0, 0)
row(
    "accounts.approve",
    "POST",
    Call("/admin/users/{victim}/approve", form={}),
    0,
    403,
    403,
    403,
    302,
)
row("accounts.users", "GET", Call("/admin/users"), 0, 403, 403, 403, 200)
row(
    "accounts.set_password",
    "POST",
    Call("/admin/users/{victim}/password", form={}),
    0,
    403,
    403,
    403,
    302,
)
row("accounts.profile", "GET", Call("/account/profile"), 0, 200, 200, 200, 200)
row("accounts.profile", "POST", Call("/account/profile", form={}), 0, 200, 200, 200, 200)
row("favicon", "GET", Call("/favicon.ico"), 200, 200, 200, 200, 200)
row("accounts.new_user", "POST", Call("/admin/users/new", form={}), 0, 403, 403, 403, 302)
row(
    "accounts.user_flags",
    "POST",
    Call("/admin/users/{victim}", form={"enabled": "y"}),
    0,
    403,
    403,
    403,
    302,
)
row("accounts.deployment_settings", "GET", Call("/admin/settings"), 0, 403, 403, 403, 200)
row("accounts.deployment_settings", "POST", Call("/admin/settings", form={}), 0, 403, 403, 403, 200)
# --- projects (web)
row("projects.new", "GET", Call("/project/new"), 0, 200, 200, 200, 200)
row("projects.new", "POST", Call("/project/new", form={}), 0, 200, 200, 200, 200)
row("projects.detail", "GET", Call(P + "/"), 0, 200, 200, 200, 200)
row("projects.progress", "GET", Call(P + "/progress"), 0, 403, 200, 403, 200)
row("projects.settings", "GET", Call(P + "/settings"), 0, 403, 200, 403, 200)
row("projects.settings", "POST", Call(P + "/settings", fresh=True, form={}), 0, 403, 200, 403, 200)
row("projects.publish", "POST", Call(P + "/publish", fresh=True, form={}), 0, 403, 302, 403, 302)
row(
    "projects.redundancy",
    "POST",
    Call(P + "/redundancy", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
# project lifecycle and the owner's task list (first-hour UI)
row("projects.archive", "POST", Call(P + "/archive", fresh=True, form={}), 0, 403, 302, 403, 302)
row("projects.delete", "GET", Call(P + "/delete"), 0, 403, 200, 403, 200)
# the target has a result: the owner is refused (400), the admin must type the short name
row("projects.delete", "POST", Call(P + "/delete", fresh=True, form={}), 0, 403, 400, 403, 400)
row("projects.tasks", "GET", Call(P + "/tasks"), 0, 403, 200, 403, 200)
row(
    "projects.task_update",
    "POST",
    Call(P + "/tasks/{task_open}", fresh=True, form={}),
    0,
    403,
    303,
    403,
    303,
)
row(
    "projects.task_delete",
    "POST",
    Call(P + "/tasks/{task_open}/delete", fresh=True, form={}),
    0,
    403,
    303,
    403,
    303,
)
row("projects.importer", "GET", Call(P + "/import"), 0, 403, 200, 403, 200)
row("projects.importer", "POST", Call(P + "/import", fresh=True, form={}), 0, 403, 200, 403, 200)
row(
    "projects.import_confirm",
    "POST",
    Call(P + "/import/confirm", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
row(
    "projects.import_cancel",
    "POST",
    Call(P + "/import/cancel", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
row(
    "projects.import_s3", "POST", Call(P + "/import/s3", fresh=True, form={}), 0, 403, 400, 403, 400
)
# --- labeling (web) and the presenter frame
row("tasks.label", "GET", Call(P + "/label"), 0, 200, 200, 200, 200)
row("tasks.state", "POST", Call(P + "/label/state", fresh=True, json={}), 401, 200, 200, 200, 200)
row(
    "tasks.answer",
    "POST",
    Call(P + "/label/answer", fresh=True, json={"task_id": "{task_open}", "answer": "dog"}),
    401,
    400,
    400,
    400,
    400,
)
row(
    "tasks.skip",
    "POST",
    Call(P + "/label/skip", fresh=True, json={"task_id": 0}),
    401,
    200,
    200,
    200,
    200,
)
row(
    "tasks.heartbeat",
    "POST",
    Call(P + "/label/heartbeat", fresh=True, json={}),
    401,
    200,
    200,
    200,
    200,
)
row("tasks.undo", "POST", Call(P + "/label/undo", fresh=True, json={}), 401, 400, 400, 400, 400)
row("presenter.frame", "GET", Call("/presenter/{short_name}/frame"), 0, 404, 404, 404, 404)
# --- results, downloads, gold, jobs (web)
row("results.index", "GET", Call(P + "/results"), 0, 403, 200, 403, 200)
row(
    "results.recompute",
    "POST",
    Call(P + "/results/recompute", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
row(
    "results.export_job",
    "POST",
    Call(P + "/results/export", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
row("results.download", "GET", Call(P + "/download/answers.csv"), 0, 403, 200, 403, 200)
row("results.dataset_download", "GET", Call(P + "/dataset.csv"), 0, 403, 200, 403, 200)
row(
    "results.imagefolder_job",
    "POST",
    Call(P + "/dataset/imagefolder", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
# excluding an annotator from consensus: victim has no answers (refused with a flash) and is
# not excluded (nothing to include): the owner's answer is the redirect back either way
row(
    "results.exclude_annotator",
    "POST",
    Call(P + "/annotators/{victim}/exclude", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
row(
    "results.include_annotator",
    "POST",
    Call(P + "/annotators/{victim}/include", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
row("results.gold_tasks", "GET", Call(P + "/gold"), 0, 403, 200, 403, 200)
row("results.save_gold", "POST", Call(P + "/gold", fresh=True, form={}), 0, 403, 302, 403, 302)
# problem reports: any annotator reports a task they hold (none held here: refused as such);
# only the project's managers read the list
row("reports.index", "GET", Call(P + "/reports"), 0, 403, 200, 403, 200)
# review (labelhive.review): the queue is the reviewers' and managers', the rest the managers'
row("review.queue", "GET", Call(P + "/review"), 0, 403, 200, 403, 200)
row("review.items", "GET", Call(P + "/items"), 0, 403, 200, 403, 200)
row(
    "review.grant",
    "POST",
    Call(P + "/reviewers", fresh=True, form={"name": "victim"}),
    0,
    403,
    302,
    403,
    302,
)
row(
    "review.revoke",
    "POST",
    Call(P + "/reviewers/{victim}/remove", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
row(
    "reports.report",
    "POST",
    Call(P + "/label/report", fresh=True, json={}),
    401,
    400,
    400,
    400,
    400,
)
row(
    "results.set_gold",
    "POST",
    Call(P + "/gold/{task_open}", fresh=True, form={}),
    0,
    403,
    302,
    403,
    302,
)
row("jobs.detail", "GET", Call(P + "/jobs/{job}"), 0, 403, 200, 403, 200)
row("jobs.status", "GET", Call(P + "/jobs/{job}/status"), 0, 403, 200, 403, 200)
row("jobs.download", "GET", Call(P + "/jobs/{job}/download"), 0, 403, 200, 403, 200)
row(
    "helping.material_file",
    "GET",
    Call("/helping/{project}/{material_file}"),
    404,
    200,
    200,
    200,
    200,
)
# --- the REST API (PYBOSSA's resources)
row("api.openapi_json", "GET", Call("/api/openapi.json"), 200, 200, 200, 200, 200)
row("api.unknown_route", "GET", Call("/api/nothing-here"), 404, 404, 404, 404, 404)
row("api.unknown_route", "POST", Call("/api/nothing-here", json={}), 404, 404, 404, 404, 404)
row("api.unknown_route", "PUT", Call("/api/project", json={}), 405, 405, 405, 405, 405)
row("api.unknown_route", "DELETE", Call("/api/task", json={}), 405, 405, 405, 405, 405)
row("api.unknown_route", "PATCH", Call("/api/task/{task_open}", json={}), 405, 405, 405, 405, 405)
row("api.project_list", "GET", Call("/api/project"), 200, 200, 200, 200, 200)
row(
    "api.project_create",
    "POST",
    Call(
        "/api/project",
        fresh=True,
        json={
            "name": "N {short_name}",
            "short_name": "n{short_name}",
            "info": {"answers": ["a", "b"]},
        },
    ),
    401,
    200,
    200,
    200,
    200,
)
row("api.project_get", "GET", Call(A), 200, 200, 200, 200, 200)
row(
    "api.project_update",
    "PUT",
    Call(A, fresh=True, json={"description": "d"}),
    401,
    403,
    200,
    403,
    200,
)
# the project has results: only an admin may delete it
row("api.project_delete", "DELETE", Call(A, fresh=True), 401, 403, 403, 403, 204)
row("api.project_stats", "GET", Call(A + "/stats"), 401, 200, 200, 200, 200)
row("api.project_export", "GET", Call(A + "/export/answers.csv"), 401, 403, 200, 403, 200)
row(
    "api.project_export_job",
    "POST",
    Call(A + "/export", fresh=True, json={"what": "tasks", "format": "csv"}),
    401,
    403,
    202,
    403,
    202,
)
row(
    "api.project_import",
    "POST",
    Call(A + "/import", fresh=True, json={"tasks": [{"url": "https://x.test/b.png"}]}),
    401,
    403,
    202,
    403,
    202,
)
row("api.project_jobs", "GET", Call(A + "/jobs"), 401, 403, 200, 403, 200)
row("api.job_status", "GET", Call("/api/job/{job}"), 401, 403, 200, 403, 200)
row("api.job_download", "GET", Call("/api/job/{job}/download"), 401, 403, 200, 403, 200)
row("api.admin_schema", "GET", Call("/api/admin/schema"), 401, 403, 403, 403, 200)
row("api.consensus_list", "GET", Call(A + "/consensus"), 401, 403, 200, 403, 200)
row("api.consensus_start", "POST", Call(A + "/consensus", fresh=True), 401, 403, 202, 403, 202)
row("api.annotator_list", "GET", Call(A + "/annotators"), 401, 403, 200, 403, 200)
row("api.dataset_download", "GET", Call(A + "/dataset.csv"), 401, 403, 200, 403, 200)
row("api.review_queue", "GET", Call(A + "/review"), 401, 403, 200, 403, 200)
row(
    "api.review_decide",
    "POST",
    Call(A + "/review/{task_done}", fresh=True, json={"send_back": True}),
    401,
    403,
    200,
    403,
    200,
)
row("api.item_provenance", "GET", Call(A + "/item/{task_done}"), 401, 403, 200, 403, 200)
row("api.item_list", "GET", Call(A + "/items"), 401, 403, 200, 403, 200)
row("api.reviewer_list", "GET", Call(A + "/reviewers"), 401, 403, 200, 403, 200)
row(
    "api.reviewer_grant",
    "POST",
    Call(A + "/reviewers", fresh=True, json={"name": "victim"}),
    401,
    403,
    201,
    403,
    201,
)
row(
    "api.reviewer_revoke",
    "DELETE",
    Call(A + "/reviewers/{victim}", fresh=True),
    401,
    403,
    204,
    403,
    204,
)
row("api.exclusion_list", "GET", Call(A + "/exclusions"), 401, 403, 200, 403, 200)
row(
    "api.exclusion_add",
    "POST",
    Call(A + "/exclusions", fresh=True, json={"name": "annotator"}),
    401,
    403,
    201,
    403,
    201,
)
# victim is not excluded: the managers learn so (404), the others may not ask (401, 403)
row(
    "api.exclusion_remove",
    "DELETE",
    Call(A + "/exclusions/{victim}", fresh=True),
    401,
    403,
    404,
    403,
    404,
)
row(
    "api.imagefolder_start",
    "POST",
    Call(A + "/dataset/imagefolder", fresh=True, json={}),
    401,
    403,
    400,
    403,
    400,
)
row(
    "api.new_task",
    "GET",
    Call("/api/project/{short_name}/newtask", fresh=True),
    401,
    200,
    200,
    200,
    200,
)
row(
    "api.user_progress",
    "GET",
    Call("/api/project/{short_name}/userprogress"),
    401,
    200,
    200,
    200,
    200,
)
row("api.task_list", "GET", Call("/api/task?all=1"), 401, 200, 200, 200, 200)
row(
    "api.task_create",
    "POST",
    Call(
        "/api/task",
        fresh=True,
        json={"project_id": "{project}", "info": {"url": "https://x.test/c.png"}},
    ),
    401,
    403,
    200,
    403,
    200,
)
row("api.task_get", "GET", Call("/api/task/{task_open}"), 401, 403, 200, 403, 200)
row(
    "api.task_update",
    "PUT",
    Call("/api/task/{task_open}", fresh=True, json={"priority_0": 1}),
    401,
    403,
    200,
    403,
    200,
)
row("api.task_delete", "DELETE", Call("/api/task/{task_open}", fresh=True), 401, 403, 204, 403, 204)
row(
    "api.lease_renew",
    "POST",
    Call("/api/task/{task_open}/lease/renew", fresh=True),
    401,
    404,
    404,
    404,
    404,
)
row(
    "api.lease_release",
    "DELETE",
    Call("/api/task/{task_open}/lease", fresh=True),
    401,
    204,
    204,
    204,
    204,
)
row("api.taskrun_list", "GET", Call("/api/taskrun?all=1"), 401, 200, 200, 200, 200)
row(
    "api.taskrun_create",
    "POST",
    Call("/api/taskrun", fresh=True, json={"task_id": "{task_open}", "info": "dog"}),
    401,
    200,
    200,
    200,
    200,
)
row("api.taskrun_get", "GET", Call("/api/taskrun/{answer}"), 401, 200, 200, 403, 200)
# the answer's task is complete: nobody may change or delete it any more
row(
    "api.taskrun_update",
    "PUT",
    Call("/api/taskrun/{answer}", fresh=True, json={"info": "dog"}),
    401,
    403,
    403,
    403,
    403,
)
row(
    "api.taskrun_delete",
    "DELETE",
    Call("/api/taskrun/{answer}", fresh=True),
    401,
    403,
    403,
    403,
    403,
)
row("api.result_list", "GET", Call("/api/result?all=1"), 401, 200, 200, 200, 200)
row("api.result_create", "POST", Call("/api/result", fresh=True, json={}), 401, 403, 403, 403, 403)
row("api.result_get", "GET", Call("/api/result/{result}"), 401, 403, 200, 403, 200)
row(
    "api.result_update",
    "PUT",
    Call("/api/result/{result}", fresh=True, json={"info": {"a": 1}}),
    401,
    403,
    200,
    403,
    200,
)
row(
    "api.result_delete", "DELETE", Call("/api/result/{result}", fresh=True), 401, 403, 403, 403, 403
)
row("api.user_list", "GET", Call("/api/user"), 401, 200, 200, 200, 200)
row("api.user_get", "GET", Call("/api/user/{victim}"), 401, 200, 200, 200, 200)
row(
    "api.user_update",
    "PUT",
    Call("/api/user/{victim}", json={"fullname": "V"}),
    401,
    403,
    403,
    403,
    200,
)
row("api.category_list", "GET", Call("/api/category"), 200, 200, 200, 200, 200)
row("api.category_get", "GET", Call("/api/category/{category}"), 200, 200, 200, 200, 200)
row(
    "api.category_create",
    "POST",
    Call(
        "/api/category", fresh=True, json={"name": "C {short_name}", "short_name": "c{short_name}"}
    ),
    401,
    403,
    403,
    403,
    200,
)
row(
    "api.category_update",
    "PUT",
    Call("/api/category/{category}", fresh=True, json={"description": "d"}),
    401,
    403,
    403,
    403,
    200,
)
row(
    "api.category_delete",
    "DELETE",
    Call("/api/category/{category}", fresh=True),
    401,
    403,
    403,
    403,
    204,
)
row("api.helping_list", "GET", Call("/api/helpingmaterial?all=1"), 401, 200, 200, 200, 200)
row(
    "api.helping_create",
    "POST",
    Call("/api/helpingmaterial", fresh=True, json={"project_id": "{project}", "info": {}}),
    401,
    403,
    200,
    403,
    200,
)
row("api.helping_get", "GET", Call("/api/helpingmaterial/{material}"), 401, 200, 200, 200, 200)
row(
    "api.helping_update",
    "PUT",
    Call("/api/helpingmaterial/{material}", fresh=True, json={"priority": 1}),
    401,
    403,
    200,
    403,
    200,
)
row(
    "api.helping_delete",
    "DELETE",
    Call("/api/helpingmaterial/{material}", fresh=True),
    401,
    403,
    204,
    403,
    204,
)


def _routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_has_an_expectation(world: World) -> None:
    routes = _routes(world.app)
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes with no row in the authorization matrix: {missing}"
    assert not sorted(set(MATRIX) - routes), "rows for routes that no longer exist"


@pytest.mark.parametrize(("endpoint", "method"), sorted(MATRIX))
def test_authorization(world: World, endpoint: str, method: str) -> None:
    _, expected = MATRIX[(endpoint, method)]
    got = tuple(request(world, role, endpoint, method) for role in ROLES)
    assert got == expected, dict(zip(ROLES, got, strict=True))
