"""``screen``: nothing that breaches a prohibited norm trades.

An order whose attestation breaches a prohibited norm is rejected with ``NORM_PROHIBITED``
(the detail names the norm), one attesting more externality than ``externality_cap`` with
``EXTERNALITY_CAP``; resting orders that breach a norm a regulator prohibits later are cancelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._orders import RestingOrder
from .._reasons import MarketReason
from .._values import NO_ATTESTATION, Attestation

if TYPE_CHECKING:
    from .._config import MarketConfig
    from .._mechanism import ValueMarket

from .._policy import MarketPolicy, Rejection, register_policy

__all__ = ["Screen"]


@register_policy
class Screen(MarketPolicy):
    """Rejects breaching orders on arrival and cancels resting ones when the norms tighten."""

    market: ValueMarket
    config: MarketConfig

    name = "screen"
    rank = 20

    def admit(self, actor: str, att: Attestation, is_buy: bool, price: int, qty: int,
              market: bool) -> Rejection | None:
        if att is NO_ATTESTATION:
            return None
        breach = self.market.norms.classify(att)[1]
        if breach is not None:
            return MarketReason.NORM_PROHIBITED, f"norm {breach!r} is prohibited"
        cap = self.config.externality_cap
        if cap is not None and att.externality > cap:
            return MarketReason.EXTERNALITY_CAP, f"externality {att.externality} exceeds the cap {cap}"
        return None

    def on_norms_restricted(self) -> None:
        classify = self.market.norms.classify

        def breaches(order: RestingOrder) -> bool:
            return order.att is not NO_ATTESTATION and classify(order.att)[1] is not None

        screened = self.market.desk.remove_where(breaches)
        if screened:
            self.market.ctx.recorder.count("screened_resting", screened)
