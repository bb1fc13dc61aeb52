"""Market surveillance: spoofing and wash-trading patterns, seen only from what the market observes.

Surveillance never uses ground truth (who is a manipulator); it judges accounts by their
orders, cancels and trades, as an exchange's surveillance desk does:

* **Spoofing**: a large order (``spoof_min_qty`` lots or more) placed at least
  ``spoof_min_distance`` ticks away from the touch (its own side's best price, else the
  opposite best), cancelled within ``spoof_max_lifetime`` seconds with at most
  ``spoof_max_filled`` of it filled, is *suspicious*. An account with ``spoof_repeat`` or more
  suspicious cancels within ``spoof_window`` seconds is reported at each further one, with
  severity ``n / (n + 1)`` for ``n`` suspicious cancels in the window.
* **Wash trading**: a trade of an account with itself (only possible when self-trade
  prevention is off) is reported at once with severity 1. Between two accounts only trades
  that look prearranged count: the resting order was placed at most ``wash_max_gap`` seconds
  before one fill by the other account took all of it. When their last ``wash_repeat`` such
  trades with each other all fall within ``wash_window`` seconds and
  ``wash_price_ticks`` of one another in price, and leave the pair's net transfer at most
  ``wash_max_net`` of the gross (a round trip: no one ends up owning anything new), both
  accounts are reported with severity ``n / (n + 1)`` (``n = wash_repeat``); the pair's record
  then starts afresh. Trades at one price level rule out a market maker's round trips across
  its spread.
* **Incidents**: ``incident_violations`` reports within ``incident_window`` seconds raise one
  market-manipulation incident (severity ``n / (n + incident_violations)``, 0.5 at the
  threshold) for the regulator; the count then starts afresh.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

__all__ = ["Finding", "Surveillance", "SurveillanceConfig"]


class SurveillanceConfig(BaseModel):
    """Thresholds of the market's surveillance (``[mechanisms.value_market.surveillance]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="watch for spoofing and wash trading")
    spoof_min_qty: PositiveInt = Field(default=20, description="lots from which an order may be a spoof")
    spoof_min_distance: PositiveInt = Field(
        default=5, description="ticks from the touch from which an order may be a spoof")
    spoof_max_lifetime: PositiveFloat = Field(
        default=5.0, description="seconds within which a spoof is cancelled")
    spoof_max_filled: float = Field(
        default=0.1, ge=0, le=1, description="largest filled share of a cancelled order still suspicious")
    spoof_repeat: PositiveInt = Field(
        default=2, description="suspicious cancels within the window before an account is reported")
    spoof_window: PositiveFloat = Field(
        default=300.0, description="seconds suspicious cancels are remembered")
    wash_repeat: int = Field(default=3, ge=2, description="trades between one pair that may form a wash")
    wash_window: PositiveFloat = Field(default=300.0, description="seconds a pair's trades are remembered")
    wash_max_gap: float = Field(
        default=2.0, ge=0,
        description="seconds from a resting order's entry to its complete fill that look prearranged")
    wash_price_ticks: int = Field(
        default=2, ge=0, description="largest price range (ticks) of a pair's trades that may be a wash")
    wash_max_net: float = Field(
        default=0.4, ge=0, le=1, description="largest net / gross transfer of a pair that is a round trip")
    incident_violations: PositiveInt = Field(
        default=6, description="reports within the incident window that raise an incident")
    incident_window: PositiveFloat = Field(default=600.0, description="seconds reports count towards one")


class Finding(NamedTuple):
    """One report: ``actor`` did ``kind`` (``spoofing`` / ``wash_trading``) with ``severity``."""

    actor: str
    kind: str
    severity: float
    evidence: dict[str, Any]


class Surveillance:
    """The surveillance state of one market (part of its snapshot: it decides future reports)."""

    __slots__ = ("_config", "_far", "_pairs", "_reports", "_spoofs", "_wash_span", "incidents")

    def __init__(self, config: SurveillanceConfig, tick_size: int) -> None:
        self._config = config
        # Thresholds in ticks, converted once to price units.
        self._far = config.spoof_min_distance * tick_size
        self._wash_span = config.wash_price_ticks * tick_size
        self._spoofs: dict[str, deque[float]] = {}
        self._pairs: dict[tuple[str, str], deque[tuple[float, int, int]]] = {}
        self._reports: deque[float] = deque()
        self.incidents = 0

    def is_far(self, is_buy: bool, price: int, best_bid: int | None, best_ask: int | None) -> bool:
        """Whether a new order at ``price`` lies ``spoof_min_distance`` ticks or more behind the
        touch: its own side's best price, else the opposite best (no touch: not far)."""
        if is_buy:
            touch = best_bid if best_bid is not None else best_ask
            return touch is not None and touch - price >= self._far
        touch = best_ask if best_ask is not None else best_bid
        return touch is not None and price - touch >= self._far

    def suspicious(self, qty: int, filled: int, far: bool, lifetime: float) -> bool:
        """Whether a cancel has the spoofing pattern: far from the touch when placed, cancelled within
        ``spoof_max_lifetime`` with at most ``spoof_max_filled`` of it filled (large: flagged on entry)."""
        config = self._config
        return far and lifetime <= config.spoof_max_lifetime and filled <= config.spoof_max_filled * qty

    def on_cancel(self, actor: str, client_id: object, qty: int, filled: int, far: bool, placed: float,
                  now: float) -> Finding | None:
        """A cancel of ``actor``'s order (``qty`` lots, ``filled`` of them filled, ``far`` from the
        touch when placed at ``placed``): the report it triggers, if any."""
        config = self._config
        lifetime = now - placed
        if not self.suspicious(qty, filled, far, lifetime):
            return None
        times = self._spoofs.get(actor)
        if times is None:
            times = self._spoofs[actor] = deque()
        times.append(now)
        horizon = now - config.spoof_window
        while times[0] < horizon:
            times.popleft()
        count = len(times)
        if count < config.spoof_repeat:
            return None
        return Finding(actor, "spoofing", count / (count + 1),
                       {"order_id": client_id, "qty": qty, "filled": filled, "lifetime": lifetime,
                        "suspicious_cancels": count, "window": config.spoof_window})

    def on_trade(self, buyer: str, seller: str, price: int, qty: int, now: float, rested: float,
                 whole: bool) -> list[Finding]:
        """A trade of ``qty`` lots at ``price``, whose resting order had rested ``rested`` seconds
        and was taken ``whole`` by this fill: the reports it triggers (usually none)."""
        if buyer == seller:
            evidence = {"counterparty": seller, "price": price, "qty": qty, "self_trade": True}
            return [Finding(buyer, "wash_trading", 1.0, evidence)]
        config = self._config
        if not whole or rested > config.wash_max_gap:
            return []  # an ordinary trade with a resting order: not prearranged
        # Signed from the first account's side of the (sorted) pair: + when it buys.
        if buyer < seller:
            key, signed = (buyer, seller), qty
        else:
            key, signed = (seller, buyer), -qty
        trades = self._pairs.get(key)
        if trades is None:
            trades = self._pairs[key] = deque()
        trades.append((now, signed, price))
        horizon = now - config.wash_window
        while trades[0][0] < horizon:
            trades.popleft()
        count = config.wash_repeat
        if len(trades) < count:
            return []
        recent = list(trades)[-count:]
        prices = [p for _, _, p in recent]
        if max(prices) - min(prices) > self._wash_span:
            return []
        gross = sum(abs(q) for _, q, _ in recent)
        net = abs(sum(q for _, q, _ in recent))
        if net > config.wash_max_net * gross:
            return []
        del self._pairs[key]
        severity = count / (count + 1)
        first, second = key
        return [Finding(first, "wash_trading", severity,
                        {"counterparty": second, "trades": count, "gross": gross, "net": net}),
                Finding(second, "wash_trading", severity,
                        {"counterparty": first, "trades": count, "gross": gross, "net": net})]

    def on_report(self, now: float) -> float | None:
        """Count one report; the severity of the incident it completes, if it completes one."""
        config = self._config
        reports = self._reports
        reports.append(now)
        horizon = now - config.incident_window
        while reports[0] < horizon:
            reports.popleft()
        count = len(reports)
        if count < config.incident_violations:
            return None
        reports.clear()
        self.incidents += 1
        return count / (count + config.incident_violations)

    def to_json(self) -> dict[str, Any]:
        return {
            "spoofs": {actor: list(times) for actor, times in sorted(self._spoofs.items()) if times},
            "pairs": [[*key, [list(t) for t in trades]] for key, trades in sorted(self._pairs.items())],
            "reports": list(self._reports),
            "incidents": self.incidents,
        }
