"""The labeled dataset as an ImageFolder tree in S3: ``s3://<bucket>/<prefix>/<label>/<key>``.

Each labeled item whose image is an ``s3://`` object is copied server-side (``CopyObject``: the
bytes never pass through LabelHive) to ``<prefix>/<label>/<source key>``, and a manifest is
written at ``<prefix>/manifest.jsonl``: one JSON object per copied item, in item id order, with
``item_id``, ``source``, ``key``, ``label``, ``confidence``, ``method`` and ``split``
(the labeled dataset's columns, :mod:`labelhive.exports.dataset`).

Re-running is idempotent: copies overwrite themselves with the same bytes, and an item whose
label changed since the last run (its key in the previous manifest differs) has its old copy
deleted, so no item is ever in two class folders. Only keys listed in the previous manifest,
under the prefix, are ever deleted; the new manifest replaces the old one last.

Keys are checked, never trusted: a label becomes one safe key segment (:func:`label_segments`),
a source key with an empty, ``.`` or ``..`` segment, a backslash or a control character is
refused (counted in the result, not copied), and the destination prefix is checked the same way.

The copy stays inside the project's storage (:mod:`labelhive.storage.scope`): the destination
must be in a configured bucket and under the project's prefix, and a source outside it is
refused (counted, not copied). The manifest is the project's: it carries the project's id
(object metadata ``labelhive-project-id``), and a destination is used only when its manifest
is this project's, or when it is empty and inside no other copy. Only keys listed in the
project's own previous manifest are ever deleted.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from collections.abc import Iterator
from typing import IO
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import select

from labelhive.consensus.labels import DEFAULT_VALIDATION_FRACTION
from labelhive.exports import dataset
from labelhive.extensions import db
from labelhive.jobs import UserError
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs.registry import job
from labelhive.projects.models import Project
from labelhive.tasks.models import Task

if TYPE_CHECKING:
    from labelhive.storage.scope import S3Scope

KIND = "imagefolder"
MANIFEST = "manifest.jsonl"
# S3's limit on a key, in UTF-8 bytes; the prefix gets at most half of it
MAX_KEY_BYTES = 1024
MAX_PREFIX_BYTES = 512
MAX_LABEL_CHARS = 100
# copies in flight per batch (boto3 clients are thread-safe; CopyObject is one request each)
COPY_THREADS = 8
# refused or missing items listed in the job's result (the counts cover all of them)
MAX_LISTED = 20
DELETE_BATCH = 1000
# the manifest's owner: x-amz-meta-labelhive-project-id
OWNER_KEY = "labelhive-project-id"

# letters, digits, "_", "-" and "." are kept; anything else in a label becomes "_"
_UNSAFE = re.compile(r"[^\w.\-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ImageFolderError(ValueError):
    """A destination or request that cannot be used; ``str()`` says why."""


def parse_destination(destination: Any, default_bucket: str = "") -> tuple[str, str]:
    """``s3://bucket/prefix/`` or a bare ``prefix`` (into ``default_bucket``) -> (bucket, prefix).

    The prefix comes back without leading or trailing slashes.

    :raise ImageFolderError: not a string, no bucket, an empty prefix, or a prefix with an
        empty, ``.`` or ``..`` segment, a backslash or a control character.
    """
    from labelhive.storage import s3

    if not isinstance(destination, str) or not destination.strip():
        raise ImageFolderError("Give a destination: s3://bucket/prefix/ or a prefix.")
    destination = destination.strip()
    if destination.startswith("s3://"):
        try:
            bucket, prefix = s3.parse_s3_prefix(destination)
        except ValueError as exc:
            raise ImageFolderError(str(exc)) from None
    else:
        bucket, prefix = default_bucket, destination
        if not bucket:
            raise ImageFolderError(
                "S3_BUCKET is not set: give the destination as s3://bucket/prefix/."
            )
    prefix = prefix.strip("/")
    if not prefix:
        raise ImageFolderError("Give a prefix (a folder) under the bucket, not its root.")
    problem = key_problem(prefix)
    if problem:
        raise ImageFolderError(f"The prefix {prefix!r} {problem}.")
    if len(prefix.encode()) > MAX_PREFIX_BYTES:
        raise ImageFolderError(f"The prefix is longer than {MAX_PREFIX_BYTES} bytes.")
    return bucket, prefix


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a path inside the tree, or ``None``.

    S3 itself allows any key; a dataset is downloaded onto file systems, where ``..`` climbs
    out of the folder and ``\\`` is a separator, so those are refused.
    """
    if _CONTROL.search(key):
        return "contains a control character"
    if "\\" in key:
        return "contains a backslash"
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        return "has an empty, '.' or '..' path segment"
    return None


def label_segments(labels: Iterable[str]) -> dict[str, str]:
    """One safe, distinct key segment per label.

    Letters (any script), digits, ``_``, ``-`` and ``.`` are kept; runs of anything else
    (``/``, spaces, ...) become ``_``; leading and trailing dots go (no ``..``); long labels are
    cut. A label whose segment would be empty, or equal another label's, gets a short hash of
    the label appended, so two labels never share a folder.
    """
    labels = list(dict.fromkeys(labels))
    cleaned = {}
    for label in labels:
        text = unicodedata.normalize("NFC", label)
        cleaned[label] = _UNSAFE.sub("_", text).strip(".")[:MAX_LABEL_CHARS]
    taken: dict[str, int] = {}
    for segment in cleaned.values():
        taken[segment.casefold()] = taken.get(segment.casefold(), 0) + 1
    out = {}
    for label, segment in cleaned.items():
        # case-insensitive: "Cat" and "cat" would be one folder on macOS and Windows
        if not segment or taken[segment.casefold()] > 1:
            digest = hashlib.sha256(label.encode()).hexdigest()[:8]
            segment = f"{segment or 'label'}-{digest}"
        out[label] = segment
    return out


class DestinationRefused(ValueError):
    """A destination outside the project's storage, or another's tree; ``str()`` says why."""


def check_destination(project: Project, bucket: str, prefix: str, client: Any = None) -> None:
    """Refuse a destination the project may not write to.

    It must be inside the project's storage (:mod:`labelhive.storage.scope`), and either hold
    this project's manifest, or be empty and not inside another ImageFolder tree (an ancestor
    prefix holding a manifest).

    :raise DestinationRefused: with a sentence; also when S3 cannot be asked.
    """
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError

    from labelhive.storage import s3
    from labelhive.storage import scope

    where = f"s3://{bucket}/{prefix}/"
    try:
        scope.for_project(project).check_prefix(bucket, prefix + "/")
    except scope.OutsideScope as exc:
        raise DestinationRefused(f"The destination {exc}") from None
    client = client or s3.client()
    try:
        owner = _manifest_owner(client, bucket, f"{prefix}/{MANIFEST}")
        if owner is not None:
            if owner != str(project.id):
                raise DestinationRefused(
                    f"{where} holds an ImageFolder copy that another project (or someone else)"
                    " wrote; choose another destination."
                )
            return
        listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/", MaxKeys=1)
        if listed.get("Contents"):
            raise DestinationRefused(
                f"{where} already holds objects that this project's copy did not write;"
                " choose an empty prefix."
            )
        segments = prefix.split("/")
        for depth in range(1, len(segments)):
            parent = "/".join(segments[:depth])
            if _manifest_owner(client, bucket, f"{parent}/{MANIFEST}") is not None:
                raise DestinationRefused(
                    f"{where} is inside the ImageFolder copy at s3://{bucket}/{parent}/;"
                    " choose a prefix outside it."
                )
    except (BotoCoreError, ClientError) as exc:
        raise DestinationRefused(f"Could not check {where}: {exc}") from None


def _manifest_owner(client: Any, bucket: str, key: str) -> str | None:
    """The project id a manifest was written for (``""`` if it names none); ``None``: none."""
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    return str(head.get("Metadata", {}).get(OWNER_KEY, ""))


@job("export_imagefolder", queue=queues.DEFAULT)
def export_imagefolder(
    job_id: str,
    project_id: int,
    bucket: str,
    prefix: str,
    validation: float = DEFAULT_VALIDATION_FRACTION,
) -> dict[str, Any] | None:
    """The job: copy, clean up moved items, write the manifest (see the module docstring).

    :return: counts (``copied``, ``unlabeled``, ``not_s3``, ``refused``, ``missing``,
        ``removed``), the first few refused or missing items, and the manifest's URL.
    """
    return records.run_job(job_id, lambda run: _export(run, project_id, bucket, prefix, validation))


def _export(
    run: records.Run, project_id: int, bucket: str, prefix: str, validation: float
) -> dict[str, Any]:
    from labelhive.storage import s3
    from labelhive.storage import scope

    project = db.session.get(Project, project_id)
    if project is None:
        raise UserError("The project no longer exists.")
    # checked again: the arguments come from the queue, and S3 may have changed since
    client = s3.client()
    try:
        bucket, prefix = parse_destination(f"s3://{bucket}/{prefix}")
        check_destination(project, bucket, prefix, client)
    except (ImageFolderError, DestinationRefused) as exc:
        raise UserError(str(exc)) from None
    where = scope.for_project(project)
    total = db.session.scalar(
        select(db.func.count()).select_from(Task).where(Task.project_id == project_id)
    )
    db.session.commit()
    run.progress(0, total)
    options = dataset.options_of(db.engine, project_id)
    segments = label_segments(options)
    counts = dict.fromkeys(("copied", "unlabeled", "not_s3", "refused", "missing", "removed"), 0)
    problems: list[dict[str, Any]] = []
    done = 0
    with (
        tempfile.TemporaryFile("w+b") as manifest,
        concurrent.futures.ThreadPoolExecutor(COPY_THREADS) as pool,
    ):
        for rows in dataset.iter_rows(
            db.engine, project_id, options=options, validation=validation
        ):
            planned = []
            for row in rows:
                entry = _plan(row, bucket, prefix, segments, counts, problems, where)
                if entry is not None:
                    planned.append(entry)
            copies = pool.map(lambda e: _copy(client, bucket, e), planned)
            for entry, error in zip(planned, copies, strict=True):
                if error is not None:
                    counts["missing"] += 1
                    _note(problems, entry["item_id"], error)
                    continue
                counts["copied"] += 1
                line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
                manifest.write(line.encode("utf-8"))
            done += len(rows)
            run.progress(done)
        manifest.flush()
        manifest_key = f"{prefix}/{MANIFEST}"
        manifest.seek(0)
        previous = _previous_manifest(client, bucket, manifest_key, project_id)
        stale = set(_stale_keys(previous, manifest))
        # an old copy that another item now lands on (two tasks with one image) stays
        manifest.seek(0)
        stale.difference_update(key for _, key in _entries(manifest))
        # old copies first, the manifest last: a run that dies in between leaves the old
        # manifest, so the next run finds the same stale keys again
        counts["removed"] = _delete(client, bucket, prefix, sorted(stale))
        manifest.seek(0)
        # a managed upload: multipart past a few MiB, so memory stays bounded
        client.upload_fileobj(
            manifest,
            bucket,
            manifest_key,
            ExtraArgs={
                "ContentType": "application/x-ndjson",
                "Metadata": {OWNER_KEY: str(project_id)},
            },
        )
    return {
        **counts,
        "bucket": bucket,
        "prefix": prefix,
        "manifest": s3.s3_url(bucket, manifest_key),
        "problems": problems,
    }


def _note(problems: list[dict[str, Any]], item_id: int, reason: str) -> None:
    if len(problems) < MAX_LISTED:
        problems.append({"item_id": item_id, "reason": reason})


def _plan(
    row: dict[str, Any],
    bucket: str,
    prefix: str,
    segments: dict[str, str],
    counts: dict[str, int],
    problems: list[dict[str, Any]],
    where: S3Scope,
) -> dict[str, Any] | None:
    """The manifest entry (and copy) of one dataset row, or ``None`` (counted why)."""
    from labelhive.storage import s3

    label = row["label"]
    if label is None:
        counts["unlabeled"] += 1
        return None
    image = row["image"]
    parsed = s3.parse_s3_url(image.strip()) if isinstance(image, str) else None
    if parsed is None:
        counts["not_s3"] += 1
        return None
    source_bucket, key = parsed
    segment = segments.get(label) or label_segments([label])[label]
    destination = f"{prefix}/{segment}/{key}"
    problem = key_problem(key)
    if problem is None and where.object_problem(source_bucket, key):
        # another bucket or project: the app's credentials could copy it out
        counts["refused"] += 1
        _note(problems, row["item_id"], "the image is outside this project's storage")
        return None
    if problem is None and len(destination.encode()) > MAX_KEY_BYTES:
        problem = f"is longer than {MAX_KEY_BYTES} bytes under the prefix"
    if problem is not None:
        counts["refused"] += 1
        _note(problems, row["item_id"], f"the image key {key!r} {problem}")
        return None
    return {
        "item_id": row["item_id"],
        "source": s3.s3_url(source_bucket, key),
        "key": destination,
        "label": label,
        "confidence": row["confidence"],
        "method": row["method"],
        "split": row["split"],
        "_from": (source_bucket, key),
    }


def _copy(client: Any, bucket: str, entry: dict[str, Any]) -> str | None:
    """Copy one object server-side; a missing source is reported, other errors raise."""
    from botocore.exceptions import ClientError

    source_bucket, key = entry.pop("_from")
    try:
        client.copy_object(
            Bucket=bucket,
            Key=entry["key"],
            CopySource={"Bucket": source_bucket, "Key": key},
            MetadataDirective="COPY",
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return f"the image {entry['source']} does not exist"
        raise
    return None


def _previous_manifest(
    client: Any, bucket: str, key: str, project_id: int
) -> Iterator[dict[str, Any]]:
    """The entries of this project's previous manifest; none if it is not this project's."""
    from botocore.exceptions import ClientError

    try:
        found = client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in ("NoSuchKey", "404", "NotFound"):
            return
        raise
    body = found["Body"]
    if found.get("Metadata", {}).get(OWNER_KEY) != str(project_id):
        # replaced since the check: its keys are not ours to delete
        body.close()
        return
    for line in body.iter_lines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            yield entry


def _stale_keys(previous: Iterator[dict[str, Any]], current: IO[bytes]) -> Iterator[str]:
    """Keys of the previous manifest that the current one no longer lists for their item.

    Both manifests are in item id order, so one pass over each suffices (constant memory). A
    previous manifest out of that order (edited by hand) stops the clean-up: nothing is
    deleted that the current run might have written.
    """
    now = _entries(current)
    head = next(now, None)
    last = -1
    for entry in previous:
        item_id, key = entry.get("item_id"), entry.get("key")
        if not isinstance(item_id, int) or not isinstance(key, str):
            continue
        if item_id <= last:
            return
        last = item_id
        while head is not None and head[0] < item_id:
            head = next(now, None)
        if head is None or head[0] != item_id or head[1] != key:
            yield key


def _entries(current: IO[bytes]) -> Iterator[tuple[int, str]]:
    for line in current:
        entry = json.loads(line)
        yield entry["item_id"], entry["key"]


def _delete(client: Any, bucket: str, prefix: str, keys: list[str]) -> int:
    """Delete stale copies: only keys inside the tree (``<prefix>/<label>/...``)."""
    inside = [
        k
        for k in keys
        if k.startswith(prefix + "/")
        and k.count("/") >= prefix.count("/") + 2
        and key_problem(k) is None
    ]
    for start in range(0, len(inside), DELETE_BATCH):
        batch = inside[start : start + DELETE_BATCH]
        client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
        )
    return len(inside)
