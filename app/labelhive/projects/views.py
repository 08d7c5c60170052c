"""Web pages for projects: list, create, settings, publish, redundancy, progress."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from labelhive.extensions import db
from labelhive.projects import forms
from labelhive.projects import services
from labelhive.projects.models import Project
from labelhive.tasks import engine
from labelhive.tasks import labeling
from labelhive.web import project_for
from labelhive.web import render_markdown

bp = Blueprint("projects", __name__)


@bp.get("/")
@login_required
def index() -> Any:
    managed, others = services.list_for(current_user)
    return render_template("projects/index.html", managed=managed, others=others)


def _values(form: forms.ProjectForm, project: Project | None) -> dict[str, Any]:
    info = dict(project.info or {}) if project is not None else {}
    info.update(
        question=form.question.data.strip(),
        answers=form.answer_options(),
        instructions=form.instructions.data or "",
    )
    presenter = form.task_presenter.data or ""
    if presenter.strip() or "task_presenter" in info:
        info["task_presenter"] = presenter
    values = {
        "name": form.name.data.strip(),
        "short_name": form.short_name.data.strip(),
        "description": (form.description.data or "").strip(),
        "info": info,
        "default_n_answers": form.default_n_answers.data,
        "lease_ttl": form.lease_ttl.data,
        "ordering": form.ordering.data,
        "consensus_method": form.consensus_method.data,
        "consensus_use_gold": form.consensus_use_gold.data,
        "adaptive_redundancy": form.adaptive_redundancy.data,
        "use_task_presenter": form.use_task_presenter.data,
    }
    # an empty number field keeps the current value (or the column's default)
    for name in ("gold_rate", "adaptive_threshold", "adaptive_max_answers"):
        value = getattr(form, name).data
        if value is not None:
            values[name] = value
    return values


def _check(form: forms.ProjectForm, values: dict[str, Any], exclude_id: int | None) -> bool:
    if len(values["info"]["answers"]) < 2:
        form.answers.errors.append("List at least two answer options, one per line.")
    if services.name_taken(values["name"], values["short_name"], exclude_id):
        form.name.errors.append("A project with this name or short name exists.")
    return not form.errors


@bp.route("/project/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    form = forms.ProjectForm()
    if form.validate_on_submit():
        values = _values(form, None)
        if _check(form, values, None):
            try:
                project = services.create_project(current_user, values)
            except services.ProjectError as exc:
                form.form_errors.append(str(exc))
            else:
                db.session.commit()
                flash("Project created. Import tasks, then publish it.", "success")
                return redirect(url_for("projects.importer", ref=project.short_name))
    return render_template("projects/edit.html", form=form, project=None)


@bp.get("/project/<ref>/")
def detail(ref: str) -> Any:
    project = project_for(ref, "see")
    return render_template(
        "projects/detail.html",
        project=project,
        instructions=render_markdown((project.info or {}).get("instructions")),
        stats=services.stats(project.id),
        mine=labeling.answered_by(project.id, current_user.id),
        action=forms.ActionForm(),
    )


@bp.route("/project/<ref>/settings", methods=["GET", "POST"])
def settings(ref: str) -> Any:
    project = project_for(ref, "manage")
    form = forms.ProjectForm(obj=project)
    if request.method == "GET":
        info = project.info or {}
        form.question.data = project.question
        form.answers.data = "\n".join(project.answer_options)
        form.instructions.data = info.get("instructions") or ""
        presenter = info.get("task_presenter")
        form.task_presenter.data = presenter if isinstance(presenter, str) else ""
    if form.validate_on_submit():
        values = _values(form, project)
        if _check(form, values, project.id):
            try:
                services.apply_settings(project, values)
            except services.ProjectError as exc:
                db.session.rollback()
                form.form_errors.append(str(exc))
            else:
                db.session.commit()
                flash("Settings saved.", "success")
                return redirect(url_for("projects.settings", ref=project.short_name))
    return render_template(
        "projects/edit.html",
        form=form,
        project=project,
        redundancy=forms.RedundancyForm(n_answers=project.default_n_answers),
        action=forms.ActionForm(),
    )


@bp.post("/project/<ref>/publish")
def publish(ref: str) -> Any:
    project = project_for(ref, "manage")
    if forms.ActionForm().validate_on_submit():
        services.apply_settings(project, {"published": not project.published})
        db.session.commit()
        flash("Published: annotators can label it now." if project.published else "Unpublished.")
    return redirect(url_for("projects.settings", ref=project.short_name))


@bp.post("/project/<ref>/redundancy")
def redundancy(ref: str) -> Any:
    project = project_for(ref, "manage")
    form = forms.RedundancyForm()
    if form.validate_on_submit():
        try:
            services.apply_settings(project, {"default_n_answers": form.n_answers.data})
        except services.ProjectError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("projects.settings", ref=project.short_name))
        db.session.commit()
        changed = engine.set_redundancy(db.engine, form.n_answers.data, project_id=project.id)
        flash(f"Redundancy set to {form.n_answers.data} for {changed} tasks.", "success")
    else:
        flash("Redundancy must be a whole number of at least 1.", "error")
    return redirect(url_for("projects.settings", ref=project.short_name))


@bp.get("/project/<ref>/progress")
def progress(ref: str) -> Any:
    project = project_for(ref, "manage")
    return render_template(
        "projects/progress.html",
        project=project,
        stats=services.stats(project.id),
        counts=labeling.breakdown(project.id),
        annotators=services.annotator_counts(project.id),
    )
