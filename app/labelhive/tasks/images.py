"""Which image a task shows: the ONE place that turns a task's info into an image URL.

Every page gets its image URLs from here. An ``s3://bucket/key`` image (a private bucket) becomes
a short-lived presigned URL through this site's HAProxy prefix (:mod:`labelhive.storage.s3`), so
call :func:`image_url_for` only for a task the user holds a lease on, or manages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

IMAGE_KEYS = ("url", "image", "image_url")
# images LabelHive serves itself (the demo project's); no other site-relative path is loaded
OWN_STATIC_PREFIX = "/static/"


def image_key(task_info: Any) -> str | None:
    """The info key that holds the task's image URL, if any."""
    if not isinstance(task_info, dict):
        return None
    return next((k for k in IMAGE_KEYS if isinstance(task_info.get(k), str)), None)


def image_url_for(task_info: Any) -> str | None:
    """The URL the browser loads the task's image from, or ``None``.

    Only absolute ``http``/``https`` URLs, this site's own static files and ``s3://`` objects
    (presigned, proxied) are used: anything else (``javascript:``, ``data:``, other relative
    paths) is shown as text, never loaded.
    """
    key = image_key(task_info)
    if key is None:
        return None
    url = task_info[key].strip()
    if url.startswith("s3://"):
        # imported late: boto3 is loaded only by projects that use S3
        from labelhive.storage import s3

        return s3.image_url(url)
    parts = urlsplit(url)
    if url.startswith(OWN_STATIC_PREFIX) and not (parts.scheme or parts.netloc):
        return None if ".." in parts.path or "\\" in url else url
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url
