"""Sorting and filtering are oracles: a list may be sorted or filtered only on what the caller
may read on every row it returns.

The attack this refuses: another owner's published project keeps a secret in a private
``info`` key; the caller creates projects of their own with guesses in the same key and sorts
``?all=1&orderby=info``: where the secret lands among the guesses spells it out, one character
at a time (234 requests for a 20-character secret). Both databases: the JSON column sorts on
each.
"""

from __future__ import annotations

import pytest

from labelhive.api import query
from tests.app.api.conftest import Api
from tests.app.api.conftest import envelope


def _setup_secret(api: Api) -> None:
    api.project(api.owner, "vault", info={"answers": ["a", "b"], "secret": "m-secret"})
    for guess in ("a", "z"):
        api.project(api.other, f"guess{guess}", info={"answers": ["a", "b"], "secret": guess})


def test_sorting_projects_on_info_is_refused_for_everyone(any_api: Api) -> None:
    _setup_secret(any_api)
    for who in (any_api.other, any_api.contributor, None, any_api.admin, any_api.owner):
        response = any_api.get("/api/project", who, all="1", orderby="info")
        body = envelope(response, 400, "BadRequest", "project")
        assert body["exception_msg"] == (
            "orderby=info is refused: info is a JSON object, which has no order."
        )
    # the rows the caller was after are still listed on a readable column, without the secret
    rows = any_api.ok(any_api.get("/api/project", any_api.other, all="1", orderby="name"))
    assert [r["short_name"] for r in rows] == ["guessa", "guessz", "vault"]
    assert "secret" not in rows[2]["info"]


@pytest.mark.parametrize("resource", ["task", "taskrun", "result", "category", "helpingmaterial"])
def test_no_json_column_sorts(any_api: Api, resource: str) -> None:
    response = any_api.get(f"/api/{resource}", any_api.admin, all="1", orderby="info", desc="1")
    assert envelope(response, 400, "BadRequest", resource)["exception_msg"].startswith(
        "orderby=info is refused"
    )


def test_the_private_info_filter_stays_refused(any_api: Api) -> None:
    _setup_secret(any_api)
    response = any_api.get("/api/project", any_api.other, all="1", info="secret::m-secret")
    assert response.status_code == 403
    # public keys may be filtered on
    rows = any_api.ok(any_api.get("/api/project", any_api.other, all="1", info="answers::x"))
    assert rows == []


@pytest.mark.parametrize(
    ("args", "column"),
    [
        ({"orderby": "fullname"}, "fullname"),
        ({"orderby": "created", "desc": "1"}, "created"),
        ({"fullname": "Owner Smith"}, "fullname"),
        ({"created": "20"}, "created"),
    ],
)
def test_other_users_private_fields_are_neither_sorted_nor_filtered(
    any_api: Api, args: dict[str, str], column: str
) -> None:
    for who in (any_api.contributor, any_api.owner):
        body = envelope(any_api.get("/api/user", who, **args), 400, "BadRequest", "user")
        assert column in body["exception_msg"] and "refused" in body["exception_msg"]
    # an admin reads every field of every user: allowed
    assert any_api.get("/api/user", any_api.admin, **args).status_code == 200


def test_users_sort_and_filter_on_public_fields(any_api: Api) -> None:
    rows = any_api.ok(any_api.get("/api/user", any_api.contributor, orderby="name", desc="1"))
    assert [r["name"] for r in rows] == ["owner", "other", "contributor", "admin"]
    rows = any_api.ok(any_api.get("/api/user", any_api.contributor, name="other"))
    assert [r["name"] for r in rows] == ["other"]


def test_owners_sort_their_own_rows_on_any_plain_column(any_api: Api) -> None:
    project = any_api.project(any_api.owner, "pets")
    for priority in (0.2, 0.9, 0.5):
        any_api.task(any_api.owner, project["id"], priority_0=priority)
    rows = any_api.ok(any_api.get("/api/task", any_api.owner, orderby="priority_0", desc="1"))
    assert [r["priority_0"] for r in rows] == [0.9, 0.5, 0.2]


def test_refused_column_is_pure() -> None:
    kinds = {"id": "int", "name": "str", "fullname": "str", "info": "json"}
    parse = lambda **kw: query.parse_list_args(kw.items(), kinds, "User")  # noqa: E731
    readable = {"id", "name", "info"}
    assert query.refused_column(parse(orderby="name"), kinds, readable) is None
    assert query.refused_column(parse(info="k::v"), kinds, readable) is None
    assert "JSON" in query.refused_column(parse(orderby="info"), kinds, kinds)
    assert "fullname" in query.refused_column(parse(orderby="fullname"), kinds, readable)
    assert "fullname" in query.refused_column(parse(fullname="x"), kinds, readable)
