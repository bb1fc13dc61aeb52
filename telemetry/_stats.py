"""Small, dependency-free statistics for summaries across replications."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from flagship.mechanisms._errors import InputError

__all__ = ["Estimate", "mean_ci", "t_critical"]

# Two-sided 95% Student-t critical values by degrees of freedom (standard tables).
_T95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
    26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}


def t_critical(df: int) -> float:
    """The two-sided 95% Student-t critical value for ``df`` degrees of freedom."""
    if df < 1:
        raise InputError(f"df: expected a positive integer, got {df}")
    if df in _T95:
        return _T95[df]
    keys = sorted(_T95)
    if df > keys[-1]:
        return 1.960
    upper = next(k for k in keys if k > df)
    lower = max(k for k in keys if k < df)
    # Interpolate in 1/df, which is nearly linear for t quantiles.
    weight = (1 / df - 1 / upper) / (1 / lower - 1 / upper)
    return _T95[upper] + weight * (_T95[lower] - _T95[upper])


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean with its 95% confidence interval over ``n`` values (bounds NaN when n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {"mean": _json(self.mean), "ci_low": _json(self.low), "ci_high": _json(self.high),
                "n": self.n}


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None


def mean_ci(values: Iterable[float | None]) -> Estimate:
    """Mean and Student-t 95% interval of the defined values (``None`` and NaN are skipped)."""
    data = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(data)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = math.fsum(data) / n
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1)
    variance = math.fsum((x - mean) ** 2 for x in data) / (n - 1)
    half = t_critical(n - 1) * math.sqrt(variance / n)
    return Estimate(mean, mean - half, mean + half, n)
