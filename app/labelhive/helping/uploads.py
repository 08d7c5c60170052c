"""Helping-material uploads are parsed in memory, never spooled to a temporary file.

Werkzeug spools a multipart file part above 500 KB to a temporary file on local disk; a Pod's
root filesystem is read-only, and the bytes are going to the database anyway. For the upload
endpoints only, a ``before_request`` hook gives the request a stream factory
(``Request._get_file_stream``, werkzeug's documented override point) that keeps at most
``MAX_HELPING_MATERIAL_BYTES + 1`` bytes of a part in memory and counts the rest, so a file
over the limit is refused with a sentence without holding it all. The request body as a whole
stays capped by ``MAX_CONTENT_LENGTH`` (a 413).
"""

from __future__ import annotations

import io
from typing import IO
from typing import Any
from typing import cast

from flask import current_app
from flask import request

# the endpoints that take a helping material's file part
ENDPOINTS = frozenset({"api.helping_create"})
DEFAULT_LIMIT = 10 * 1024 * 1024


def limit() -> int:
    """The largest helping material, in bytes (``MAX_HELPING_MATERIAL_BYTES``)."""
    return int(current_app.config.get("MAX_HELPING_MATERIAL_BYTES") or DEFAULT_LIMIT)


class BoundedBuffer(io.BytesIO):
    """An in-memory file part that keeps its first ``keep`` bytes and counts them all."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep
        self.received = 0

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.received += len(view)
        room = self.keep - self.tell()
        if room > 0:
            super().write(view[:room])
        return len(view)


def received(stream: IO[bytes]) -> int | None:
    """How many bytes the client sent for a part parsed by :func:`keep_in_memory`'s factory."""
    return stream.received if isinstance(stream, BoundedBuffer) else None


def keep_in_memory() -> None:
    """``before_request``: parse an upload endpoint's file parts into :class:`BoundedBuffer`."""
    if request.endpoint not in ENDPOINTS:
        return
    keep = limit() + 1

    def factory(
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return BoundedBuffer(keep)

    # an instance attribute shadows the method for this request only
    cast(Any, request)._get_current_object()._get_file_stream = factory
