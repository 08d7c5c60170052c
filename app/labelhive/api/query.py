"""Parsing of list query arguments (PYBOSSA's ``_filter_query``), with no I/O.

``GET /api/<resource>?limit=&offset=&last_id=&orderby=&desc=&all=&<column>=<value>`` becomes
a :class:`ListArgs`; the services module turns it into SQL. Column kinds (``int``, ``float``,
``bool``, ``str``, ``datetime``, ``json``) come from the caller, so this module needs no model.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# the largest id (and integer filter value) a database column holds: PostgreSQL's integer is
# 32-bit signed; larger numbers fail in the database (a 500) instead of simply matching nothing
MAX_INT = 2**31 - 1

# arguments that are not column filters; those LabelHive does not act on are accepted silently
# (``_`` is jQuery's cache buster, ``external_uid`` PYBOSSA's anonymous-contributor id)
RESERVED_ARGS = frozenset(
    {
        "limit",
        "offset",
        "last_id",
        "orderby",
        "desc",
        "related",
        "stats",
        "participated",
        "fulltextsearch",
        "full",
        "all",
        "api_key",
        "callback",
        "response_format",
        "external_uid",
        "_",
    }
)

_TRUE = {"true", "yes", "on", "y", "1"}
_FALSE = {"false", "no", "off", "n", "0"}


class QueryError(Exception):
    """An invalid argument; ``cls`` is PYBOSSA's ``exception_cls`` (answered with 415)."""

    def __init__(self, cls: str, message: str) -> None:
        super().__init__(message)
        self.cls = cls


@dataclasses.dataclass(frozen=True)
class Filter:
    """One condition: ``op`` is ``eq``, ``in`` (values a tuple), ``prefix`` (a string) or
    ``keys`` (a tuple of ``(key, value)`` pairs of a JSON object column)."""

    column: str
    op: str
    value: Any


@dataclasses.dataclass(frozen=True)
class ListArgs:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    last_id: int | None = None
    orderby: str = "id"
    desc: bool = False
    filters: tuple[Filter, ...] = ()
    all: bool = False
    stats: bool = False

    def filters_on(self, column: str) -> bool:
        return any(f.column == column for f in self.filters)


def fuzzy_bool(value: str) -> bool:
    """PYBOSSA's ``fuzzyboolean``: true/yes/on/y/1 or false/no/off/n/0, any case.

    :raise ValueError: for anything else.
    """
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"Invalid value for a boolean: {value!r} (use true or false).")


def is_true(value: str | None) -> bool:
    """A lenient flag (``stats=1``): true/yes/on/y/1, anything else is false."""
    return (value or "").strip().lower() in _TRUE


def _whole(name: str, value: str) -> int:
    try:
        # ASCII digits only: int() also reads "³" and "٣"
        if not value.isascii():
            raise ValueError(value)
        number = int(value)
    except ValueError:
        raise QueryError("ValueError", f"{name} must be a whole number, not {value!r}.") from None
    if abs(number) > MAX_INT:
        raise QueryError("ValueError", f"{name} is out of range: {value!r}.")
    return number


def _limit(value: str | None) -> int:
    # PYBOSSA: a non-integer limit falls back to the default rather than failing
    try:
        number = int(value) if value is not None else DEFAULT_LIMIT
    except ValueError:
        number = DEFAULT_LIMIT
    return max(0, min(number, MAX_LIMIT))


def _model_attribute_error(model_name: str, column: str) -> QueryError:
    return QueryError("AttributeError", f"type object '{model_name}' has no attribute '{column}'")


def _filter(column: str, kind: str, value: str) -> Filter:
    if column == "project_id":
        # PYBOSSA extracts every group of digits and ORs them: project_id=1,2 matches both
        ids = (int(d) for d in re.findall(r"[0-9]+", value))
        return Filter(column, "in", tuple(i for i in ids if i <= MAX_INT))
    if kind == "int":
        return Filter(column, "eq", _whole(column, value))
    if kind == "float":
        try:
            return Filter(column, "eq", float(value))
        except ValueError:
            raise QueryError("ValueError", f"{column} must be a number, not {value!r}.") from None
    if kind == "bool":
        try:
            return Filter(column, "eq", fuzzy_bool(value))
        except ValueError as exc:
            raise QueryError("ValueError", f"{column}: {exc}") from None
    if kind == "datetime":
        # a prefix of the ISO timestamp: created=2026-11-28 matches that whole day
        return Filter(column, "prefix", value.replace("T", " "))
    if kind == "json":
        return Filter(column, "keys", _json_keys(column, value))
    return Filter(column, "eq", value)


def _json_keys(column: str, value: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in value.split("|"):
        key, sep, wanted = part.partition("::")
        if not sep or not key:
            raise QueryError(
                "ValueError",
                f"{column} filters take the form key::value, several joined by '|' "
                f"(got {value!r}).",
            )
        pairs.append((key, wanted))
    return tuple(pairs)


def parse_list_args(
    args: Iterable[tuple[str, str]], kinds: Mapping[str, str], model_name: str
) -> ListArgs:
    """Parse list query arguments.

    :param args: the query's ``(key, value)`` pairs (the first of repeated keys wins).
    :param kinds: every filterable and sortable column and its kind.
    :param model_name: the class name used in PYBOSSA's messages (``Task``).
    :return: the parsed arguments.
    :raise QueryError: an unknown column (``AttributeError``) or a malformed value
        (``ValueError``).
    """
    values: dict[str, str] = {}
    for key, value in args:
        values.setdefault(key, value)
    orderby = values.get("orderby") or "id"
    if orderby == "fav_user_ids":
        orderby = "id"  # LabelHive keeps no favourites; PYBOSSA's clients may still ask
    elif orderby not in kinds:
        raise _model_attribute_error(model_name, orderby)
    try:
        desc = fuzzy_bool(values["desc"]) if "desc" in values else False
    except ValueError as exc:
        raise QueryError("ValueError", str(exc)) from None
    last_id = _whole("last_id", values["last_id"]) if values.get("last_id") else None
    offset = max(0, _whole("offset", values["offset"])) if values.get("offset") else 0
    filters = []
    for key, value in values.items():
        if key in RESERVED_ARGS:
            continue
        if key not in kinds:
            raise _model_attribute_error(model_name, key)
        filters.append(_filter(key, kinds[key], value))
    return ListArgs(
        limit=_limit(values.get("limit")),
        offset=0 if last_id is not None else offset,
        last_id=last_id,
        orderby="id" if last_id is not None else orderby,
        desc=False if last_id is not None else desc,
        filters=tuple(filters),
        # only the exact string "1" leaves the owner context, as in PYBOSSA
        all=values.get("all") == "1",
        stats=is_true(values.get("stats")),
    )


def refused_column(
    args: ListArgs, kinds: Mapping[str, str], readable: Collection[str]
) -> str | None:
    """Why a parsed list may not run for this caller (a sentence), or ``None``.

    A sort or a filter on a value is an oracle for that value: over enough requests the order
    of the rows, or which rows match, spells it out. So both are allowed only on the columns
    the caller may read on every row the list can return. JSON columns are never sorted: their
    order is the order of their whole text, every key included (filters on them take
    ``key::value`` pairs, which the resource checks key by key).

    :param args: the parsed arguments.
    :param kinds: the resource's columns and kinds (see :func:`parse_list_args`).
    :param readable: the columns this caller may read.
    """
    if kinds.get(args.orderby) == "json":
        return (
            f"orderby={args.orderby} is refused: {args.orderby} is a JSON object, which has no"
            " order."
        )
    if args.orderby not in readable:
        return f"orderby={args.orderby} is refused: you may not read {args.orderby} on every row."
    for flt in args.filters:
        if flt.column not in readable:
            return f"Filtering on {flt.column} is refused: you may not read it on every row."
    return None
