"""``value_priority``: at an equal price, aligned orders match first, breaching ones last.

The engine's queue priority of an attested limit order is +1 aligned, 0 neutral, -1 breaching
(with ``priority_requires_attestor``, only third-party attested alignment earns +1). Price
priority is untouched: the policy changes who trades, never at which price.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._values import Attestation

if TYPE_CHECKING:
    from .._config import MarketConfig
    from .._mechanism import ValueMarket

from .._policy import MarketPolicy, register_policy

__all__ = ["ValuePriority"]


@register_policy
class ValuePriority(MarketPolicy):
    """Price, then alignment, then time priority."""

    market: ValueMarket
    config: MarketConfig

    name = "value_priority"
    rank = 30

    def priority(self, att: Attestation) -> int:
        return self.market.norms.priority(att, self.config.priority_requires_attestor)
