"""The owner's task presenter is served only as a frame of the site (issue 22).

``/presenter/<project>/frame`` refuses a top-level navigation (``Sec-Fetch-Dest: document``)
with a sentence, serves an iframe load, may be framed by the site only
(``frame-ancestors 'self'``), and its images come from the site itself (``'self'``, which
covers the ``/s3/`` proxy), not from anywhere on ``https:``. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from labelhive.extensions import db
from labelhive.projects.models import Project
from tests.common.web import make_project
from tests.common.web import make_user
from tests.common.web import sign_in
from tests.conftest import make_app

FRAME = "/presenter/pets/frame"


@pytest.fixture
def client(any_url: str):  # noqa: ANN201
    app = make_app(any_url, RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=False)
    with app.app_context():
        project = make_project(make_user("owner"), n_tasks=1)
        db.session.execute(
            db.update(Project)
            .where(Project.id == project.id)
            .values(use_task_presenter=True, info={"task_presenter": "<p id=owner>hi</p>"})
        )
        db.session.commit()
        make_user("annie")
        client = app.test_client()
        sign_in(client, "annie")
        yield client
        db.session.remove()
        db.engine.dispose()


def _directives(csp: str) -> dict[str, list[str]]:
    parts = (d.split() for d in csp.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


@pytest.mark.parametrize("dest", ["document", "embed", "object", "empty"])
def test_the_frame_refuses_anything_but_an_iframe(client, dest: str) -> None:  # noqa: ANN001
    refused = client.get(FRAME, headers={"Sec-Fetch-Dest": dest, "Sec-Fetch-Mode": "navigate"})
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "only inside its project's labeling page" in text
    assert "id=owner" not in text


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Dest": "iframe"}, {}])
def test_an_iframe_load_gets_the_presenter_with_a_tight_csp(client, headers) -> None:  # noqa: ANN001
    served = client.get(FRAME, headers=headers)
    assert served.status_code == 200
    assert "<p id=owner>hi</p>" in served.get_data(as_text=True)
    csp = _directives(served.headers["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["media-src"] == ["'self'", "data:"]
    assert csp["sandbox"] == ["allow-scripts"]
    assert csp["connect-src"] == ["'none'"]
