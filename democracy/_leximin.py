"""LEXIMIN panel selection (Flanigan, Gölz, Gupta, Hennig & Procaccia 2021, Nature 596).

A panel of ``size`` members must meet quotas: for each quota category (a strata cell, or
one value of one stratum key) the panel holds between ``low`` and ``high`` of its members.
Among all probability distributions over quota-satisfying panels, LEXIMIN picks the one
whose vector of individual selection probabilities is lexicographically largest when
sorted ascending: the least-selected registrant is selected as often as possible, then
the next, and so on.

Members with the same cell (the tuple of their strata values) are interchangeable for
every quota, and the LEXIMIN probability vector is unique, so it gives them the same
probability. The computation therefore runs over *types* (cells) rather than people: a
panel is a seat vector ``x`` (``x[t]`` members of type ``t``), and member ``i`` of type
``t`` is selected with probability ``sum_P p_P x_P[t] / n_t``. A draw picks a seat vector
from the distribution, then ``x[t]`` members uniformly inside each type.

How the distribution is computed (column generation, as in the paper):

1. Seed the panel set: one panel maximising each type's seats (a MILP each, through
   ``scipy.optimize.milp``; infeasible quotas raise ``ContractError``).
2. Solve the LP "maximise z subject to every unfixed type's probability >= z, every fixed
   type's probability >= its fixed value, the panel probabilities sum to 1" over the panel
   set (``scipy.optimize.linprog``, HiGHS). Its duals weigh the types; the pricing MILP
   finds the quota-satisfying panel with the largest dual-weighted probability. If that
   panel beats the LP's dual bound, add it and re-solve; else the LP is optimal over all
   panels.
3. Fix every unfixed type with a positive dual weight at ``z`` (complementary slackness:
   no optimal distribution gives it more) and go back to 2 until every type is fixed.

Determinism: types are in sorted order, panels in the order they were generated, HiGHS
is deterministic for a given input, and probabilities under ``PRUNE`` are dropped; the
distribution is a pure function of (type counts, size, quotas) and is cached per
process (it is the same for every draw from one registry). Only the draw uses the
caller's generator.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flagship.democracy._sortition import Draw, stratified_draw, stratified_probabilities
from flagship.mechanisms import ContractError

__all__ = [
    "PanelDistribution",
    "Quota",
    "cell_quotas",
    "default_quotas",
    "feature_quotas",
    "leximin_distribution",
    "leximin_draw",
    "quotas_for",
    "select_panel",
    "selection_probabilities",
    "types_of",
]

Cell = tuple[str, ...]
FloatArray = npt.NDArray[np.float64]

IMPROVE = 1e-9
"""A priced panel enters only if it beats the LP's dual bound by more than this."""
FIX = 1e-7
"""A type whose dual weight exceeds this is fixed at the current minimum."""
SLACK = 1e-10
"""A fixed type's probability may fall this far below its fixed value (LP round-off)."""
PRUNE = 1e-12
"""Panel probabilities below this are dropped (and the rest renormalised)."""
MAX_ROUNDS = 10_000
"""Column-generation rounds before the computation gives up (never reached in practice)."""


@dataclass(frozen=True, slots=True)
class Quota:
    """A quota category: the types (indices into the sorted cells) it counts, and its bounds."""

    label: str
    types: tuple[int, ...]
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class PanelDistribution:
    """A distribution over seat vectors; ``cells``/``counts`` are the types, sorted."""

    cells: tuple[Cell, ...]
    counts: tuple[int, ...]
    size: int
    panels: tuple[tuple[int, ...], ...]
    probabilities: tuple[float, ...]

    def type_probabilities(self) -> dict[Cell, float]:
        """Each type's individual selection probability: expected seats over its members."""
        seats = np.array(self.panels, dtype=np.float64)
        weights = np.array(self.probabilities, dtype=np.float64)
        expected = weights @ seats
        return {cell: float(expected[t] / self.counts[t]) for t, cell in enumerate(self.cells)}


def cell_quotas(counts: Mapping[Cell, int], size: int) -> dict[Cell, tuple[int, int]]:
    """Per cell, floor and ceil of its proportional share ``size * count / total``."""
    total = sum(counts.values())
    size = min(size, total)
    bounds = {}
    for cell, count in counts.items():
        low, remainder = divmod(size * count, total)
        bounds[cell] = (low, low + (1 if remainder else 0))
    return bounds


def feature_quotas(
    cells: Sequence[Cell], keys: Sequence[str], quotas: Mapping[str, Mapping[str, tuple[int, int]]]
) -> tuple[Quota, ...]:
    """Quotas per value of a stratum key (``quotas[key][value] = (low, high)``) over the sorted types.

    ``keys`` names the positions of a cell; a key or value the quotas name that is not
    there raises ``ContractError`` (a value with ``low = 0`` and no member is allowed).
    """
    out = []
    for key in sorted(quotas):
        if key not in keys:
            raise ContractError(f"panel_quotas: {key!r} is not a stratum key ({', '.join(keys)})")
        position = keys.index(key)
        for value in sorted(quotas[key]):
            low, high = quotas[key][value]
            members = tuple(t for t, cell in enumerate(cells) if cell[position] == value)
            if not members and low > 0:
                raise ContractError(f"panel_quotas.{key}.{value}: no registered voter has this value")
            out.append(Quota(f"{key}={value}", members, low, high))
    return tuple(out)


def _pricing(
    counts: tuple[int, ...], size: int, quotas: tuple[Quota, ...], objective: FloatArray
) -> tuple[int, ...] | None:
    """The quota-satisfying seat vector maximising ``objective @ x`` (None: no panel exists)."""
    # scipy.optimize costs a third of a second to import: only a leximin selection pays for it
    from scipy.optimize import Bounds, LinearConstraint, milp  # noqa: PLC0415

    n_types = len(counts)
    rows = [np.ones(n_types)]
    low, high = [float(size)], [float(size)]
    for quota in quotas:
        row = np.zeros(n_types)
        row[list(quota.types)] = 1.0
        rows.append(row)
        low.append(float(quota.low))
        high.append(float(quota.high))
    result = milp(
        -objective,
        integrality=np.ones(n_types),
        bounds=Bounds(np.zeros(n_types), np.array(counts, dtype=np.float64)),
        constraints=LinearConstraint(np.array(rows), np.array(low), np.array(high)),
    )
    if result.x is None:
        return None
    return tuple(round(v) for v in result.x)


def _restricted_lp(
    shares: FloatArray, fixed: Mapping[int, float]
) -> tuple[float, FloatArray, FloatArray, float]:
    """Max-min LP over the panel columns of ``shares`` (types x panels: seats / type count).

    Returns (z, panel probabilities, dual weight per type, dual bound of the sum row).
    """
    from scipy.optimize import linprog  # noqa: PLC0415 - see _pricing

    n_types, n_panels = shares.shape
    # variables: panel probabilities, then z; minimise -z
    cost = np.zeros(n_panels + 1)
    cost[-1] = -1.0
    a_ub = np.zeros((n_types, n_panels + 1))
    b_ub = np.zeros(n_types)
    a_ub[:, :n_panels] = -shares
    for t in range(n_types):
        if t in fixed:
            b_ub[t] = -(fixed[t] - SLACK)
        else:
            a_ub[t, -1] = 1.0
    a_eq = np.zeros((1, n_panels + 1))
    a_eq[0, :n_panels] = 1.0
    bounds = [(0.0, None)] * n_panels + [(0.0, 1.0)]
    result = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
    if result.status != 0:
        raise ContractError(f"leximin: the panel LP failed ({result.message})")
    weights = -np.asarray(result.ineqlin.marginals, dtype=np.float64)
    bound = -float(result.eqlin.marginals[0])
    return float(result.x[-1]), np.asarray(result.x[:n_panels], dtype=np.float64), weights, bound


@functools.lru_cache(maxsize=32)
def leximin_distribution(
    cells: tuple[Cell, ...], counts: tuple[int, ...], size: int, quotas: tuple[Quota, ...]
) -> PanelDistribution:
    """The LEXIMIN distribution over panels of ``size`` from types ``cells`` with ``counts`` members.

    ``cells`` must be sorted and distinct, ``counts`` positive; ``size`` is capped at the
    total. See the module doc for the algorithm.
    """
    if list(cells) != sorted(set(cells)) or len(cells) != len(counts) or any(c <= 0 for c in counts):
        raise ContractError("leximin: expected sorted distinct cells with positive counts")
    size = min(size, sum(counts))
    n_types = len(cells)
    divisor = np.array(counts, dtype=np.float64)
    panels: list[tuple[int, ...]] = []
    for t in range(n_types):
        objective = np.zeros(n_types)
        objective[t] = 1.0
        panel = _pricing(counts, size, quotas, objective)
        if panel is None:
            raise ContractError(
                f"leximin: no panel of {size} meets the quotas ({', '.join(q.label for q in quotas)})"
            )
        if panel not in panels:
            panels.append(panel)
    fixed: dict[int, float] = {}
    probabilities = np.zeros(0)
    for _ in range(MAX_ROUNDS):
        shares = (np.array(panels, dtype=np.float64) / divisor).T
        z, probabilities, weights, bound = _restricted_lp(shares, fixed)
        candidate = _pricing(counts, size, quotas, weights / divisor)
        if candidate is not None and candidate not in panels:
            value = float(weights @ (np.array(candidate, dtype=np.float64) / divisor))
            if value > bound + IMPROVE:
                panels.append(candidate)
                continue
        newly = [t for t in range(n_types) if t not in fixed and weights[t] > FIX]
        if not newly:  # round-off left no positive weight: fix the least-selected type
            achieved = shares @ probabilities
            newly = [min((t for t in range(n_types) if t not in fixed), key=lambda t: (achieved[t], t))]
        for t in newly:
            fixed[t] = z
        if len(fixed) == n_types:
            break
    else:
        raise ContractError(f"leximin: no convergence after {MAX_ROUNDS} rounds")
    keep = [j for j, p in enumerate(probabilities) if p > PRUNE]
    total = math.fsum(float(probabilities[j]) for j in keep)
    return PanelDistribution(
        cells,
        counts,
        size,
        tuple(panels[j] for j in keep),
        tuple(float(probabilities[j]) / total for j in keep),
    )


def types_of(cells: Sequence[Cell]) -> tuple[tuple[Cell, ...], tuple[int, ...], dict[Cell, list[int]]]:
    """The sorted distinct cells, their member counts, and each cell's member indices (increasing)."""
    by_cell: dict[Cell, list[int]] = {}
    for index, cell in enumerate(cells):
        by_cell.setdefault(cell, []).append(index)
    ordered = sorted(by_cell)
    return tuple(ordered), tuple(len(by_cell[c]) for c in ordered), by_cell


def default_quotas(cells: tuple[Cell, ...], counts: tuple[int, ...], size: int) -> tuple[Quota, ...]:
    """Floor/ceil of the proportional share for every cell and for every value of every stratum.

    The cell bounds are what the stratified draw meets; the bounds on each stratum's
    values (the margins) keep the panel's mix on one stratum as close to proportional as
    the stratified draw's largest-remainder allocation does. The exact proportional seat
    vector meets all of them, and for two strata the constraints form a transportation
    polytope (integral), so LEXIMIN still reaches the uniform ``size / total``.
    """
    bounds = cell_quotas(dict(zip(cells, counts, strict=True)), size)
    quotas = [Quota("/".join(cell), (t,), *bounds[cell]) for t, cell in enumerate(cells)]
    total = sum(counts)
    for position in range(len(cells[0]) if cells else 0):
        values = sorted({cell[position] for cell in cells})
        for value in values:
            members = tuple(t for t, cell in enumerate(cells) if cell[position] == value)
            low, remainder = divmod(min(size, total) * sum(counts[t] for t in members), total)
            quotas.append(Quota(f"#{position}={value}", members, low, low + (1 if remainder else 0)))
    return tuple(quotas)


def quotas_for(
    cells: tuple[Cell, ...],
    counts: tuple[int, ...],
    size: int,
    keys: Sequence[str],
    quotas: Mapping[str, Mapping[str, tuple[int, int]]] | None,
) -> tuple[Quota, ...]:
    """The configured per-value ``quotas`` over the sorted types, else :func:`default_quotas`."""
    return feature_quotas(cells, keys, quotas) if quotas else default_quotas(cells, counts, size)


def leximin_draw(
    cells: Sequence[Cell],
    size: int,
    rng: np.random.Generator,
    keys: Sequence[str] = (),
    quotas: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> Draw:
    """Draw ``min(size, len(cells))`` members from the LEXIMIN distribution.

    ``cells[i]`` is member ``i``'s tuple of strata values (named by ``keys``). Without
    ``quotas`` each cell gets floor or ceil of its proportional share; with them, each
    ``quotas[key][value] = (low, high)`` bounds the panel's members with that value.
    Uses ``rng`` for one panel choice, then one uniform choice inside each cell.
    """
    if not cells:
        return Draw((), {})
    ordered, counts, by_cell = types_of(cells)
    size = min(size, len(cells))
    chosen_quotas = quotas_for(ordered, counts, size, keys, quotas)
    distribution = leximin_distribution(ordered, counts, size, chosen_quotas)
    pick = int(rng.choice(len(distribution.panels), p=np.array(distribution.probabilities)))
    seats = distribution.panels[pick]
    chosen: list[int] = []
    for t, cell in enumerate(ordered):
        if seats[t]:
            members = by_cell[cell]
            picked = rng.choice(len(members), size=seats[t], replace=False)
            chosen.extend(members[int(i)] for i in picked)
    return Draw(tuple(sorted(chosen)), {cell: seats[t] for t, cell in enumerate(ordered) if seats[t]})


def select_panel(
    selection: str,
    cells: Sequence[Cell],
    size: int,
    rng: np.random.Generator,
    keys: Sequence[str] = (),
    quotas: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> Draw:
    """The draw of the configured ``selection`` ("stratified" or "leximin"); the mechanism's
    panel and the citizens' redraws both go through here, so they select alike."""
    if selection == "leximin":
        return leximin_draw(cells, size, rng, keys, quotas)
    if selection == "stratified":
        return stratified_draw(cells, size, rng)
    raise ContractError(f"selection: expected 'stratified' or 'leximin', got {selection!r}")


def selection_probabilities(
    selection: str,
    cells: Sequence[Cell],
    size: int,
    keys: Sequence[str] = (),
    quotas: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> list[float]:
    """Each member's exact selection probability under :func:`select_panel`'s ``selection``."""
    if not cells:
        return []
    ordered, counts, _ = types_of(cells)
    size = min(size, len(cells))
    if selection == "stratified":
        by_type = stratified_probabilities(dict(zip(ordered, counts, strict=True)), size)
    elif selection == "leximin":
        chosen = quotas_for(ordered, counts, size, keys, quotas)
        by_type = leximin_distribution(ordered, counts, size, chosen).type_probabilities()
    else:
        raise ContractError(f"selection: expected 'stratified' or 'leximin', got {selection!r}")
    return [by_type[cell] for cell in cells]
