"""Accounts: users, sign-in, API keys."""

from __future__ import annotations

from flask import Flask

from labelhive import web
from labelhive.accounts import services
from labelhive.accounts import sessions
from labelhive.accounts import views
from labelhive.accounts.identity import views as identity_views
from labelhive.extensions import login_manager


def init_app(app: Flask) -> None:
    app.session_interface = sessions.SessionInterface()
    login_manager.user_loader(services.load_session_user)
    login_manager.login_view = "accounts.signin"
    login_manager.login_message = "Please sign in to see this page."
    login_manager.login_message_category = "info"
    app.register_blueprint(views.bp)
    identity_views.init_app(app)
    app.register_error_handler(web.SignInRequired, lambda _exc: web.sign_in_redirect())
