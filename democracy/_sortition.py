"""Stratified sortition: draw a citizens' panel whose strata mirror the population's.

A draw is a pure function of (the members' strata cells in registration order,
the panel size, a numpy Generator), so anyone holding the recorded draw seed can
re-run it and check the panel (``stratified_draw(cells, size,
numpy.random.default_rng(seed))``). The emergency-vote mechanism draws with its
own stream; the ``citizens`` population redraws with the same function to
measure how often another panel would have decided otherwise.

How a draw works:

1. Members are grouped by cell (the tuple of their strata values, e.g.
   ``("north", "18-34")``); cells are visited in sorted order so the draw does not
   depend on registration order beyond the order of members inside a cell.
2. Seats are allocated to cells proportionally by the largest-remainder
   (Hamilton) method: each cell gets ``floor(size * n_cell / n)`` seats, and the
   seats left go to the largest remainders; equal remainders are ordered by a
   random permutation from the generator (a fixed order would favour some cells
   draw after draw).
3. Inside each cell the allocated members are drawn uniformly without replacement.

So each cell gets ``floor`` or ``ceil`` of its exact quota, and the seats add up
to ``min(size, n)``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from flagship.mechanisms import ContractError

__all__ = [
    "Draw",
    "allocate",
    "cell_shares",
    "stratified_draw",
    "stratified_probabilities",
    "total_variation",
]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Draw:
    """One draw: the chosen members (indices into the input, increasing) and the seats per cell."""

    members: tuple[int, ...]
    seats: dict[tuple[str, ...], int]


def allocate(counts: Mapping[K, int], size: int, rng: np.random.Generator) -> dict[K, int]:
    """Seats per cell by largest remainder: ``floor`` or ``ceil`` of ``size * count / total``.

    ``counts`` must hold positive integers; ``size`` is capped at the total count.
    Cells are considered in the mapping's order; ties between equal remainders are
    broken by one random permutation drawn from ``rng`` (always drawn, so the
    stream advances the same way whatever the counts).
    """
    if size < 0:
        raise ContractError(f"allocate: size must be >= 0, got {size}")
    cells = list(counts)
    total = sum(counts.values())
    if any(count <= 0 for count in counts.values()):
        raise ContractError("allocate: every cell count must be positive")
    order = rng.permutation(len(cells))
    size = min(size, total)
    if total == 0:
        return {}
    # Exact integer arithmetic: quota = size * count / total as floor + remainder / total.
    floors = {cell: size * counts[cell] // total for cell in cells}
    remainders = {cell: size * counts[cell] % total for cell in cells}
    left = size - sum(floors.values())
    tie = {cell: int(order[i]) for i, cell in enumerate(cells)}
    ranked = sorted(cells, key=lambda cell: (-remainders[cell], tie[cell]))
    for cell in ranked[:left]:
        floors[cell] += 1
    return floors


def stratified_draw(cells: Sequence[tuple[str, ...]], size: int, rng: np.random.Generator) -> Draw:
    """Draw ``min(size, len(cells))`` members, stratified proportionally on their cells.

    ``cells[i]`` is member ``i``'s tuple of strata values. Returns the chosen member
    indices in increasing order and the seats each cell received.
    """
    by_cell: dict[tuple[str, ...], list[int]] = {}
    for index, cell in enumerate(cells):
        by_cell.setdefault(cell, []).append(index)
    ordered = dict(sorted(by_cell.items()))
    seats = allocate({cell: len(members) for cell, members in ordered.items()}, size, rng)
    chosen: list[int] = []
    for cell, members in ordered.items():
        take = seats[cell]
        if take:
            picked = rng.choice(len(members), size=take, replace=False)
            chosen.extend(members[int(i)] for i in picked)
    return Draw(tuple(sorted(chosen)), {cell: n for cell, n in seats.items() if n})


def stratified_probabilities(
    counts: Mapping[tuple[str, ...], int], size: int
) -> dict[tuple[str, ...], float]:
    """Each cell's exact individual selection probability under :func:`stratified_draw`.

    A cell's expected seats are its floor plus its chance of a remainder seat: certain
    for remainders above the cut-off, ``seats left / cells tied`` at the cut-off (the tie
    permutation is uniform), none below; divided by the cell's members.
    """
    total = sum(counts.values())
    size = min(size, total)
    if any(count <= 0 for count in counts.values()):
        raise ContractError("stratified_probabilities: every cell count must be positive")
    floors = {cell: size * n // total for cell, n in counts.items()}
    remainders = {cell: size * n % total for cell, n in counts.items()}
    left = size - sum(floors.values())
    ranked = sorted(set(remainders.values()), reverse=True)
    extra: dict[tuple[str, ...], float] = dict.fromkeys(counts, 0.0)
    for remainder in ranked:
        tied = [cell for cell in counts if remainders[cell] == remainder]
        share = min(left, len(tied)) / len(tied)
        for cell in tied:
            extra[cell] = share
        left -= min(left, len(tied))
    return {cell: (floors[cell] + extra[cell]) / counts[cell] for cell in counts}


def cell_shares(cells: Sequence[Hashable]) -> dict[Hashable, float]:
    """Share of each cell among ``cells`` (empty input: empty mapping)."""
    counts = Counter(cells)
    total = len(cells)
    return {cell: n / total for cell, n in counts.items()} if total else {}


def total_variation(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Total variation distance between the cell distributions of ``a`` and ``b``.

    Half the sum over cells of the absolute difference in shares: 0 when the two
    have the same strata mix, 1 when they share no cell. ``None`` if either is empty.
    """
    if not a or not b:
        return None
    shares_a, shares_b = cell_shares(a), cell_shares(b)
    keys = dict.fromkeys([*shares_a, *shares_b])  # both in first-seen order, never hash order
    # fsum is exactly rounded: the distance does not depend on the order of the cells at all
    return 0.5 * math.fsum(abs(shares_a.get(k, 0.0) - shares_b.get(k, 0.0)) for k in keys)
