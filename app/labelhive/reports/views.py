"""Reporting a problem from the labeling page, and the owner's list of reported tasks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import jsonify
from flask import render_template
from flask import request
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from labelhive.annotation import service
from labelhive.extensions import db
from labelhive.extensions import limiter
from labelhive.projects import access
from labelhive.reports import services
from labelhive.storage import scope as storage_scope
from labelhive.tasks.images import image_url_for
from labelhive.tasks.views import labeling_limit
from labelhive.web import project_for

bp = Blueprint("reports", __name__)


@bp.post("/project/<ref>/label/report")
@limiter.shared_limit(labeling_limit, scope="labeling")
def report(ref: str) -> Any:
    """Store a problem report of a task on the user's screen and skip it for them.

    Body: ``{"task_id": int, "problem": str (optional)}``; the labeling page then asks for its
    state again. CSRF is checked by the site's CSRF protection (the page's ``X-CSRFToken``).
    """
    if not access.is_signed_in(current_user):
        return jsonify(error="Please sign in again.", reason="signed_out"), 401
    project = project_for(ref, "contribute")
    sent = request.get_json(silent=True)
    body = sent if isinstance(sent, dict) else {}
    task_id = body.get("task_id")
    if not isinstance(task_id, int) or isinstance(task_id, bool):
        return jsonify(error="Send task_id.", reason="bad_request"), 400
    user_id = current_user.id
    try:
        stored = services.report(project.id, task_id, user_id, body.get("problem"))
        report_id = stored.id
        db.session.commit()
    except services.ReportError as exc:
        db.session.rollback()
        return jsonify(error=str(exc), reason="bad_request"), exc.status
    except IntegrityError:
        # the same report sent twice at once: the other request stored it
        db.session.rollback()
        report_id = None
    # skipped like the page's "s": not offered to this user again while others remain
    service.skip(task_id, user_id)
    return jsonify(reported=task_id, report_id=report_id)


@bp.get("/project/<ref>/reports")
def index(ref: str) -> Any:
    project = project_for(ref, "manage")
    return render_template(
        "reports/index.html",
        project=project,
        reports=services.for_project(project.id),
        limit=services.LIST_LIMIT,
        image_url_for=image_url_for,
        scope=storage_scope.for_project(project),
    )
