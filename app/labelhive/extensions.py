"""Flask extensions, created unbound and bound in :func:`labelhive.create_app`."""

from __future__ import annotations

import hashlib

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_login import current_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from labelhive.db import Base

db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()


def rate_limit_key() -> str:
    """Who a request counts against: the signed-in user, the API key, else the address.

    Behind the Ingress and the HAProxy sidecar many people share an address, so signed-in and
    API traffic is counted per account; the key is hashed so it never lands in Redis.
    """
    if current_user and current_user.is_authenticated:
        return f"user:{current_user.get_id()}"
    authorization = request.headers.get("Authorization") or request.args.get("api_key")
    if authorization:
        return "key:" + hashlib.sha256(authorization.encode()).hexdigest()[:24]
    return get_remote_address()


# storage, defaults and fail-open are set in create_app from the Redis configuration
limiter = Limiter(key_func=rate_limit_key)
