"""The job record: what the web UI and API show about a background job."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import deferred
from sqlalchemy.orm import mapped_column

from labelhive.db import Base
from labelhive.db import utcnow
from labelhive.types import JSONType

QUEUED = "queued"
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
STATUSES = (QUEUED, RUNNING, FINISHED, FAILED)
CONSENSUS = "consensus"
CONSENSUS_QUEUED = "kind = 'consensus' AND status = 'queued' AND project_id IS NOT NULL"


class JobRecord(Base):
    """One background job, keyed by its (deterministic) RQ job id.

    The row is the source of truth for a job's state: RQ's own records live in Redis, which may
    lose recent writes in a failover, so the scheduler re-enqueues from these rows
    (:func:`labelhive.jobs.records.recover`). ``func`` and ``args`` are what is enqueued:
    ``func`` is the job's registered name (:mod:`labelhive.jobs.registry`); records older
    than the registry hold the job function's dotted path, which the registry maps to a name.
    """

    __tablename__ = "job_record"
    __table_args__ = (
        Index("ix_job_record_project_created", "project_id", "created"),
        Index("ix_job_record_status_updated", "status", "updated"),
        # one queued consensus per project: racing requests merge in the database
        Index(
            "ux_job_record_consensus_queued",
            "project_id",
            unique=True,
            postgresql_where=text(CONSENSUS_QUEUED),
            sqlite_where=text(CONSENSUS_QUEUED),
        ),
    )

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    func: Mapped[str] = mapped_column(String(128))
    args: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    queue: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None] = mapped_column()
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    # an uploaded import file, kept until the import finished: workers run on other machines
    # than the web process that received the upload, and the database is shared by both
    payload: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    # why the job was asked for, merged into, or enqueued again: [{"at": iso, "reason": str}]
    runs: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    # set while the job runs: the reason for exactly one more run once this one ends
    follow_up: Mapped[str | None] = mapped_column(Text)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started: Mapped[dt.datetime | None] = mapped_column()
    finished: Mapped[dt.datetime | None] = mapped_column()

    def to_dict(self) -> dict[str, Any]:
        """The record as the job status endpoint returns it (never the payload)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "project_id": self.project_id,
            "status": self.status,
            "attempts": self.attempts,
            "runs": list(self.runs or []),
            "follow_up": self.follow_up,
            "done": self.done,
            "total": self.total,
            "result": self.result,
            "error": self.error,
            "created": _iso(self.created),
            "updated": _iso(self.updated),
            "finished": _iso(self.finished),
        }

    def __repr__(self) -> str:
        return f"<JobRecord {self.id} {self.status} {self.done}/{self.total}>"


class ExportFile(Base):
    """A finished (or being written) export job's file, stored in the database.

    Web and worker Pods share no disk, only the database, so the file lives in
    :class:`ExportChunk` rows. ``complete`` turns true only once every chunk is written (see
    :mod:`labelhive.jobs.exportfiles`): a file that is not complete is never served.
    """

    __tablename__ = "export_file"
    __table_args__ = (
        Index("ix_export_file_job_id", "job_id"),
        Index("ix_export_file_created", "created"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("job_record.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    complete: Mapped[bool] = mapped_column(default=False)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<ExportFile {self.id} {self.filename} {self.size} complete={self.complete}>"


class ExportChunk(Base):
    """One piece of an :class:`ExportFile`'s bytes; ``seq`` counts from 0."""

    __tablename__ = "export_chunk"

    file_id: Mapped[int] = mapped_column(
        ForeignKey("export_file.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


def _iso(value: dt.datetime | None) -> str | None:
    # the API's one timestamp format, PYBOSSA's: ISO 8601, UTC, no time zone (docs/api.md)
    return None if value is None else value.isoformat()
