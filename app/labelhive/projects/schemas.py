"""Project settings: one schema, read by the API and the CLI (:func:`labelhive.projects.services.
apply_settings`) and by the project form (its bounds and choices).

Each setting is a :class:`Setting` whose ``check`` returns the value to store or raises
:class:`SettingError` with a sentence. Plain functions over a table rather than a validation
library: the checks are a handful of types and ranges, the messages are part of the API (clients
see them), and PYBOSSA clients send numbers as strings in places a strict model would refuse.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from labelhive.projects.models import ORDERINGS
from labelhive.tasks import rules

SHORT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# names that would collide with the web UI's own routes
RESERVED_SHORT_NAMES = {"new", "api", "admin", "static", "account", "s3", "search", "category"}
# labelhive.consensus.consensus.METHODS (not imported: it pulls in pandas and crowd-kit)
CONSENSUS_METHODS = ("dawid_skene", "majority_vote", "gold_weighted")
LEASE_TTL_RANGE = (10, 86400)
MAX_ANSWER_OPTIONS = 50
# the columns' defaults, for a project that is not flushed yet
DEFAULTS = {"default_n_answers": 3, "adaptive_max_answers": 5}


class SettingError(ValueError):
    """A project setting is invalid; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """One settable project attribute and its check."""

    name: str
    check: Callable[[str, Any], Any]


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SettingError(f"{name} must be a string.")
    return value


def _name(name: str, value: Any) -> str:
    if not _text(name, value).strip():
        raise SettingError("name must not be empty.")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SettingError(f"{name} must be true or false.")
    return value


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _redundancy(label: str) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        try:
            return rules.validate_n_answers(value)
        except ValueError as exc:
            raise SettingError(str(exc).replace("n_answers", label or name)) from None

    return check


def _lease_ttl(name: str, value: Any) -> int:
    low, high = LEASE_TTL_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingError(f"lease_ttl must be a whole number of seconds from {low} to {high}.")
    return value


def _gold_rate(name: str, value: Any) -> float:
    if not _number(value) or not 0 <= value <= 1:
        raise SettingError("gold_rate must be a number from 0 to 1.")
    return value


def _threshold(name: str, value: Any) -> float:
    if not _number(value) or not 0 < value <= 1:
        raise SettingError(
            "adaptive_threshold must be a number above 0 and at most 1 (the share of "
            "answers that must agree)."
        )
    return value


def _review_threshold(name: str, value: Any) -> float:
    if not _number(value) or not 0 <= value <= 1:
        raise SettingError(
            "review_threshold must be a number from 0 to 1 (items whose consensus confidence "
            "is below it need review; 0 flags only ties and missed gold)."
        )
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value not in choices:
            raise SettingError(f"{name} must be one of {', '.join(choices)}.")
        return value

    return check


def _any(name: str, value: Any) -> Any:
    return value


def normalise_short_name(short_name: Any) -> Any:
    """NFKC form of a string short name (other values unchanged, for the validator to refuse)."""
    return unicodedata.normalize("NFKC", short_name) if isinstance(short_name, str) else short_name


def validate_short_name(short_name: Any) -> str:
    """The short name, NFKC-normalised (full-width ``ｐｅｔｓ`` is ``pets``), if it then follows
    the ASCII slug rule; look-alikes from other scripts (Cyrillic ``а``), zero-width and
    combining characters stay non-ASCII and are refused, so no name can impersonate another.

    :raise SettingError: with a sentence.
    """
    short_name = normalise_short_name(short_name)
    if not isinstance(short_name, str) or not SHORT_NAME_RE.fullmatch(short_name):
        raise SettingError(
            "short_name must be 1-63 lower-case ASCII letters, digits, '-' or '_', starting "
            f"with a letter or digit (got {short_name!r})."
        )
    if short_name in RESERVED_SHORT_NAMES:
        raise SettingError(f"short_name {short_name!r} is reserved.")
    return short_name


def validate_info(info: Any) -> dict[str, Any]:
    """Check ``info.question`` and ``info.answers`` (the answer options)."""
    if info is None:
        return {}
    if not isinstance(info, dict):
        raise SettingError("info must be a JSON object.")
    answers = info.get("answers")
    if answers is not None:
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise SettingError("info.answers must be a list of strings (the answer options).")
        cleaned = [a.strip() for a in answers]
        if any(not a for a in cleaned):
            raise SettingError("info.answers must not contain empty options.")
        if len(set(cleaned)) != len(cleaned):
            raise SettingError("info.answers must not repeat an option.")
        if len(cleaned) > MAX_ANSWER_OPTIONS:
            raise SettingError(f"info.answers may list at most {MAX_ANSWER_OPTIONS} options.")
        info = {**info, "answers": cleaned}
    question = info.get("question")
    if question is not None and not isinstance(question, str):
        raise SettingError("info.question must be a string.")
    return info


_FLAGS = (
    "published",
    "allow_anonymous_contributors",
    "featured",
    "zip_download",
    "use_task_presenter",
    "consensus_use_gold",
    "adaptive_redundancy",
)

SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("name", _name),
        Setting("short_name", lambda _, value: validate_short_name(value)),
        Setting("description", _text),
        Setting("long_description", _text),
        Setting("info", lambda _, value: validate_info(value)),
        Setting("default_n_answers", _redundancy("redundancy")),
        Setting("lease_ttl", _lease_ttl),
        Setting("ordering", _one_of(ORDERINGS)),
        Setting("gold_rate", _gold_rate),
        Setting("webhook", _any),
        Setting("category_id", _any),
        # consensus and adaptive redundancy (labelhive.results)
        Setting("consensus_method", _one_of(CONSENSUS_METHODS)),
        Setting("adaptive_threshold", _threshold),
        Setting("adaptive_max_answers", _redundancy("")),
        # review (labelhive.review)
        Setting("review_threshold", _review_threshold),
        *(Setting(flag, _flag) for flag in _FLAGS),
    )
}


def check(values: dict[str, Any]) -> dict[str, Any]:
    """Check each setting of ``values`` on its own; return the values to store.

    :raise SettingError: the first unknown key or invalid value, with a sentence.
    """
    checked = {}
    for key, value in values.items():
        setting = SETTINGS.get(key)
        if setting is None:
            raise SettingError(f"{key!r} is not a project setting.")
        checked[key] = setting.check(key, value)
    return checked


def adaptive_cap_error(enabled: bool, cap: int | None, redundancy: int | None) -> str | None:
    """With adaptive redundancy on, its cap must not be below the project's redundancy."""
    if not enabled:
        return None
    cap = cap or DEFAULTS["adaptive_max_answers"]
    redundancy = redundancy or DEFAULTS["default_n_answers"]
    if cap < redundancy:
        return (
            f"adaptive_max_answers ({cap}) must be at least the redundancy "
            f"default_n_answers ({redundancy}): the cap is the most answers a task may get."
        )
    return None
