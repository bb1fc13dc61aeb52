"""Argument checks shared by the agents package: each failure is an InputError naming the field."""

from __future__ import annotations

import math

from flagship.mechanisms._errors import InputError, Problem

__all__ = ["finite_number", "finite_or_none", "positive_number"]


def finite_number(value: object, field: str) -> float:
    """``value`` as a float if it is a finite real number (not a bool), else InputError."""
    # bool is an int subclass; True as a timestamp is always a caller's mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(Problem(field, f"expected a number, got {type(value).__name__}"))
    number = float(value)
    if not math.isfinite(number):
        raise InputError(Problem(field, f"expected a finite number, got {value!r}"))
    return number


def positive_number(value: object, field: str) -> float:
    """``value`` as a float if it is a finite number > 0, else InputError."""
    number = finite_number(value, field)
    if number <= 0:
        raise InputError(Problem(field, f"expected a number > 0, got {value!r}"))
    return number


def finite_or_none(value: object) -> float | None:
    """``value`` as a float if it is a finite real number (not a bool), else None (no exception)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
