"""Trader populations on a ``value_market``: zero-intelligence, market makers, value, noise, manipulators.

Every population here acts on the market named as its scenario ``mechanism``; its participants
are actors ``<population>-<n>``, and each draws from the population's own seeded streams. At
start each population publishes one :class:`~flagship.mechanisms.events.TraderProfile` per participant
(its group, whether it manipulates, induced values): simulation ground truth the market uses for
its measures only. Participants learn their fills from the market's ``TradeExecuted`` events,
like a trader's drop copy: a fill at a resting order's price is matched to the participant's own
live order at that price (the book is uncrossed, so the price tells the side). They anchor
prices on the middle of the touch the market reported with their population's last accepted
order (``bid`` / ``ask`` effects), else the last trade price, else ``reference_price``, and send
nothing while the market is halted.

Every order carries the population's attestation params (``values``, ``externality``,
``attestor``), so any model can play a value-aligned or a norm-breaching ("brown") trader.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from flagship.mechanisms import ContractError, PopulationContext, register
from flagship.mechanisms.events import ShockFired, TradeExecuted, TraderProfile, TradingHalted, TradingResumed

from .._mechanism import LIQUIDITY_SHOCK
from ._base import Live, TraderParams, Traders, on_tick_price

__all__ = [
    "ManipulatorParams",
    "Manipulators",
    "MarketMakerParams",
    "MarketMakers",
    "NoiseParams",
    "NoiseTraders",
    "ValueParams",
    "ValueTraders",
    "ZIParams",
    "ZITraders",
]


# -- zero-intelligence constrained traders ---------------------------------------------------


class ZIParams(TraderParams):
    """Gode and Sunder's (1993) zero-intelligence constrained (ZI-C) traders."""

    buyers: int | None = Field(
        default=None, ge=0,
        description="participants 0..buyers-1 are buyers, the rest sellers (default: half)")
    value_range: tuple[PositiveInt, PositiveInt] = Field(
        default=(60, 160), description="buyers' private values lie in [lo, hi] (ticks)")
    cost_range: tuple[PositiveInt, PositiveInt] = Field(
        default=(40, 140), description="sellers' costs lie in [lo, hi] (ticks)")
    schedule: Literal["fixed", "uniform"] = Field(
        default="uniform", description="fixed: values and costs evenly spaced over the ranges, the same each "
                                       "period; uniform: drawn afresh each period")
    period: PositiveFloat = Field(
        default=60.0, description="seconds of a trading period (units are refreshed)")
    units: PositiveInt = Field(default=1, description="units each trader may trade per period, one at a time")
    price_floor: PositiveInt = Field(default=1, description="lowest bid a buyer draws (ticks)")
    price_ceiling: PositiveInt = Field(default=200, description="highest ask a seller draws (ticks)")

    @model_validator(mode="after")
    def _check(self) -> ZIParams:
        for name in ("value_range", "cost_range"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: expected lo <= hi")
        if not self.price_floor <= self.value_range[1] or not self.cost_range[0] <= self.price_ceiling:
            raise ValueError("price_floor must not exceed the highest value, "
                             "nor the lowest cost price_ceiling")
        return self


@register
class ZITraders(Traders):
    """ZI-C traders: buyers with private values, sellers with costs; random prices within budget.

    At each arrival a trader with a unit left this period shouts a one-lot limit order at a
    price drawn uniformly from ``[price_floor, value]`` (buyer) or ``[cost, price_ceiling]``
    (seller), never at a loss; a new shout replaces its previous one (a modify). Every
    ``period`` seconds units are refreshed, unfilled orders are cancelled and (``uniform``) new
    values and costs drawn; each period's values and costs are published as profiles, so the
    market measures allocative efficiency against the competitive-equilibrium surplus.
    """

    name = "zi_traders"
    Params = ZIParams

    def __init__(self, params: ZIParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        count = ctx.count
        self._buyers = count // 2 if params.buyers is None else min(params.buyers, count)
        self._amount = [0] * count  # value (buyers) or cost (sellers)
        self._units = [0] * count
        self._period = 0
        self._values_rng = ctx.stream("values")
        self._price_floor = params.price_floor  # read at every shout (see Traders' _tick_size)
        self._price_ceiling = params.price_ceiling

    def is_buyer(self, participant: int) -> bool:
        return participant < self._buyers

    def _setup(self) -> None:
        self._new_period()
        # A process looping over timeouts, not a timer per period: it keeps the event order (and
        # so every stored digest) as it has always been.
        self.ctx.env.process(self._periods())

    def _periods(self) -> Generator[Any, Any, None]:
        while True:
            yield self.ctx.env.timeout(self.params.period)
            self._period += 1
            self._new_period()

    def _new_period(self) -> None:
        params: ZIParams = self.params
        buyers = self._buyers
        sellers = self.ctx.count - buyers
        for participant in range(self.ctx.count):
            self.cancel_all(participant)  # last period's unit is gone
            buyer = participant < buyers
            low, high = params.value_range if buyer else params.cost_range
            if params.schedule == "fixed":
                rank, n = (participant, buyers) if buyer else (participant - buyers, sellers)
                step = (high - low) / (n - 1) if n > 1 else 0.0
                amount = self.tick(high - rank * step if buyer else low + rank * step)
            else:
                amount = on_tick_price(self._values_rng, low, high, params.tick_size)
            self._amount[participant] = amount
            self._units[participant] = params.units
            self.ctx.publish(TraderProfile(
                market=self.ctx.mechanism, actor=self._actors[participant], group=self.ctx.name,
                value=amount if buyer else None, cost=None if buyer else amount,
                units=params.units, period=self._period))

    def step(self, participant: int) -> None:
        if self._units[participant] <= 0:
            return
        amount = self._amount[participant]
        if participant < self._buyers:  # is_buyer, inline: this runs at every arrival
            side = "buy"
            # conditionals, not min() and max(): the builtins' calls cost more, at every shout
            floor = self._price_floor
            low, high = (floor if floor <= amount else amount), amount
        else:
            side = "sell"
            ceiling = self._price_ceiling
            low, high = amount, (ceiling if ceiling >= amount else amount)
        # On-tick prices within [low, high]: never a bid above value nor an ask below cost.
        price = on_tick_price(self.ctx.rng, low, high, self._tick_size)
        live = self._live[participant]
        if live:
            self.reprice(participant, live[0], price)
        else:
            self.limit(participant, side, price, 1)

    def _filled(self, participant: int, side: str, price: int, qty: int, live: Live | None) -> None:
        super()._filled(participant, side, price, qty, live)
        self._units[participant] -= qty


# -- market makers ---------------------------------------------------------------------------


class MarketMakerParams(TraderParams):
    """Market makers quoting both sides around a fair value."""

    half_spread: PositiveInt = Field(default=2, description="ticks from the fair value to each quote")
    reference_weight: float = Field(
        default=0.2, ge=0, le=1,
        description="weight of reference_price in the fair value (the rest: the last trade price)")
    qty: PositiveInt = Field(default=5, description="lots quoted on each side")
    inventory_skew: NonNegativeFloat = Field(
        default=0.1, description="ticks both quotes shift against each lot of inventory")
    withdraw_seconds: PositiveFloat = Field(
        default=60.0, description="seconds a maker stays out after a liquidity shock (payload 'duration')")
    withdraw_fraction: float = Field(
        default=1.0, ge=0, le=1,
        description="share of makers withdrawing on a liquidity shock "
                    "(payload 'fraction' or 'depth_fraction')")
    post_only: bool = Field(default=False, description="quote post-only (never take liquidity)")


@register
class MarketMakers(Traders):
    """Quote a bid and an ask around a fair value, skewed against inventory.

    The fair value leans on the last trade price and, by ``reference_weight``, on the
    population's ``reference_price`` (what the makers believe the asset is worth), so a run of
    odd trades does not drag the quotes away for good. At each arrival a maker re-centres its
    quotes (``half_spread`` ticks either side of the fair value, shifted by ``inventory_skew``
    per lot held): a live quote is repriced, a filled one replaced. On a ``liquidity_shock`` a
    share of the makers cancel their quotes and stay out for a while (drawn from the
    population's ``shock`` stream).
    """

    name = "market_makers"
    Params = MarketMakerParams
    subscribes = (TradeExecuted, TradingHalted, TradingResumed, ShockFired)

    def __init__(self, params: MarketMakerParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self._out_until = [0.0] * ctx.count
        self._shock_rng = ctx.stream("shock")
        # Read at every arrival, kept plain (see Traders' _tick_size); the anchor's terms as step
        # computed them from the params, so every fair value is the same float.
        self._anchor = params.reference_weight * params.reference_price
        self._trade_weight = 1 - params.reference_weight
        self._skew = params.inventory_skew
        self._half_spread = params.half_spread
        self._quote_qty = params.qty
        self._quote_extra: dict[str, Any] = {"post_only": True} if params.post_only else {}

    def step(self, participant: int) -> None:
        if self.ctx.now < self._out_until[participant]:
            return
        size = self._tick_size
        fair = self._anchor + self._trade_weight * self.mid()
        centre = fair - self.position[participant] * self._skew * size
        half_spread = self._half_spread
        bid = self.tick(centre - half_spread * size)
        above = self.tick(centre + half_spread * size)
        ask = bid + size if bid + size >= above else above  # max(), as a conditional (see tick)
        extra = self._quote_extra  # unpacked into each order's payload, never changed
        mine = self._live[participant]  # self.live(participant), without the call
        quotes: dict[str, Live] = {}
        for live in mine:  # a loop, not a comprehension (which is a call of its own)
            quotes[live.side] = live
        old_ask = quotes.get("sell")
        # Move the side that retreats first, so a quote never meets the maker's own other quote.
        sides = (("sell", ask), ("buy", bid)) if old_ask is not None and old_ask.price < ask else \
            (("buy", bid), ("sell", ask))
        for side, price in sides:
            quote = quotes.get(side)
            if quote is None or quote not in mine:
                self.limit(participant, side, price, self._quote_qty, **extra)
            elif quote.price != price:
                self.reprice(participant, quote, price)

    def _on_shock(self, event: ShockFired) -> None:
        if event.kind != LIQUIDITY_SHOCK:
            return
        params: MarketMakerParams = self.params
        payload = event.payload
        duration = payload.get("duration", params.withdraw_seconds)
        fraction = payload.get("fraction", payload.get("depth_fraction", params.withdraw_fraction))
        for name, value in (("duration", duration), ("fraction", fraction)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ContractError(f"liquidity_shock payload {name}: expected a number >= 0, got {value!r}")
        draws = self._shock_rng.random(self.ctx.count)
        for participant in range(self.ctx.count):
            if draws[participant] < fraction:
                self.cancel_all(participant)
                self._out_until[participant] = self.ctx.now + float(duration)


# -- value-motivated traders -----------------------------------------------------------------


class ValueParams(TraderParams):
    """Traders who attach value tags and pay a premium for trading on their values."""

    values: list[str] = Field(default_factory=lambda: ["low_carbon"],
                              description="value tags attached to every order")
    premium: NonNegativeFloat = Field(
        default=3.0,
        description="ticks beyond the mid a trader will pay (buy) or concede (sell) for alignment")
    width: PositiveInt = Field(default=5, description="ticks behind the mid a trader may also quote")
    qty: PositiveInt = Field(default=1, description="lots per order")
    side: Literal["both", "buy", "sell"] = Field(
        default="both", description="buyers, sellers, or both (even participants buy, odd ones sell)")


@register
class ValueTraders(Traders):
    """Value-motivated traders: every order carries their tags; they pay up to ``premium`` for it.

    Kept simple on purpose: a buyer bids uniformly in ``[mid - width, mid + premium]`` and a
    seller asks in ``[mid - premium, mid + width]``, one order at a time (a new one reprices the
    last). The premium is what they pay to trade on their values; whether their counterparties
    are aligned is up to the market's policy (``value_priority`` puts their resting orders first
    at a price, ``screen`` keeps breaching counterparties out). With prohibited tags and an
    externality in their params the same model plays norm-breaching traders (premium 0).
    """

    name = "value_traders"
    Params = ValueParams

    def step(self, participant: int) -> None:
        params: ValueParams = self.params
        side = ("buy" if participant % 2 == 0 else "sell") if params.side == "both" else params.side
        size = params.tick_size
        mid = self.mid()
        premium = params.premium * size
        if side == "buy":
            price = self.tick(self.ctx.rng.draw_uniform(mid - params.width * size, mid + premium))
        else:
            price = self.tick(self.ctx.rng.draw_uniform(mid - premium, mid + params.width * size))
        live = self.live(participant)
        if live:
            if live[0].price != price:
                self.reprice(participant, live[0], price)
        else:
            self.limit(participant, side, price, params.qty)


# -- noise traders ---------------------------------------------------------------------------


class NoiseParams(TraderParams):
    """Uninformed traders: random market orders and random limit orders near the mid."""

    market_probability: float = Field(
        default=0.3, ge=0, le=1, description="chance an order is a market order")
    max_qty: PositiveInt = Field(default=3, description="lots per order are uniform in 1..max_qty")
    width: PositiveInt = Field(
        default=5, description="limit orders rest up to this many ticks behind the mid")
    max_open: PositiveInt = Field(
        default=2, description="limit orders kept live; the oldest is cancelled beyond")


@register
class NoiseTraders(Traders):
    """Buy or sell at random: a market order, or a limit order 0..``width`` ticks behind the mid."""

    name = "noise_traders"
    Params = NoiseParams

    def step(self, participant: int) -> None:
        params: NoiseParams = self.params
        rng = self.ctx.rng
        side = "buy" if rng.draw_float() < 0.5 else "sell"
        qty = rng.draw_int(1, params.max_qty + 1)
        if rng.draw_float() < params.market_probability:
            self.market_order(participant, side, qty)
            return
        distance = rng.draw_int(0, params.width + 1) * params.tick_size
        mid = self.mid()
        self.limit(participant, side, self.tick(mid - distance if side == "buy" else mid + distance), qty)
        live = self.live(participant)
        if len(live) > params.max_open:
            self.cancel(participant, live[0])


# -- manipulators ----------------------------------------------------------------------------


class ManipulatorParams(TraderParams):
    """Colluding accounts (the population's participants) that spoof and wash-trade."""

    spoof_probability: float = Field(default=0.4, ge=0, le=1, description="chance an arrival spoofs")
    wash_probability: float = Field(
        default=0.4, ge=0, le=1, description="chance an arrival wash-trades with a colluding account")
    spoof_qty: PositiveInt = Field(default=50, description="lots of a spoofing order")
    spoof_offset: PositiveInt = Field(default=8, description="ticks from the mid a spoofing order rests")
    spoof_cancel_after: PositiveFloat = Field(default=1.0, description="seconds before a spoof is cancelled")
    wash_qty: PositiveInt = Field(default=5, description="lots of a wash trade")
    wash_push: int = Field(default=0, description="ticks above the mid of the spread wash trades print at")

    @model_validator(mode="after")
    def _check(self) -> ManipulatorParams:
        if self.spoof_probability + self.wash_probability > 1:
            raise ValueError("spoof_probability + wash_probability must not exceed 1")
        return self


@register
class Manipulators(Traders):
    """Spoofing and wash trading between colluding accounts; otherwise unwinding inventory.

    At each arrival an account either spoofs (a ``spoof_qty`` order ``spoof_offset`` ticks
    behind the mid on a random side, cancelled ``spoof_cancel_after`` seconds later), or
    wash-trades with the next account (one posts a sell inside the spread the accounts last saw,
    at its middle plus ``wash_push`` ticks, the other takes it with an immediate-or-cancel buy;
    the direction alternates, so the pair's net transfer stays near zero; with no room inside
    the spread it does nothing), or sends a market order against its inventory.
    Profiles mark every account a manipulator (ground truth for the market's measures only).
    """

    name = "manipulators"
    Params = ManipulatorParams
    manipulator = True

    def __init__(self, params: ManipulatorParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self._washes = [0] * ctx.count
        self.spoofs = 0
        self.washes = 0

    def step(self, participant: int) -> None:
        params: ManipulatorParams = self.params
        draw = self.ctx.rng.draw_float()
        if draw < params.spoof_probability:
            self._spoof(participant)
        elif draw < params.spoof_probability + params.wash_probability and self.ctx.count > 1 \
                and self._wash(participant):
            return
        elif self.position[participant]:
            held = self.position[participant]
            self.market_order(participant, "sell" if held > 0 else "buy", min(abs(held), params.wash_qty))

    def _spoof(self, participant: int) -> None:
        params: ManipulatorParams = self.params
        side = "buy" if self.ctx.rng.draw_float() < 0.5 else "sell"
        offset = params.spoof_offset * params.tick_size
        mid = self.mid()
        price = self.tick(mid - offset if side == "buy" else mid + offset)
        live, outcome = self.limit(participant, side, price, params.spoof_qty)
        if outcome.accepted and live.remaining:
            self.spoofs += 1
            self.ctx.call_later(params.spoof_cancel_after, self.cancel, participant, live)

    def _wash(self, participant: int) -> bool:
        """Print a prearranged trade with the next account, inside the spread; False if there is
        no room inside the spread the accounts last saw."""
        params: ManipulatorParams = self.params
        size = params.tick_size
        if self.bid is None or self.ask is None or self.ask - self.bid < 2 * size:
            return False
        partner = (participant + 1) % self.ctx.count
        self._washes[participant] += 1
        seller, buyer = (participant, partner) if self._washes[participant] % 2 else (partner, participant)
        inside = (self.bid + self.ask) // 2 // size * size
        price = min(self.ask - size, max(self.bid + size, inside + params.wash_push * size))
        live, outcome = self.limit(seller, "sell", price, params.wash_qty)
        if not outcome.accepted:
            return True
        self.washes += 1
        if live.remaining:
            self.limit(buyer, "buy", price, live.remaining, tif="IOC")
            self.cancel(seller, live)
        return True

