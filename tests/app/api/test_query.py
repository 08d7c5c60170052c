"""The pure parts: list arguments, body key checks, API key extraction."""

from __future__ import annotations

import pytest

from labelhive.api import errors
from labelhive.api.auth import presented_keys
from labelhive.api.payload import check_keys
from labelhive.api.payload import parse_json_object
from labelhive.api.query import Filter
from labelhive.api.query import QueryError
from labelhive.api.query import fuzzy_bool
from labelhive.api.query import parse_list_args

KINDS = {
    "id": "int",
    "project_id": "int",
    "state": "str",
    "info": "json",
    "created": "datetime",
    "priority_0": "float",
    "published": "bool",
}


def parse(**args: str):  # noqa: ANN201
    return parse_list_args(args.items(), KINDS, "Task")


def test_defaults():
    args = parse()
    assert (args.limit, args.offset, args.last_id, args.orderby, args.desc) == (
        20,
        0,
        None,
        "id",
        False,
    )
    assert args.filters == () and not args.all and not args.stats


@pytest.mark.parametrize(
    ("given", "limit"), [("5", 5), ("100", 100), ("300", 100), ("x", 20), ("-3", 0)]
)
def test_limit_is_capped_and_lenient(given, limit):
    assert parse(limit=given).limit == limit


def test_last_id_forces_ascending_id_and_ignores_offset():
    args = parse(last_id="40", offset="10", orderby="priority_0", desc="true")
    assert (args.last_id, args.offset, args.orderby, args.desc) == (40, 0, "id", False)


def test_orderby_and_desc():
    args = parse(orderby="priority_0", desc="yes", offset="7")
    assert (args.orderby, args.desc, args.offset) == ("priority_0", True, 7)
    assert parse(orderby="fav_user_ids").orderby == "id"


@pytest.mark.parametrize(
    ("args", "cls", "message"),
    [
        ({"orderby": "nope"}, "AttributeError", "type object 'Task' has no attribute 'nope'"),
        ({"foo": "1"}, "AttributeError", "type object 'Task' has no attribute 'foo'"),
        ({"desc": "maybe"}, "ValueError", "maybe"),
        ({"id": "abc"}, "ValueError", "id must be a whole number"),
        ({"last_id": "x"}, "ValueError", "last_id"),
        ({"priority_0": "high"}, "ValueError", "priority_0 must be a number"),
        ({"info": "no-separator"}, "ValueError", "key::value"),
    ],
)
def test_invalid_arguments(args, cls, message):
    with pytest.raises(QueryError) as caught:
        parse(**args)
    assert caught.value.cls == cls
    assert message in str(caught.value)


def test_filters():
    args = parse(
        project_id="1, 2;x33", id="5", state="ongoing", info="a::1|b::x", created="2026-11-28T04"
    )
    assert set(args.filters) == {
        Filter("project_id", "in", (1, 2, 33)),
        Filter("id", "eq", 5),
        Filter("state", "eq", "ongoing"),
        Filter("info", "keys", (("a", "1"), ("b", "x"))),
        Filter("created", "prefix", "2026-11-28 04"),
    }
    assert parse(published="off").filters == (Filter("published", "eq", False),)


def test_reserved_arguments_are_not_filters():
    args = parse(api_key="k", _="123", related="1", callback="cb", stats="1", external_uid="u")
    assert args.filters == ()
    assert args.stats


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", False), ("0", False)])
def test_only_all_1_leaves_the_owner_context(value, expected):
    assert parse(all=value).all is expected


@pytest.mark.parametrize("value", ["true", "YES", "on", "y", "1"])
def test_fuzzy_true(value):
    assert fuzzy_bool(value) is True


@pytest.mark.parametrize("value", ["false", "No", "off", "n", "0"])
def test_fuzzy_false(value):
    assert fuzzy_bool(value) is False


def test_fuzzy_invalid():
    with pytest.raises(ValueError, match="maybe"):
        fuzzy_bool("maybe")


def check(body, **kw):  # noqa: ANN001, ANN003, ANN201
    return check_keys(body, model_name="Task", reserved=("id", "state"), writable=("info",), **kw)


def test_check_keys_sorts_the_body():
    body = {"info": {"a": 1}, "link": "x", "links": [], "project_id": 3, "stats": {}}
    values = check(body, read_only={"project_id": lambda: 3}, ignored=("stats",))
    assert values == {"info": {"a": 1}}


def test_check_keys_refusals():
    with pytest.raises(errors.ApiError) as caught:
        check({"state": "x", "id": 1})
    assert (caught.value.status, caught.value.message) == (
        400,
        "Reserved keys in payload: id, state",
    )
    with pytest.raises(errors.ApiError) as caught:
        check({"foo": 1})
    assert (caught.value.status, caught.value.cls) == (415, "TypeError")
    assert caught.value.message == "'foo' is an invalid keyword argument for Task"
    with pytest.raises(errors.ApiError) as caught:
        check({"project_id": 4}, read_only={"project_id": lambda: 3})
    assert caught.value.status == 400 and "project_id is read-only" in caught.value.message


@pytest.mark.parametrize(("data", "cls"), [(b"{nope", "ValueError"), (b"[1]", "TypeError")])
def test_parse_json_object_refusals(data, cls):
    with pytest.raises(errors.ApiError) as caught:
        parse_json_object(data)
    assert (caught.value.status, caught.value.cls) == (415, cls)


def test_presented_keys():
    assert presented_keys(None, None) == []
    assert presented_keys(None, "p") == ["p"]
    assert presented_keys("h", "p") == ["h"]
    assert presented_keys("Bearer abc", "p") == ["Bearer abc", "abc"]
    assert presented_keys("  ", "p") == ["p"]
