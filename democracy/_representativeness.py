"""How fair and how representative a panel-selection algorithm is on one registry.

Two questions, each answered exactly where it can be and checked by sampling:

* **Fairness to registrants**: each registrant's selection probability, computed from
  the algorithm's distribution (``_leximin.selection_probabilities``), its minimum, its spread and
  the minimum's ratio to the uniform ``k / n``; and the same frequencies from seeded
  draws (:func:`sample`), with how many registrants' exact probability falls outside the
  95% Wilson interval of their sampled frequency (about 5% by chance alone).
* **Representativeness beyond the quotas**: the mean total variation distance between
  the panel and the registry on each attribute, including attributes that were not
  quota variables (a non-stratified attribute, the voters' first preferences), where the
  quotas give no guarantee.

Everything is a pure function of the registry, the algorithm, the panel size and the
seed of the draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, t

from flagship.democracy._leximin import select_panel, selection_probabilities
from flagship.democracy._sortition import total_variation

__all__ = ["SelectionReport", "sample", "selection_report"]

Cell = tuple[str, ...]
CONFIDENCE = 0.95


def sample(
    selection: str,
    cells: Sequence[Cell],
    size: int,
    draws: int,
    rng: np.random.Generator,
    keys: Sequence[str] = (),
    quotas: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> list[tuple[int, ...]]:
    """``draws`` panels (member indices) drawn one after another from ``rng``."""
    return [select_panel(selection, cells, size, rng, keys, quotas).members for _ in range(draws)]


@dataclass(frozen=True, slots=True)
class SelectionReport:
    """One algorithm on one registry: probabilities, their sampling check, and mean TVDs."""

    selection: str
    size: int
    registrants: int
    draws: int
    probabilities: tuple[float, ...]
    frequencies: tuple[float, ...]
    outside_wilson: int
    tvd: dict[str, tuple[float, float]]
    """attribute -> (mean TVD over the draws, half-width of its 95% t interval)"""

    @property
    def uniform(self) -> float:
        return self.size / self.registrants

    @property
    def minimum(self) -> float:
        return min(self.probabilities)

    @property
    def maximum(self) -> float:
        return max(self.probabilities)

    @property
    def ratio_to_uniform(self) -> float:
        return self.minimum / self.uniform


def selection_report(
    selection: str,
    attributes: Mapping[str, Sequence[str]],
    keys: Sequence[str],
    size: int,
    draws: int,
    seed: int,
    quotas: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> SelectionReport:
    """Report ``selection`` on a registry given as ``attributes[name][i]`` (registrant ``i``).

    ``keys`` are the quota (strata) attributes; every attribute, quota or not, gets its
    mean panel-vs-registry TVD over ``draws`` panels drawn from ``default_rng(seed)``.
    """
    columns = {name: list(values) for name, values in attributes.items()}
    n = len(next(iter(columns.values())))
    cells = [tuple(columns[key][i] for key in keys) for i in range(n)]
    size = min(size, n)
    probabilities = selection_probabilities(selection, cells, size, keys, quotas)
    panels = sample(selection, cells, size, draws, np.random.default_rng(seed), keys, quotas)
    hits = np.zeros(n, dtype=np.int64)
    for panel in panels:
        hits[list(panel)] += 1
    outside = 0
    for i in range(n):
        interval = binomtest(int(hits[i]), draws).proportion_ci(CONFIDENCE, method="wilson")
        if not interval.low <= probabilities[i] <= interval.high:
            outside += 1
    tvd = {}
    for name in sorted(columns):
        column = columns[name]
        distances = np.array(
            [total_variation([column[i] for i in panel], column) or 0.0 for panel in panels]
        )
        mean = math.fsum(distances.tolist()) / len(distances)
        spread = float(distances.std(ddof=1)) / math.sqrt(len(distances)) if len(distances) > 1 else math.nan
        tvd[name] = (mean, float(t.ppf(0.5 + CONFIDENCE / 2, len(distances) - 1)) * spread)
    return SelectionReport(
        selection,
        size,
        n,
        draws,
        tuple(probabilities),
        tuple(float(h) / draws for h in hits),
        outside,
        tvd,
    )
