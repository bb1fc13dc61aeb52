"""Named random streams: one seed per run, split by component name.

Each component (a mechanism, a population's arrivals, a sortition draw) gets its
own numpy Generator from ``SeedSequence(seed, spawn_key=hash(name))``: a
:class:`~flagship.mechanisms.RandomStream` over PCG64, whose scalar fast draws give numpy's
numbers at a fraction of the cost. The key is
derived from the *name*, not from creation order, so adding a population or a
mechanism never changes the draws of the others. There is no global random state.
"""

from __future__ import annotations

import hashlib

import numpy as np

from flagship.mechanisms._errors import ContractError
from flagship.mechanisms._stream import RandomStream

__all__ = ["Streams", "seed_sequence"]


def seed_sequence(seed: int, name: str) -> np.random.SeedSequence:
    """The SeedSequence of stream ``name`` under run seed ``seed``."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return np.random.SeedSequence(entropy=seed, spawn_key=words)


class Streams:
    """Hands out one Generator per stream name and remembers the names (for the manifest)."""

    __slots__ = ("_names", "seed")

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ContractError(f"seed: expected a non-negative integer, got {seed!r}")
        self.seed = seed
        self._names: list[str] = []

    def __call__(self, name: str) -> RandomStream:
        if name in self._names:
            raise ContractError(f"random stream {name!r} requested twice; each component needs its own")
        self._names.append(name)
        return RandomStream(np.random.PCG64(seed_sequence(self.seed, name)))

    @property
    def names(self) -> list[str]:
        """Stream names in the order they were created."""
        return list(self._names)
