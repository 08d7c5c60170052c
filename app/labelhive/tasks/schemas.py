"""The task spec: what a task is, and the checks it passes, for every way tasks come in.

One definition for the web import, the API (``POST /api/task`` and bulk imports), the import job
and the CLI: a rule added here holds at each of them. A gold answer in particular must be one
of the project's answer options wherever it comes from: a gold ``zebra`` in a cat/dog/bird
project would score every annotator wrong and skew gold-weighted consensus.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from labelhive.storage import scope
from labelhive.tasks import rules

if TYPE_CHECKING:
    from labelhive.projects.models import Project


# slots: a file's worth of them is held by an import, and they are made a million at a time
@dataclasses.dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task to create: its ``info`` and the per-row settings (``None``: use the default)."""

    info: dict[str, Any]
    n_answers: int | None = None
    priority_0: float | None = None
    gold_answer: str | None = None


def gold_error(gold: Any, options: Sequence[str]) -> str | None:
    """Why ``gold`` cannot be a task's gold answer in a project with answer ``options``.

    A gold answer is a string without NUL, and one of the options when the project lists
    them (without options any string is accepted, as any answer is).

    :return: a sentence, or ``None`` when ``gold`` is acceptable (``None`` itself is: no gold).
    """
    if gold is None:
        return None
    if not isinstance(gold, str):
        return "it must be a string."
    if "\x00" in gold:
        return "it must not contain NUL characters."
    return rules.answer_error(gold, options)


def import_checks(project: Project, config: Mapping[str, Any]) -> dict[str, Any]:
    """The checks of :func:`labelhive.imports.parsers.parse_tasks` for an import into ``project``.

    The same limits (``LABELHIVE_MAX_IMPORT_*``), storage scope and answer options whichever
    entry point imports: pass them as ``**import_checks(project, app.config)``.
    """
    return {
        "max_rows": config["MAX_IMPORT_ROWS"],
        "max_cell_bytes": config["MAX_CELL_BYTES"],
        "max_columns": config["MAX_IMPORT_COLUMNS"],
        # an s3:// image outside the project's storage refuses the file
        "s3_scope": scope.for_project(project, config),
        "answer_options": tuple(project.answer_options),
    }
