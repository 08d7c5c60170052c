"""The review page (reviewers and owners) and the per-item results browser (owners)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user

from labelhive.extensions import db
from labelhive.projects import access
from labelhive.projects import services as project_services
from labelhive.projects.forms import ActionForm
from labelhive.projects.models import Project
from labelhive.review import browse
from labelhive.review import filters as browse_filters
from labelhive.review import services as review
from labelhive.tasks.images import image_url_for
from labelhive.web import SignInRequired
from labelhive.web import project_for

bp = Blueprint("review", __name__)
PAGE_SIZE = 50


def _reviewable(ref: str) -> Project:
    """The project, if the current user may review it (a reviewer need not see it listed)."""
    if not access.is_signed_in(current_user):
        raise SignInRequired()
    project = project_services.by_id_or_short_name(ref)
    if project is None:
        abort(404)
    reviewer = review.is_reviewer(project.id, current_user.id)
    if not access.can_review(current_user, project, reviewer=reviewer):
        abort(404 if not access.can_see(current_user, project) else 403)
    return project


@bp.get("/project/<ref>/review")
def queue(ref: str) -> Any:
    project = _reviewable(ref)
    return render_template(
        "review/queue.html", project=project, waiting=review.queue_size(project.id)
    )


@bp.get("/project/<ref>/items")
def items(ref: str) -> Any:
    project = project_for(ref, "manage")
    try:
        chosen = browse_filters.parse(request.args)
    except ValueError as exc:
        flash(str(exc), "error")
        chosen = browse_filters.Filters()
    after = request.args.get("last_id", "")
    after_id = int(after) if after.isascii() and after.isdigit() else 0
    after_id = min(after_id, browse_filters.MAX_ID)
    rows = browse.page(project.id, chosen, after_id, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template(
        "review/items.html",
        project=project,
        rows=[(row, image_url_for(info, project)) for row, info in rows],
        filters=chosen,
        next_args=chosen.query_args() | {"last_id": str(rows[-1][0].task_id)} if more else None,
        reviewers=review.reviewers(project.id),
        waiting=review.queue_size(project.id),
        action_form=ActionForm(formdata=None),
    )


@bp.post("/project/<ref>/reviewers")
def grant(ref: str) -> Any:
    project = project_for(ref, "manage")
    if not ActionForm().validate_on_submit():
        abort(400)
    name = (request.form.get("name") or "").strip()
    if not name:
        flash("Enter the user name of the reviewer.", "error")
    else:
        try:
            review.grant(project, name, current_user.id)
        except review.ReviewError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"{name} is now a reviewer of this project.", "success")
    return redirect(url_for("review.items", ref=project.short_name, _anchor="reviewers"))


@bp.post("/project/<ref>/reviewers/<int:user_id>/remove")
def revoke(ref: str, user_id: int) -> Any:
    project = project_for(ref, "manage")
    if not ActionForm().validate_on_submit():
        abort(400)
    if review.revoke(project.id, user_id):
        db.session.commit()
        flash("The reviewer role was taken away; their decisions stay.", "success")
    return redirect(url_for("review.items", ref=project.short_name, _anchor="reviewers"))
