"""Induced-value traders with a schedule: per-unit redemption values and costs, trading periods
that reopen the market with fresh endowments, and the per-period measures of the Gode-Sunder
experiment. Gode and Sunder's (1993) zero-intelligence traders, constrained (``zi_c``) and
unconstrained (``zi_u``), live here; ZIP traders (``_zip``) share the machinery.

Lifecycle: at start each participant gets its units (buyers ``0..B-1`` with ``buyer_values``,
sellers ``B..`` with ``seller_costs``, from an explicit schedule or one of the reference markets,
:data:`~flagship.markets._populations._schedules.GS_MARKETS`), traded in order, one lot at a
time. Every ``period`` seconds the period closes (its measures are kept if it ran its full
length), live orders are cancelled and every trader gets its units back. A participant with a
unit left shouts at each arrival; a new shout replaces its last one. When the market cleared the
book after a trade (the ``cancel_on_trade`` policy reports ``cleared`` in the outcome) the
population forgets every live order; an order it still believes live but the market does not
know is dropped and the shout placed anew.

Measures (only periods that ran their full length count; a run shorter than one period has
none): ``efficiency``, realized surplus over the competitive-equilibrium surplus, averaged over
periods; ``smith_alpha``, Smith's coefficient of convergence, 100 x the root-mean-square
deviation of the period's trade prices from the equilibrium price / that price, averaged over
periods with a trade. Gauges ``trade_price`` (the last trade's price) and ``trade_price_band_low`` /
``trade_price_band_high`` (the competitive-equilibrium price band) give the price path against the
equilibrium band in the run's series (the report draws the band behind the path);
``period_efficiency`` each period's efficiency once it closes.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any, ClassVar

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from flagship.mechanisms import Area, ContractError, Measure, Outcome, PopulationContext, register
from flagship.mechanisms.events import TradeExecuted

from ._base import Live, TraderParams, Traders, on_tick_price
from ._schedules import GS_MARKETS, Equilibrium, Schedule

__all__ = ["InducedParams", "InducedTraders", "ZICTraders", "ZIUTraders"]

_UNKNOWN_ORDER = "UNKNOWN_ORDER"
_EPSILON = 1e-9


class InducedParams(TraderParams):
    """A schedule of unit values and costs, trading periods and the price range of shouts."""

    market: int | None = Field(
        default=None, ge=1, le=len(GS_MARKETS),
        description="one of the reference markets 1..5 (docs/markets.md); or give buyer_values and "
                    "seller_costs")
    buyer_values: list[list[PositiveInt]] = Field(
        default_factory=list, description="per buyer, its units' redemption values in trading order (ticks)")
    seller_costs: list[list[PositiveInt]] = Field(
        default_factory=list, description="per seller, its units' costs in trading order (ticks)")
    period: PositiveFloat = Field(
        default=30.0,
        description="seconds of a trading period: then the market reopens with fresh endowments")
    price_floor: PositiveInt = Field(default=1, description="lowest price a trader shouts (ticks)")
    price_ceiling: PositiveInt = Field(default=200, description="highest price a trader shouts (ticks)")

    @model_validator(mode="after")
    def _check(self) -> InducedParams:
        explicit = bool(self.buyer_values or self.seller_costs)
        if explicit == (self.market is not None):
            raise ValueError("give either market (1..5) or buyer_values and seller_costs")
        if explicit and not (self.buyer_values and self.seller_costs
                             and all(self.buyer_values) and all(self.seller_costs)):
            raise ValueError("buyer_values and seller_costs: expected at least one trader each, "
                             "each with at least one unit")
        if self.price_floor > self.price_ceiling:
            raise ValueError("price_floor must not exceed price_ceiling")
        return self

    def schedule(self) -> Schedule:
        if self.market is not None:
            return GS_MARKETS[self.market]
        return Schedule(tuple(tuple(units) for units in self.buyer_values),
                        tuple(tuple(units) for units in self.seller_costs))


class InducedTraders(Traders):
    """Traders with a unit schedule and trading periods; subclasses choose the shout's price."""

    Params = InducedParams
    measures: ClassVar[tuple[Measure, ...]] = (
        Measure("efficiency", Area.LEGITIMACY, "ratio", True,
                "realized surplus (value of units bought - cost of units sold) / competitive-equilibrium "
                "surplus of the schedule, per complete period, averaged over complete periods"),
        Measure("smith_alpha", Area.ROBUSTNESS, "percent", False,
                "Smith's alpha: 100 x root-mean-square deviation of a period's trade prices from the "
                "competitive-equilibrium price / that price, averaged over complete periods with a trade"),
    )

    def __init__(self, params: InducedParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        schedule = params.schedule()
        self._limits: list[tuple[int, ...]] = [*schedule.values, *schedule.costs]
        self._buyers = len(schedule.values)
        if ctx.count != len(self._limits):
            raise ContractError(f"populations.{ctx.name}.count: the schedule has {self._buyers} buyers and "
                                f"{len(schedule.costs)} sellers, so expected {len(self._limits)}, "
                                f"got {ctx.count}")
        self.equilibrium: Equilibrium = schedule.equilibrium()
        self._next_unit = [0] * ctx.count
        self._period_start = 0.0
        self._surplus = 0.0
        self._prices: list[int] = []
        self.period_efficiency: list[float] = []
        self.period_alpha: list[float | None] = []

    # -- the schedule -----------------------------------------------------------------------

    def is_buyer(self, participant: int) -> bool:
        return participant < self._buyers

    def limit_price(self, participant: int) -> int | None:
        """The value (buyer) or cost (seller) of ``participant``'s next unit; None when none is left."""
        units = self._limits[participant]
        index = self._next_unit[participant]
        return units[index] if index < len(units) else None

    # -- periods ----------------------------------------------------------------------------

    def _setup(self) -> None:
        recorder = self.ctx.recorder
        recorder.gauge("trade_price_band_low", self.equilibrium.price_low)
        recorder.gauge("trade_price_band_high", self.equilibrium.price_high)
        self.ctx.env.process(self._periods())

    def _periods(self) -> Generator[Any, Any, None]:
        period: float = self.params.period
        while True:
            yield self.ctx.env.timeout(period)
            self._close_period()
            for participant in range(self.ctx.count):
                self.cancel_all(participant)
                self._next_unit[participant] = 0
            self._period_start = self.ctx.now

    def _close_period(self) -> None:
        """Score the period that ends now (it ran its full length)."""
        maximum = self.equilibrium.surplus
        efficiency = self._surplus / maximum if maximum > 0 else 0.0
        self.period_efficiency.append(efficiency)
        reference = self.equilibrium.price
        prices = self._prices
        alpha = (100.0 * math.sqrt(sum((p - reference) ** 2 for p in prices) / len(prices)) / reference
                 if prices and reference > 0 else None)
        self.period_alpha.append(alpha)
        self.ctx.recorder.gauge("period_efficiency", efficiency)
        self._surplus = 0.0
        self._prices = []

    def finish(self) -> None:
        # The run may end exactly at a period's end before its timer fired: that period is complete.
        if self.ctx.now - self._period_start >= self.params.period - _EPSILON:
            self._close_period()
        record = self.ctx.recorder.measure
        scored = self.period_efficiency
        record("efficiency", sum(scored) / len(scored) if scored else None)
        alphas = [a for a in self.period_alpha if a is not None]
        record("smith_alpha", sum(alphas) / len(alphas) if alphas else None)

    # -- trades -----------------------------------------------------------------------------

    def _on_trade(self, event: TradeExecuted) -> None:
        self._prices.append(event.price)
        self.ctx.recorder.gauge("trade_price", event.price)
        super()._on_trade(event)

    def _filled(self, participant: int, side: str, price: int, qty: int, live: Live | None) -> None:
        super()._filled(participant, side, price, qty, live)
        for _ in range(qty):
            limit = self.limit_price(participant)
            if limit is None:
                break  # no unit left: nothing more to redeem
            self._surplus += (limit - price) if side == "buy" else (price - limit)
            self._next_unit[participant] += 1
        self._traded(participant, side, price)

    def _traded(self, participant: int, side: str, price: int) -> None:
        """One of ``participant``'s orders traded (subclasses that learn)."""

    # -- shouting ---------------------------------------------------------------------------

    def step(self, participant: int) -> None:
        limit = self.limit_price(participant)
        if limit is None:
            return
        buyer = self.is_buyer(participant)
        price = self.shout_price(participant, buyer, limit)
        self.shout(participant, "buy" if buyer else "sell", price)

    def shout_price(self, participant: int, buyer: bool, limit: int) -> int:
        """The price of ``participant``'s shout for a unit of value or cost ``limit`` (subclasses)."""
        raise ContractError(f"population {self.name!r} does not implement shout_price()")

    def shout(self, participant: int, side: str, price: int) -> Outcome:
        """Replace ``participant``'s last shout by one lot at ``price`` (a modify, else a new order)."""
        live = self.live(participant)
        if live:
            outcome = self.reprice(participant, live[0], price)
            if outcome.accepted or outcome.reason != _UNKNOWN_ORDER:
                self._after(outcome)
                return outcome
            live.remove(live[0])  # the market cleared it: forget it and shout anew
        outcome = self.limit(participant, side, price, 1)[1]
        self._after(outcome)
        return outcome

    def _after(self, outcome: Outcome) -> None:
        if outcome.accepted and outcome.effects.get("cleared"):
            for participant in range(self.ctx.count):
                self.live(participant).clear()
        self.shouted(outcome)

    def shouted(self, outcome: Outcome) -> None:
        """After each shout (subclasses that watch the market)."""


@register
class ZICTraders(InducedTraders):
    """Gode and Sunder's zero-intelligence constrained traders: a random price that never loses.

    A buyer bids uniformly in ``[price_floor, value]`` of its next unit, a seller asks uniformly
    in ``[cost, price_ceiling]``: no memory, no learning, only the budget constraint.
    """

    name = "zi_c"

    def shout_price(self, participant: int, buyer: bool, limit: int) -> int:
        params: InducedParams = self.params
        if buyer:
            return on_tick_price(self.ctx.rng, min(params.price_floor, limit), limit, params.tick_size)
        return on_tick_price(self.ctx.rng, limit, max(params.price_ceiling, limit), params.tick_size)


@register
class ZIUTraders(InducedTraders):
    """Gode and Sunder's zero-intelligence unconstrained traders: a random price in the whole range.

    Buyers bid and sellers ask uniformly in ``[price_floor, price_ceiling]`` whatever their unit's
    value or cost, so they trade at a loss; they still trade only the units of their schedule.
    """

    name = "zi_u"

    def shout_price(self, participant: int, buyer: bool, limit: int) -> int:
        params: InducedParams = self.params
        return on_tick_price(self.ctx.rng, params.price_floor, params.price_ceiling, params.tick_size)
