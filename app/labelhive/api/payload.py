"""Request bodies of POST and PUT: JSON parsing and key checks, with no I/O.

PYBOSSA's clients send back what they read (``pbclient.update_project`` sends the project it
got, minus a few keys, plus ``link``/``links``). So a body key is one of:

- *reserved*: refused with 400 "Reserved keys in payload: ...";
- *writable*: applied;
- *read-only*: accepted when it equals the stored value (an echo), refused when it differs;
- ``link``/``links``: dropped;
- anything else: 415 ``TypeError`` "'foo' is an invalid keyword argument for Task".
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from typing import Any
from typing import Literal
from typing import overload

from labelhive import security
from labelhive.api import errors
from labelhive.api import strict_json
from labelhive.api.query import MAX_INT

DROPPED = frozenset({"link", "links"})


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object.

    :raise errors.ApiError: 415 ``ValueError`` for malformed JSON, 415 ``TypeError`` for
        JSON that is not an object, 400 for JSON nested deeper than
        :data:`labelhive.security.MAX_JSON_DEPTH` and for values no database stores as sent
        (``NaN``, ``Infinity``, NUL characters, lone surrogates: :mod:`.strict_json`).
    """
    try:
        value = security.check_json_depth(strict_json.loads(data or b"null"), "The body")
    except security.TooDeep as exc:
        raise errors.bad_request(str(exc)) from None
    except RecursionError:
        raise errors.bad_request(str(security.TooDeep("The body"))) from None
    except strict_json.BadJSON as exc:
        raise errors.bad_request(f"The body is refused: {exc}.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.unsupported("ValueError", f"The body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise errors.unsupported("TypeError", "The body must be a JSON object.")
    return value


def check_keys(
    body: Mapping[str, Any],
    *,
    model_name: str,
    reserved: Collection[str],
    writable: Collection[str],
    read_only: Mapping[str, Callable[[], Any]] | None = None,
    ignored: Collection[str] = (),
) -> dict[str, Any]:
    """Sort a body's keys; return the writable values.

    :param body: the parsed body.
    :param model_name: the class name in PYBOSSA's ``TypeError`` message.
    :param reserved: keys refused outright.
    :param writable: keys returned for the caller to validate and apply.
    :param read_only: keys accepted only with the current value, which the callable returns.
    :param ignored: keys dropped like ``link`` (values the server computes, e.g. ``stats``).
    :raise errors.ApiError: 400 for reserved keys or a changed read-only value, 415
        ``TypeError`` for unknown keys.
    """
    read_only = read_only or {}
    bad = sorted(k for k in body if k in reserved)
    if bad:
        raise errors.bad_request(f"Reserved keys in payload: {', '.join(bad)}")
    for key in body:
        known = key in writable or key in read_only or key in DROPPED or key in ignored
        if not known:
            raise errors.unsupported(
                "TypeError", f"'{key}' is an invalid keyword argument for {model_name}"
            )
    for key, current in read_only.items():
        if key in body and body[key] != current():
            raise errors.bad_request(f"{key} is read-only: it cannot be changed through the API.")
    return {k: v for k, v in body.items() if k in writable}


@overload
def whole_number(name: str, value: Any, *, required: Literal[True]) -> int: ...


@overload
def whole_number(name: str, value: Any, *, required: bool = False) -> int | None: ...


def whole_number(name: str, value: Any, *, required: bool = False) -> int | None:
    """An integer from a body (not a bool; PYBOSSA's clients may send digit strings).

    :raise errors.ApiError: 400 with a sentence.
    """
    if value is None and not required:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        # ASCII only: str.isdigit() also takes "³" and "٣", which int() then refuses
        number = int(value.strip())
    if number is None:
        raise errors.bad_request(f"{name} must be a whole number, not {value!r}.")
    if abs(number) > MAX_INT:
        raise errors.bad_request(f"{name} is out of range: {value!r}.")
    return number
