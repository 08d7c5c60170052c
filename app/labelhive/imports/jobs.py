"""Background jobs of the storage domain: importing an S3 prefix as tasks.

Job functions take primitive ids, reload what they need, and are idempotent (house style).
"""

from __future__ import annotations

from typing import Any

from labelhive.imports import s3_prefix as importer
from labelhive.jobs import UserError
from labelhive.jobs import queues
from labelhive.jobs import records
from labelhive.jobs.registry import job


@job("import_s3", queue=queues.DEFAULT)
def import_s3(
    job_id: str,
    project_id: int,
    bucket: str,
    prefix: str,
    extensions: str = "",
    n_answers: int | None = None,
) -> dict[str, Any] | None:
    """Create a task for every object under ``s3://bucket/prefix`` the project lacks.

    Idempotent by key (:func:`labelhive.imports.s3_prefix.import_prefix`): a run again, or a
    later import of the same prefix, adds only the objects added since. ``done`` counts the
    matching objects seen so far; the total is unknown until the listing ends.

    :return: the import's counts (``listed``, ``matched``, ``skipped``, ``imported``, ...).
    """

    def body(run: records.Run) -> dict[str, Any]:
        def progress(summary: importer.ImportSummary) -> None:
            run.progress(summary.matched)

        try:
            summary = importer.import_prefix(
                project_id,
                bucket,
                prefix,
                extensions,
                progress,
                n_answers=n_answers,
                import_id=job_id,
            )
        except importer.S3ImportError as exc:
            raise UserError(str(exc)) from None
        except LookupError:
            raise UserError("The project no longer exists.") from None
        run.progress(summary.matched, summary.matched)
        return summary.as_dict()

    return records.run_job(job_id, body)
