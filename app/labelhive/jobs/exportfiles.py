"""Export files kept in the database, in chunks: written by a worker, downloaded from any web Pod.

Web and worker Pods share only the database (each has its own emptyDir ``/tmp``), so an export
job streams its file into :class:`~labelhive.jobs.models.ExportChunk` rows of
``EXPORT_CHUNK_BYTES`` (1 MiB) and the download streams them back, a few at a time; neither side
ever holds the whole file.

- :func:`write` inserts the file's row (``complete`` false), then each chunk in a short
  transaction of its own (one long write transaction would hold SQLite's only write lock for
  the whole export), and marks the file complete in the transaction of the last chunk. A job
  that fails deletes its partial file; one that is killed leaves it incomplete, never served,
  and the job's next run deletes it (and any older file of the same job), so a re-run leaves
  one file. :func:`delete_expired` removes what is left over.
- :func:`read` yields the chunks in order, each read on a pooled connection of its own, so a
  slow client holds no transaction open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable
from collections.abc import Iterator

from sqlalchemy import ColumnElement
from sqlalchemy import Engine
from sqlalchemy import and_
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Connection

from labelhive.db import table_of
from labelhive.db import utcnow
from labelhive.jobs.models import ExportChunk
from labelhive.jobs.models import ExportFile

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
# chunks read per query while downloading: memory is about this many chunks
READ_AHEAD = 2

F = table_of(ExportFile)
C = table_of(ExportChunk)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ExportGone(RuntimeError):
    """The file was deleted (expired, or replaced by a re-run) while it was being read."""


@dataclasses.dataclass(frozen=True)
class Stored:
    """What :func:`write` stored."""

    id: int
    size: int
    sha256: str
    chunks: int


def write(
    engine: Engine,
    chunks: Iterable[bytes],
    *,
    job_id: str,
    project_id: int,
    filename: str,
    content_type: str,
    chunk_bytes: int = CHUNK_BYTES,
) -> Stored:
    """Store the bytes ``chunks`` yields as job ``job_id``'s export file.

    The file is marked complete in the same transaction as its last chunk, which also deletes
    the job's other files (left by an earlier run), so readers see either the old complete file
    or the new one. If ``chunks`` raises, the partial file is deleted and the error re-raised.

    :param chunks: the file's bytes, in pieces of any size (they are re-cut to ``chunk_bytes``).
    :return: the stored file's id, size, SHA-256 (hex) and number of chunks.
    """
    with engine.begin() as conn:
        # a partial file of a run that was killed: never complete, nobody reads it
        _delete_files(conn, and_(F.c.job_id == job_id, F.c.complete.is_(False)))
        file_id = conn.execute(
            insert(F)
            .returning(F.c.id)
            .values(
                job_id=job_id,
                project_id=project_id,
                filename=filename,
                content_type=content_type,
                size=0,
                complete=False,
                created=utcnow(),
            )
        ).scalar_one()
    digest = hashlib.sha256()
    size = 0
    seq = 0
    buffer = bytearray()
    try:
        for piece in chunks:
            digest.update(piece)
            size += len(piece)
            buffer += piece
            while len(buffer) >= chunk_bytes:
                with engine.begin() as conn:
                    _put(conn, file_id, seq, bytes(buffer[:chunk_bytes]))
                del buffer[:chunk_bytes]
                seq += 1
        with engine.begin() as conn:
            if buffer:
                _put(conn, file_id, seq, bytes(buffer))
                seq += 1
            conn.execute(
                update(F)
                .where(F.c.id == file_id)
                .values(size=size, sha256=digest.hexdigest(), complete=True)
            )
            _delete_files(conn, and_(F.c.job_id == job_id, F.c.id != file_id))
    except BaseException:
        _discard(engine, file_id)
        raise
    return Stored(id=file_id, size=size, sha256=digest.hexdigest(), chunks=seq)


def _put(conn: Connection, file_id: int, seq: int, data: bytes) -> None:
    conn.execute(insert(C).values(file_id=file_id, seq=seq, data=data))


def _discard(engine: Engine, file_id: int) -> None:
    try:
        with engine.begin() as conn:
            _delete_files(conn, F.c.id == file_id)
    except Exception:  # noqa: BLE001 - the job's own error matters more; clean-up deletes it later
        log.warning("could not delete the partial export file %s", file_id, exc_info=True)


def _delete_files(conn: Connection, where: ColumnElement[bool]) -> int:
    # chunks first: no reliance on ON DELETE CASCADE being enforced by the connection
    conn.execute(delete(C).where(C.c.file_id.in_(select(F.c.id).where(where))))
    return conn.execute(delete(F).where(where)).rowcount


def read(
    engine: Engine,
    file_id: int,
    size: int,
    *,
    read_ahead: int = READ_AHEAD,
    key: ColumnElement[int] = C.c.file_id,
) -> Iterator[bytes]:
    """Yield a file's chunks in order, reading ``read_ahead`` of them per query.

    :param size: the file's size: reading stops there, and a shorter file is an error.
    :param key: the column of a chunk table (with ``seq`` and ``data``) that ``file_id`` is
        matched against; helping materials keep their chunks in a table of their own.
    :raise ExportGone: a chunk is missing (the file was deleted while being read); the response
        then ends short of its ``Content-Length``, so the client sees the download failed.
    """
    chunks = key.table
    sent = 0
    seq = 0
    while sent < size:
        with engine.connect() as conn:
            rows = conn.execute(
                select(chunks.c.seq, chunks.c.data)
                .where(key == file_id, chunks.c.seq >= seq, chunks.c.seq < seq + read_ahead)
                .order_by(chunks.c.seq)
            ).all()
        if not rows:
            raise ExportGone(f"export file {file_id} ended at {sent} of {size} bytes")
        for row in rows:
            if row.seq != seq:
                raise ExportGone(f"export file {file_id} lost chunk {seq}")
            data = bytes(row.data)
            sent += len(data)
            seq += 1
            yield data
        del rows
    if sent != size:
        raise ExportGone(f"export file {file_id} has {sent} bytes, not {size}")


def delete_expired(engine: Engine, *, before: dt.datetime, incomplete_before: dt.datetime) -> int:
    """Delete complete files created before ``before`` and partial ones before
    ``incomplete_before`` (a job still writing one must keep it). One file per transaction.

    :return: how many files were deleted.
    """
    expired = or_(
        and_(F.c.complete.is_(True), F.c.created < before),
        and_(F.c.complete.is_(False), F.c.created < incomplete_before),
    )
    with engine.connect() as conn:
        ids = list(conn.execute(select(F.c.id).where(expired)).scalars())
    removed = 0
    for file_id in ids:
        with engine.begin() as conn:
            removed += _delete_files(conn, and_(F.c.id == file_id, expired))
    return removed


def content_disposition(filename: str) -> str:
    """``attachment; filename=...`` with a name of letters, digits, ``.``, ``_`` and ``-`` only.

    Anything else (quotes, slashes, control and non-ASCII characters) becomes ``_``, so the
    header can neither be broken nor point the browser at another folder.
    """
    safe = _UNSAFE.sub("_", filename).lstrip(".")[:150] or "export"
    return f"attachment; filename={safe}"
