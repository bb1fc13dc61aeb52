"""Halts: trading stops while any hold is in force (a regulator decision, a halt event or shock,
the circuit breaker); holds stack, and trading resumes when the last one ends.

Always on; the market subscribes its handlers, in the order it always has. Obeys
``TradingHalted`` / ``TradingResumed`` from anyone else naming this market, decisions whose
measure is in ``halt_on`` (until they lapse) and shocks whose kind is in ``halt_shocks`` (for
``payload.duration`` or ``halt_shock_seconds``); publishes its own ``TradingHalted`` /
``TradingResumed``. Measures ``halts``, ``halted_seconds`` and ``halted_share`` (area ux: halts are
the regulator's control, a cost to every trader, reported beside the protection they buy; see
``spoof_orders_per_open_second``).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from flagship.mechanisms import ContractError
from flagship.mechanisms.events import (
    DecisionLapsed,
    DecisionTaken,
    ShockFired,
    TradingHalted,
    TradingResumed,
)

from .._policy import MarketPolicy, register_policy

if TYPE_CHECKING:
    from .._config import MarketConfig
    from .._mechanism import ValueMarket

__all__ = ["Halts"]


@register_policy
class Halts(MarketPolicy):
    """The stack of holds on trading, and the halt statistics."""

    market: ValueMarket
    config: MarketConfig

    name = "halts"
    listed = False
    rank = 5

    @classmethod
    def enabled(cls, config: MarketConfig) -> bool:
        return True

    def __init__(self, market: ValueMarket) -> None:
        super().__init__(market)
        self._holds: dict[str, str] = {}  # why trading is halted: hold key -> reason
        self._halts = 0
        self._halted_since: float | None = None
        self._halted_seconds = 0.0

    @property
    def halted(self) -> bool:
        return bool(self._holds)

    def hold(self, key: str, reason: str) -> None:
        """Halt trading for ``reason`` until :meth:`release` of ``key`` (holds stack)."""
        if key in self._holds:
            return
        market = self.market
        ctx = market.ctx
        if not self._holds:
            market.desk.mark_spread(ctx.now)
            market.desk.book.halt()
            self._halts += 1
            self._halted_since = ctx.now
            market.emit(TradingHalted(market=ctx.name, reason=reason))
        self._holds[key] = reason
        ctx.recorder.gauge("halted", 1.0)

    def release(self, key: str) -> None:
        if self._holds.pop(key, None) is None or self._holds:
            return
        market = self.market
        ctx = market.ctx
        market.desk.book.resume()
        if self._halted_since is not None:
            self._halted_seconds += ctx.now - self._halted_since
            self._halted_since = None
        ctx.recorder.gauge("halted", 0.0)
        market.emit(TradingResumed(market=ctx.name))

    def hold_for(self, seconds: float, key: str, reason: str) -> None:
        """Halt for ``seconds`` from now (then release ``key`` and publish what that changed)."""
        self.hold(key, reason)
        self.market.ctx.call_later(seconds, self._expire, key)

    def _expire(self, key: str) -> None:
        self.release(key)
        self.market.flush()

    def on_decision(self, event: DecisionTaken) -> None:
        """A regulator decision addressed to this market (the market checked the target)."""
        if event.measure in self.config.halt_on:
            self.hold(f"decision:{event.decision_id}", f"decision {event.decision_id}: {event.measure}")

    def on_lapsed(self, event: DecisionLapsed) -> None:
        self.release(f"decision:{event.decision_id}")

    def on_shock(self, event: ShockFired) -> None:
        """A shock whose kind is not a liquidity shock (those are only recorded for measures)."""
        if event.kind not in self.config.halt_shocks:
            return
        duration = event.payload.get("duration", self.config.halt_shock_seconds)
        if isinstance(duration, bool) or not isinstance(duration, int | float) or not duration > 0:
            raise ContractError(f"shock {event.kind!r}: payload duration must be a positive number")
        self.hold_for(float(duration), f"shock:{event.kind}:{self.market.ctx.now}", f"shock: {event.kind}")
        self.market.flush()

    def on_halted(self, event: TradingHalted) -> None:
        """Someone else halted this market (the market subscribes this handler)."""
        name = self.market.ctx.name
        if event.source != name and event.market == name:
            self.hold(f"event:{event.source}", f"{event.source}: {event.reason}")
            self.market.flush()

    def on_resumed(self, event: TradingResumed) -> None:
        name = self.market.ctx.name
        if event.source != name and event.market == name:
            self.release(f"event:{event.source}")
            self.market.flush()

    def halted_seconds(self, now: float) -> float:
        """Seconds trading has been halted up to ``now`` (the current halt included)."""
        return self._halted_seconds + (now - self._halted_since if self._halted_since is not None else 0.0)

    def finish(self, values: MutableMapping[str, float | None]) -> None:
        now = self.market.ctx.now
        values["halts"] = float(self._halts)
        halted = self.halted_seconds(now)
        values["halted_seconds"] = halted
        values["halted_share"] = halted / now if now > 0 else None

    def snapshot(self) -> dict[str, Any]:
        return {"holds": dict(sorted(self._holds.items()))}
