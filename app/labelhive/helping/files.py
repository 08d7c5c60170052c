"""Uploaded helping materials' bytes, kept in the database: any web process serves any file.

Web Pods share only the database (a read-only root filesystem, several replicas), so a file is
stored as :class:`~labelhive.helping.models.HelpingChunk` rows of
:data:`~labelhive.jobs.exportfiles.CHUNK_BYTES` (1 MiB), and read back a few chunks at a time
by the reader of export files (:func:`labelhive.jobs.exportfiles.read`).

- :func:`store` writes the chunks in the caller's session transaction (the upload request's):
  the material's row and its bytes are committed together or not at all.
- :func:`read` needs no app context and holds no transaction between chunks, so a slow
  client holds nothing open.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import IO

from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import insert

from labelhive.db import table_of
from labelhive.extensions import db
from labelhive.helping.models import HelpingChunk
from labelhive.helping.models import HelpingMaterial
from labelhive.jobs import exportfiles

CHUNK_BYTES = exportfiles.CHUNK_BYTES
CHUNKS = table_of(HelpingChunk)

# the type a file is served with follows its (checked) extension, never the client's claim
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "pdf": "application/pdf",
    "txt": "text/plain; charset=utf-8",
}


def content_type(file_name: str) -> str:
    """The served type of a file name whose extension is one of :data:`CONTENT_TYPES`."""
    return CONTENT_TYPES.get(file_name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def content_disposition(file_name: str, content_type: str) -> str:
    """``inline`` for pictures (shown in pages), a download (``attachment``) for the rest.

    The name is cut down to letters, digits, ``.``, ``_`` and ``-`` as export downloads are.
    """
    attachment = exportfiles.content_disposition(file_name)
    if content_type.startswith("image/"):
        return "inline" + attachment.removeprefix("attachment")
    return attachment


def store(material: HelpingMaterial, stream: IO[bytes], chunk_bytes: int = CHUNK_BYTES) -> None:
    """Write ``stream``'s bytes as ``material``'s, in the session's transaction (no commit).

    Sets the material's ``size`` and ``sha256``; the material must have been flushed (an id).
    """
    digest = hashlib.sha256()
    size = 0
    seq = 0
    while data := stream.read(chunk_bytes):
        digest.update(data)
        size += len(data)
        db.session.execute(insert(CHUNKS).values(material_id=material.id, seq=seq, data=data))
        seq += 1
    material.size = size
    material.sha256 = digest.hexdigest()


def delete_bytes(material: HelpingMaterial) -> None:
    """Delete a material's chunks (its row's delete would cascade; this does not rely on it)."""
    db.session.execute(delete(CHUNKS).where(CHUNKS.c.material_id == material.id))


def read(engine: Engine, material_id: int, size: int) -> Iterator[bytes]:
    """A stored file's bytes, in order, a few chunks per query."""
    return exportfiles.read(engine, material_id, size, key=CHUNKS.c.material_id)
