"""Steps every resource view shares: list arguments, fetching one row, reading the body."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from flask import request

from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import payload
from labelhive.api import query
from labelhive.api import services


def page(
    resource: str,
    *,
    anonymous: bool = False,
    check: Callable[[query.ListArgs], None] | None = None,
) -> tuple[query.ListArgs, Sequence[Any]]:
    """Parse the list arguments and read one page of rows the caller may list.

    :param resource: ``project``, ``task``, ``taskrun``, ``result`` or ``user``.
    :param anonymous: whether anonymous callers may list this resource at all.
    :param check: called with the parsed arguments before the query; may raise.
    :raise errors.ApiError: 401 for a refused anonymous caller, 415 for bad arguments, 400
        for a sort or filter on a column the caller may not read.
    """
    user = auth.user()
    if user is None and not anonymous:
        raise errors.unauthorized()
    kinds = services.column_kinds(resource)
    try:
        args = query.parse_list_args(
            request.args.items(multi=True), kinds, services.MODEL_NAMES[resource]
        )
    except query.QueryError as exc:
        raise errors.unsupported(exc.cls, str(exc)) from None
    refused = query.refused_column(args, kinds, services.readable_columns(resource, user, args.all))
    if refused:
        raise errors.bad_request(refused)
    if check is not None:
        check(args)
    return args, services.list_rows(resource, args, user)


def one(resource: str, oid: int) -> Any:
    """The row with id ``oid``.

    :raise errors.ApiError: 404 when there is none.
    """
    row = services.get(resource, oid)
    if row is None:
        raise errors.not_found(f"{services.MODEL_NAMES[resource]} {oid} does not exist.")
    return row


def body() -> dict[str, Any]:
    """The request's JSON object.

    :raise errors.ApiError: 415 for file uploads, malformed JSON or a non-object.
    """
    if request.mimetype == "multipart/form-data":
        raise errors.unsupported(
            "ValueError", "File uploads are not supported; send a JSON object."
        )
    return payload.parse_json_object(request.get_data())
