"""One way to show a count with its noun: ``1 answer``, ``2 answers``, ``1 person``, ``3 people``.

Templates use the ``plural`` filter (``{{ n|plural("answer") }}``, or with an irregular form
``{{ n|plural("person", "people") }}``); Python code (flash messages) calls :func:`plural`.
Pure: no Flask outside :func:`init_app`.
"""

from __future__ import annotations

from flask import Flask

# nouns LabelHive shows whose plural is not the singular plus "s"
IRREGULAR = {"person": "people", "entry": "entries", "copy": "copies", "category": "categories"}


def plural_form(count: int, singular: str, plural_word: str | None = None) -> str:
    """The noun that goes with ``count``: ``singular`` for exactly 1 (and -1), else the plural
    (``plural_word``, a known irregular form, or the singular with ``s``)."""
    if abs(count) == 1:
        return singular
    return plural_word or IRREGULAR.get(singular) or singular + "s"


def plural(count: int | None, singular: str, plural_word: str | None = None) -> str:
    """``count`` and its noun, e.g. ``plural(1, "task") == "1 task"``; ``None`` counts as 0.

    Counts of 1,000 and more get thousands separators (``12,000 tasks``).
    """
    n = int(count or 0)
    return f"{n:,} {plural_form(n, singular, plural_word)}"


def init_app(app: Flask) -> None:
    """Make :func:`plural` the templates' ``plural`` filter and a global function."""
    app.add_template_filter(plural, "plural")
    app.add_template_global(plural, "plural")
