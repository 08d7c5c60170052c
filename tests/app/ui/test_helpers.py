"""The pure helpers behind the first-hour UI: plural forms and derived short names."""

from __future__ import annotations

import pytest

from labelhive.plural import plural
from labelhive.projects import shortname


@pytest.mark.parametrize(
    ("count", "args", "expected"),
    [
        (0, ("answer",), "0 answers"),
        (1, ("answer",), "1 answer"),
        (2, ("answer",), "2 answers"),
        (1, ("annotator",), "1 annotator"),
        (None, ("task",), "0 tasks"),
        (12000, ("task",), "12,000 tasks"),
        (1, ("person",), "1 person"),
        (3, ("person",), "3 people"),
        (2, ("entry",), "2 entries"),
        (2, ("child", "children"), "2 children"),
        (1, ("child", "children"), "1 child"),
    ],
)
def test_plural_picks_the_noun_for_the_count(count, args, expected) -> None:  # noqa: ANN001
    assert plural(count, *args) == expected


def test_the_short_name_is_a_slug_of_the_name() -> None:
    assert shortname.slugify("Cats & Dogs 2024") == "cats-dogs-2024"
    assert shortname.slugify("  Éléphants -- d'Afrique ") == "elephants-d-afrique"
    assert shortname.slugify("Кошки") == ""
    assert len(shortname.slugify("x" * 100)) == 63


def test_a_taken_or_empty_slug_gets_a_free_variant() -> None:
    taken = {"pets", "pets-2", "project"}
    assert shortname.derive("Pets", taken.__contains__) == "pets-3"
    assert shortname.derive("Кошки", taken.__contains__) == "project-2"
    long = "y" * 63
    derived = shortname.derive(long, {long}.__contains__)
    assert derived.endswith("-2") and len(derived) == 63
