"""A project's short name derived from its name, when the owner leaves it empty.

Pure: the caller says which names are taken. ``static/project-form.js`` derives the same slug
as the owner types, so the form shows what the server would choose.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

MAX_LENGTH = 63


def slugify(name: str) -> str:
    """``"Cats & Dogs 2024"`` → ``"cats-dogs-2024"``: ASCII letters and digits joined by ``-``
    (accents dropped, other scripts dropped), at most :data:`MAX_LENGTH` characters."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_LENGTH].rstrip("-")


def derive(name: str, unavailable: Callable[[str], bool]) -> str:
    """A free short name for ``name``: its slug, else the slug with ``-2``, ``-3`` …
    (``project`` when the name has no ASCII letter or digit).

    :param unavailable: whether a candidate is taken or reserved.
    """
    base = slugify(name) or "project"
    if not unavailable(base):
        return base
    for n in range(2, 10_000):
        suffix = f"-{n}"
        candidate = base[: MAX_LENGTH - len(suffix)].rstrip("-") + suffix
        if not unavailable(candidate):
            return candidate
    raise ValueError("no free short name")  # 10,000 projects of one name
