"""Reliability and intervals of survey scores: Cronbach's alpha, McDonald's omega, t and Welch intervals.

* **alpha** (Cronbach 1951): ``k / (k - 1) * (1 - sum(item variances) / variance(sum score))`` over
  respondents who answered every item of the construct (listwise), variances with ``ddof = 1``.
* **omega total** (McDonald 1999) from a one-factor model of the items' correlation matrix, fitted
  by iterated principal-axis factoring (numpy): communalities start at the squared multiple
  correlations and are refitted from the first eigenpair of the reduced correlation matrix until
  they move by less than 1e-9; ``omega = (sum loadings)^2 / ((sum loadings)^2 + sum uniquenesses)``.
  At convergence this is the unweighted-least-squares (minres) solution, which the tests check
  against a direct least-squares minimisation (scipy). ``factor_analyzer`` was tried as the
  reference and fails with current scikit-learn (``check_array(force_all_finite=...)``), so the
  omega is our own numpy computation, said here and in docs/legitimacy.md. A Heywood case (a
  communality reaching 1) is capped at 0.995.
* **intervals**: the mean's Student-t interval, and Welch's interval for a difference of two
  means (unequal variances, Welch-Satterthwaite degrees of freedom), both from :mod:`scipy.stats`.

Each returns ``None`` where the statistic is undefined (fewer than two items, fewer than three
complete respondents, a zero variance; an interval of fewer than two values per group).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "cronbach_alpha", "mcdonald_omega", "mean_interval", "welch_interval"]

_HEYWOOD = 0.995
_TOLERANCE = 1e-9
_MAX_ITERATIONS = 1000
_SINGULAR_CONDITION = 1e12  # beyond this the computed inverse of a correlation matrix is noise


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its interval (bounds ``None`` when undefined) over ``n`` values."""

    estimate: float
    low: float | None
    high: float | None
    n: int
    method: str

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {"estimate": self.estimate, "ci_low": self.low, "ci_high": self.high, "n": self.n,
                "method": self.method}


def _complete(matrix: np.typing.ArrayLike) -> np.ndarray | None:
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2 or data.shape[1] < 2 or data.shape[0] < 3:
        return None
    return data


def cronbach_alpha(matrix: np.typing.ArrayLike) -> float | None:
    """Cronbach's alpha of complete responses (rows: respondents, columns: items)."""
    data = _complete(matrix)
    if data is None:
        return None
    k = data.shape[1]
    total = float(np.var(data.sum(axis=1), ddof=1))
    if total <= 0.0:
        return None
    return float(k / (k - 1) * (1.0 - float(np.var(data, axis=0, ddof=1).sum()) / total))


def mcdonald_omega(matrix: np.typing.ArrayLike) -> float | None:
    """McDonald's omega total from a one-factor principal-axis fit of the items' correlations."""
    data = _complete(matrix)
    if data is None or np.any(np.var(data, axis=0, ddof=1) <= 0.0):
        return None
    loadings = one_factor_loadings(np.corrcoef(data, rowvar=False))
    common = float(loadings.sum()) ** 2
    unique = float((1.0 - loadings**2).sum())
    return common / (common + unique)


def one_factor_loadings(corr: np.ndarray) -> np.ndarray:
    """Loadings of the first factor of correlation matrix ``corr`` (iterated principal axes)."""
    h2 = np.clip(_squared_multiple_correlations(corr), 0.0, _HEYWOOD)
    loadings = np.sqrt(h2)
    for _ in range(_MAX_ITERATIONS):
        reduced = corr.copy()
        np.fill_diagonal(reduced, h2)
        values, vectors = np.linalg.eigh(reduced)
        loadings = vectors[:, -1] * math.sqrt(max(float(values[-1]), 0.0))
        updated = np.clip(loadings**2, 0.0, _HEYWOOD)
        if float(np.max(np.abs(updated - h2))) < _TOLERANCE:
            h2 = updated
            break
        h2 = updated
    loadings = np.sqrt(h2) * np.sign(loadings)
    result: np.ndarray = loadings if loadings.sum() >= 0 else -loadings
    return result


def _squared_multiple_correlations(corr: np.ndarray) -> np.ndarray:
    """Each item's squared multiple correlation with the others, the usual start for the fit.

    They exist only for a non-singular matrix: with fewer respondents than items, or an item
    that is a linear combination of others, the correlation matrix is singular and its computed
    inverse is noise (a diagonal below 1, or a division by zero). Then every item starts from a
    neutral 0.5 and the iteration decides.
    """
    neutral = np.full(corr.shape[0], 0.5)
    if not np.all(np.isfinite(corr)) or np.linalg.cond(corr) > _SINGULAR_CONDITION:
        return neutral
    try:
        inverse_diagonal = np.diag(np.linalg.inv(corr))
    except np.linalg.LinAlgError:
        return neutral
    # The inverse of a correlation matrix has a diagonal of at least 1 (1 / (1 - R^2)).
    if not np.all(np.isfinite(inverse_diagonal)) or np.any(inverse_diagonal < 1.0):
        return neutral
    result: np.ndarray = 1.0 - 1.0 / inverse_diagonal
    return result


def _t_quantile(q: float, df: float) -> float:
    """Student's t quantile, ``scipy.stats.t.ppf(q, df)``, from the special function it wraps.

    ``scipy.special.stdtrit`` gives the same value bit for bit (tests check it against
    ``stats.t.ppf``) without importing ``scipy.stats``, which costs every run that scores a
    survey two seconds of CPU.
    """
    from scipy import special  # noqa: PLC0415 - only a run that scores pays for it

    return float(special.stdtrit(df, q))


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Estimate | None:
    """The mean and its Student-t interval (``None`` with no values; no bounds with one)."""
    n = len(values)
    if n == 0:
        return None
    mean = float(np.mean(values))
    if n < 2:
        return Estimate(mean, None, None, n, "t")
    half = float(_t_quantile((1 + confidence) / 2, n - 1)) * float(np.std(values, ddof=1)) / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n, "t")


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Estimate | None:
    """mean(a) - mean(b) with Welch's interval (``None`` if a group is empty; no bounds below 2 each)."""
    if not a or not b:
        return None
    diff = float(np.mean(a)) - float(np.mean(b))
    n = len(a) + len(b)
    if len(a) < 2 or len(b) < 2:
        return Estimate(diff, None, None, n, "welch")
    va, vb = float(np.var(a, ddof=1)) / len(a), float(np.var(b, ddof=1)) / len(b)
    se2 = va + vb
    if se2 <= 0.0:
        return Estimate(diff, diff, diff, n, "welch")
    df = se2**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(_t_quantile((1 + confidence) / 2, df)) * math.sqrt(se2)
    return Estimate(diff, diff - half, diff + half, n, "welch")
