"""A replay cache: remembers each nonce until the signature carrying it could no longer verify."""

from __future__ import annotations

import heapq
import threading

__all__ = ["ReplayCache"]


class ReplayCache:
    """Nonces seen, each kept until its own deadline; thread-safe.

    The caller gives every nonce the last instant its signature would still be
    accepted.  After that the signature is refused as expired anyway, so the
    nonce can be forgotten without opening a replay window.  Memory is therefore
    bounded by (accepted requests per second) x (acceptance window), whatever
    the traffic: expired entries are dropped on every call, oldest first, from a
    min-heap of deadlines.  Time is whatever clock the caller passes (unix or
    simulated); it may stall but the cache never needs it to be monotonic.
    """

    __slots__ = ("_deadlines", "_heap", "_lock")

    def __init__(self) -> None:
        self._deadlines: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def first_use(self, key: tuple[str, str], *, until: float, now: float) -> bool:
        """Record ``key``; True if it was not already held at ``now`` (a fresh nonce)."""
        with self._lock:
            self._expire(now)
            if key in self._deadlines:
                return False
            self._deadlines[key] = until
            heapq.heappush(self._heap, (until, key))
            return True

    def _expire(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] < now:
            _, key = heapq.heappop(heap)
            del self._deadlines[key]

    def __len__(self) -> int:
        return len(self._deadlines)
