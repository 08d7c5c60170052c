"""Web pages for accounts: sign up/in/out, the account page (API key), admin pages."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import make_response
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
from labelhive.accounts import mail
from labelhive.accounts import services
from labelhive.accounts import verification
from labelhive.accounts.identity import views as identity_views
from labelhive.accounts.models import User
from labelhive.extensions import db
from labelhive.extensions import limiter
from labelhive.security import signin_address_key
from labelhive.security import signin_address_limit
from labelhive.security import signin_limit
from labelhive.security import signin_limit_key
from labelhive.settings import services as settings
from labelhive.web import safe_next

bp = Blueprint("accounts", __name__)

# sign-up policies that refuse every new account (but the first one)
REFUSE_ALL = ("closed", "identity")


def signup_offered() -> bool:
    """Whether the pages link to the sign-up form: not under a policy that refuses everyone
    ("closed", or "identity provider only": accounts come from the organisation's sign-in),
    unless no account exists yet (the first one can always be made)."""
    return settings.signup_policy().mode not in REFUSE_ALL or services.user_count() == 0


@bp.app_context_processor
def _signup_link() -> dict[str, Any]:
    # a function: only pages shown to signed-out visitors call it (and query the policy)
    return {"signup_offered": signup_offered}


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
    policy = settings.signup_policy()
    refusal = None if first else policy.refusal(form.email.data or None)
    closed = not first and policy.mode in REFUSE_ALL
    # the domain restriction means something only once the address is proven
    verify = not first and policy.mode == "domains"
    if verify and not refusal and not mail.configured(current_app.config):
        refusal = "This site cannot send e-mail yet, so sign-up is paused: ask an administrator."
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
                    verification_pending=verify,
                )
            except services.AccountError as exc:
                form.name.errors.append(str(exc))
            else:
                if verify:
                    return _send_verification(user)
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
    return render_template(
        "accounts/signup.html", form=form, closed=closed, first=first, refusal=closed and refusal
    )


@bp.route("/account/signin", methods=["GET", "POST"])
# attempts (POSTs) per address and login name, and per address across logins (password
# spraying); showing the form is not limited
@limiter.limit(signin_limit, key_func=signin_limit_key, methods=["POST"])
@limiter.limit(signin_address_limit, key_func=signin_address_key, methods=["POST"])
def signin() -> Any:
    form = forms.SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = services.authenticate(form.login.data, form.password.data)
        if user is not None and user.verification_pending:
            return _send_verification(user)
        refusal = user and identity_views.password_refusal(user, settings.signup_policy().mode)
        if refusal:
            form.password.errors.append(refusal)
            return render_template("accounts/signin.html", form=form), 403
        if user is not None:
            # a fresh session: nothing set before sign-in (by an attacker who planted the
            # cookie, say) survives into the signed-in session
            target = safe_next(form.next.data, url_for("projects.index"))
            session.clear()
            login_user(user)
            return redirect(target)
        # one message for every failure: do not tell which accounts exist
        form.password.errors.append("Wrong user name, e-mail or password.")
    return render_template("accounts/signin.html", form=form)


def _send_verification(user: User) -> Any:
    """Commit the pending account and mail its link; the page says what to do next."""
    try:
        verification.send_link(user)
    except mail.MailError as exc:
        db.session.rollback()
        flash(f"{exc} Try again later.", "error")
        return redirect(url_for("accounts.signup"))
    db.session.commit()
    return render_template("accounts/verify_sent.html", email=user.email_addr)


@bp.route("/account/verify/<token>", methods=["GET", "POST"])
def verify(token: str) -> Any:
    """The link in the mail: a button (a POST) confirms, so a mail scanner's GET does not."""
    user = verification.user_for_token(token)
    if user is None:
        flash(
            "This confirmation link is invalid or has expired: sign in to get a new one.", "error"
        )
        return redirect(url_for("accounts.signin"))
    form = forms.ActionForm()
    if form.validate_on_submit():
        user.verification_pending = False
        db.session.commit()
        flash("Your e-mail address is confirmed: you can sign in now.", "success")
        return redirect(url_for("accounts.signin"))
    return render_template("accounts/verify.html", form=form, user=user)


@bp.post("/account/signout")
def signout() -> Any:
    form = forms.ActionForm()
    if form.validate_on_submit():
        logout_user()
        flash("You are signed out.", "info")
    return redirect(url_for("accounts.signin"))


@bp.post("/account/signout-everywhere")
@login_required
def signout_everywhere() -> Any:
    """End every session of this user, in every browser (this one included)."""
    if forms.ActionForm().validate_on_submit():
        services.end_sessions(current_user)
        db.session.commit()
        logout_user()
        flash("You are signed out everywhere.", "info")
    return redirect(url_for("accounts.signin"))


def _signed_in_again(user: User) -> None:
    """Keep this browser signed in after the session version moved on (a fresh session)."""
    session.clear()
    login_user(user)


@bp.get("/account/")
@login_required
def account() -> Any:
    return render_template("accounts/account.html", form=forms.ActionForm())


@bp.post("/account/api-key")
@login_required
def regenerate_api_key() -> Any:
    """Make a new key and show it once, in this response only (it is stored as a hash)."""
    if not forms.ActionForm().validate_on_submit():
        return redirect(url_for("accounts.account"))
    user = current_user._get_current_object()
    key = services.regenerate_api_key(user)
    db.session.commit()
    _signed_in_again(user)
    response = make_response(
        render_template("accounts/account.html", form=forms.ActionForm(), new_api_key=key)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    form = forms.ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.change_password(user, form.current.data, form.password.data)
        except services.AccountError as exc:
            form.current.errors.append(str(exc))
        else:
            db.session.commit()
            _signed_in_again(user)
            flash("Your password was changed; your other sessions are signed out.", "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/password.html", form=form)


@bp.route("/account/profile", methods=["GET", "POST"])
@login_required
def profile() -> Any:
    """Change the full name and e-mail address; a new address is confirmed by mail where the
    site's e-mail domain rule asks for it (as the API's ``PUT /api/user`` does)."""
    user = current_user._get_current_object()
    form = forms.ProfileForm(
        data={"fullname": user.fullname, "email": user.email_addr or ""}
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        email = form.email.data.strip()
        refusal = _email_refusal(user, email)
        if refusal:
            form.email.errors.append(refusal)
        else:
            policy = settings.signup_policy()
            confirm = not user.admin and verification.needs_confirming(
                policy, user.email_addr, email
            )
            user.fullname = (form.fullname.data or "").strip() or user.name
            user.email_addr = email
            if confirm:
                user.verification_pending = True
                return _confirm_new_address(user)
            db.session.commit()
            flash("Your profile was saved.", "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/profile.html", form=form)


def _email_refusal(user: User, email: str) -> str | None:
    """Why ``user`` may not take ``email``, or ``None``."""
    other = services.by_email(email)
    if other is not None and other.id != user.id:
        return "This e-mail address belongs to another account."
    policy = settings.signup_policy()
    if user.admin:
        return None
    refusal = verification.change_refusal(policy, email)
    if refusal:
        return refusal
    if verification.needs_confirming(policy, user.email_addr, email) and not mail.configured(
        current_app.config
    ):
        return (
            "This site cannot send e-mail yet, so the address cannot be changed: "
            "ask an administrator."
        )
    return None


def _confirm_new_address(user: User) -> Any:
    """Mail the link for the new address; the account waits for it, so this browser signs out."""
    try:
        verification.send_link(user)
    except mail.MailError as exc:
        db.session.rollback()
        flash(f"{exc} Try again later.", "error")
        return redirect(url_for("accounts.profile"))
    db.session.commit()
    services.forget_api_keys()
    logout_user()
    return render_template("accounts/verify_sent.html", email=user.email_addr)


@bp.get("/admin/users")
@admin_required
def users() -> Any:
    return render_template(
        "accounts/users.html",
        users=services.all_users(),
        new_user=forms.NewUserForm(),
        set_password=forms.SetPasswordForm(),
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


@bp.post("/admin/users/<int:user_id>/password")
@admin_required
def set_password(user_id: int) -> Any:
    """An admin gives a user who lost their password a new one; their sessions end."""
    user = services.load_user(str(user_id)) or abort(404)
    form = forms.SetPasswordForm()
    if form.validate_on_submit():
        user.set_password(form.password.data)
        services.end_sessions(user)
        db.session.commit()
        if user.id == current_user.id:
            _signed_in_again(user)
        flash(f"New password set for {user.name}; their sessions are signed out.", "success")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
    return redirect(url_for("accounts.users"))


@bp.post("/admin/users/<int:user_id>/approve")
@admin_required
def approve(user_id: int) -> Any:
    """An admin vouches for an account whose e-mail confirmation is pending."""
    user = services.load_user(str(user_id)) or abort(404)
    if forms.ActionForm().validate_on_submit():
        user.verification_pending = False
        db.session.commit()
        flash(f"Approved {user.name}.", "success")
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
            if form.mode.data == "identity" and not identity_views.enabled():
                raise settings.SettingsError(
                    "Set up OpenID Connect or LDAP sign-in first (see the README)."
                )
            domains = settings.parse_domains(form.domains.data or "")
            settings.set_signup_policy(form.mode.data, domains)
        except settings.SettingsError as exc:
            form.domains.errors.append(str(exc))
        else:
            db.session.commit()
            flash("Sign-up settings saved.", "success")
            return redirect(url_for("accounts.deployment_settings"))
    return render_template("accounts/settings.html", form=form)
