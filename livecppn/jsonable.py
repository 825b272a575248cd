"""Round floats (and sequences of them) for JSON reports, leaving other values as they are."""

from __future__ import annotations


def rounded(value, digits: int = 6):
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    try:
        return round(float(value), digits)  # numpy scalars
    except (TypeError, ValueError):
        return str(value)
