"""Files uploaded before helping materials moved into the database, copied in from disk.

Until revision 0007 an upload was written to ``UPLOAD_DIR/helpingmaterial/<project>/<stored>``
(``UPLOAD_DIR`` defaulting to ``<instance path>/uploads``) and its row kept only the stored
name. :func:`import_files` copies each such file into the database under the same row, so its
address (``media_url``) does not change. It is idempotent: a material whose bytes are already
stored is left alone, so a second run copies only what the first one missed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import select

from labelhive.extensions import db
from labelhive.helping import files
from labelhive.helping import services
from labelhive.helping.models import HelpingMaterial


@dataclasses.dataclass
class ImportReport:
    """What :func:`import_files` did: files copied, already stored, and not found on disk."""

    copied: int = 0
    already: int = 0
    missing: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        return (
            f"Copied {self.copied} helping material file(s) into the database; "
            f"{self.already} were already there, {len(self.missing)} not found."
        )


def waiting() -> list[int]:
    """The ids of uploaded materials whose bytes are not in the database."""
    return list(
        db.session.scalars(
            select(HelpingMaterial.id)
            .where(HelpingMaterial.file_name.is_not(None), HelpingMaterial.size.is_(None))
            .order_by(HelpingMaterial.id)
        )
    )


def import_files(root: Path) -> ImportReport:
    """Copy the files under ``root`` (the old ``UPLOAD_DIR``) of every material that lacks its
    bytes into the database, one material per transaction (commits)."""
    report = ImportReport()
    report.already = db.session.scalar(  # type: ignore[assignment]  # a count is never NULL
        select(db.func.count())
        .select_from(HelpingMaterial)
        .where(HelpingMaterial.file_name.is_not(None), HelpingMaterial.size.is_not(None))
    )
    for material_id in waiting():
        material = db.session.get(HelpingMaterial, material_id)
        if material is None or material.file_name is None or material.size is not None:
            continue  # deleted or copied by someone else meanwhile
        where = f"helpingmaterial/{material.project_id}/{material.file_name}"
        path = root / "helpingmaterial" / str(material.project_id) / material.file_name
        if not services.is_stored_name(material.file_name) or not path.is_file():
            report.missing.append(where)
            continue
        material.content_type = files.content_type(material.file_name)
        try:
            with path.open("rb") as stream:
                files.store(material, stream)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        report.copied += 1
    return report
