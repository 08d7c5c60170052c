"""Kubernetes resource quantities (``resource.Quantity``) as numbers.

Pure: the Redis builder derives ``maxmemory`` from the container's memory limit with it.
"""

from __future__ import annotations

import re
from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^\+?(?P<num>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>[KMGTPE]i|[eE][-+]?[0-9]+|[numkMGTPE])?$"
)


def parse(value: int | str) -> Decimal:
    """Return the value of a quantity (``512Mi`` → 536870912, ``1.5G``, ``1e3``, ``500m``).

    :param value: an integer or a quantity string (the pattern ``validate.QUANTITY_PATTERN``
        admits; the CRD rejects anything else before it gets here).
    :return: the exact value.
    :raise ValueError: if ``value`` is not a quantity.
    """
    if isinstance(value, int):
        return Decimal(value)
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number = Decimal(match["num"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        return number.scaleb(int(suffix[1:]))
    return number * _DECIMAL[suffix]


def to_bytes(value: int | str) -> int:
    """Return a memory quantity in whole bytes (rounded down)."""
    return int(parse(value))
