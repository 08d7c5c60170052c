"""Web pages for projects: list, create, settings, lifecycle (publish, archive, delete),
redundancy, progress, and the owner's task list."""

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
from flask_login import login_required

from labelhive.annotation import service as annotation
from labelhive.extensions import db
from labelhive.plural import plural
from labelhive.projects import access
from labelhive.projects import forms
from labelhive.projects import lifecycle
from labelhive.projects import progress as progress_of
from labelhive.projects import services
from labelhive.projects import shortname
from labelhive.projects import tasklist
from labelhive.projects.models import Project
from labelhive.results import activity
from labelhive.review import services as review_services
from labelhive.tasks import labeling
from labelhive.web import project_for
from labelhive.web import render_markdown
from labelhive.web import safe_next

bp = Blueprint("projects", __name__)


@bp.get("/")
@login_required
def index() -> Any:
    managed, others = services.list_for(current_user)
    # managers see the project's progress, annotators their own (gold kept secret)
    figures = progress_of.for_projects(p.id for p in managed)
    figures.update(progress_of.for_annotator((p.id for p in others), current_user.id))
    return render_template(
        "projects/index.html",
        managed=[p for p in managed if not p.archived],
        archived=[p for p in managed if p.archived],
        others=others,
        progress=figures,
        # items needing review, on the managers' cards (labelhive.review)
        waiting=review_services.waiting_counts([p.id for p in managed]),
        state=lifecycle.state,
    )


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
        "short_name": (form.short_name.data or "").strip() or _derived_short_name(form, project),
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
    for name in ("gold_rate", "adaptive_threshold", "adaptive_max_answers", "review_threshold"):
        value = getattr(form, name).data
        if value is not None:
            values[name] = value
    return values


def _derived_short_name(form: forms.ProjectForm, project: Project | None) -> str:
    """Left empty: the current short name, or one derived from the name for a new project."""
    if project is not None:
        return project.short_name
    name = (form.name.data or "").strip()

    def unavailable(candidate: str) -> bool:
        reserved = candidate in services.RESERVED_SHORT_NAMES
        return reserved or services.name_taken(None, candidate)

    return shortname.derive(name, unavailable)


def _check(form: forms.ProjectForm, values: dict[str, Any], exclude_id: int | None) -> bool:
    if len(values["info"]["answers"]) < 2:
        form.answers.errors.append("List at least two answer options, one per line.")
    if services.name_taken(values["name"], values["short_name"], exclude_id):
        form.name.errors.append("A project with this name or short name exists.")
    return not form.errors


@bp.route("/project/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    if not access.can_create(current_user):
        abort(403, "Your account may not create projects: ask an administrator.")
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
        state=lifecycle.state(project),
        progress=(
            progress_of.of(project.id)
            if access.can_manage(current_user, project)
            else progress_of.of_annotator(project.id, current_user.id)
        ),
        has_work=labeling.has_work(project.id, current_user.id),
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


def _back(project: Project, default: str = "projects.settings") -> str:
    """Where a lifecycle button returns to: the page it was on (``next``), else ``default``."""
    return safe_next(request.form.get("next"), url_for(default, ref=project.short_name))


@bp.post("/project/<ref>/publish")
def publish(ref: str) -> Any:
    project = project_for(ref, "manage")
    if forms.ActionForm().validate_on_submit():
        try:
            lifecycle.set_published(project, not project.published)
        except lifecycle.LifecycleError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(_back(project))
        db.session.commit()
        flash("Published: annotators can label it now." if project.published else "Unpublished.")
    return redirect(_back(project))


@bp.post("/project/<ref>/archive")
def archive(ref: str) -> Any:
    """Archive (``archived=1``) or unarchive (``archived=0``) a project."""
    project = project_for(ref, "manage")
    if forms.ActionForm().validate_on_submit():
        archived = request.form.get("archived") != "0"
        lifecycle.set_archived(project, archived)
        db.session.commit()
        flash(
            "Archived: annotators no longer see it; its tasks and results are kept."
            if archived
            else "Unarchived: the project is a draft again.",
            "success",
        )
    return redirect(_back(project, "projects.detail"))


@bp.route("/project/<ref>/delete", methods=["GET", "POST"])
def delete(ref: str) -> Any:
    """A page that says what deleting removes; the owner types the short name to confirm."""
    project = project_for(ref, "manage")
    summary = lifecycle.deletion(current_user, project)
    form = forms.DeleteProjectForm()
    if form.validate_on_submit() and not summary.refusal:
        if form.confirm.data.strip() != project.short_name:
            form.confirm.errors.append(f"Type {project.short_name} exactly to delete the project.")
        else:
            name = project.name
            lifecycle.delete(current_user, project)
            db.session.commit()
            flash(f"Deleted the project {name}.", "success")
            return redirect(url_for("projects.index"))
    status = 400 if form.errors or (request.method == "POST" and summary.refusal) else 200
    return render_template(
        "projects/delete.html", project=project, summary=summary, form=form
    ), status


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
        changed = annotation.set_redundancy(
            form.n_answers.data, project_id=project.id, engine=db.engine
        )
        flash(f"Redundancy set to {form.n_answers.data} for {plural(changed, 'task')}.", "success")
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
        progress=progress_of.of(project.id),
        glance=activity.glance(project.id),
    )


@bp.get("/project/<ref>/tasks")
def tasks(ref: str) -> Any:
    """The owner's task list, one page at a time (``?page=N``)."""
    project = project_for(ref, "manage")
    page = request.args.get("page", "1")
    listing = tasklist.page_of(project, int(page) if page.isdigit() and len(page) < 10 else 1)
    return render_template("projects/tasks.html", project=project, listing=listing)


def _tasks_back(project: Project) -> str:
    page = request.form.get("page", "")
    return url_for("projects.tasks", ref=project.short_name, page=page if page.isdigit() else None)


@bp.post("/project/<ref>/tasks/<int:task_id>")
def task_update(ref: str, task_id: int) -> Any:
    """Change a task's priority and the answers it needs."""
    project = project_for(ref, "manage")
    form = forms.TaskForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(_tasks_back(project)), 303
    try:
        task = tasklist.set_priority(project, task_id, form.priority.data)
    except tasklist.TaskError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(_tasks_back(project)), 303
    change = task.n_answers != form.n_answers.data
    db.session.commit()
    if change:
        # under the task's row lock: a task that now has enough answers completes
        annotation.set_redundancy(form.n_answers.data, task_ids=[task_id], engine=db.engine)
    flash(f"Task {task_id} saved.", "success")
    return redirect(_tasks_back(project)), 303


@bp.post("/project/<ref>/tasks/<int:task_id>/delete")
def task_delete(ref: str, task_id: int) -> Any:
    project = project_for(ref, "manage")
    if forms.ActionForm().validate_on_submit():
        try:
            tasklist.delete(current_user, project, task_id)
        except tasklist.TaskError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Task {task_id} deleted, with its answers.", "success")
    return redirect(_tasks_back(project)), 303
