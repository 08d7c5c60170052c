"""Geometry for the results page's server-side SVG charts (pure; the template draws them).

The template writes every label through Jinja's autoescaping; this module only computes
numbers, so nothing here can inject markup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from collections.abc import Sequence

BAR_WIDTH = 320
ROW = 22
CELL = 34


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    y: int
    width: float


@dataclasses.dataclass(frozen=True)
class Cell:
    row: str
    column: str
    count: int
    share: float
    x: int
    y: int


def bars(values: Mapping[str, float | None], *, scale: float | None = None) -> list[Bar]:
    """One horizontal bar per label; ``scale`` is the value of a full bar (default: the max).

    ``None`` values (not computable) get an empty bar and the text "n/a".
    """
    known = [v for v in values.values() if v is not None]
    top = scale if scale is not None else max([*known, 0]) or 1
    out = []
    for n, (label, value) in enumerate(values.items()):
        if value is None:
            out.append(Bar(label, 0.0, "n/a", n * ROW, 0.0))
            continue
        text = f"{value:,}" if isinstance(value, int) else f"{value:.2f}"
        width = max(0.0, min(1.0, value / top)) * BAR_WIDTH
        out.append(Bar(label, float(value), text, n * ROW, round(width, 1)))
    return out


def heatmap(matrix: Mapping[str, Mapping[str, int]], labels: Sequence[str]) -> list[Cell]:
    """Cells of a confusion matrix, shaded by the share of their row (rows: consensus)."""
    cells = []
    for r, row in enumerate(labels):
        counts = matrix.get(row, {})
        total = sum(counts.values())
        for c, column in enumerate(labels):
            count = int(counts.get(column, 0))
            share = count / total if total else 0.0
            cells.append(Cell(row, column, count, round(share, 3), c * CELL, r * CELL))
    return cells
