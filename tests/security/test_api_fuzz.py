"""Schemathesis against ``labelhive serve`` (gunicorn): every documented operation, fuzzed.

The server runs on a seeded SQLite database, then on a seeded PostgreSQL one (an admin, an
owner, a contributor, two projects with tasks, answers and a result). Path ids are narrowed to
the seeded range so that most cases reach real objects rather than 404s. Each case is called
with the owner's or the admin's API key and must answer without a 5xx, with a documented
status, content type and body. The OpenAPI document itself must describe every rule of the
``api`` blueprint.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance

from labelhive.accounts.services import create_user
from labelhive.answers.models import Answer
from labelhive.api import openapi
from labelhive.api import openapi_exclusions  # noqa: F401  (adds its paths)
from labelhive.api import openapi_resources  # noqa: F401  (adds its paths)
from labelhive.api import openapi_review  # noqa: F401  (adds its paths)
from labelhive.extensions import db
from labelhive.projects.services import create_project
from labelhive.tasks.models import Task
from tests.common.processes import LabelhiveServer
from tests.conftest import make_app

# bounded: about 50 operations x this many examples (the whole module takes about a minute)
MAX_EXAMPLES = 20
SEEDED_IDS = 6

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def seed(url: str) -> dict[str, str]:
    """Users, projects, tasks, answers and a result; return the callers' API keys."""
    app = make_app(url)
    with app.app_context():
        admin = create_user("admin", email="admin@example.org")
        owner = create_user("owner", email="owner@example.org")
        helper = create_user("helper", email="helper@example.org")
        db.session.commit()
        for name, published in (("pets", True), ("draft", False)):
            project = create_project(
                owner,
                {
                    "name": name.title(),
                    "short_name": name,
                    "info": {"question": "Which?", "answers": ["cat", "dog"]},
                    "default_n_answers": 1,
                    "published": published,
                },
            )
            db.session.flush()
            for i in range(3):
                db.session.add(
                    Task(
                        project_id=project.id, info={"url": f"https://x.test/{i}.png"}, n_answers=2
                    )
                )
        db.session.commit()
        for task_id in (1, 2):
            db.session.add(Answer(task_id=task_id, project_id=1, user_id=helper.id, info="cat"))
        db.session.commit()
        keys = {"admin": admin.api_key, "owner": owner.api_key, "helper": helper.api_key}
        db.engine.dispose()
    return keys


class Live:
    def __init__(self, server: LabelhiveServer, keys: dict[str, str]) -> None:
        self.server = server
        self.keys = keys
        self.cases = 0
        self.statuses: dict[int, int] = {}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The server on SQLite, then on PostgreSQL: hostile values fail differently on each
    (PostgreSQL's integer columns are 32-bit, its text refuses NUL, psycopg refuses lone
    surrogates)."""
    path: Path = tmp_path_factory.mktemp("fuzz") / "labelhive.db"
    if request.param == "sqlite":
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_server").create_database(f"fuzz_{os.getpid()}")
    keys = seed(url)
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "fuzz-secret",
        "RATELIMIT_ENABLED": "0",
        "EXPORT_DIR": str(path.parent / "exports"),
    }
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REDIS")}, **env}
    server = LabelhiveServer(env, workers=1, threads=4)
    server.start()
    live = Live(server, keys)
    try:
        yield live
    finally:
        server.stop()
        print(
            f"\nschemathesis on {request.param}: {live.cases} cases,"
            f" statuses {sorted(live.statuses.items())}"
        )


def _narrow_ids(document: dict[str, Any]) -> dict[str, Any]:
    """Path ids in the seeded range (1..SEEDED_IDS), so that cases reach real objects."""
    document = copy.deepcopy(document)
    for parameter in document["components"]["parameters"].values():
        if parameter["in"] == "path":
            parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": SEEDED_IDS}
    for item in document["paths"].values():
        for op in item.values():
            for parameter in op.get("parameters", []):
                if parameter.get("in") == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": SEEDED_IDS}
    return document


@pytest.fixture(scope="module")
def api_schema(live: Live) -> Any:
    document = requests.get(live.server.url + "/api/openapi.json", timeout=10).json()
    document = _narrow_ids(document)
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=live.server.url + "/api")
    return schema


def _operations() -> list[tuple[str, str]]:
    # the same document the server serves, built in-process at collection time
    paths = openapi.document()["paths"]
    return [(path, method) for path, item in sorted(paths.items()) for method in sorted(item)]


@pytest.mark.parametrize(("path", "method"), _operations())
def test_api_conforms(api_schema: Any, live: Live, path: str, method: str) -> None:
    operation = api_schema[path][method.upper()]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        # no shrinking: a failure shows the case that found it, and time stays bounded
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        live.cases += 1
        # alternate between an owner (the common caller) and the admin (every branch open)
        who = "admin" if live.cases % 3 == 0 else "owner"
        headers = {"Authorization": live.keys[who]}
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        live.statuses[response.status_code] = live.statuses.get(response.status_code, 0) + 1

    run()


def test_api_keys_never_reach_the_server_log(live: Live) -> None:
    """gunicorn's access log and the app's log, after the fuzzing and calls with the key in
    the query string (PYBOSSA clients' way), in errors and in a failed sign-in."""
    key = live.keys["owner"]
    base = live.server.url
    requests.get(base + "/api/project", params={"api_key": key}, timeout=10)
    requests.get(base + "/api/nothing", params={"api_key": key}, timeout=10)
    requests.post(base + "/api/taskrun", params={"api_key": key}, data=b"{", timeout=10)
    requests.post(base + "/account/signin", data={"login": key, "password": key}, timeout=10)
    log = live.server.log.read_text(errors="replace")
    assert "/api/project" in log  # the access log is written (and read here)
    for secret in live.keys.values():
        assert secret not in log
