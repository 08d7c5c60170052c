"""Web pages for accounts: sign up/in/out, the account page (API key), admin pages."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from flask_login import login_user
from flask_login import logout_user

from labelhive.accounts import forms
from labelhive.accounts import services
from labelhive.extensions import db
from labelhive.extensions import limiter
from labelhive.security import signin_limit
from labelhive.security import signin_limit_key
from labelhive.settings import services as settings
from labelhive.web import safe_next

bp = Blueprint("accounts", __name__)


def admin_required(view: Any) -> Any:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@bp.route("/account/signup", methods=["GET", "POST"])
def signup() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("projects.index"))
    form = forms.SignUpForm()
    first = services.user_count() == 0
    refusal = None if first else settings.signup_policy().refusal(form.email.data or None)
    closed = not first and settings.signup_policy().mode == "closed"
    if form.validate_on_submit():
        if refusal:
            form.email.errors.append(refusal)
        else:
            try:
                user = services.create_user(
                    form.name.data.strip(),
                    password=form.password.data,
                    email=form.email.data.strip(),
                    fullname=(form.fullname.data or "").strip(),
                )
            except services.AccountError as exc:
                form.name.errors.append(str(exc))
            else:
                db.session.commit()
                session.clear()  # a fresh session at sign-in (see signin)
                login_user(user)
                flash(
                    "Welcome! Your account is the first one, so it is an admin."
                    if user.admin
                    else "Welcome!",
                    "success",
                )
                return redirect(url_for("projects.index"))
    return render_template("accounts/signup.html", form=form, closed=closed, first=first)


@bp.route("/account/signin", methods=["GET", "POST"])
# attempts (POSTs) per address and login name; showing the form is not limited
@limiter.limit(signin_limit, key_func=signin_limit_key, methods=["POST"])
def signin() -> Any:
    form = forms.SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = services.by_name_or_email(form.login.data)
        if user is not None and user.enabled and user.check_password(form.password.data):
            # a fresh session: nothing set before sign-in (by an attacker who planted the
            # cookie, say) survives into the signed-in session
            target = safe_next(form.next.data, url_for("projects.index"))
            session.clear()
            login_user(user)
            return redirect(target)
        # one message for every failure: do not tell which accounts exist
        form.password.errors.append("Wrong user name, e-mail or password.")
    return render_template("accounts/signin.html", form=form)


@bp.post("/account/signout")
def signout() -> Any:
    form = forms.ActionForm()
    if form.validate_on_submit():
        logout_user()
        flash("You are signed out.", "info")
    return redirect(url_for("accounts.signin"))


@bp.get("/account/")
@login_required
def account() -> Any:
    return render_template("accounts/account.html", form=forms.ActionForm())


@bp.post("/account/api-key")
@login_required
def regenerate_api_key() -> Any:
    if forms.ActionForm().validate_on_submit():
        services.regenerate_api_key(current_user)
        db.session.commit()
        flash("A new API key was made; the old one no longer works.", "success")
    return redirect(url_for("accounts.account"))


@bp.get("/admin/users")
@admin_required
def users() -> Any:
    return render_template(
        "accounts/users.html",
        users=services.all_users(),
        new_user=forms.NewUserForm(),
    )


@bp.post("/admin/users/new")
@admin_required
def new_user() -> Any:
    form = forms.NewUserForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(
                form.name.data.strip(),
                password=form.password.data,
                email=(form.email.data or "").strip() or None,
                admin=form.admin.data,
            )
        except services.AccountError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Account {user.name} created.", "success")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
    return redirect(url_for("accounts.users"))


@bp.post("/admin/users/<int:user_id>")
@admin_required
def user_flags(user_id: int) -> Any:
    user = services.load_user(str(user_id)) or abort(404)
    form = forms.UserFlagsForm()
    if form.validate_on_submit():
        try:
            services.set_flags(current_user, user, admin=form.admin.data, enabled=form.enabled.data)
        except services.AccountError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Saved {user.name}.", "success")
    return redirect(url_for("accounts.users"))


@bp.route("/admin/settings", methods=["GET", "POST"])
@admin_required
def deployment_settings() -> Any:
    policy = settings.signup_policy()
    form = forms.SignUpPolicyForm(
        data={"mode": policy.mode, "domains": ", ".join(policy.domains)}
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        try:
            domains = settings.parse_domains(form.domains.data or "")
            settings.set_signup_policy(form.mode.data, domains)
        except settings.SettingsError as exc:
            form.domains.errors.append(str(exc))
        else:
            db.session.commit()
            flash("Sign-up settings saved.", "success")
            return redirect(url_for("accounts.deployment_settings"))
    return render_template("accounts/settings.html", form=form)
