"""One inference module: every interval and test that `run`, `sweep`, `evaluate` and `report` print.

Built on :mod:`scipy.stats` (imported when first needed, so importing the telemetry
package stays cheap); no hand-made tables. Each :class:`Interval` carries the name of
the method that made it and its confidence level, and every printed interval says it.

Which method, and why (the rule, in order):

1. **wilson** (Wilson score interval for a proportion, k of n runs) when the measure is a
   proportion: every defined value of the measure, across *all* runs and arms of the
   sweep, is 0 or 1. Then each run is a Bernoulli trial and the mean is k/n. The score
   interval never has zero width for a finite n (0 of 30 gives [0, 0.114] at 95%),
   which a t-interval or a bootstrap of thirty zeros would.
2. **wilson** also for a *ratio* measure (values in [0, 1], not all 0 or 1) when the
   values being summarised are all equal: a t-interval would have zero width. A value in
   [0, 1] with mean p has variance at most p(1 - p), so the score interval of the mean
   taken as n·p successes of n is a conservative bound. Ratio measures that vary use 3 or 4.
3. **bca** (bias-corrected and accelerated bootstrap, :func:`scipy.stats.bootstrap`, seeded
   from ``seed_sequence(seed, "bootstrap/" + stream)``) only when the data call for it and
   n is large enough: n >= :data:`BCA_MIN_N` (50) and the sample skewness is at least
   :data:`BCA_MIN_SKEW` (1) in absolute value. Below 50 values the BCa interval
   under-covers (its acceleration and bias estimates are noisy), and for roughly symmetric
   data the t-interval is exact or nearly so.
4. **t** (Student-t) for a mean otherwise, and **paired-t** for a difference between two
   arms on common seeds (the t-interval of the per-(cell, seed) differences).

A test of a threshold uses the same method as the interval, so "the interval at level
1 - alpha excludes the threshold" and "the two-sided p-value is below alpha" are the same
statement (for BCa, the p-value inverts the BCa endpoint formula on the same bootstrap
distribution). Fewer than two values give no interval (bounds NaN) and p-values of 1.

Every interval is clipped to the range its measure's unit allows (counts, durations and lot
quantities to >= 0; ``unit_range`` in :mod:`flagship.mechanisms._measures`). The true mean
lies in that range, so clipping cannot lower coverage; the estimate is never moved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from flagship.mechanisms._errors import InputError, Problem
from flagship.mechanisms._random import seed_sequence

__all__ = [
    "BCA_MIN_N",
    "BCA_MIN_SKEW",
    "MAX_REPLICATIONS",
    "Inference",
    "Interval",
    "Method",
    "TestResult",
    "is_proportion",
    "power_replications",
]

Method = Literal["t", "paired-t", "wilson", "bca", "none"]
BCA_MIN_N = 50
BCA_MIN_SKEW = 1.0
MAX_REPLICATIONS = 10_000
"""The cap on a power-based estimate of further replications: beyond it, "more than" is all we say."""
POWER = 0.8


def _scipy_stats() -> Any:
    import scipy.stats  # noqa: PLC0415 - a third of a second: only commands that estimate pay for it

    return scipy.stats


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate (mean) with its interval over ``n`` values, the method and level that made it.

    Bounds are NaN when n < 2. ``sd`` is the standard deviation the method used (the sample
    SD for t and BCa, sqrt(p(1-p)) for Wilson), for power estimates.
    """

    estimate: float
    low: float
    high: float
    n: int
    method: str = "t"
    confidence: float = 0.95
    sd: float = math.nan

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {"estimate": _finite(self.estimate), "ci_low": _finite(self.low),
                "ci_high": _finite(self.high), "n": self.n, "method": self.method,
                "confidence": self.confidence}


@dataclass(frozen=True, slots=True)
class TestResult:
    """One-sided p-values of a threshold: ``above`` tests "mean <= threshold" (small when the mean
    is above it), ``below`` tests "mean >= threshold"; ``two_sided`` is twice the smaller one."""

    above: float
    below: float
    method: str

    @property
    def two_sided(self) -> float:
        return min(1.0, 2 * min(self.above, self.below))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _defined(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def is_proportion(values: Iterable[float | None]) -> bool:
    """Every defined value is 0 or 1 (and there is at least one): a k-of-n proportion."""
    data = _defined(values)
    return bool(data) and all(v in (0.0, 1.0) for v in data)


def _skewness(data: np.ndarray) -> float:
    if data.size < 3 or float(data.std()) == 0.0:
        return 0.0
    return float(_scipy_stats().skew(data, bias=False))


class Inference:
    """Intervals and threshold tests at a confidence level; BCa seeded by ``seed`` and a stream name."""

    def __init__(self, confidence: float = 0.95, *, seed: int = 0, resamples: int = 2000) -> None:
        if not 0 < confidence < 1:
            raise InputError([Problem("confidence", f"expected a number in (0, 1), got {confidence}")])
        if resamples < 1:
            raise InputError([Problem("resamples", f"expected a positive integer, got {resamples}")])
        self.confidence = confidence
        self.seed = seed
        self.resamples = resamples

    # -- choosing the method ---------------------------------------------------------------

    def method_for(self, values: Sequence[float], *, paired: bool = False,
                   proportion: bool = False) -> Method:
        """The method the module docstring's rule picks for these (defined) values."""
        n = len(values)
        if n < 2:
            return "none"
        if not paired:
            if proportion:
                return "wilson"
            if all(0.0 <= v <= 1.0 for v in values) and min(values) == max(values):
                return "wilson"
        data = np.asarray(values, dtype=float)
        if n >= BCA_MIN_N and abs(_skewness(data)) >= BCA_MIN_SKEW:
            return "bca"
        return "paired-t" if paired else "t"

    # -- intervals ------------------------------------------------------------------------------

    def interval(self, values: Iterable[float | None], *, stream: str = "", paired: bool = False,
                 proportion: bool = False, confidence: float | None = None,
                 bounds: tuple[float, float] | None = None) -> Interval:
        """Mean of the defined values and its interval (``None``/NaN skipped) by the rule above.

        ``bounds`` is the range the measure can take (``unit_range`` of its unit): the interval is
        clipped to it, since the true mean lies inside (coverage cannot fall; a t-interval of a
        count near 0 no longer reaches below 0).
        """
        ci = self._interval(values, stream=stream, paired=paired, proportion=proportion,
                            confidence=confidence)
        if bounds is None or not math.isfinite(ci.low):
            return ci
        low, high = bounds
        return replace(ci, low=min(max(ci.low, low), high), high=max(min(ci.high, high), low))

    def _interval(self, values: Iterable[float | None], *, stream: str, paired: bool,
                  proportion: bool, confidence: float | None) -> Interval:
        level = self.confidence if confidence is None else confidence
        data = _defined(values)
        n = len(data)
        if n == 0:
            return Interval(math.nan, math.nan, math.nan, 0, "none", level)
        mean = math.fsum(data) / n
        method = self.method_for(data, paired=paired, proportion=proportion)
        if method == "none":
            return Interval(mean, math.nan, math.nan, n, "none", level)
        if method == "wilson":
            return _wilson(mean, n, level)
        sd = float(np.std(data, ddof=1))
        if method == "bca":
            low, high = self._bca(np.asarray(data), level, stream)
            return Interval(mean, low, high, n, "bca", level, sd)
        half = float(_scipy_stats().t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
        return Interval(mean, mean - half, mean + half, n, method, level, sd)

    def _resampler(self, stream: str) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(seed_sequence(self.seed, "bootstrap/" + stream)))

    def _bca(self, data: np.ndarray, level: float, stream: str) -> tuple[float, float]:
        result = _scipy_stats().bootstrap((data,), np.mean, confidence_level=level, method="BCa",
                                          n_resamples=self.resamples, vectorized=True,
                                          rng=self._resampler(stream))
        return float(result.confidence_interval.low), float(result.confidence_interval.high)

    # -- tests ----------------------------------------------------------------------------------

    def test(self, values: Iterable[float | None], threshold: float, *, stream: str = "",
             paired: bool = False, proportion: bool = False) -> TestResult:
        """One-sided p-values of ``threshold`` by the method :meth:`interval` would use."""
        data = _defined(values)
        n = len(data)
        method = self.method_for(data, paired=paired, proportion=proportion)
        if method == "none":
            return TestResult(1.0, 1.0, "none")
        mean = math.fsum(data) / n
        if method == "wilson":
            return _wilson_test(mean, n, threshold)
        if method == "bca":
            return self._bca_test(np.asarray(data), threshold, stream)
        sd = float(np.std(data, ddof=1))
        if sd == 0.0:
            above = 0.0 if mean > threshold else 1.0
            below = 0.0 if mean < threshold else 1.0
            return TestResult(above, below, method)
        statistic = (mean - threshold) / (sd / math.sqrt(n))
        t = _scipy_stats().t
        return TestResult(float(t.sf(statistic, n - 1)), float(t.cdf(statistic, n - 1)), method)

    def _bca_test(self, data: np.ndarray, threshold: float, stream: str) -> TestResult:
        """Invert the BCa endpoint formula: the one-sided level at which ``threshold`` is an endpoint."""
        stats = _scipy_stats()
        result = stats.bootstrap((data,), np.mean, confidence_level=self.confidence, method="BCa",
                                 n_resamples=self.resamples, vectorized=True,
                                 rng=self._resampler(stream))
        replicates = np.asarray(result.bootstrap_distribution)
        count = replicates.size
        estimate = float(data.mean())
        bias = float(stats.norm.ppf(np.clip(np.mean(replicates < estimate), 0.5 / count,
                                            1 - 0.5 / count)))
        jackknife = (data.sum() - data) / (data.size - 1)
        spread = jackknife.mean() - jackknife
        denominator = 6 * float(np.sum(spread**2)) ** 1.5
        acceleration = float(np.sum(spread**3)) / denominator if denominator > 0 else 0.0
        share = float(np.clip(np.mean(replicates < threshold), 0.5 / count, 1 - 0.5 / count))
        shift = float(stats.norm.ppf(share)) - bias
        corrected = shift / (1 + acceleration * shift) - bias
        lower_tail = float(stats.norm.cdf(corrected))  # the level at which threshold is the lower end
        return TestResult(lower_tail, 1 - lower_tail, "bca")


def _wilson(mean: float, n: int, level: float) -> Interval:
    z = float(_scipy_stats().norm.ppf(0.5 + level / 2))
    p = min(1.0, max(0.0, mean))
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # the score interval holds p itself; clamping keeps rounding (1e-17 above 0 for k = 0) from moving it
    low = min(p, max(0.0, centre - half))
    high = max(p, min(1.0, centre + half))
    return Interval(mean, low, high, n, "wilson", level, math.sqrt(p * (1 - p)))


def _wilson_test(mean: float, n: int, threshold: float) -> TestResult:
    """The score test that the Wilson interval inverts (certain answers outside (0, 1))."""
    p = min(1.0, max(0.0, mean))
    if threshold <= 0.0 or threshold >= 1.0:
        above = 0.0 if p > threshold else 1.0
        below = 0.0 if p < threshold else 1.0
        return TestResult(above, below, "wilson")
    statistic = (p - threshold) / math.sqrt(threshold * (1 - threshold) / n)
    norm = _scipy_stats().norm
    return TestResult(float(norm.sf(statistic)), float(norm.cdf(statistic)), "wilson")


def power_replications(interval: Interval, threshold: float, alpha: float, *,
                       power: float = POWER) -> int | None:
    """An *estimate* of the further replications that would decide a criterion part.

    The n at which a one-sided test at level ``alpha / 2`` (the two-sided interval's tail) has
    ``power`` to separate the observed mean from ``threshold``, given the observed standard
    deviation: n = ((z(1 - alpha/2) + z(power)) * sd / distance)^2, minus the n already run,
    at least 1. Capped at :data:`MAX_REPLICATIONS`; ``None`` when no estimate exists (fewer than
    two values, no spread, or the estimate exactly on the threshold).
    """
    distance = abs(interval.estimate - threshold)
    sd = interval.sd
    if interval.method == "wilson":  # use a shrunk proportion: k = 0 still has a spread
        p = (interval.estimate * interval.n + 1) / (interval.n + 2)
        sd = math.sqrt(p * (1 - p))
    if interval.n < 2 or not math.isfinite(sd) or sd == 0.0 or not distance > 0 \
            or not math.isfinite(distance):
        return None
    norm = _scipy_stats().norm
    z = float(norm.ppf(1 - alpha / 2)) + float(norm.ppf(power))
    ratio = z * sd / distance
    if not ratio < 1e6:
        return MAX_REPLICATIONS
    needed = math.ceil(ratio * ratio - 1e-9)
    return min(MAX_REPLICATIONS, max(1, needed - interval.n))
