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

# what the views return: werkzeug responses (redirects); flask's Response is one
from werkzeug.wrappers import Response as BaseResponse

from labelhive import starters
from labelhive.annotation import service as annotation
from labelhive.consensus import gold
from labelhive.exports import dataset
from labelhive.exports import exports
from labelhive.exports import imagefolder
from labelhive.exports import preview
from labelhive.extensions import db
from labelhive.jobs import services as job_services
from labelhive.jobs.models import FAILED
from labelhive.jobs.models import QUEUED
from labelhive.jobs.models import RUNNING
from labelhive.plural import plural
from labelhive.projects import services as project_services
from labelhive.projects.forms import ActionForm
from labelhive.projects.models import Project
from labelhive.results import activity
from labelhive.results import charts
from labelhive.results import services as consensus
from labelhive.results.forms import ExportForm
from labelhive.results.forms import ImageFolderForm
from labelhive.review import exclusions
from labelhive.storage import scope as storage_scope
from labelhive.tasks import labeling
from labelhive.tasks.images import image_url_for
from labelhive.web import project_for

bp = Blueprint("results", __name__)


@bp.get("/project/<ref>/results")
def index(ref: str) -> Any:
    project = project_for(ref, "manage")
    records = job_services.project_records(project.id)
    return render_template(
        "results/index.html",
        project=project,
        whats=exports.WHATS,
        formats=exports.FORMATS,
        stats=project_services.stats(project.id),
        counts=labeling.breakdown(project.id),
        export_form=ExportForm(formdata=None),
        imagefolder_form=ImageFolderForm(formdata=None),
        records=records,
        recompute=_recompute_state(project, records),
        preview=preview.load(db.engine, project.id),
        vote_header=preview.vote_header,
        votes_text=preview.votes_text,
        excluded=(excluded := exclusions.excluded(project.id)),
        excluded_ids={row.user_id for row in excluded},
        glance=activity.glance(project.id),
        **_consensus_context(project.id),
    )


def _sparklines(annotators: list[Any], summary: dict[str, Any]) -> dict[int, Any]:
    """Each annotator's agreement per day as a sparkline, by user id: the annotators in the
    consensus (their stored rows), then the excluded ones (the run's summary) where no row is."""
    lines = {q.user_id: charts.sparkline(q.agreement_by_day) for q, _ in annotators}
    for other in summary.get("excluded_annotators", []):
        lines.setdefault(other["user_id"], charts.sparkline(other["agreement_by_day"]))
    return lines


def _recompute_state(project: Project, records: list[Any]) -> dict[str, Any]:
    """The latest consensus job: the page polls its status while it runs (static/results.js)."""
    latest = next((r for r in records if r.kind == "consensus"), None)
    running = latest is not None and latest.status in (QUEUED, RUNNING)
    return {
        "status_url": (
            url_for("jobs.status", ref=project.short_name, job_id=latest.id)
            if running and latest is not None
            else None
        ),
        "failed": latest.error if latest is not None and latest.status == FAILED else None,
    }


def _consensus_context(project_id: int) -> dict[str, Any]:
    """The stored consensus, shaped for the page's tables and SVG charts."""
    run = consensus.run_for(project_id)
    if run is None:
        return {"run": None, "stale": consensus.is_stale(project_id, None), "sparklines": {}}
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
        "sparklines": _sparklines(annotators, summary),
        "dataset_formats": dataset.FORMATS,
    }


@bp.get("/project/<ref>/gold")
def gold_tasks(ref: str) -> Any:
    project = project_for(ref, "manage")
    after = request.args.get("after", "0")
    gold_only = request.args.get("only") == "gold"
    tasks = gold.tasks_page(project.id, int(after) if after.isdigit() else 0, gold_only=gold_only)
    return render_template(
        "results/gold.html",
        project=project,
        tasks=tasks,
        gold_only=gold_only,
        next_after=tasks[-1].id if len(tasks) == gold.PAGE_SIZE else None,
        image_url_for=image_url_for,
        # presigning checks each task against the project's storage (storage.scope)
        scope=storage_scope.for_project(project),
        action=ActionForm(),
    )


@bp.post("/project/<ref>/gold")
def save_gold(ref: str) -> BaseResponse:
    """Save every row of the gold page at once (one Save button); nothing is saved on an error.

    The form lists the page's ``task_id`` values and one ``gold_answer-<id>`` per task; only the
    rows whose answer changed are written.
    """
    project = project_for(ref, "manage")
    back = url_for(
        "results.gold_tasks",
        ref=project.short_name,
        after=request.form.get("after") or None,
        only=request.form.get("only") or None,
    )
    if not ActionForm().validate_on_submit():
        abort(400)
    ids = request.form.getlist("task_id")
    if len(ids) > gold.PAGE_SIZE or not all(i.isdigit() and len(i) < 12 for i in ids):
        abort(400)
    changed: dict[int, list[int]] = {}
    try:
        for task_id in map(int, ids):
            answer = request.form.get(f"gold_answer-{task_id}", "")
            before = gold.current(project, task_id)
            if (answer or None) == before:
                continue
            task = gold.set_gold(project, task_id, answer)
            changed.setdefault(task.n_answers, []).append(task_id)
    except gold.GoldError as exc:
        db.session.rollback()
        flash(f"Nothing was saved: {exc}", "error")
        return redirect(back)
    db.session.commit()
    # as in set_gold below: states follow under each task's row lock
    for n_answers, task_ids in changed.items():
        annotation.set_redundancy(n_answers, task_ids=task_ids, engine=db.engine)
    n = sum(len(t) for t in changed.values())
    flash(f"Saved: {plural(n, 'task')} changed." if n else "Nothing changed.", "success")
    return redirect(back)


@bp.post("/project/<ref>/gold/<int:task_id>")
def set_gold(ref: str, task_id: int) -> BaseResponse:
    project = project_for(ref, "manage")
    back = url_for(
        "results.gold_tasks",
        ref=project.short_name,
        after=request.form.get("after") or None,
        only=request.form.get("only") or None,
    )
    if not ActionForm().validate_on_submit():
        abort(400)
    answer = request.form.get("gold_answer", "")
    try:
        task = gold.set_gold(project, task_id, answer)
    except gold.GoldError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back)
    n_answers = task.n_answers
    db.session.commit()
    # the state follows under the task's row lock: gold tasks stay open, an ordinary task
    # with all its answers completes (with its result); nothing is read before this call
    annotation.set_redundancy(n_answers, task_ids=[task_id], engine=db.engine)
    flash(
        f"Task {task_id} is gold: {answer}." if answer else f"Task {task_id} is no longer gold.",
        "success",
    )
    return redirect(back)


@bp.post("/project/<ref>/results/recompute")
def recompute(ref: str) -> BaseResponse:
    project = project_for(ref, "manage")
    starters.start_recompute(project, current_user)
    db.session.commit()
    flash("Consensus is being recomputed: this page shows the new results when done.", "info")
    return redirect(url_for("results.index", ref=project.short_name))


@bp.post("/project/<ref>/annotators/<int:user_id>/exclude")
def exclude_annotator(ref: str, user_id: int) -> BaseResponse:
    """Leave an annotator's answers out of consensus (they stay stored), then recompute."""
    project = project_for(ref, "manage")
    if not ActionForm().validate_on_submit():
        abort(400)
    back = url_for("results.index", ref=project.short_name, _anchor="annotators")
    try:
        user = exclusions.find_user(user_id=user_id)
        _, created = exclusions.exclude(project, user, current_user.id)
    except exclusions.ExclusionError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back)
    db.session.commit()
    if created:
        starters.start_recompute(project, current_user)
    flash(f"{user.name}'s answers are left out of consensus; it is being recomputed.", "success")
    return redirect(back)


@bp.post("/project/<ref>/annotators/<int:user_id>/include")
def include_annotator(ref: str, user_id: int) -> BaseResponse:
    """Count an excluded annotator's answers in consensus again, then recompute."""
    project = project_for(ref, "manage")
    if not ActionForm().validate_on_submit():
        abort(400)
    if exclusions.include(project.id, user_id):
        db.session.commit()
        starters.start_recompute(project, current_user)
        flash("Their answers count again; consensus is being recomputed.", "success")
    else:
        flash("That annotator was not excluded.", "info")
    return redirect(url_for("results.index", ref=project.short_name, _anchor="annotators"))


@bp.post("/project/<ref>/results/export")
def export_job(ref: str) -> BaseResponse:
    """Build an export file in the background; its job page links the download."""
    project = project_for(ref, "manage")
    form = ExportForm()
    if not form.validate_on_submit():
        errors = [e for field in form for e in field.errors]
        flash("Could not start the export: " + " ".join(errors or ["try again."]), "error")
        return redirect(url_for("results.index", ref=project.short_name))
    what, _, fmt = form.file.data.rpartition(".")
    if what == "dataset":
        record = starters.start_dataset_export(project, current_user, fmt, form.validation.data)
    else:
        record = starters.start_export(project, current_user, what, fmt)
    db.session.commit()
    return redirect(url_for("jobs.detail", ref=project.short_name, job_id=record.id))


@bp.post("/project/<ref>/dataset/imagefolder")
def imagefolder_job(ref: str) -> BaseResponse:
    """Copy the labeled S3 images into an ImageFolder tree in the background."""
    project = project_for(ref, "manage")
    form = ImageFolderForm()
    if not form.validate_on_submit():
        errors = [e for field in form for e in field.errors]
        flash("Could not start the copy: " + " ".join(errors or ["try again."]), "error")
        return redirect(url_for("results.index", ref=project.short_name, _anchor="imagefolder"))
    validation = form.validation.data
    try:
        record = starters.start_imagefolder(
            project,
            current_user,
            form.destination.data,
            validation=dataset.DEFAULT_VALIDATION_FRACTION if validation is None else validation,
        )
    except imagefolder.ImageFolderError as exc:
        flash(f"Could not start the copy: {exc}", "error")
        return redirect(url_for("results.index", ref=project.short_name, _anchor="imagefolder"))
    db.session.commit()
    return redirect(url_for("jobs.detail", ref=project.short_name, job_id=record.id))


@bp.get("/project/<ref>/dataset.<fmt>")
def dataset_download(ref: str, fmt: str) -> BaseResponse:
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
def download(ref: str, what: str, fmt: str) -> BaseResponse:
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
