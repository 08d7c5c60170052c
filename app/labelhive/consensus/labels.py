"""Small pure helpers shared by consensus and the dataset export (no heavy imports)."""

from __future__ import annotations

import hashlib
from typing import Any

DEFAULT_VALIDATION_FRACTION = 0.2


def label_of(info: Any) -> str | None:
    """The categorical answer in an answer's ``info``: a string, or ``{"answer": "..."}``.

    :return: the label, or ``None`` for answers that are not one label (free-form objects).
    """
    if isinstance(info, str):
        return info
    if isinstance(info, dict):
        value = info.get("answer", info.get("label"))
        if isinstance(value, str):
            return value
    return None


def split_of(task_id: int, validation_fraction: float = DEFAULT_VALIDATION_FRACTION) -> str:
    """``"validation"`` or ``"train"``, decided by a stable hash of the item id.

    The same item lands in the same split in every export, on every machine and Python version
    (sha256, not ``hash()``), so a model's validation items never leak into its training set;
    raising the fraction only moves items from train to validation.
    """
    digest = hashlib.sha256(str(task_id).encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return "validation" if share < validation_fraction else "train"
