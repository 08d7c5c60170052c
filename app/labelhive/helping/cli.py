"""``labelhive helping``: commands for helping materials' stored files."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def helping() -> None:
    """Helping materials' files."""


@helping.command("import-files")
@click.argument(
    "directory", type=click.Path(file_okay=False, exists=True, readable=True, path_type=Path)
)
def import_files(directory: Path) -> None:
    """Copy helping material files uploaded to disk by earlier releases into the database.

    DIRECTORY is the old LABELHIVE_UPLOAD_DIR (by default <instance>/uploads). Safe to run
    again; exits with 1 when some file is not found (each is listed).
    """
    # imported here: the command line loads before the app does
    from labelhive.cli import _require_schema
    from labelhive.cli import app_context
    from labelhive.helping import legacy

    with app_context() as app:
        _require_schema(app)
        report = legacy.import_files(directory)
    for where in report.missing:
        click.echo(f"Not found: {directory / where}", err=True)
    if report.missing:
        raise click.ClickException(
            report.summary() + " Put the missing files back and run this again, or delete "
            "those helping materials (DELETE /api/helpingmaterial/<id>)."
        )
    click.echo(report.summary())
