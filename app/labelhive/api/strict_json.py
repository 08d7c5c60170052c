"""JSON from clients, read strictly: values every database stores as they were sent.

Python's :func:`json.loads` accepts what JSON does not (``NaN``, ``Infinity``) and what the
databases refuse: PostgreSQL's ``text`` and ``jsonb`` hold no NUL character, and psycopg cannot
encode a lone surrogate (``"\\ud800"``, valid JSON escapes of an invalid character). Refused here,
at the door, they are a 400 with a sentence instead of a database error (a 500) later.
No I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask.json.provider import DefaultJSONProvider

# a NUL character or a UTF-16 surrogate on its own (a str holds them only from such escapes)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BadJSON(ValueError):
    """The text parses as Python's JSON but holds a value refused here; ``str()`` says which."""


def _no_constant(name: str) -> Any:
    raise BadJSON(f"{name} is not a JSON number")


def unstorable(text: str) -> str | None:
    """What makes a string unstorable (a phrase), or ``None``."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate"


def check_strings(value: Any) -> Any:
    """Return ``value`` if no key or string in it is unstorable (walked without recursion).

    :raise BadJSON: naming the problem.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = unstorable(item)
            if problem:
                raise BadJSON(f"a string holds {problem}")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def loads(data: str | bytes) -> Any:
    """Parse JSON text: no ``NaN``/``Infinity``, no NUL or lone surrogate in any string.

    :raise ValueError: :class:`BadJSON`, or :func:`json.loads`'s own errors (``RecursionError``
        for absurd nesting, ``UnicodeDecodeError`` for bytes that are not UTF-8).
    """
    return check_strings(json.loads(data, parse_constant=_no_constant))


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON with :func:`loads` for reading: ``request.get_json()`` refuses the same."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
