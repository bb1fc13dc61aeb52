"""Verdicts of an interval against a threshold, and the seeded percentile bootstrap.

The commands estimate with :mod:`flagship.telemetry._inference` (t, paired-t, Wilson, BCa);
this module keeps the verdict vocabulary (:class:`Verdict`, :func:`judge`) they share and
the plain percentile bootstrap below, a library function no command prints any more (at
n = 8 it covers about 88% of a nominal 95% for normal data: see docs/experiments.md).

An estimate across replications is the mean of the defined values, with a
percentile bootstrap interval (default 2,000 resamples, 95%) drawn from a numpy
stream named by the caller, so the same data and seed always give the same
interval. Paired differences between arms are bootstrapped the same way over
the per-(cell, seed) differences: common random numbers make them tight.

A verdict compares the whole interval with a threshold: *pass* when it clears it,
*fail* when it lies entirely on the wrong side, *inconclusive* otherwise. For an
inconclusive verdict, the further replications that would likely decide it are
estimated from the current interval: the half-width shrinks like 1/sqrt(n), so
about ``ceil(n * (half_width / distance)**2) - n`` more make it narrower than the
distance between the estimate and the threshold (none can be promised when the
estimate sits on the threshold).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

import numpy as np

from flagship.mechanisms._errors import InputError, Problem
from flagship.mechanisms._random import seed_sequence
from flagship.telemetry._inference import Interval

__all__ = ["Interval", "Op", "Verdict", "bootstrap_mean", "judge"]

Op = Literal[">=", "<=", ">", "<"]
_CELLS_PER_CHUNK = 2_000_000  # resamples x n values drawn at once: bounds memory for large n


class Verdict(StrEnum):
    """The outcome of one criterion."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


def bootstrap_mean(values: Iterable[float | None], *, seed: int = 0, stream: str = "",
                   resamples: int = 2000, confidence: float = 0.95) -> Interval:
    """Mean of the defined values and its percentile bootstrap interval.

    ``None`` and non-finite values are skipped. The resampling stream is
    ``seed_sequence(seed, "bootstrap/" + stream)``: name it after what is estimated so
    each estimate is reproducible on its own, whatever else is computed.
    """
    if resamples < 1:
        raise InputError([Problem("resamples", f"expected a positive integer, got {resamples}")])
    if not 0 < confidence < 1:
        raise InputError([Problem("confidence", f"expected a number in (0, 1), got {confidence}")])
    data = np.array([float(v) for v in values if v is not None and math.isfinite(float(v))])
    n = int(data.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "none", confidence)
    estimate = float(data.mean())
    if n == 1:
        return Interval(estimate, math.nan, math.nan, 1, "none", confidence)
    rng = np.random.Generator(np.random.PCG64(seed_sequence(seed, "bootstrap/" + stream)))
    means = np.empty(resamples)
    rows = max(1, _CELLS_PER_CHUNK // n)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        means[start:stop] = data[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = (float(q) for q in np.quantile(means, (tail, 1 - tail)))
    # a mean of resampled values cannot leave [min, max]; clip away floating-point excursions
    lowest, highest = float(data.min()), float(data.max())
    return Interval(estimate, min(max(low, lowest), highest), min(max(high, lowest), highest), n,
                    "percentile", confidence)


def judge(interval: Interval, op: Op, threshold: float) -> Verdict:
    """Pass when the whole interval satisfies ``op threshold``; fail when none of it does.

    With fewer than two values there is no interval and the verdict is inconclusive.
    """
    if interval.n < 2 or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return Verdict.INCONCLUSIVE
    low, high = interval.low, interval.high
    if op == ">=":
        passed, failed = low >= threshold, high < threshold
    elif op == ">":
        passed, failed = low > threshold, high <= threshold
    elif op == "<=":
        passed, failed = high <= threshold, low > threshold
    elif op == "<":
        passed, failed = high < threshold, low >= threshold
    else:
        raise InputError([Problem("op", f"expected one of >=, <=, >, <, got {op!r}")])
    if passed:
        return Verdict.PASS
    return Verdict.FAIL if failed else Verdict.INCONCLUSIVE
