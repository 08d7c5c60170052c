"""Which image a task shows: the ONE place that turns a task's info into an image URL.

Every page gets its image URLs from here. An ``s3://bucket/key`` image (a private bucket) becomes
a short-lived presigned URL through this site's HAProxy prefix (:mod:`labelhive.storage.s3`), so
call :func:`image_url_for` only for a task the user holds a lease on, or manages.

An ``s3://`` image outside the project's storage (:mod:`labelhive.storage.scope`: the
configured buckets, the project's prefix) gets no URL: :func:`image_for` says why instead, and
the labeling page shows that sentence where the image would be.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from labelhive.storage import scope

if TYPE_CHECKING:
    from labelhive.projects.models import Project

IMAGE_KEYS = ("url", "image", "image_url")
# images LabelHive serves itself (the demo project's); no other site-relative path is loaded
OWN_STATIC_PREFIX = "/static/"


def image_key(task_info: Any) -> str | None:
    """The info key that holds the task's image URL, if any."""
    if not isinstance(task_info, dict):
        return None
    return next((k for k in IMAGE_KEYS if isinstance(task_info.get(k), str)), None)


# what an annotator reads instead of an image that is refused (never where it points)
OUTSIDE_STORAGE = (
    "This task's image is outside the storage this project may use, so it is not shown."
    " Skip it and tell the project's owner."
)


@dataclasses.dataclass(frozen=True)
class Image:
    """A task's image: the URL to load, or ``None`` and, when it was refused, why."""

    url: str | None
    problem: str | None = None


def image_for(task_info: Any, project: Project | scope.S3Scope) -> Image:
    """The URL the browser loads the task's image from, or why there is none.

    Only absolute ``http``/``https`` URLs, this site's own static files and ``s3://`` objects
    inside the project's storage (presigned, proxied) are used: anything else (``javascript:``,
    ``data:``, other relative paths) is shown as text, never loaded.

    :param project: the task's project, or its :class:`~labelhive.storage.scope.S3Scope`.
    """
    key = image_key(task_info)
    if key is None:
        return Image(None)
    url = task_info[key].strip()
    if url.startswith("s3://"):
        # imported late: boto3 is loaded only by projects that use S3
        from labelhive.storage import s3

        where = project if isinstance(project, scope.S3Scope) else scope.for_project(project)
        parsed = s3.parse_s3_url(url)
        if parsed is not None and where.object_problem(*parsed):
            return Image(None, OUTSIDE_STORAGE)
        return Image(s3.image_url(url, where))
    parts = urlsplit(url)
    if url.startswith(OWN_STATIC_PREFIX) and not (parts.scheme or parts.netloc):
        return Image(None if ".." in parts.path or "\\" in url else url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return Image(None)
    return Image(url)


def image_url_for(task_info: Any, project: Project | scope.S3Scope) -> str | None:
    """:func:`image_for`'s URL: ``None`` when there is no image the browser may load."""
    return image_for(task_info, project).url
