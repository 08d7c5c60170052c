"""Flask extensions, created unbound and bound in :func:`labelhive.create_app`."""

from __future__ import annotations

from typing import Any

from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from labelhive.db import Base
from labelhive.security import rate_limit_key

db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()


def read_one(statement: Any) -> Any:
    """The one row (or ``None``) of a single read, on a connection of its own.

    Outside the request's session, and on PostgreSQL in autocommit: a read that decides nothing
    else needs no ``BEGIN``/``ROLLBACK`` round trips. For the hot paths' lookups (who asks,
    which project) before the engine decides under its own locks.
    """
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn.execute(statement).one_or_none()


# counts per resolved account, else per address (labelhive.security.rate_limit_key); storage
# (the jobs' Redis, else this process's memory), defaults and fail-open are set in create_app
# from the Redis configuration (labelhive.jobs.init_app)
limiter = Limiter(key_func=rate_limit_key)
