"""Import every object under ``s3://bucket/prefix/`` as tasks: a job function, idempotent by key.

Each object becomes one task with info ``{"url": "s3://bucket/key", "key": key}``. The listing is
read page by page (1,000 keys), and each page is committed on its own after the keys the project
already has are dropped (one query per page), so:

- a re-run imports only the objects added since (nothing twice), and
- a run that dies half-way keeps what it committed; running it again finishes the job.

Two runs of the same prefix at the same moment could both insert a key: the job layer runs one
import per project at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError
from sqlalchemy import select

from labelhive.extensions import db
from labelhive.imports import writer as tasks
from labelhive.imports.parsers import TaskSpec
from labelhive.projects.models import Project
from labelhive.storage import s3
from labelhive.storage import scope
from labelhive.tasks.models import Task


class S3ImportError(Exception):
    """The prefix is refused, or the listing failed (no such bucket, access denied, endpoint
    down): one sentence."""


@dataclasses.dataclass
class ImportSummary:
    """Counts of an S3 prefix import, also passed to ``progress`` after every page."""

    bucket: str
    prefix: str
    pages: int = 0
    listed: int = 0
    matched: int = 0
    skipped: int = 0
    imported: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _existing(project_id: int, urls: list[str]) -> set[str]:
    # ``info ->> 'url'`` on PostgreSQL, ``json_extract`` on SQLite: the same expression
    url = Task.info["url"].as_string()
    return set(db.session.scalars(select(url).where(Task.project_id == project_id, url.in_(urls))))


def import_prefix(
    project_id: int,
    bucket: str,
    prefix: str,
    extensions: Iterable[str] | str | None = None,
    progress: Callable[[ImportSummary], None] | None = None,
    *,
    n_answers: int | None = None,
    import_id: str | None = None,
    s3_client: Any = None,
) -> ImportSummary:
    """Create one task per object under the prefix that the project does not have yet.

    Commits after every listing page (this is a job function, the outermost caller).

    :param project_id: the project to add to.
    :param bucket: the bucket name.
    :param prefix: the key prefix (``""`` for the whole bucket).
    :param extensions: keep only keys ending with these (``"jpg,png"`` or a list); all if empty.
    :param progress: called with the running summary after each committed page.
    :param n_answers: redundancy for the new tasks (the project's default otherwise).
    :param import_id: stored on the new tasks (see :func:`labelhive.imports.writer.import_tasks`).
    :param s3_client: a boto3 S3 client (the app's by default).
    :return: the counts.
    :raise LookupError: no such project.
    :raise S3ImportError: the bucket or prefix is outside the project's storage
        (:mod:`labelhive.storage.scope`), or the listing failed.
    """
    project = db.session.get(Project, project_id)
    if project is None:
        raise LookupError(f"No project {project_id}.")
    try:
        # before anything is listed: the app's credentials reach more than the project may use
        prefix = scope.for_project(project).check_prefix(bucket, prefix)
    except scope.OutsideScope as exc:
        raise S3ImportError(str(exc)) from None
    summary = ImportSummary(bucket=bucket, prefix=prefix)
    try:
        pages = s3.list_keys(bucket, prefix, extensions, s3=s3_client)
        for listed, keys in _pages(pages):
            project = db.session.get(Project, project_id)
            if project is None:
                raise LookupError(f"No project {project_id}.")
            urls = {s3.s3_url(bucket, key): key for key in keys}
            have = _existing(project_id, list(urls)) if urls else set()
            specs = [
                TaskSpec(info={"url": url, "key": key})
                for url, key in urls.items()
                if url not in have
            ]
            if specs:
                tasks.import_tasks(project, specs, n_answers=n_answers, import_id=import_id)
            db.session.commit()
            summary.pages += 1
            summary.listed += listed
            summary.matched += len(urls)
            summary.skipped += len(have)
            summary.imported += len(specs)
            if progress is not None:
                progress(dataclasses.replace(summary))
    except BaseException:
        db.session.rollback()
        raise
    return summary


def _pages(pages: Iterable[tuple[int, list[str]]]) -> Iterable[tuple[int, list[str]]]:
    """The listing, with boto3's errors turned into one sentence."""
    iterator = iter(pages)
    while True:
        try:
            page = next(iterator)
        except StopIteration:
            return
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise S3ImportError(
                f"Listing S3 failed: {error.get('Code', 'error')}: {error.get('Message', exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise S3ImportError(f"Listing S3 failed: {exc}") from exc
        yield page
