"""Which S3 objects a project may use: the configured bucket(s), under the project's prefix.

Every ``s3://`` reference is checked here before it is stored (task create and update, file
imports, S3 prefix imports), before it is copied to or written (the ImageFolder copy), and
before it is presigned (the last line of defence: a task stored before the rule, or by hand,
gets no URL). The app's credentials may reach far more than one project should see, so a
reference is never trusted because a project owner wrote it.

The rule comes from the admin's configuration, never from a project:

- ``S3_BUCKET`` (the default bucket) and ``S3_BUCKETS`` (more buckets, comma-separated) are
  the buckets images may come from. With neither set, no ``s3://`` reference is allowed.
- ``S3_PROJECT_PREFIX``, when set, is a key prefix template such as ``projects/{project_id}/``
  or ``teams/{short_name}/``: each project may use only keys under its own prefix, in those
  buckets. Unset, a project may use the whole of each bucket.

Pure: no boto3, no database; :func:`for_project` reads the current app's config.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from labelhive.security import has_dot_segments

if TYPE_CHECKING:
    from labelhive.projects.models import Project

# S3's own limits (storage.s3 has the same rule; importing it would load boto3)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
PLACEHOLDERS = ("project_id", "short_name")
# the info keys that hold a task's image (labelhive.tasks.images.IMAGE_KEYS)
IMAGE_KEYS = ("url", "image", "image_url")


NOT_ENABLED = "S3 images are not enabled here (S3_BUCKET is not set)"


class OutsideScope(ValueError):
    """An ``s3://`` reference (or prefix) the project may not use; ``str()`` says why."""


@dataclasses.dataclass(frozen=True)
class S3Scope:
    """Where one project's images may be: these buckets, keys under ``prefix``.

    :param buckets: the allowed buckets (empty: none).
    :param prefix: ``""`` (the whole bucket) or a key prefix ending with ``/``.
    :param error: a configuration problem; when set, everything is refused with it.
    """

    buckets: tuple[str, ...]
    prefix: str = ""
    error: str | None = None

    @property
    def where(self) -> str:
        """The allowed places, as a reader would write them: ``s3://a/p/ or s3://b/p/``."""
        return " or ".join(f"s3://{bucket}/{self.prefix}" for bucket in self.buckets)

    def object_problem(self, bucket: str, key: str) -> str | None:
        """Why ``s3://bucket/key`` is refused (a clause, no full stop), or ``None``."""
        if self.error:
            return self.error
        if not self.buckets:
            return NOT_ENABLED
        inside = (
            bucket in self.buckets and key.startswith(self.prefix) and len(key) > len(self.prefix)
        )
        if not inside or has_dot_segments(key):
            return f"it is outside this project's storage, which is {self.where}"
        return None

    def check_url(self, url: str) -> None:
        """:raise OutsideScope: ``url`` is an ``s3://`` reference this project may not use."""
        text = url.strip()
        if text[:5].lower() != "s3://":
            return
        bucket, _, key = text[5:].partition("/")
        problem = self.object_problem(bucket if text[:5] == "s3://" else "", key)
        if problem:
            raise OutsideScope(f"the image {shorten(text)} is refused: {problem}.")

    def check_info(self, info: Any) -> None:
        """Check every image reference of a task's ``info`` (each of :data:`IMAGE_KEYS`).

        :raise OutsideScope: the first one refused.
        """
        if not isinstance(info, dict):
            return
        for key in IMAGE_KEYS:
            value = info.get(key)
            if isinstance(value, str):
                self.check_url(value)

    def check_prefix(self, bucket: str, prefix: str) -> str:
        """The listing prefix to use for ``s3://bucket/prefix``, once it is inside the scope.

        The project's own prefix may be given without its trailing ``/``.

        :raise OutsideScope: the bucket is not allowed, or the prefix reaches outside.
        """
        if self.error or not self.buckets:
            raise OutsideScope(f"s3://{bucket}/{prefix} is refused: {self.error or NOT_ENABLED}.")
        if prefix + "/" == self.prefix:
            prefix = self.prefix
        if (
            bucket not in self.buckets
            or not prefix.startswith(self.prefix)
            or has_dot_segments(prefix)
        ):
            raise OutsideScope(
                f"s3://{bucket}/{prefix} is refused: it is outside this project's storage,"
                f" which is {self.where}."
            )
        return prefix


def shorten(value: str, length: int = 80) -> str:
    return value if len(value) <= length else value[: length - 1] + "…"


def allowed_buckets(config: Mapping[str, Any]) -> tuple[str, ...]:
    """``S3_BUCKET`` then each of ``S3_BUCKETS``, without repeats or blanks."""
    names = [str(config.get("S3_BUCKET") or "").strip()]
    extra = config.get("S3_BUCKETS") or ""
    names += extra.split(",") if isinstance(extra, str) else [str(b) for b in extra]
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def render_prefix(template: str, *, project_id: int, short_name: str) -> str:
    """``projects/{project_id}/`` -> ``projects/7/``: the project's key prefix, ending in ``/``.

    :raise ValueError: an unknown placeholder, or a prefix that is empty or has an empty,
        ``.`` or ``..`` segment.
    """
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = fields - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(
            f"S3_PROJECT_PREFIX may use only {{project_id}} and {{short_name}}, not"
            f" {{{sorted(unknown)[0]}}}"
        )
    if not fields:
        raise ValueError(
            "S3_PROJECT_PREFIX must contain {project_id} or {short_name}: one prefix for every"
            " project would confine nothing between projects"
        )
    prefix = template.format(project_id=project_id, short_name=short_name).strip("/") + "/"
    segments = prefix[:-1].split("/")
    if any(s in ("", ".", "..") for s in segments) or has_dot_segments(prefix) or "\\" in prefix:
        raise ValueError(f"S3_PROJECT_PREFIX gives an unusable prefix {prefix!r}")
    return prefix


def scope_of(config: Mapping[str, Any], *, project_id: int, short_name: str) -> S3Scope:
    """The scope of one project under ``config`` (a bad setting refuses everything)."""
    buckets = allowed_buckets(config)
    bad = [b for b in buckets if not _BUCKET.fullmatch(b)]
    if bad:
        return S3Scope(buckets, error=f"S3_BUCKETS names an invalid bucket {bad[0]!r}")
    template = str(config.get("S3_PROJECT_PREFIX") or "").strip()
    if not template:
        return S3Scope(buckets)
    try:
        prefix = render_prefix(template, project_id=project_id, short_name=short_name)
    except ValueError as exc:
        return S3Scope(buckets, error=str(exc))
    return S3Scope(buckets, prefix)


def for_project(project: Project, config: Mapping[str, Any] | None = None) -> S3Scope:
    """The scope of ``project`` under the current app's config (or ``config``)."""
    if config is None:
        from flask import current_app

        config = current_app.config
    return scope_of(config, project_id=project.id, short_name=project.short_name)
