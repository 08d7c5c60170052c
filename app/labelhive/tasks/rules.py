"""Input rules of tasks (redundancy), and the annotation rules' former home.

The exact-redundancy rules are :mod:`labelhive.annotation.core`'s; their names stay importable
from here for the callers that import them from this module.
"""

from __future__ import annotations

from typing import Any

from labelhive.annotation.core import REFUSAL_MESSAGES as REFUSAL_MESSAGES
from labelhive.annotation.core import Refusal as Refusal
from labelhive.annotation.core import answer_error as answer_error
from labelhive.annotation.core import has_room as has_room
from labelhive.annotation.core import is_complete as is_complete
from labelhive.annotation.core import lease_expiry as lease_expiry
from labelhive.annotation.core import serve_gold as serve_gold
from labelhive.annotation.core import state_after_redundancy_change as state_after_redundancy_change

MAX_N_ANSWERS = 10_000


def validate_n_answers(value: Any) -> int:
    """Parse a redundancy from user input (PYBOSSA clients send strings like ``"5"``).

    :raise ValueError: with a sentence saying what is wrong.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is None:
        raise ValueError(f"n_answers must be a whole number of at least 1, not {value!r}")
    if not 1 <= number <= MAX_N_ANSWERS:
        raise ValueError(f"n_answers must be between 1 and {MAX_N_ANSWERS}, not {number}")
    return number
