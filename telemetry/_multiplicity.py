"""Multiplicity corrections: the level each judged part of a scorecard is tested at.

A scorecard makes many decisions; each part (a criterion in one arm and cell) is one
two-sided test of its threshold. :func:`adjusted_levels` turns the parts' two-sided
p-values into one level per part, so that "the part's interval at 1 - level clears the
threshold" is exactly the corrected decision:

- ``holm`` (default): Holm's step-down procedure, family-wise error at most alpha.
  Sorted p(1) <= ... <= p(m); the k-th is tested at alpha / (m - k + 1) while every
  earlier one was rejected. From the first that is not rejected on, every later part is
  tested at that same level (its p-value is no smaller, so it is not rejected either:
  the printed intervals and the verdicts agree).
- ``bh``: Benjamini-Hochberg step-up, which controls the false-discovery rate (not the
  family-wise error): every part is tested at k*·alpha/m, k* the largest k with
  p(k) <= k·alpha/m (alpha/m when there is none).
- ``none``: every part at alpha.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = ["Correction", "adjusted_levels"]

Correction = Literal["none", "holm", "bh"]


def adjusted_levels(p_values: Sequence[float], alpha: float, correction: Correction) -> list[float]:
    """The two-sided level at which each p-value's hypothesis is tested (same order as given)."""
    m = len(p_values)
    if m == 0:
        return []
    if correction == "none":
        return [alpha] * m
    order = sorted(range(m), key=lambda i: (p_values[i], i))
    levels = [alpha] * m
    if correction == "holm":
        stopped: float | None = None
        for rank, index in enumerate(order, start=1):
            level = alpha / (m - rank + 1) if stopped is None else stopped
            if stopped is None and not p_values[index] <= level:
                stopped = level
            levels[index] = level
        return levels
    if correction == "bh":
        largest = max((rank for rank, index in enumerate(order, start=1)
                       if p_values[index] <= rank * alpha / m), default=1)
        return [largest * alpha / m] * m
    raise ValueError(f"unknown correction {correction!r}")
