"""The results page and the streamed downloads of tasks, answers and results."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user

from labelhive.extensions import db
from labelhive.projects import services as project_services
from labelhive.results import charts
from labelhive.results import dataset
from labelhive.results import exports
from labelhive.results import services as consensus
from labelhive.tasks import labeling
from labelhive.web import project_for

bp = Blueprint("results", __name__)


@bp.get("/project/<ref>/results")
def index(ref: str) -> Any:
    project = project_for(ref, "manage")
    return render_template(
        "results/index.html",
        project=project,
        whats=exports.WHATS,
        formats=exports.FORMATS,
        stats=project_services.stats(project.id),
        counts=labeling.breakdown(project.id),
        **_consensus_context(project.id),
    )


def _consensus_context(project_id: int) -> dict[str, Any]:
    """The stored consensus, shaped for the page's tables and SVG charts."""
    run = consensus.run_for(project_id)
    if run is None:
        return {"run": None, "stale": consensus.is_stale(project_id, None)}
    summary = run.summary or {}
    labels = [str(label) for label in summary.get("labels", [])]
    agreement = summary.get("agreement", {})
    per_class = agreement.get("per_class", [])
    annotators = consensus.annotator_rows(project_id)
    return {
        "run": run,
        "stale": consensus.is_stale(project_id, run),
        "labels": labels,
        "agreement": agreement,
        "per_class": per_class,
        "class_bars": charts.bars(summary.get("class_counts", {})),
        "kappa_bars": charts.bars({c["label"]: c["fleiss_kappa"] for c in per_class}, scale=1.0),
        "cells": charts.heatmap(summary.get("confusion", {}), labels),
        "cell": charts.CELL,
        "bar_width": charts.BAR_WIDTH,
        "row": charts.ROW,
        "annotators": annotators,
        "dataset_formats": dataset.FORMATS,
    }


@bp.post("/project/<ref>/results/recompute")
def recompute(ref: str) -> Response:
    project = project_for(ref, "manage")
    consensus.start_recompute(project, current_user)
    db.session.commit()
    flash("Consensus is being recomputed; reload this page in a moment.", "info")
    return redirect(url_for("results.index", ref=project.short_name))


@bp.get("/project/<ref>/dataset.<fmt>")
def dataset_download(ref: str, fmt: str) -> Response:
    project = project_for(ref, "manage")
    if fmt not in dataset.FORMATS:
        abort(404)
    try:
        validation = dataset.validation_fraction(request.args.get("validation"))
    except ValueError:
        abort(400)
    filename = f"{project.short_name}-dataset.{fmt}"
    project_id = project.id
    db.session.commit()
    return Response(
        dataset.stream(db.engine, project_id, fmt, validation=validation),
        content_type=dataset.content_type(fmt),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@bp.get("/project/<ref>/download/<what>.<fmt>")
def download(ref: str, what: str, fmt: str) -> Response:
    project = project_for(ref, "manage")
    if what not in exports.WHATS or fmt not in exports.FORMATS:
        abort(404)
    chunks = exports.stream_export(db.engine, project.id, what, fmt)
    filename = f"{project.short_name}-{what}.{fmt}"
    return Response(
        chunks,
        content_type=exports.content_type(fmt),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
