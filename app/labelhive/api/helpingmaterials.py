"""``/api/helpingmaterial``: files and links that explain a project to its annotators.

The project's owners and admins write them; anyone who may see the project reads them. A
multipart POST (form field ``project_id``, file part ``file``) stores the file in the
database, with the row, in the request's transaction (:mod:`labelhive.helping.files`), and sets
``media_url`` to its address under ``/helping/``, which only the project's members may
fetch; ``info.file_name`` and ``info.container`` are set as PYBOSSA does. A DELETE deletes the
stored bytes with the row. ``pbs add_helpingmaterials`` then PUTs the object back with its
own ``info`` merged in.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request
from flask import url_for

from labelhive.accounts.models import User
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import payload
from labelhive.api import serialize
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.extensions import db
from labelhive.helping import services as helping
from labelhive.helping import uploads
from labelhive.helping.models import HelpingMaterial
from labelhive.projects import access
from labelhive.projects.models import Project

RESERVED = ("id", "created")
WRITABLE = ("info", "media_url", "priority")


def _managed_project(project_id: Any) -> tuple[Project, User]:
    user = auth.require_user()
    number = payload.whole_number("project_id", project_id, required=True)
    project = services.get("project", number)
    if project is None:
        raise errors.not_found(f"Project {number} does not exist.")
    if not access.can_manage(user, project):
        raise errors.forbidden("Only the project's owners and admins may add helping materials.")
    return project, user


def _validated(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "info" in out:
        out["info"] = {} if out["info"] is None else out["info"]
        if not isinstance(out["info"], dict):
            raise errors.bad_request("info must be a JSON object.")
    if out.get("media_url") is not None and not isinstance(out["media_url"], str):
        raise errors.bad_request("media_url must be a URL string or null.")
    if "priority" in out:
        value = out["priority"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise errors.bad_request(f"priority must be a number, not {value!r}.")
        out["priority"] = float(value)
    return out


def _upload(project: Project) -> HelpingMaterial:
    upload = request.files.get("file")
    if upload is None:
        raise errors.bad_request("A multipart request needs a file part named 'file'.")
    try:
        material = helping.save_upload(
            project.id,
            upload.filename,
            upload.stream,
            size=uploads.received(upload.stream),
            limit=uploads.limit(),
        )
    except helping.HelpingError as exc:
        raise errors.bad_request(str(exc)) from None
    material.media_url = url_for(
        "helping.material_file", project_id=project.id, stored=material.file_name
    )
    return material


@bp.get("/helpingmaterial")
def helping_list() -> Response:
    _, rows = listing.page("helpingmaterial")
    user = auth.user()
    return jsonify(
        [
            serialize.helping_material(m)
            for m in rows
            if access.can_see(user, services.project_of(m))
        ]
    )


@bp.get("/helpingmaterial/<int:oid>")
def helping_get(oid: int) -> Response:
    material = listing.one("helpingmaterial", oid)
    user = auth.user()
    if not access.can_see(user, services.project_of(material)):
        raise errors.denied(user is not None, "This project is not published.")
    return jsonify(serialize.helping_material(material))


@bp.post("/helpingmaterial")
def helping_create() -> Response:
    if request.mimetype == "multipart/form-data":
        project, _ = _managed_project(request.form.get("project_id"))
        material = _upload(project)
    else:
        values = payload.check_keys(
            listing.body(),
            model_name="HelpingMaterial",
            reserved=RESERVED,
            writable=(*WRITABLE, "project_id"),
        )
        project, _ = _managed_project(values.pop("project_id", None))
        material = helping.create_material(project.id, _validated(values))
    db.session.commit()
    return jsonify(serialize.helping_material(material))


def _managed(oid: int) -> HelpingMaterial:
    material = listing.one("helpingmaterial", oid)
    user = auth.user()
    if user is None or not access.can_manage(user, services.project_of(material)):
        raise errors.denied(user is not None, "Only the project's owners and admins may do this.")
    return material


@bp.put("/helpingmaterial/<int:oid>")
def helping_update(oid: int) -> Response:
    material = _managed(oid)
    shown = serialize.helping_material(material)
    read_only = {"project_id": lambda: material.project_id}
    writable: tuple[str, ...] = WRITABLE
    if material.file_name:
        # an uploaded file's address is the server's; the echo is accepted, a change is not
        read_only["media_url"] = lambda: shown["media_url"]
        writable = ("info", "priority")
    values = payload.check_keys(
        listing.body(),
        model_name="HelpingMaterial",
        reserved=RESERVED,
        writable=writable,
        read_only=read_only,
    )
    for name, value in _validated(values).items():
        setattr(material, name, value)
    db.session.commit()
    return jsonify(serialize.helping_material(material))


@bp.delete("/helpingmaterial/<int:oid>")
def helping_delete(oid: int) -> tuple[str, int]:
    material = _managed(oid)
    helping.remove_file(material)
    db.session.delete(material)
    db.session.commit()
    return "", 204
