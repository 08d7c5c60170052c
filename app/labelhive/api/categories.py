"""``/api/category``: public to read, admins write (PYBOSSA's rules).

``pbclient.update_category`` sends the whole object, ``id`` and ``created`` included; PYBOSSA
refuses those reserved keys with 400 and so does LabelHive (the contract's §2.5, defect 5).
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify

from labelhive.accounts.models import User
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import payload
from labelhive.api import serialize
from labelhive.api.blueprint import bp
from labelhive.extensions import db
from labelhive.helping import services as helping
from labelhive.helping.models import Category

RESERVED = ("id", "created")
WRITABLE = ("name", "short_name", "description", "info")


def _admin() -> User:
    user = auth.user()
    if user is None or not user.admin:
        raise errors.denied(user is not None, "Only admins may change categories.")
    return user


def _values(current: Category | None) -> dict[str, Any]:
    values = payload.check_keys(
        listing.body(), model_name="Category", reserved=RESERVED, writable=WRITABLE
    )
    try:
        values = helping.category_values(values, current)
    except helping.HelpingError as exc:
        raise errors.bad_request(str(exc)) from None
    duplicate = helping.duplicate_category_field(values, current.id if current else None)
    if duplicate:
        raise errors.unsupported(
            "DBIntegrityError",
            f"A category with {duplicate} {values[duplicate]!r} already exists; "
            f"{duplicate} must be unique.",
        )
    return values


@bp.get("/category")
def category_list() -> Response:
    _, rows = listing.page("category", anonymous=True)
    return jsonify([serialize.category(c) for c in rows])


@bp.get("/category/<int:oid>")
def category_get(oid: int) -> Response:
    return jsonify(serialize.category(listing.one("category", oid)))


@bp.post("/category")
def category_create() -> Response:
    _admin()
    category = helping.create_category(_values(None))
    db.session.commit()
    return jsonify(serialize.category(category))


@bp.put("/category/<int:oid>")
def category_update(oid: int) -> Response:
    _admin()
    category = listing.one("category", oid)
    for name, value in _values(category).items():
        setattr(category, name, value)
    db.session.commit()
    return jsonify(serialize.category(category))


@bp.delete("/category/<int:oid>")
def category_delete(oid: int) -> tuple[str, int]:
    _admin()
    helping.delete_category(listing.one("category", oid))
    db.session.commit()
    return "", 204
