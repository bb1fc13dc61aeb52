"""The circuit breaker (``circuit_breaker_move`` set): a large price move halts trading for a while.

When a trade's price lies ``circuit_breaker_move`` (a fraction) or more from the price a
``circuit_breaker_window`` ago, trading halts for ``circuit_breaker_halt`` seconds (one hold
of :class:`~flagship.markets._policies.halts.Halts`) and the window starts afresh.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

from .._policy import FillFacts, MarketPolicy, register_policy

if TYPE_CHECKING:
    from .._config import MarketConfig
    from .._mechanism import ValueMarket

__all__ = ["CircuitBreaker"]


@register_policy
class CircuitBreaker(MarketPolicy):
    """Watches each trade's price against the price a window ago."""

    market: ValueMarket
    config: MarketConfig

    name = "circuit_breaker"
    listed = False
    rank = 50
    idle_state: ClassVar[dict[str, Any]] = {"breaker": [], "breaker_seq": 0}

    @classmethod
    def enabled(cls, config: MarketConfig) -> bool:
        return config.circuit_breaker_move is not None

    def __init__(self, market: ValueMarket) -> None:
        super().__init__(market)
        self._window: deque[tuple[float, int]] = deque()
        self._seq = 0
        self._move = self.config.circuit_breaker_move or 0.0
        self._span = self.config.circuit_breaker_window

    def on_fill(self, fill: FillFacts) -> None:
        now, price = fill.now, fill.price
        window = self._window
        window.append((now, price))
        horizon = now - self._span
        # Keep one trade at or before the horizon: the price a window ago.
        while len(window) > 1 and window[1][0] <= horizon:
            window.popleft()
        reference = window[0][1]
        if abs(price - reference) >= self._move * reference:
            window.clear()
            self._seq += 1
            self.market.halts.hold_for(self.config.circuit_breaker_halt, f"breaker:{self._seq}",
                                       "circuit_breaker")

    def snapshot(self) -> dict[str, Any]:
        return {"breaker": [list(entry) for entry in self._window], "breaker_seq": self._seq}
