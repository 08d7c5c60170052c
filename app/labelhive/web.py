"""Helpers shared by the web UI's views: access checks, safe redirects, Markdown.

Every web view that touches a project goes through :func:`project_for` so the authorization
rules of :mod:`labelhive.projects.access` are applied the same way everywhere.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from flask import abort
from flask import redirect
from flask import request
from flask import url_for
from flask_login import current_user
from markdown_it import MarkdownIt
from markupsafe import Markup
from werkzeug.wrappers import Response

from labelhive.projects import access
from labelhive.projects import services as project_services
from labelhive.projects.models import Project

Need = Literal["see", "contribute", "manage"]

# raw HTML in the source is shown as text ("html": False), and commonmark's link validation
# refuses javascript:, vbscript:, file: and data: (except images) URLs
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


class SignInRequired(Exception):
    """Raised by :func:`project_for` for anonymous users; answered with a sign-in redirect."""


def render_markdown(source: str | None) -> Markup:
    """Render user-written Markdown (project instructions) to safe HTML.

    This is the ONE place where user content becomes :class:`Markup`: markdown-it escapes every
    text node and attribute itself and, with ``html`` off, never passes raw HTML through, so its
    output contains only the tags it generates. Nowhere else is user content marked safe.
    """
    return Markup(_markdown.render(source or ""))


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def sign_in_redirect() -> Response:
    return redirect(url_for("accounts.signin", next=request.full_path.rstrip("?")))


def project_for(ref: str, need: Need) -> Project:
    """Load a project by id or short name and check that the current user may use it.

    :raise SignInRequired: anonymous user (the error handler redirects to sign in).
    :raise 404: no such project, or one the user may not even see (existence is not leaked).
    :raise 403: the user sees the project but may not do ``need`` with it.
    """
    if not access.is_signed_in(current_user):
        raise SignInRequired()
    project = project_services.by_id_or_short_name(ref)
    if project is None or not access.can_see(current_user, project):
        abort(404)
    allowed = {
        "see": access.can_see,
        "contribute": access.can_contribute,
        "manage": access.can_manage,
    }[need]
    if not allowed(current_user, project):
        abort(403)
    return project


def template_helpers() -> dict[str, object]:
    """Functions the templates may call (registered as a context processor)."""
    return {"can_manage": lambda project: access.can_manage(current_user, project)}
