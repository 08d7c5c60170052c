"""Pages of the identity sign-in: to the OpenID provider and back, and the LDAP form.

Every refusal is a page of its own with a 4xx status (5xx only when the provider or directory
cannot be reached), never a traceback. A session begun here ends after
``IDENTITY_SESSION_SECONDS`` (default 8 hours), so the groups are re-read at least that often.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired

from labelhive.accounts.identity import ldap
from labelhive.accounts.identity import oidc
from labelhive.accounts.identity import services
from labelhive.accounts.models import User
from labelhive.extensions import db
from labelhive.extensions import limiter
from labelhive.security import signin_address_key
from labelhive.security import signin_address_limit
from labelhive.security import signin_limit
from labelhive.security import signin_limit_key
from labelhive.web import safe_next

bp = Blueprint("identity", __name__)

DEFAULT_SESSION_SECONDS = 8 * 3600
_UNTIL = "identity_until"
_NEXT = "identity_next"


class LdapSignInForm(FlaskForm):
    login = StringField(
        "User name", validators=[DataRequired()], render_kw={"autocomplete": "username"}
    )
    password = PasswordField(
        "Password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    next = HiddenField()


def init_app(app: Flask) -> None:
    """Read the settings (refusing to start on a bad one) and register the pages."""
    oidc_settings = oidc.settings_from(app.config)
    if oidc_settings is not None:
        oidc.init_app(app, oidc_settings)
    app.extensions["labelhive.ldap"] = ldap.settings_from(app.config)
    app.register_blueprint(bp)
    app.before_request(_end_expired_session)
    app.context_processor(
        lambda: {
            "oidc_provider_name": oidc_settings.provider_name if oidc_settings else None,
            "ldap_signin": app.extensions["labelhive.ldap"] is not None,
        }
    )


def enabled() -> bool:
    """Whether people can sign in through an identity provider here."""
    return oidc.configured() is not None or _ldap_settings() is not None


def password_refusal(user: User, policy_mode: str) -> str | None:
    """Why ``user`` may not sign in with a password, or ``None`` when they may.

    Under the "identity provider only" sign-up policy only the break-glass admins
    (``LABELHIVE_BREAK_GLASS_ADMINS``) keep their passwords.
    """
    if policy_mode != "identity":
        return None
    names = {n.strip() for n in str(current_app.config.get("BREAK_GLASS_ADMINS") or "").split(",")}
    if user.admin and user.name in names:
        return None
    return "Passwords are turned off on this site: sign in through your organisation instead."


def _ldap_settings() -> ldap.LdapSettings | None:
    return current_app.extensions.get("labelhive.ldap")


def _end_expired_session() -> None:
    until = session.get(_UNTIL)
    if until is not None and time.time() > float(until):
        logout_user()
        session.pop(_UNTIL, None)
        flash("Your sign-in has expired: sign in again.", "info")


def _refused(exc: services.IdentityRefused) -> Any:
    # what was recorded before the refusal stays: used states and nonces, a blocked account
    db.session.commit()
    return render_template("identity/refused.html", message=exc.message), exc.status


def _signed_in(user: User, target: str) -> Any:
    db.session.commit()
    # a fresh session: nothing set before sign-in survives into the signed-in session
    session.clear()
    login_user(user)
    seconds = current_app.config.get("IDENTITY_SESSION_SECONDS")
    session[_UNTIL] = time.time() + (DEFAULT_SESSION_SECONDS if seconds is None else seconds)
    return redirect(target)


@bp.get("/account/signin/oidc")
def oidc_start() -> Any:
    if oidc.configured() is None:
        abort(404)
    session[_NEXT] = safe_next(request.args.get("next"), url_for("projects.index"))
    try:
        return oidc.start(url_for("identity.oidc_callback", _external=True))
    except services.IdentityRefused as exc:
        return _refused(exc)


@bp.get("/account/signin/oidc/callback")
def oidc_callback() -> Any:
    settings = oidc.configured()
    if settings is None:
        abort(404)
    try:
        profile = oidc.finish()
        user = services.sign_in(profile, settings.group_roles)
    except services.IdentityRefused as exc:
        return _refused(exc)
    return _signed_in(user, safe_next(session.get(_NEXT), url_for("projects.index")))


@bp.route("/account/signin/ldap", methods=["GET", "POST"])
@limiter.limit(signin_limit, key_func=signin_limit_key, methods=["POST"])
@limiter.limit(signin_address_limit, key_func=signin_address_key, methods=["POST"])
def ldap_signin() -> Any:
    settings = _ldap_settings()
    if settings is None:
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("projects.index"))
    form = LdapSignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            profile = ldap.authenticate(settings, form.login.data, form.password.data)
            user = services.sign_in(profile, settings.group_roles)
        except ldap.WrongCredentials:
            form.password.errors.append("Wrong user name or password.")
        except services.IdentityRefused as exc:
            return _refused(exc)
        else:
            return _signed_in(user, safe_next(form.next.data, url_for("projects.index")))
        return render_template("identity/ldap_signin.html", form=form), 401
    # a form posted with a field missing: 400, the page says which
    status = 400 if request.method == "POST" else 200
    return render_template("identity/ldap_signin.html", form=form), status
