"""Column types shared by the models."""

from __future__ import annotations

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB

# JSONB on PostgreSQL (containment queries for ``info=`` filters), JSON text elsewhere.
# ``none_as_null``: Python ``None`` is SQL NULL, never the JSON literal ``null``.
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
