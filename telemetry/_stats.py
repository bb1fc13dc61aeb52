"""Summaries across replications for tables and bands: thin wrappers of :mod:`flagship.telemetry._inference`.

:func:`mean_ci` is the Student-t interval of a mean; :func:`summarise` picks the method by
the inference module's rule (Wilson for proportions, BCa for large skewed samples, else t)
and is what ``flagship run`` and ``flagship sweep`` print. No hand-made tables: the
critical values come from :mod:`scipy.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from flagship.mechanisms._errors import InputError
from flagship.telemetry._inference import Inference, _scipy_stats

__all__ = ["Estimate", "mean_ci", "summarise", "t_critical"]


def t_critical(df: int, confidence: float = 0.95) -> float:
    """The two-sided Student-t critical value for ``df`` degrees of freedom at ``confidence``."""
    if df < 1:
        raise InputError(f"df: expected a positive integer, got {df}")
    return float(_scipy_stats().t.ppf(0.5 + confidence / 2, df))


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean with its confidence interval over ``n`` values (bounds NaN when n < 2) and its method."""

    mean: float
    low: float
    high: float
    n: int
    method: str = "t"
    constant: bool = False

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {"mean": _json(self.mean), "ci_low": _json(self.low), "ci_high": _json(self.high),
                "n": self.n, "method": self.method}


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _defined(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def mean_ci(values: Iterable[float | None], confidence: float = 0.95) -> Estimate:
    """Mean and Student-t interval of the defined values (``None`` and NaN are skipped)."""
    data = _defined(values)
    n = len(data)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, "none")
    mean = math.fsum(data) / n
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1, "none")
    variance = math.fsum((x - mean) ** 2 for x in data) / (n - 1)
    half = t_critical(n - 1, confidence) * math.sqrt(variance / n)
    return Estimate(mean, mean - half, mean + half, n, "t")


def summarise(values: Iterable[float | None], *, proportion: bool, inference: Inference,
              stream: str = "", bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean and interval by the inference rule; ``proportion`` says the measure is 0/1 in every run;
    ``bounds`` is the measure's range (the interval is clipped to it)."""
    interval = inference.interval(values, stream=stream, proportion=proportion, bounds=bounds)
    return Estimate(interval.estimate, interval.low, interval.high, interval.n, interval.method)
