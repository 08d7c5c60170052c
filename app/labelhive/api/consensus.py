"""Consensus labels, annotator quality and the labeled dataset (LabelHive extensions).

- ``GET /api/project/<id>/consensus?limit=&last_id=``: stored consensus, one object per item,
  in item (task) id order; ``last_id`` is the last item id of the previous page.
- ``GET /api/project/<id>/annotators``: stored quality per annotator (with their agreement
  with the consensus per day), plus the project's agreement figures and the excluded
  annotators compared with the consensus.
- ``GET /api/project/<id>/dataset.<csv|jsonl|parquet>?validation=0.2``: the labeled dataset.
- ``POST /api/project/<id>/consensus``: start a recomputation (202 with the job).
- ``POST /api/project/<id>/dataset/imagefolder`` ``{"destination": "s3://bucket/prefix/",
  "validation": 0.2}``: copy the labeled S3 images into ``<prefix>/<label>/<key>`` with a
  manifest (202 with the job; :mod:`labelhive.exports.imagefolder`).

Managers of the project only (owners and admins); the stored figures are as fresh as the last
recomputation, whose time every answer carries.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from labelhive import starters
from labelhive.api import auth
from labelhive.api import errors
from labelhive.api import listing
from labelhive.api import serialize
from labelhive.api import services
from labelhive.api.blueprint import bp
from labelhive.api.exports import attachment_name
from labelhive.api.query import MAX_INT
from labelhive.api.query import MAX_LIMIT
from labelhive.consensus.models import AnnotatorQuality
from labelhive.consensus.models import Consensus
from labelhive.consensus.models import ConsensusRun
from labelhive.exports import dataset
from labelhive.exports import imagefolder
from labelhive.extensions import db
from labelhive.projects import access
from labelhive.projects.models import Project
from labelhive.results import services as consensus

DEFAULT_LIMIT = 20


def _managed(oid: int) -> Project:
    project = listing.one("project", oid)
    user = auth.user()
    if not access.can_manage(user, project):
        raise errors.denied(user is not None, "Only the project's owners and admins may.")
    return project


def _whole(name: str, default: int, *, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.unsupported("ValueError", f"{name} must be a whole number.") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise errors.unsupported("ValueError", f"{name} must be {bound}.")
    return value


def _time(value: Any) -> str | None:
    # the API's one timestamp format (PYBOSSA's), as every other resource
    return serialize.iso(value)


def serialize_item(row: Consensus) -> dict[str, Any]:
    return {
        "item_id": row.task_id,
        "task_id": row.task_id,
        "label": row.label,
        "confidence": row.confidence,
        "method": row.method,
        "votes": row.votes,
        "n_answers": row.n_answers,
        "agreement": row.agreement,
        "mv_label": row.mv_label,
        "posterior": row.posterior,
        "gold": row.gold,
        "computed_at": _time(row.computed_at),
        # labelhive.review: ties are marked; a reviewed label carries its reviewer and time
        "tie": row.tie,
        "review_state": row.review_state,
        "reviewed_by": row.reviewed_by,
        "reviewed_at": _time(row.reviewed_at),
    }


def serialize_annotator(row: AnnotatorQuality, name: str) -> dict[str, Any]:
    return {
        "user_id": row.user_id,
        "name": name,
        "n_answers": row.n_answers,
        "gold_seen": row.gold_seen,
        "gold_correct": row.gold_correct,
        "gold_accuracy": row.gold_accuracy,
        "agreement_with_consensus": row.agreement_with_consensus,
        "confusion": row.confusion,
        "agreement_by_day": serialize_by_day(row.agreement_by_day),
    }


def serialize_by_day(rows: list[Any] | None) -> list[dict[str, Any]]:
    """Stored ``[day, answers, agreeing]`` rows as objects (``None``: computed before 0018)."""
    return [{"day": day, "answers": n, "agreeing": agreeing} for day, n, agreeing in rows or ()]


def serialize_excluded(entry: dict[str, Any], name: str | None) -> dict[str, Any]:
    return {
        "user_id": entry["user_id"],
        "name": name,
        "n_answers": entry["n_answers"],
        "n_compared": entry["n_compared"],
        "agreement_with_consensus": entry["agreement_with_consensus"],
        "agreement_by_day": serialize_by_day(entry["agreement_by_day"]),
    }


def serialize_run(run: ConsensusRun | None, stale: bool) -> dict[str, Any] | None:
    if run is None:
        return None
    summary = run.summary or {}
    return {
        "method": run.method,
        "n_items": run.n_items,
        "n_answers": run.n_answers,
        "computed_at": _time(run.computed_at),
        "seconds": run.seconds,
        "stale": stale,
        "labels": summary.get("labels", []),
        "class_counts": summary.get("class_counts", {}),
        "agreement": summary.get("agreement", {}),
        "confusion": summary.get("confusion", {}),
        "used_gold": summary.get("used_gold", False),
    }


@bp.get("/project/<int:oid>/consensus")
def consensus_list(oid: int) -> Response:
    project = _managed(oid)
    limit = _whole("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    last_id = _whole("last_id", 0, low=0, high=MAX_INT)  # an id the database can compare
    rows = consensus.consensus_page(project.id, last_id, limit)
    return jsonify([serialize_item(row) for row in rows])


@bp.post("/project/<int:oid>/consensus")
def consensus_start(oid: int) -> tuple[Response, int]:
    project = _managed(oid)
    record = starters.start_recompute(project, auth.user())
    db.session.commit()
    return jsonify(record.to_dict()), 202


@bp.get("/project/<int:oid>/annotators")
def annotator_list(oid: int) -> Response:
    project = _managed(oid)
    run = consensus.run_for(project.id)
    return jsonify(
        {
            "project_id": project.id,
            "consensus": serialize_run(run, consensus.is_stale(project.id, run)),
            "annotators": [
                serialize_annotator(row, name) for row, name in consensus.annotator_rows(project.id)
            ],
            "excluded_annotators": [
                serialize_excluded(entry, name) for entry, name in consensus.excluded_rows(run)
            ],
        }
    )


@bp.get("/project/<int:oid>/dataset.<fmt>")
def dataset_download(oid: int, fmt: str) -> Response:
    project = _managed(oid)
    if fmt not in dataset.FORMATS:
        raise errors.not_found(
            f"No dataset format {fmt!r}: use one of {', '.join(dataset.FORMATS)}."
        )
    try:
        validation = dataset.validation_fraction(request.args.get("validation"))
    except ValueError as exc:
        raise errors.unsupported("ValueError", str(exc)) from None
    name = attachment_name(project.short_name, "dataset", fmt)
    project_id = project.id
    services.end_transaction()
    body = dataset.stream(db.engine, project_id, fmt, validation=validation)
    return Response(
        body,
        content_type=dataset.content_type(fmt),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/project/<int:oid>/dataset/imagefolder")
def imagefolder_start(oid: int) -> tuple[Response, int]:
    project = _managed(oid)
    body = listing.body()
    unknown = sorted(set(body) - {"destination", "validation"})
    if unknown:
        raise errors.bad_request(
            f"Unknown key {unknown[0]!r}: send destination and, optionally, validation."
        )
    try:
        validation = dataset.validation_fraction(body.get("validation"))
    except ValueError as exc:
        raise errors.bad_request(f"{exc}.") from None
    try:
        record = starters.start_imagefolder(
            project, auth.user(), body.get("destination"), validation=validation
        )
    except imagefolder.ImageFolderError as exc:
        raise errors.bad_request(str(exc)) from None
    db.session.commit()
    return jsonify(record.to_dict()), 202
