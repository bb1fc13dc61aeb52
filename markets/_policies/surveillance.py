"""Surveillance (``surveillance.enabled``): spoofing and wash-trading reports, and incidents.

The detector is :class:`~flagship.markets._surveillance.Surveillance`; this policy feeds it what
the market observes (large orders far from the touch, their cancels, every trade) and publishes
its findings as ``ViolationObserved`` and, once enough accumulate, ``IncidentRaised``. Measures
``spoof_orders`` (profiled manipulators' cancels with the spoofing pattern: ground truth, so an
honest block order that looks alike is not counted) and
``spoof_orders_per_open_second`` (per second the market was not halted, from the first of them on:
halts before any spoofing protect nothing and must not dilute the rate) and
``suspicious_cancels`` (anyone's cancels with that pattern, as surveillance sees them: no ground
truth, so it is the spoofing measure a live trial, whose clients are never profiled, can guard).
"""

from __future__ import annotations

from collections.abc import MutableMapping
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
        # profiled manipulators' cancels with the spoofing pattern, reported or not (a measure only)
        self._spoof_orders = 0
        self._spoof_clock = (0.0, 0.0)  # (time, halted seconds then) of the first of them
        self._suspicious_cancels = 0  # anyone's cancels with the spoofing pattern (a measure only)

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
            if self._detector.suspicious(order.qty, order.filled, True, now - order.placed):
                self._suspicious_cancels += 1
                if order.actor in self.market.ledger.manipulators:
                    if not self._spoof_orders:  # exposure counts from the first one on
                        self._spoof_clock = (now, self.market.halts.halted_seconds(now))
                    self._spoof_orders += 1
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

    def finish(self, values: MutableMapping[str, float | None]) -> None:
        market = self.market
        now = market.ctx.now
        start, halted_before = self._spoof_clock
        open_seconds = now - start - (market.halts.halted_seconds(now) - halted_before)
        values["spoof_orders"] = float(self._spoof_orders)
        values["spoof_orders_per_open_second"] = (self._spoof_orders / open_seconds if open_seconds > 0
                                                  else None)
        values["suspicious_cancels"] = float(self._suspicious_cancels)

    def snapshot(self) -> dict[str, Any]:
        return {"surveillance": self._detector.to_json()}
