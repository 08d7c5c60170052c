"""Accounts: users, sign-in, API keys."""

from __future__ import annotations

from flask import Flask

from labelhive.accounts import services
from labelhive.extensions import login_manager


def init_app(app: Flask) -> None:
    login_manager.user_loader(services.load_user)
