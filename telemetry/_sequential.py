"""Group-sequential looks: extend a sweep in stages without inflating the error rate.

Looking at the data after every stage and stopping as soon as a test rejects would,
with a fixed level at each look, reject a true null far more often than alpha. A
group-sequential boundary spends alpha over the looks instead: with the Lan-DeMets
O'Brien-Fleming-type spending function

    alpha(t) = 2 - 2 * Phi(z(1 - alpha/2) / sqrt(t)),     t = n_k / N (information fraction),

the first looks spend almost nothing and the last look is tested at nearly alpha. The
boundary c_k of look k solves P(|Z_1| < c_1, ..., |Z_{k-1}| < c_{k-1}, |Z_k| >= c_k) =
alpha(t_k) - alpha(t_{k-1}) under the null, where the Z_j are the cumulative test
statistics, jointly normal with corr(Z_i, Z_j) = sqrt(t_i / t_j) (scipy's multivariate
normal CDF, solved with brentq). Each look then tests at the *nominal* two-sided level
2 * (1 - Phi(c_k)), applied to the part's own test (t, paired-t, Wilson or BCa p-value).

Stages: the replications already stored n_0, then doubling (2 n_0, 4 n_0, ...) up to the
maximum N. With several judged parts, each part gets alpha / m (Bonferroni across the
parts: the family-wise error of the whole scorecard stays at most alpha over every look).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flagship.mechanisms._errors import InputError, Problem
from flagship.telemetry._inference import Inference, _scipy_stats

__all__ = ["SequentialPlan", "decide_sequentially", "obf_boundaries", "obf_spending", "plan_stages"]


def obf_spending(fraction: float, alpha: float) -> float:
    """The O'Brien-Fleming-type (Lan-DeMets) alpha spent by information fraction ``fraction``."""
    if fraction <= 0:
        return 0.0
    norm = _scipy_stats().norm
    return float(2 - 2 * norm.cdf(norm.ppf(1 - alpha / 2) / math.sqrt(min(1.0, fraction))))


def obf_boundaries(fractions: Sequence[float], alpha: float) -> list[float]:
    """Two-sided z boundaries c_k at increasing information fractions (the last normally 1)."""
    boundaries: list[float] = []
    spent = 0.0
    for k, fraction in enumerate(fractions):
        target = obf_spending(fraction, alpha) - spent
        if k == 0:
            boundaries.append(float(_scipy_stats().norm.ppf(1 - target / 2)))
            spent += target
            continue
        boundary = _next_boundary(boundaries, fractions[: k + 1], 1.0 - spent - target)
        boundaries.append(boundary)
        spent += target
    return boundaries


def _next_boundary(before: Sequence[float], fractions: Sequence[float], stay_target: float) -> float:
    """The c with P(|Z_j| < c_j for the earlier looks, |Z_k| < c) = ``stay_target`` under the null."""
    stats = _scipy_stats()
    from scipy.optimize import brentq  # noqa: PLC0415

    t = np.asarray(fractions)
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    distribution = stats.multivariate_normal(mean=np.zeros(t.size), cov=cov)

    def stay(c: float) -> float:
        upper = np.append(np.asarray(before), c)
        # the integration is quasi-Monte Carlo: a fixed generator makes the boundary reproducible
        return float(distribution.cdf(upper, lower_limit=-upper, rng=np.random.default_rng(0)))

    return float(brentq(lambda c: stay(c) - stay_target, 0.5, 12.0, xtol=1e-6))


@dataclass(frozen=True)
class SequentialPlan:
    """Looks at cumulative replications ``stages``, each part tested at ``nominal[k]`` (two-sided)."""

    stages: tuple[int, ...]
    alpha: float
    parts: int
    boundaries: tuple[float, ...]

    @property
    def nominal(self) -> tuple[float, ...]:
        norm = _scipy_stats().norm
        return tuple(float(2 * (1 - norm.cdf(c))) for c in self.boundaries)


def plan_stages(current: int, maximum: int, alpha: float, parts: int = 1) -> SequentialPlan:
    """Stages from ``current`` doubling to ``maximum`` replications; boundaries at alpha / parts."""
    if current < 2:
        raise InputError([Problem("--extend", f"needs at least 2 stored replications, got {current}")])
    if maximum < current:
        raise InputError([Problem("--max-replications",
                                  f"expected at least the {current} replications already stored, "
                                  f"got {maximum}")])
    stages = [current]
    while stages[-1] < maximum:
        stages.append(min(maximum, stages[-1] * 2))
    fractions = [n / maximum for n in stages]
    per_part = alpha / max(1, parts)
    return SequentialPlan(tuple(stages), alpha, parts, tuple(obf_boundaries(fractions, per_part)))


def decide_sequentially(values: Sequence[float], threshold: float, plan: SequentialPlan,
                        inference: Inference, *, proportion: bool = False) -> tuple[int | None, str]:
    """One part judged look by look on the prefixes ``values[:n_k]``: (look that decided, verdict).

    The verdict is ``"above"`` (the mean exceeds the threshold), ``"below"`` or ``"undecided"``
    (no look crossed its boundary: the look is then None). This is the decision the CLI's
    sequential evaluation makes per part; the tests simulate it to check the error rate.
    """
    for look, (n, nominal) in enumerate(zip(plan.stages, plan.nominal, strict=True)):
        test = inference.test(values[:n], threshold, proportion=proportion)
        if test.two_sided <= nominal:
            return look, "above" if test.above < test.below else "below"
    return None, "undecided"
