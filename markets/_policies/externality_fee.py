"""``externality_fee``: each side of a fill pays for its attested externality into a community pool.

An order pays ``round_half_up(fee_rate * externality)`` ticks per lot it trades; an accepted
order's or modify's effects say what its taker paid (``fee``). Every ``redistribution_interval``
seconds the pool is paid out by ``redistribution`` (``equal``, ``aligned_volume``; ``retain``
keeps it), through ``ValueMarket.payout``. Amounts are integer ticks: accounts plus pool balance.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .._policy import FillFacts, MarketPolicy, register_policy
from .._values import Attestation, Redistribution, fee_per_lot

if TYPE_CHECKING:
    from .._config import MarketConfig
    from .._mechanism import ValueMarket

__all__ = ["ExternalityFee"]


@register_policy
class ExternalityFee(MarketPolicy):
    """Fees per lot on fills, and the periodic payout of the pool."""

    market: ValueMarket
    config: MarketConfig

    name = "externality_fee"
    rank = 40

    def __init__(self, market: ValueMarket) -> None:
        super().__init__(market)
        self._rate = self.config.fee_rate
        self._ledger = market.ledger
        self._paid = 0  # ticks the taker of the current request paid so far

    def start(self) -> None:
        if self.config.redistribution is not Redistribution.RETAIN:
            # A process, not a timer per payout: one SimPy process looping over timeouts keeps the
            # event order (and so every stored digest) as it has always been.
            self.market.ctx.env.process(self._payouts(self.config.redistribution_interval))

    def _payouts(self, interval: float) -> Generator[Any, Any, None]:
        while True:
            yield self.market.ctx.env.timeout(interval)
            self.market.payout()

    def fee_per_lot(self, att: Attestation) -> int:
        return fee_per_lot(att, self._rate)

    def on_fill(self, fill: FillFacts) -> None:
        """Collect both sides' fees into the pool; note the lots for the next payout."""
        ledger = self._ledger
        cash = ledger.cash
        qty = fill.qty
        order = fill.order
        taker_fee = fill.taker_fee * qty
        for account, fee, aligned in ((order.actor, order.fee * qty, fill.maker_aligned),
                                      (fill.taker, taker_fee, fill.taker_aligned)):
            if fee:
                cash[account] = cash.get(account, 0) - fee
                ledger.fees_paid[account] = ledger.fees_paid.get(account, 0) + fee
                ledger.pool += fee
                ledger.fees_total += fee
            since = ledger.since.get(account)
            if since is None:
                since = ledger.since[account] = [0, 0]
            since[0] += qty
            if aligned:
                since[1] += qty
        self._paid += taker_fee

    def on_accepted(self, effects: dict[str, Any]) -> None:
        effects["fee"] = self._paid
        self._paid = 0
