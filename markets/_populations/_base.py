"""What every trader population of a ``value_market`` shares: params, live orders, fills, profiles."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveInt,
)

from flagship.mechanisms import (
    Action,
    ContractError,
    Event,
    Outcome,
    Population,
    PopulationContext,
    RandomStream,
)
from flagship.mechanisms.events import ShockFired, TradeExecuted, TraderProfile, TradingHalted, TradingResumed

__all__ = ["Live", "TraderParams", "Traders", "on_tick_price"]


class TraderParams(BaseModel):
    """What every trader population takes: the price anchor and the attestation of its orders."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference_price: PositiveInt = Field(
        default=100, description="price (ticks) traders anchor on until the market shows a quote or a trade")
    tick_size: PositiveInt = Field(
        default=1, description="the market's tick size: prices are multiples of it")
    values: list[str] = Field(
        default_factory=list, description="value tags attached to every order (from the market's vocabulary)")
    externality: NonNegativeFloat = Field(
        default=0.0, description="externality (ticks per lot) every order attests")
    attestor: str = Field(default="", max_length=64,
                          description="third party attesting every order ('' = self-attested)")


class Live:
    """One participant's live order, as the participant believes it."""

    __slots__ = ("order_id", "price", "remaining", "side")

    def __init__(self, order_id: int, side: str, price: int, remaining: int) -> None:
        self.order_id = order_id
        self.side = side
        self.price = price
        self.remaining = remaining


def on_tick_price(stream: RandomStream, low: int, high: int, tick_size: int) -> int:
    """A price drawn uniformly among the multiples of ``tick_size`` in ``[low, high]``.

    One draw from ``stream``; when no tick lies in the range, the first tick above ``low``.
    """
    first, last = -(-low // tick_size), high // tick_size
    # A conditional, not max(): this runs at every zero-intelligence shout, and the builtin's call costs more.
    price: int = stream.draw_int(first, (last if last > first else first) + 1) * tick_size
    return price


class Traders(Population[Any]):
    """Shared machinery: actors, order ids, live orders and positions from fills, profiles."""

    Params: ClassVar[type[BaseModel]] = TraderParams
    publishes = (TraderProfile,)
    subscribes: ClassVar[tuple[type[Event], ...]] = (TradeExecuted, TradingHalted, TradingResumed)
    manipulator: ClassVar[bool] = False

    def __init__(self, params: TraderParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        count = ctx.count
        self._actors = [ctx.actor(i) for i in range(count)]
        self._index = {actor: i for i, actor in enumerate(self._actors)}
        self._next = [0] * count
        self._live: list[list[Live]] = [[] for _ in range(count)]
        self.position = [0] * count
        self.last_price: int | None = None
        self.bid: int | None = None  # the touch, as the market last told this population
        self.ask: int | None = None
        self.halted = False
        self._taking: tuple[int, str] | None = None  # (participant, side) of the order being submitted
        # Params read at every arrival, kept as plain attributes: a pydantic model's attribute
        # read costs several times a plain one (its class defines __getattr__, so CPython does
        # not specialise the read). The params are frozen: the copies cannot go stale.
        self._tick_size: int = params.tick_size
        extra: dict[str, Any] = {}
        if params.values:
            extra["values"] = list(params.values)
        if params.externality:
            extra["externality"] = params.externality
        if params.attestor:
            extra["attestor"] = params.attestor
        self._extra = extra

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if not self.ctx.mechanism:
            raise ContractError(f"population {self.ctx.name!r} needs a market as its mechanism")
        for event_type in self.subscribes:
            self.ctx.subscribe(event_type, self._on_event)
        for participant in range(self.ctx.count):
            self.ctx.publish(self._profile(participant))
        self._setup()
        super().start()

    def _setup(self) -> None:
        """Anything to do at start before arrivals (subclasses)."""

    def _profile(self, participant: int) -> TraderProfile:
        return TraderProfile(market=self.ctx.mechanism, actor=self._actors[participant], group=self.ctx.name,
                             manipulator=self.manipulator)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, TradeExecuted):
            if event.market == self.ctx.mechanism:
                self._on_trade(event)
        elif isinstance(event, TradingHalted | TradingResumed):
            if event.market == self.ctx.mechanism and event.source == self.ctx.mechanism:
                self.halted = isinstance(event, TradingHalted)
        elif isinstance(event, ShockFired):
            self._on_shock(event)

    def act(self, participant: int) -> None:
        """Traders see the market's halts: nobody sends orders into a halted market."""
        if not self.halted:
            self.step(participant)

    def step(self, participant: int) -> None:
        """What ``participant`` does at an arrival while the market trades (subclasses)."""
        raise ContractError(f"population {self.name!r} does not implement step()")

    def _on_shock(self, event: ShockFired) -> None:
        """React to a scenario shock (subclasses that subscribe to ShockFired)."""

    def _on_trade(self, event: TradeExecuted) -> None:
        self.last_price = event.price
        taker = self._index.get(event.taker)
        if taker is not None and self._taking is not None and self._taking[0] == taker:
            self._filled(taker, self._taking[1], event.price, event.qty, None)
        maker = self._index.get(event.maker)
        if maker is not None:
            for live in self._live[maker]:
                if live.price == event.price:
                    live.remaining -= event.qty
                    if live.remaining <= 0:
                        self._live[maker].remove(live)
                    self._filled(maker, live.side, event.price, event.qty, live)
                    break

    def _filled(self, participant: int, side: str, price: int, qty: int, live: Live | None) -> None:
        """A fill of one of ``participant``'s orders (``live`` None: as the taker)."""
        self.position[participant] += qty if side == "buy" else -qty

    # -- acting ---------------------------------------------------------------------------

    def mid(self) -> float:
        """The price the population anchors on: the middle of the touch the market last showed it,
        else the last trade price, else the reference price."""
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        if self.last_price is not None:
            return self.last_price
        reference: int = self.params.reference_price
        return reference

    def tick(self, price: float) -> int:
        """``price`` rounded to the tick, at least one tick."""
        size = self._tick_size
        rounded: int = round(price / size) * size
        # max(size, rounded) as a conditional: makers round twice per arrival, and the builtin's
        # call (it parses keyword arguments) costs more than the comparison
        return size if size >= rounded else rounded

    def limit(self, participant: int, side: str, price: int, qty: int, **extra: Any) -> tuple[Live, Outcome]:
        """Submit a limit order; remember it if it rests. Returns (its record, the outcome)."""
        self._next[participant] += 1
        order_id = self._next[participant]
        payload: dict[str, Any] = {"order_id": order_id, "side": side, "price": price, "qty": qty,
                                   **extra, **self._extra}
        outcome = self._submit(participant, side, "limit", payload)
        live = Live(order_id, side, price, 0)
        if outcome.accepted:
            self._note_touch(outcome)
            live.remaining = int(outcome.effects.get("resting", 0))
            if live.remaining:
                self._live[participant].append(live)
        return live, outcome

    def market_order(self, participant: int, side: str, qty: int) -> Outcome:
        """Submit a market order."""
        self._next[participant] += 1
        payload: dict[str, Any] = {"order_id": self._next[participant], "side": side, "qty": qty,
                                   **self._extra}
        outcome = self._submit(participant, side, "market", payload)
        if outcome.accepted:
            self._note_touch(outcome)
        return outcome

    def _note_touch(self, outcome: Outcome) -> None:
        effects = outcome.effects
        self.bid = effects.get("bid")
        self.ask = effects.get("ask")

    def reprice(self, participant: int, live: Live, price: int) -> Outcome:
        """Move a live order to ``price`` (the engine's modify: back of the queue, may trade)."""
        outcome = self._submit(participant, live.side, "modify", {"order_id": live.order_id, "price": price})
        if outcome.accepted:
            effects = outcome.effects  # _note_touch, inline: most arrivals of most traders reprice
            self.bid = effects.get("bid")
            self.ask = effects.get("ask")
            live.price = price
            live.remaining = int(effects.get("resting", 0))
            if not live.remaining and live in self._live[participant]:
                self._live[participant].remove(live)
        return outcome

    def cancel(self, participant: int, live: Live) -> None:
        """Cancel a live order (nothing to do if it is no longer live)."""
        if live not in self._live[participant]:
            return
        self._live[participant].remove(live)
        self._submit(participant, live.side, "cancel", {"order_id": live.order_id})

    def cancel_all(self, participant: int) -> None:
        for live in list(self._live[participant]):
            self.cancel(participant, live)

    def live(self, participant: int) -> list[Live]:
        """``participant``'s live orders, oldest first."""
        return self._live[participant]

    def _submit(self, participant: int, side: str, kind: str, payload: dict[str, Any]) -> Outcome:
        # The market publishes this order's fills before it returns: note whose they are.
        self._taking = (participant, side)
        try:
            return self.ctx.submit(Action(self.ctx.now, self._actors[participant], kind, payload))
        finally:
            self._taking = None
