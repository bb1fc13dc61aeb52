"""Surveillance (``surveillance.enabled``): spoofing and wash-trading reports, and incidents.

The detector is :class:`~flagship.markets._surveillance.Surveillance`; this policy feeds it what
the market observes (large orders far from the touch, their cancels, every trade) and publishes
its findings as ``ViolationObserved`` and, once enough accumulate, ``IncidentRaised``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from flagship.mechanisms.events import IncidentRaised, ViolationObserved

from .._orders import RestingOrder
from .._policy import FillFacts, MarketPolicy, register_policy
from .._surveillance import Finding, Surveillance, SurveillanceConfig

if TYPE_CHECKING:
    from .._config import MarketConfig
    from .._mechanism import ValueMarket

__all__ = ["MarketSurveillance"]


@register_policy
class MarketSurveillance(MarketPolicy):
    """Flags large far orders, reviews their cancels and every trade, reports what it finds."""

    market: ValueMarket
    config: MarketConfig

    name = "surveillance"
    listed = False
    rank = 60
    idle_state: ClassVar[dict[str, Any]] = {
        "surveillance": Surveillance(SurveillanceConfig(), 1).to_json()}

    @classmethod
    def enabled(cls, config: MarketConfig) -> bool:
        return config.surveillance.enabled

    def __init__(self, market: ValueMarket) -> None:
        super().__init__(market)
        self._detector = Surveillance(self.config.surveillance, self.config.tick_size)
        self._spoof_qty = self.config.surveillance.spoof_min_qty
        self._violations = 0

    def flag(self, is_buy: bool, price: int, qty: int) -> bool:
        if qty < self._spoof_qty:
            return False
        book = self.market.desk.book
        return self._detector.is_far(is_buy, price, book.best_bid(), book.best_ask())

    def on_fill(self, fill: FillFacts) -> None:
        order = fill.order
        now = fill.now
        for finding in self._detector.on_trade(fill.buyer, fill.seller, fill.price, fill.qty, now,
                                               now - order.placed, fill.qty == order.qty):
            self._report(finding, now)

    def on_cancel(self, order: RestingOrder, now: float) -> None:
        if order.far:
            finding = self._detector.on_cancel(order.actor, order.client_id, order.qty, order.filled, True,
                                               order.placed, now)
            if finding is not None:
                self._report(finding, now)

    def _report(self, finding: Finding, now: float) -> None:
        self._violations += 1
        market = self.market
        market.ctx.recorder.count(f"violations.{finding.kind}")
        market.emit(ViolationObserved(actor=finding.actor, kind=finding.kind, severity=finding.severity,
                                      evidence=finding.evidence))
        severity = self._detector.on_report(now)
        if severity is not None:
            name = market.ctx.name
            market.emit(IncidentRaised(
                incident_id=f"{name}-incident-{self._detector.incidents}", kind="market_manipulation",
                severity=severity, details={"violations": self._violations, "latest": finding.kind}))

    def snapshot(self) -> dict[str, Any]:
        return {"surveillance": self._detector.to_json()}
