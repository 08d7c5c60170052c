"""account security: API keys stored as hashes, a session version, e-mail verification, and
e-mail addresses unique whatever their case

Revision ID: 0008_account_security
Revises: 0007_helping_files
Create Date: 2026-12-08

- ``users.api_key`` keeps its name and now holds SHA-256 hex digests of the keys
  (:func:`labelhive.accounts.models.hash_api_key`): every existing key is hashed here, so
  clients keep their keys. The previous release still reads the table during the rollout, but
  its Pods no longer recognise API keys (they compare the plain key with the hash) until the new
  Pods replace them.
- ``users.session_version`` (0) and ``users.verification_pending`` (false) are new; existing
  accounts are not asked to verify their address.
- a unique index on ``lower(email_addr)``. Addresses that differ only in case belong to two
  accounts today, and merging accounts is not a migration's decision: the migration refuses,
  naming every clash, and an admin changes or removes addresses first (nothing is written).

The downgrade cannot restore the plain keys: it gives every user a new random key (shown to
nobody: users make a new one on their account page).
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0008_account_security"
down_revision = "0007_helping_files"
branch_labels = None
depends_on = None

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("email_addr", sa.String),
    sa.column("api_key", sa.String),
)


class EmailClash(RuntimeError):
    """E-mail addresses that differ only in case: the migration cannot make them unique."""


def email_clashes(conn: sa.Connection) -> list[str]:
    """One line per lower-cased address used by more than one account."""
    lowered = sa.func.lower(users.c.email_addr)
    clashing = (
        sa.select(lowered)
        .where(users.c.email_addr.is_not(None))
        .group_by(lowered)
        .having(sa.func.count() > 1)
    )
    rows = conn.execute(
        sa.select(lowered.label("email"), users.c.name)
        .where(lowered.in_(clashing))
        .order_by(lowered, users.c.name)
    ).all()
    by_email: dict[str, list[str]] = {}
    for email, name in rows:
        by_email.setdefault(email, []).append(name)
    return [f"{email}: {', '.join(names)}" for email, names in by_email.items()]


def upgrade() -> None:
    conn = op.get_bind()
    clashes = email_clashes(conn)
    if clashes:
        raise EmailClash(
            "Some e-mail addresses differ only in case, and addresses must now be unique "
            "whatever their case. Change or remove the addresses of these accounts, then "
            "migrate again (nothing was changed):\n  " + "\n  ".join(clashes)
        )
    # not batch mode (see downgrade): SQLite adds a column with a default in place
    op.add_column(
        "users", sa.Column("session_version", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "users",
        sa.Column("verification_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    for user_id, key in conn.execute(sa.select(users.c.id, users.c.api_key)).all():
        digest = hashlib.sha256(key.encode()).hexdigest()
        conn.execute(users.update().where(users.c.id == user_id).values(api_key=digest))
    op.create_index(
        "uq_users_email_addr_lower", "users", [sa.text("lower(email_addr)")], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_users_email_addr_lower", table_name="users")
    conn = op.get_bind()
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        key = secrets.token_urlsafe(32)
        conn.execute(users.update().where(users.c.id == user_id).values(api_key=key))
    # not batch mode: on SQLite that copies "users", and dropping the old copy fails while
    # other tables' rows refer to it (foreign keys are on); SQLite >= 3.35 drops columns itself
    op.drop_column("users", "verification_pending")
    op.drop_column("users", "session_version")
