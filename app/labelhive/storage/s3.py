"""Private S3 images: the boto3 client, presigned GETs rewritten onto the HAProxy prefix, listing.

The bucket is never public. An image URL handed to a browser is a GET presigned for the upstream
S3 endpoint, with its scheme and host replaced by this site's ``S3_PROXY_PREFIX``::

    http://s3.internal:9000/bucket/cats/1.jpg?X-Amz-Signature=...
    -> /s3/bucket/cats/1.jpg?X-Amz-Signature=...

HAProxy strips the prefix and sets the Host header the URL was signed for, so S3 itself checks
the signature and the expiry. That only works with path-style URLs (the proxy sends one Host
header for every bucket), so every client here uses path-style addressing, which AWS and the
S3-compatible stores all accept.

Credentials come from boto3's standard chain: environment variables, web identity (IRSA on EKS),
the shared files, the instance role.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError
from flask import current_app

from labelhive.security import has_dot_segments
from labelhive.storage.scope import S3Scope

log = logging.getLogger(__name__)

# S3's own limits: bucket names are 3-63 characters of lowercase letters, digits, dots, hyphens
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_CLIENTS_KEY = "labelhive.s3"
_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class S3Settings:
    """The S3 part of the app config (DESIGN.md's configuration table)."""

    endpoint_url: str | None
    region: str
    proxy_prefix: str
    presign_ttl: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> S3Settings:
        ttl = int(config.get("S3_PRESIGN_TTL", 300))
        if not 1 <= ttl <= 7 * 24 * 3600:
            raise ValueError("S3_PRESIGN_TTL must be between 1 second and 7 days (SigV4's limit)")
        return cls(
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region=config.get("S3_REGION") or "us-east-1",
            proxy_prefix=(config.get("S3_PROXY_PREFIX") or "/s3").rstrip("/") or "/s3",
            presign_ttl=ttl,
        )


def make_client(settings: S3Settings) -> Any:
    """A new boto3 S3 client for ``settings`` (SigV4, path-style, bounded retries)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


def client(config: Mapping[str, Any] | None = None) -> Any:
    """The app's S3 client, made once per settings (boto3 clients are thread-safe once made).

    :param config: the config to read; the current app's by default.
    """
    settings = S3Settings.from_config(current_app.config if config is None else config)
    if config is not None:
        return make_client(settings)
    clients = current_app.extensions.setdefault(_CLIENTS_KEY, {})
    found = clients.get(settings)
    if found is None:
        # creating clients (and their session) is not thread-safe in boto3
        with _lock:
            found = clients.get(settings)
            if found is None:
                found = clients[settings] = make_client(settings)
    return found


def parse_s3_url(url: str) -> tuple[str, str] | None:
    """``s3://bucket/key`` -> ``(bucket, key)``; ``None`` unless it names one object.

    The key is taken as written (S3 keys may contain ``%`` and spaces; nothing is decoded).
    """
    if not url.startswith("s3://"):
        return None
    bucket, _, key = url[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket) or not key or key.endswith("/"):
        return None
    return bucket, key


def parse_s3_prefix(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix/`` -> ``(bucket, "prefix/")``; the prefix may be empty.

    :raise ValueError: not an ``s3://`` URL with a valid bucket name.
    """
    if not url.startswith("s3://"):
        raise ValueError(f"{url!r} is not an s3://bucket/prefix/ URL")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"{bucket!r} is not a valid S3 bucket name")
    return bucket, prefix


def s3_url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def normalise_extensions(extensions: Iterable[str] | str | None) -> tuple[str, ...]:
    """``"jpg, .PNG"`` or ``["jpg", "png"]`` -> ``(".jpg", ".png")``; empty means every key."""
    if extensions is None:
        return ()
    items = extensions.split(",") if isinstance(extensions, str) else extensions
    cleaned = {"." + e.strip().lower().lstrip(".") for e in items if e.strip().strip(".")}
    return tuple(sorted(cleaned))


def presign_get(bucket: str, key: str, *, ttl: int | None = None, s3: Any = None) -> str:
    """A GET URL for the object, signed for the upstream endpoint, valid ``ttl`` seconds."""
    s3 = s3 or client()
    if ttl is None:
        ttl = S3Settings.from_config(current_app.config).presign_ttl
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl
    )


def to_proxy_path(presigned: str, bucket: str, prefix: str) -> str:
    """Rewrite a presigned path-style URL to ``<prefix>/<bucket>/<key>?<signed query>``.

    The path is kept byte for byte: S3 checks the signature against the path it receives.

    :raise ValueError: the URL is not path-style for ``bucket`` or carries no query signature.
    """
    parts = urlsplit(presigned)
    if not parts.path.startswith(f"/{bucket}/") or "X-Amz-Signature=" not in parts.query:
        raise ValueError("not a presigned path-style URL for this bucket")
    return f"{prefix.rstrip('/')}{parts.path}?{parts.query}"


def proxy_url(bucket: str, key: str, *, ttl: int | None = None) -> str:
    """The URL a browser loads the object from: presigned, through this site's proxy prefix."""
    prefix = S3Settings.from_config(current_app.config).proxy_prefix
    return to_proxy_path(presign_get(bucket, key, ttl=ttl), bucket, prefix)


def image_url(url: str, scope: S3Scope) -> str | None:
    """:func:`proxy_url` for an ``s3://bucket/key`` URL; ``None`` if it names no object, or
    one outside ``scope`` (the project's buckets and prefix: :mod:`labelhive.storage.scope`).

    Give the result only to a user who holds a lease on the task (or manages the project).
    """
    parsed = parse_s3_url(url)
    if parsed is None or has_dot_segments(parsed[1]):
        # '.'/'..' keys are legal in S3, but the browser would resolve them in the proxied
        # path and leave the proxy prefix (/s3/bucket/../../account/...)
        return None
    if scope.object_problem(*parsed):
        # stored before the rule, or by hand: the app's credentials reach more than the project
        log.warning("refused to presign s3://%s/... outside the project's storage", parsed[0])
        return None
    try:
        return proxy_url(*parsed)
    except (BotoCoreError, ValueError) as exc:  # e.g. no credentials in the chain
        log.warning("cannot presign s3://%s/...: %s", parsed[0], exc)
        return None


def list_keys(
    bucket: str,
    prefix: str,
    extensions: Iterable[str] | str | None = None,
    *,
    s3: Any = None,
    page_size: int = 1000,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(listed, keys)`` per listing page: how many keys the page held, and those kept.

    Keys are kept when they end with one of ``extensions`` (any case); "folder" markers (keys
    ending in ``/``) never are. Pages come in S3's key order.
    """
    s3 = s3 or client()
    wanted = normalise_extensions(extensions)
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        contents = page.get("Contents", [])
        keys = [
            item["Key"]
            for item in contents
            if not item["Key"].endswith("/")
            and (not wanted or item["Key"].lower().endswith(wanted))
        ]
        yield len(contents), keys
