"""Flask extensions, created unbound and bound in :func:`labelhive.create_app`."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from labelhive.db import Base
from labelhive.security import rate_limit_key

db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()


# counts per resolved account, else per address (labelhive.security.rate_limit_key); storage
# (the jobs' Redis, else this process's memory), defaults and fail-open are set in create_app
# from the Redis configuration (labelhive.jobs.init_app)
limiter = Limiter(key_func=rate_limit_key)
