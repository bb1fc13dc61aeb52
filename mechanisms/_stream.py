"""A random stream: numpy's PCG64 Generator with scalar draws that skip numpy's per-call cost.

A simulation draws one number at a time, at every arrival: ``int(rng.integers(low, high))`` for
a shout's price, ``rng.random() < p`` for a coin. numpy spends most of such a call on argument
handling (about 1.9 µs for ``integers`` against 0.04 µs of arithmetic), so the hot draws of the
built-in populations go through :meth:`RandomStream.draw_int`, :meth:`RandomStream.draw_float`
and :meth:`RandomStream.draw_uniform`. They give **the same numbers from the same stream
positions** as those numpy calls and leave the stream where numpy would have left it: a run's
draws, outcomes and digests do not depend on which was called (``tests/core/test_random_stream.py``
checks it draw for draw against numpy, over mixes of fast and numpy calls).

How: they compute numpy's own algorithms over the bit generator's raw 64-bit outputs, taken
``PREFETCH`` at a time (``PCG64.random_raw``):

- ``draw_float()`` is numpy's ``random()``: the top 53 bits of one output, times 2**-53, and
  ``draw_uniform(low, high)`` its ``uniform``: ``low + (high - low) * random()``;
- ``draw_int(low, high)`` is numpy's ``integers(low, high)`` for a range of at most 2**32 values
  (Lemire's multiply-and-reject over 32-bit draws; a wider range is handed to numpy). A 32-bit
  draw uses one half of a 64-bit output and keeps the other half for the next 32-bit draw, as
  numpy's PCG64 does (its state's ``has_uint32`` and ``uinteger``).

Lifecycle: a stream is *synced* (the bit generator's state is the stream's position) or
*buffered* (a fast draw prefetched raw outputs, so the bit generator is ahead of the stream). A
synced stream is a :class:`RandomStream`: numpy's methods run as they are, at no extra cost. The
first fast draw after a sync prefetches and turns the stream into a ``_BufferedStream``, whose
numpy methods, ``bit_generator`` and pickling first sync it (the state before the prefetch,
advanced by the outputs used, with the kept half restored) and turn it back. A sync (three
state copies and an ``advance``) costs as much as several numpy draws, so a stream whose fast
draws alternate with numpy calls gains little or loses; one drawn by the fast draws alone never
syncs. (The agents' policy stream, say, mixes ``exponential`` in: its draws stay numpy's.)

Not thread-safe (nor is a simulation's use of a stream): numpy's lock is not taken on the fast path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flagship.mechanisms._errors import ContractError

__all__ = ["PREFETCH", "RandomStream"]

PREFETCH = 64
"""Raw 64-bit outputs taken from the bit generator at a time by the fast draws."""

_LOW32 = 0xFFFFFFFF
_INFINITY = float("inf")
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53: numpy's next_double scale
# numpy's Generator methods that read or advance the bit generator (every public one but
# ``bit_generator``, which is a property, handled on its own).
_NUMPY_METHODS = tuple(name for name in dir(np.random.Generator)
                       if not name.startswith("_") and name != "bit_generator")


class RandomStream(np.random.Generator):
    """A PCG64 Generator whose ``draw_int``, ``draw_float`` and ``draw_uniform`` are numpy's draws
    at a fraction of the cost (see the module docstring for how, and for the lifecycle)."""

    __slots__ = ("_before", "_half", "_last_half", "_pcg", "_raw", "_used")

    def __init__(self, bit_generator: np.random.PCG64) -> None:
        if type(bit_generator) is not np.random.PCG64:
            # The fast draws compute PCG64's own output halves; another bit generator differs.
            got = type(bit_generator).__name__
            raise ContractError(f"bit_generator: expected numpy.random.PCG64, got {got}")
        super().__init__(bit_generator)
        self._pcg = bit_generator
        self._raw: list[int] = []  # prefetched outputs (buffered) or [] (synced)
        self._used = 0  # outputs of _raw the stream has consumed
        self._before: dict[str, Any] = {}  # the bit generator's state before the prefetch ({}: synced)
        self._half: int | None = None  # the kept upper half of a 64-bit output, while buffered
        self._last_half = 0  # numpy's ``uinteger``: the last half kept (it stays once used)

    # -- the fast draws -----------------------------------------------------------------------

    def draw_float(self) -> float:
        """``self.random()``: a float in [0, 1), the same number from the same position."""
        raw = self._raw
        used = self._used
        if used == len(raw):
            raw = self._prefetch()
            used = 0
        self._used = used + 1
        return (raw[used] >> 11) * _TO_UNIT

    def draw_uniform(self, low: float, high: float) -> float:
        """``self.uniform(low, high)`` for scalar bounds: ``low + (high - low) * random()`` in
        doubles, as numpy computes it, from the same position."""
        span = float(high) - float(low)
        if not 0.0 <= span < _INFINITY:  # numpy refuses these (NaN too): its error, unchanged
            return float(self.uniform(low, high))
        return float(low) + span * self.draw_float()

    def draw_int(self, low: int, high: int) -> int:
        """``int(self.integers(low, high))``: an int in [low, high), the same number from the same
        position (and the same ValueError when ``high <= low``)."""
        span = high - low - 1  # numpy's inclusive range
        if span <= 0 or span > _LOW32:
            if span == 0:
                return low  # numpy draws nothing for a one-value range
            return int(self.integers(low, high))  # an error, or a range over 64-bit draws
        if span == _LOW32:
            return low + self._next32()
        values = span + 1
        half = self._half  # _next32, its commonest case inline: half the draws use a kept half
        if half is None:
            product = self._next32() * values
        else:
            self._half = None
            product = half * values
        leftover = product & _LOW32
        if leftover < values:
            threshold = (_LOW32 - span) % values
            while leftover < threshold:
                product = self._next32() * values
                leftover = product & _LOW32
        return low + (product >> 32)

    def _next32(self) -> int:
        """numpy's PCG64 ``next_uint32``: the kept half, else the low half of a new output."""
        half = self._half
        if half is not None:
            self._half = None
            return half
        raw = self._raw
        used = self._used
        if used == len(raw):
            raw = self._prefetch()
            used = 0
            half = self._half  # a sync leaves the kept half in numpy's state: the prefetch read it
            if half is not None:
                self._half = None
                return half
        self._used = used + 1
        output: int = raw[used]
        self._half = self._last_half = output >> 32
        return output & _LOW32

    def _prefetch(self) -> list[int]:
        """Buffer the next PREFETCH outputs; the bit generator moves past them."""
        state: dict[str, Any] = dict(self._pcg.state)  # the stream's position: synced, or all used
        if not self._before:  # synced: numpy's state holds the kept half
            self._last_half = state["uinteger"]
            self._half = self._last_half if state["has_uint32"] else None
            _become(self, _BufferedStream)
        self._before = state
        raw: list[int] = self._pcg.random_raw(PREFETCH).tolist()
        self._raw = raw
        self._used = 0
        return raw

    def _sync(self) -> None:
        """Put the bit generator at the stream's position: a synced stream is there already."""

    def __reduce__(self) -> tuple[Any, ...]:
        self._sync()
        return (RandomStream, (self._pcg,))


class _BufferedStream(RandomStream):
    """A stream holding prefetched outputs: numpy's methods sync it first (see the module)."""

    __slots__ = ()  # the layout of RandomStream: a stream switches between the two classes

    def _sync(self) -> None:
        """Put the bit generator at the stream's position and turn the stream back into a
        synced :class:`RandomStream`."""
        pcg = self._pcg
        setattr(pcg, "state", self._before)  # noqa: B010 - numpy types the setter as its own TypedDict
        pcg.advance(self._used)  # ``advance`` clears the kept half: restore it below
        state: dict[str, Any] = dict(pcg.state)
        state["has_uint32"], state["uinteger"] = int(self._half is not None), self._last_half
        setattr(pcg, "state", state)  # noqa: B010
        self._before = {}
        self._half = None
        self._raw = []
        self._used = 0
        _become(self, RandomStream)

    @property
    def bit_generator(self) -> np.random.PCG64:
        """The bit generator, synced to the stream's position."""
        self._sync()
        return self._pcg


def _become(stream: RandomStream, kind: type[RandomStream]) -> None:
    """Switch ``stream`` between synced and buffered (same layout: only the methods differ)."""
    stream.__class__ = kind


def _synced(name: str) -> Any:
    method = getattr(np.random.Generator, name)

    def call(self: _BufferedStream, *args: Any, **kwargs: Any) -> Any:
        self._sync()
        return method(self, *args, **kwargs)

    call.__name__ = name
    call.__qualname__ = f"_BufferedStream.{name}"
    call.__doc__ = method.__doc__
    return call


for _name in _NUMPY_METHODS:
    setattr(_BufferedStream, _name, _synced(_name))
del _name
