"""The results page's preview of the labeled dataset: its first rows under readable headers.

The files keep their column names (``votes_<option>``, byte for byte, for the programs that read
them); the page shows "Votes" over one column per option instead, with the file's column name
in each header's ``title``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from labelhive.exports import dataset

ROWS = 10
# past this many options the votes are shown as one "option: n" cell, as the page stays readable
MAX_VOTE_COLUMNS = 8


@dataclasses.dataclass(frozen=True)
class Preview:
    options: list[str]
    vote_columns: bool
    rows: list[dict[str, Any]]


def vote_header(option: str) -> tuple[str, str]:
    """A vote column's header on the page and the column's name in the CSV/Parquet files."""
    return option, f"votes_{option}"


def votes_text(votes: dict[str, int], options: Sequence[str]) -> str:
    """The votes of a row as one cell: ``cat: 2, dog: 1`` (options with no vote left out)."""
    return ", ".join(f"{o}: {votes[o]}" for o in options if votes.get(o)) or "no votes"


def load(engine: Engine, project_id: int, limit: int = ROWS) -> Preview:
    """The first ``limit`` rows of the labeled dataset, as :mod:`~labelhive.exports.dataset`
    builds them for the files."""
    options = dataset.options_of(engine, project_id)
    batches = dataset.iter_rows(engine, project_id, options=options, batch_size=limit)
    rows = next(batches, [])
    batches.close()
    return Preview(options, len(options) <= MAX_VOTE_COLUMNS, rows)
