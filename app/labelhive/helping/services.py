"""Categories and helping materials: queries and writes, uploaded files included (no commits)."""

from __future__ import annotations

import re
import secrets
from typing import IO
from typing import Any

from sqlalchemy import select
from sqlalchemy import update
from werkzeug.utils import secure_filename

from labelhive.extensions import db
from labelhive.helping import files
from labelhive.helping.models import Category
from labelhive.helping.models import HelpingMaterial
from labelhive.projects.models import Project

# what an uploaded helping material may be: pictures, sound, video and documents a browser
# shows itself; never HTML or SVG, which would run script on the site's origin
ALLOWED_EXTENSIONS = frozenset(
    {"png", "jpg", "jpeg", "gif", "webp", "mp3", "ogg", "wav", "mp4", "webm", "pdf", "txt"}
)
_STORED_NAME = re.compile(r"^[0-9a-f]{16}-[A-Za-z0-9_.-]{1,200}$")


class HelpingError(Exception):
    """An invalid value, with a sentence for the caller."""


def category_by_id(category_id: int) -> Category | None:
    return db.session.get(Category, category_id)


def first_category_id() -> int | None:
    """PYBOSSA files a new project under the first category when none is given."""
    return db.session.scalar(select(Category.id).order_by(Category.id).limit(1))


def category_values(values: dict[str, Any], current: Category | None) -> dict[str, Any]:
    """Check category values.

    :raise HelpingError: a missing or malformed value, or a name already in use.
    """
    out = dict(values)
    for name in ("name", "short_name"):
        if name in out or current is None:
            value = out.get(name)
            if not isinstance(value, str) or not value.strip():
                raise HelpingError(f"{name} must be a non-empty string.")
            out[name] = value.strip()
    if "description" in out and not isinstance(out["description"], str):
        raise HelpingError("description must be a string.")
    if "info" in out:
        out["info"] = {} if out["info"] is None else out["info"]
        if not isinstance(out["info"], dict):
            raise HelpingError("info must be a JSON object.")
    return out


def duplicate_category_field(values: dict[str, Any], exclude_id: int | None) -> str | None:
    for field in ("short_name", "name"):
        if field not in values:
            continue
        query = select(Category.id).where(getattr(Category, field) == values[field])
        if exclude_id is not None:
            query = query.where(Category.id != exclude_id)
        if db.session.scalar(query.limit(1)) is not None:
            return field
    return None


def create_category(values: dict[str, Any]) -> Category:
    category = Category(**{"description": "", "info": {}, **values})
    db.session.add(category)
    db.session.flush()
    return category


def delete_category(category: Category) -> None:
    """Delete a category; its projects keep existing, uncategorised."""
    db.session.execute(
        update(Project).where(Project.category_id == category.id).values(category_id=None)
    )
    db.session.delete(category)


def clean_file_name(name: str | None) -> str:
    """A safe file name with an allowed extension.

    :raise HelpingError: no usable name, or an extension that is not allowed.
    """
    cleaned = secure_filename(name or "")
    if not cleaned or "." not in cleaned:
        raise HelpingError("The file needs a name with an extension, e.g. example.png.")
    extension = cleaned.rsplit(".", 1)[1].lower()
    if extension not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(sorted(ALLOWED_EXTENSIONS))
        raise HelpingError(f"Files of type .{extension} are not accepted; use one of {allowed}.")
    return cleaned[-200:]


def stored_name(cleaned: str) -> str:
    """A new stored name for a cleaned file name: unique within the project, never a path."""
    return f"{secrets.token_hex(8)}-{cleaned}"


def is_stored_name(stored: str) -> bool:
    """Whether ``stored`` is a name :func:`stored_name` could have made."""
    return _STORED_NAME.match(stored) is not None


def check_size(size: int, limit: int) -> None:
    """:raise HelpingError: ``size`` bytes are above ``limit`` (``MAX_HELPING_MATERIAL_BYTES``)."""
    if size > limit:
        raise HelpingError(
            f"The file has {size} bytes; helping materials may have at most {limit} bytes."
        )


def save_upload(
    project_id: int, name: str | None, stream: IO[bytes], *, size: int | None, limit: int
) -> HelpingMaterial:
    """Create a helping material holding an uploaded file, in the session's transaction; the
    caller sets its ``media_url`` (the address of ``helping.material_file``).

    Nothing is written anywhere until the name and size are checked; the row and its bytes
    (:func:`labelhive.helping.files.store`) then go to the database together, so a failed
    commit leaves neither.

    :param size: the bytes the client sent for the part, when the parser counted them.
    :raise HelpingError: a bad name or a file above ``limit`` bytes.
    """
    cleaned = clean_file_name(name)
    if size is not None:
        check_size(size, limit)
    stored = stored_name(cleaned)
    kind = files.content_type(cleaned)
    material = create_material(
        project_id,
        {
            "info": {"file_name": cleaned, "container": f"helpingmaterial/{project_id}"},
            "file_name": stored,
            "content_type": kind,
        },
    )
    files.store(material, stream)
    # a stream the parser did not count is checked as stored; the caller rolls back
    check_size(material.size or 0, limit)
    return material


def remove_file(material: HelpingMaterial) -> None:
    """Delete an uploaded material's stored bytes (in the session's transaction)."""
    if material.file_name:
        files.delete_bytes(material)


def create_material(project_id: int, values: dict[str, Any]) -> HelpingMaterial:
    material = HelpingMaterial(project_id=project_id, **{"info": {}, "priority": 0.0, **values})
    db.session.add(material)
    db.session.flush()
    return material


def material_by_stored_name(project_id: int, stored: str) -> HelpingMaterial | None:
    return db.session.scalar(
        select(HelpingMaterial).where(
            HelpingMaterial.project_id == project_id, HelpingMaterial.file_name == stored
        )
    )
