"""The results browser's filters, parsed from query arguments: pure, no I/O.

``disagreement=1`` (answers not unanimous), ``confidence_below=0.8``, ``tie=1``, ``gold=1``
(or ``gold=0``), ``label=cat`` (the final label), ``annotator=<user id>`` (items that user
answered), ``state=needs_review`` (a review state). Every filter narrows the list; the web page
and the API read the same arguments.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from labelhive.review import rules

# the database's integer: a larger user id matches nothing and would overflow
MAX_ID = 2**31 - 1
NAMES = ("disagreement", "confidence_below", "tie", "gold", "label", "annotator", "state")


@dataclasses.dataclass(frozen=True)
class Filters:
    disagreement: bool = False
    confidence_below: float | None = None
    tie: bool = False
    gold: bool | None = None
    label: str | None = None
    annotator: int | None = None
    state: str | None = None

    def query_args(self) -> dict[str, str]:
        """The filters as query arguments (for the next page's link)."""
        args: dict[str, str] = {}
        if self.disagreement:
            args["disagreement"] = "1"
        if self.confidence_below is not None:
            args["confidence_below"] = repr(self.confidence_below)
        if self.tie:
            args["tie"] = "1"
        if self.gold is not None:
            args["gold"] = "1" if self.gold else "0"
        if self.label is not None:
            args["label"] = self.label
        if self.annotator is not None:
            args["annotator"] = str(self.annotator)
        if self.state is not None:
            args["state"] = self.state
        return args


def _flag(name: str, raw: str) -> bool:
    if raw not in ("0", "1", "true", "false"):
        raise ValueError(f"{name} must be 1 or 0.")
    return raw in ("1", "true")


def parse(args: Mapping[str, str]) -> Filters:
    """The filters of a request's query arguments; empty values mean "no filter".

    :raise ValueError: with a sentence naming the argument.
    """
    values = {name: args.get(name, "").strip() for name in NAMES}
    below = None
    if values["confidence_below"]:
        try:
            below = float(values["confidence_below"])
        except ValueError:
            below = math.nan
        if not 0 <= below <= 1:
            raise ValueError("confidence_below must be a number from 0 to 1.")
    annotator = None
    if values["annotator"]:
        raw = values["annotator"]
        if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_ID:
            raise ValueError("annotator must be a user id (a whole number).")
        annotator = int(raw)
    if "\x00" in values["label"]:
        raise ValueError("label must not contain a NUL character.")
    state = values["state"] or None
    if state is not None and state not in rules.STATES:
        raise ValueError(f"state must be one of {', '.join(rules.STATES)}.")
    return Filters(
        disagreement=bool(values["disagreement"]) and _flag("disagreement", values["disagreement"]),
        confidence_below=below,
        tie=bool(values["tie"]) and _flag("tie", values["tie"]),
        gold=_flag("gold", values["gold"]) if values["gold"] else None,
        label=values["label"] or None,
        annotator=annotator,
        state=state,
    )
