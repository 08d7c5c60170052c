"""Configuration: defaults, overridden by environment variables (DESIGN.md's table).

Every setting is read once, in :func:`from_environ`, so nothing is looked up at import time and
tests can pass a mapping instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

EMBEDDED_DATABASE_URL = "sqlite:///labelhive.db"


def normalise_database_url(url: str) -> str:
    """Return a SQLAlchemy URL that uses psycopg 3 for PostgreSQL, and absolute SQLite paths.

    Deployments set ``postgresql://`` or ``postgres://`` URLs (PYBOSSA's and Heroku's spelling);
    SQLAlchemy would pick psycopg2 for those, which LabelHive does not install. A relative SQLite
    path means the working directory (Flask-SQLAlchemy would otherwise put it in the instance
    folder inside the installed package).
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    prefix = "sqlite:///"
    path = url[len(prefix) :]
    if url.startswith(prefix) and path and not path.startswith("/") and path != ":memory:":
        return prefix + os.path.abspath(path)
    return url


def is_embedded(url: str) -> bool:
    return url.startswith("sqlite")


def from_environ(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables.

    :param environ: the environment to read (``os.environ`` by default).
    :return: a dict of Flask config keys.
    """
    env = os.environ if environ is None else environ
    url = normalise_database_url(
        env.get("DATABASE_URL") or env.get("POSTGRES_URL") or EMBEDDED_DATABASE_URL
    )
    embedded = is_embedded(url)
    secret_key = env.get("SECRET_KEY")
    if not secret_key:
        if not embedded:
            raise RuntimeError("SECRET_KEY must be set when DATABASE_URL is not SQLite")
        # embedded mode: a per-process key is fine for a laptop; sessions end on restart
        secret_key = secrets.token_hex(32)
    sentinels = env.get("REDIS_SENTINELS") or env.get("REDIS_SENTINEL") or ""
    return {
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url, env),
        "EMBEDDED": embedded,
        # a pooled PostgreSQL connection idle this long is pinged on checkout (db.ping_when_idle)
        "DB_PING_IDLE_SECONDS": float(env.get("LABELHIVE_DB_PING_IDLE_SECONDS", "1")),
        # an API key keeps working this long in other processes after rotation or disabling
        "API_KEY_CACHE_SECONDS": float(env.get("LABELHIVE_API_KEY_CACHE_SECONDS", "5")),
        "REDIS_SENTINELS": sentinels,
        "REDIS_MASTER": env.get("REDIS_MASTER", "mymaster"),
        "REDIS_URL": env.get("REDIS_URL", ""),
        "REDIS_PASSWORD": env.get("REDIS_PASSWORD") or None,
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL", ""),
        "S3_BUCKET": env.get("S3_BUCKET", ""),
        # where s3:// images may be (labelhive.storage.scope): S3_BUCKET plus these buckets
        # (comma-separated), under each project's prefix ("projects/{project_id}/") when set
        "S3_BUCKETS": env.get("S3_BUCKETS", ""),
        "S3_PROJECT_PREFIX": env.get("S3_PROJECT_PREFIX", ""),
        "S3_REGION": env.get("S3_REGION", "us-east-1"),
        "S3_PROXY_PREFIX": env.get("S3_PROXY_PREFIX", "/s3").rstrip("/") or "/s3",
        # presigned image URLs live this long (seconds): long enough to load and prefetch
        "S3_PRESIGN_TTL": int(env.get("S3_PRESIGN_TTL", "300")),
        "DEFAULT_LEASE_TTL": int(env.get("LABELHIVE_DEFAULT_LEASE_TTL", "600")),
        "MAX_CONTENT_LENGTH": int(env.get("LABELHIVE_MAX_UPLOAD_BYTES", str(64 * 1024 * 1024))),
        "MAX_IMPORT_ROWS": int(env.get("LABELHIVE_MAX_IMPORT_ROWS", "1000000")),
        "MAX_CELL_BYTES": int(env.get("LABELHIVE_MAX_CELL_BYTES", str(64 * 1024))),
        "MAX_IMPORT_COLUMNS": int(env.get("LABELHIVE_MAX_IMPORT_COLUMNS", "1000")),
        # background jobs (labelhive.jobs). Export files are stored in the database in chunks
        # of EXPORT_CHUNK_BYTES (web and worker Pods share no disk; see jobs.exportfiles), and
        # the scheduler's clean-up deletes them after EXPORT_TTL_SECONDS
        "EXPORT_TTL_SECONDS": int(env.get("LABELHIVE_EXPORT_TTL_SECONDS", str(7 * 24 * 3600))),
        "EXPORT_CHUNK_BYTES": int(env.get("LABELHIVE_EXPORT_CHUNK_BYTES", str(1024 * 1024))),
        "IMPORT_BATCH_SIZE": int(env.get("LABELHIVE_IMPORT_BATCH_SIZE", "2000")),
        "JOB_STALE_SECONDS": int(env.get("LABELHIVE_JOB_STALE_SECONDS", "120")),
        "JOB_MAX_ATTEMPTS": int(env.get("LABELHIVE_JOB_MAX_ATTEMPTS", "5")),
        "SCHEDULER_TICK_SECONDS": float(env.get("LABELHIVE_SCHEDULER_TICK_SECONDS", "5")),
        # one consensus recomputation per project per window when tasks complete; 0 turns it
        # off. Unset means the default (30 s; off under TESTING): see results.services
        "CONSENSUS_DEBOUNCE_SECONDS": _optional_int(env, "LABELHIVE_CONSENSUS_DEBOUNCE_SECONDS"),
        # consensus recomputations running at once over all projects (unset: 1; 0: no cap),
        # so the other workers stay free for imports and exports: see consensus.slots
        "CONSENSUS_MAX_RUNNING": _optional_int(env, "LABELHIVE_CONSENSUS_MAX_RUNNING"),
        "RATELIMIT_DEFAULT": env.get("RATELIMIT_DEFAULT", "300 per 900 seconds"),
        # the labeling page's endpoints, together, per user (see labelhive.tasks.views)
        "RATELIMIT_LABELING": env.get("RATELIMIT_LABELING", "1200 per 600 seconds"),
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "1") not in ("0", "false", "no"),
        # the REST API's limit, one bucket per resource for all its methods (PYBOSSA's default)
        "RATELIMIT_API": env.get("RATELIMIT_API", "300 per 900 seconds"),
        # sign-in attempts per client address and login name (labelhive.security)
        "RATELIMIT_SIGNIN": env.get("RATELIMIT_SIGNIN", "10 per minute"),
        # sign-in attempts per client address, whatever the login (password spraying)
        "RATELIMIT_SIGNIN_ADDRESS": env.get("RATELIMIT_SIGNIN_ADDRESS", "50 per hour"),
        # e-mail (address verification; labelhive.accounts.mail)
        "SMTP_HOST": env.get("SMTP_HOST", ""),
        "SMTP_PORT": int(env.get("SMTP_PORT") or "587"),
        "SMTP_USERNAME": env.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_SECURITY": env.get("SMTP_SECURITY", "starttls"),
        "MAIL_FROM": env.get("MAIL_FROM", ""),
        # helping materials uploaded through /api/helpingmaterial are stored in the database
        # (LABELHIVE_UPLOAD_DIR is gone: `labelhive helping import-files DIR` copies old files in)
        "MAX_HELPING_MATERIAL_BYTES": int(
            env.get("LABELHIVE_MAX_HELPING_MATERIAL_BYTES", str(10 * 1024 * 1024))
        ),
        # reverse proxies in front of the app whose X-Forwarded-For is trusted (0: none, the
        # embedded mode; 2 in Kubernetes: the ingress and the HAProxy sidecar); see create_app
        "PROXY_FIX": _proxy_hops(env.get("LABELHIVE_PROXY_FIX", "0")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "0") in ("1", "true", "yes"),
        # Strict-Transport-Security max-age on responses to HTTPS requests; 0 (default): none.
        # The operator sets it behind a TLS Ingress (labelhive.security)
        "HSTS_SECONDS": _optional_int(env, "LABELHIVE_HSTS_SECONDS") or 0,
        "REMEMBER_COOKIE_HTTPONLY": True,
        # sign-in through OpenID Connect or LDAP (labelhive.accounts.identity; README)
        **_identity(env),
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
    }


def _identity(env: Mapping[str, str]) -> dict[str, Any]:
    """OpenID Connect and LDAP sign-in settings, as given (read by accounts.identity, which
    refuses to start on a bad one); each is off while its URL is unset."""
    keys = {
        "OIDC_ISSUER": "",
        "OIDC_CLIENT_ID": "",
        "OIDC_CLIENT_SECRET": "",
        "OIDC_SCOPES": "openid email profile",
        "OIDC_GROUPS_CLAIM": "groups",
        "OIDC_GROUP_ROLES": "",
        "OIDC_PROVIDER_NAME": "single sign-on",
        # asked for so the provider issues a refresh token (the recheck); "" asks for none
        "OIDC_OFFLINE_SCOPE": "offline_access",
        "LDAP_URL": "",
        "LDAP_STARTTLS": "",
        "LDAP_CA_FILE": "",
        "LDAP_CA_CERT": "",
        "LDAP_BIND_DN": "",
        "LDAP_BIND_PASSWORD": "",
        "LDAP_USER_BASE": "",
        "LDAP_USER_FILTER": "(uid={login})",
        "LDAP_GROUP_BASE": "",
        "LDAP_GROUP_FILTER": "(member={dn})",
        "LDAP_GROUP_ROLES": "",
        "LDAP_EMAIL_ATTRIBUTE": "mail",
        "LDAP_FULLNAME_ATTRIBUTE": "cn",
    }
    values: dict[str, Any] = {key: env.get(key, default) for key, default in keys.items()}
    # local passwords under the "identity provider only" sign-up policy: these admins only
    values["BREAK_GLASS_ADMINS"] = env.get("LABELHIVE_BREAK_GLASS_ADMINS", "")
    # a session begun through the identity provider ends after this; signing in again re-reads
    # the groups (a provider session makes that a redirect, not a password)
    values["IDENTITY_SESSION_SECONDS"] = _optional_int(env, "LABELHIVE_IDENTITY_SESSION_SECONDS")
    # seconds between two OpenID rechecks by the scheduler (unset: 300, 0: none), and how long
    # someone without a refresh token stays enabled after their last sign-in (unset: until
    # their next one)
    values["OIDC_RECHECK_INTERVAL"] = _optional_int(env, "OIDC_RECHECK_INTERVAL")
    values["OIDC_MAX_AGE_WITHOUT_REFRESH"] = _optional_int(env, "OIDC_MAX_AGE_WITHOUT_REFRESH")
    return values


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    """A whole number of at least 0 from ``env[name]``, or ``None`` when it is unset or empty.

    :raise RuntimeError: the value is not a whole number of at least 0.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number of seconds (got {raw!r})") from None
    if value < 0:
        raise RuntimeError(f"{name} must be 0 (off) or more (got {value})")
    return value


def _proxy_hops(raw: str) -> int:
    """``LABELHIVE_PROXY_FIX``: a whole number of trusted proxy hops, 0 to 10.

    :raise RuntimeError: anything else (a typo must not silently trust nothing or everything).
    """
    try:
        hops = int(raw.strip() or "0")
    except ValueError:
        raise RuntimeError(f"LABELHIVE_PROXY_FIX must be a number of hops (got {raw!r})") from None
    if not 0 <= hops <= 10:
        raise RuntimeError(f"LABELHIVE_PROXY_FIX must be between 0 and 10 (got {hops})")
    return hops


def engine_options(url: str, env: Mapping[str, str]) -> dict[str, Any]:
    """SQLAlchemy engine options per backend."""
    if is_embedded(url):
        # a file database: each thread gets its own connection; long busy timeout so writers queue
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "pool_size": int(env.get("LABELHIVE_DB_POOL_SIZE", "10")),
        "max_overflow": int(env.get("LABELHIVE_DB_MAX_OVERFLOW", "10")),
        # pinged only after LABELHIVE_DB_PING_IDLE_SECONDS idle: labelhive.db.ping_when_idle
        "pool_pre_ping": False,
        "pool_recycle": 1800,
    }
