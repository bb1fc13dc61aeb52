"""Seeded generators of synthetic profiles ("cultures") for axiom searches and benchmarks.

Every generator takes a ``numpy.random.Generator`` and returns an integer array
voters x candidates of complete rankings (candidate indices, most preferred
first), or for approval a boolean voters x candidates array with no empty row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "CULTURES",
    "approval_profile",
    "impartial_culture",
    "mallows",
    "random_rankings",
    "spatial",
]

IntArray = npt.NDArray[np.int64]


def impartial_culture(rng: np.random.Generator, n_voters: int, n_candidates: int) -> IntArray:
    """Every voter's ranking is an independent uniformly random permutation."""
    keys = rng.random((n_voters, n_candidates))
    return np.argsort(keys, axis=1).astype(np.int64)


def mallows(rng: np.random.Generator, n_voters: int, n_candidates: int, phi: float | None = None) -> IntArray:
    """Mallows model around a random reference ranking (repeated insertion model).

    ``phi`` in (0, 1]: 1 is impartial culture, smaller is more concentrated around
    the reference; drawn uniformly from [0.2, 1) when not given.
    """
    dispersion = float(rng.uniform(0.2, 1.0)) if phi is None else phi
    reference = rng.permutation(n_candidates)
    rows = np.empty((n_voters, n_candidates), dtype=np.int64)
    for voter in range(n_voters):
        ranking: list[int] = []
        for i in range(n_candidates):
            # Insert the i-th reference candidate at position j with weight phi**(i - j).
            weights = dispersion ** (i - np.arange(i + 1, dtype=np.float64))
            position = int(rng.choice(i + 1, p=weights / weights.sum()))
            ranking.insert(position, int(reference[i]))
        rows[voter] = ranking
    return rows


def spatial(rng: np.random.Generator, n_voters: int, n_candidates: int, dimensions: int = 2) -> IntArray:
    """Voters and candidates uniform in the unit square; voters rank by Euclidean distance."""
    voters = rng.random((n_voters, dimensions))
    places = rng.random((n_candidates, dimensions))
    distances = np.linalg.norm(voters[:, None, :] - places[None, :, :], axis=2)
    return np.argsort(distances, axis=1, kind="stable").astype(np.int64)


CULTURES = {"impartial": impartial_culture, "mallows": mallows, "spatial": spatial}


def random_rankings(rng: np.random.Generator, n_voters: int, n_candidates: int) -> IntArray:
    """Complete rankings from a culture picked at random (impartial, Mallows, spatial)."""
    name = ("impartial", "mallows", "spatial")[int(rng.integers(3))]
    return CULTURES[name](rng, n_voters, n_candidates)


def approval_profile(rng: np.random.Generator, n_voters: int, n_candidates: int) -> npt.NDArray[np.bool_]:
    """Each voter approves each candidate independently with a per-profile probability.

    A voter left approving nobody approves one candidate at random instead (empty
    approval ballots are rejected by the tally).
    """
    probability = float(rng.uniform(0.2, 0.7))
    rows = rng.random((n_voters, n_candidates)) < probability
    empty = np.flatnonzero(~rows.any(axis=1))
    rows[empty, rng.integers(n_candidates, size=empty.size)] = True
    return rows
