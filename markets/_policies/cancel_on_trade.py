"""``cancel_on_trade``: a transaction cancels every outstanding bid and ask (Gode and Sunder's rule).

In the double auction of Gode and Sunder (1993), as in many laboratory markets, a trade wipes the
book: every unaccepted bid and offer is cancelled and traders shout afresh. The default book keeps
resting orders (price-time priority); this policy switches that rule on. After an accepted order
or modify that traded, every resting order is cancelled (oldest first) and the outcome's effects
say how many in ``cleared``, with the touch (``bid``, ``ask``) empty afterwards; participants
learn from ``cleared`` that their live orders are gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._policy import FillFacts, MarketPolicy, register_policy

if TYPE_CHECKING:
    from .._config import MarketConfig
    from .._mechanism import ValueMarket

__all__ = ["CancelOnTrade"]


@register_policy
class CancelOnTrade(MarketPolicy):
    """Clears the book after every action that traded."""

    market: ValueMarket
    config: MarketConfig

    name = "cancel_on_trade"
    rank = 100

    def __init__(self, market: ValueMarket) -> None:
        super().__init__(market)
        self._traded = False

    def on_fill(self, fill: FillFacts) -> None:
        self._traded = True

    def on_accepted(self, effects: dict[str, Any]) -> None:
        if not self._traded:
            return
        self._traded = False
        cleared = self.market.desk.remove_where(lambda order: True)
        effects["cleared"] = cleared
        effects["bid"] = effects["ask"] = None
        if cleared:
            self.market.ctx.recorder.count("cleared_on_trade", cleared)
