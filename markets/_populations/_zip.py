"""ZIP traders (Cliff 1997, "Minimal-intelligence agents for bargaining behaviours in market-based
environments", HP Labs HPL-97-91): zero intelligence plus a profit margin that adapts.

Each trader shouts at its next unit's limit price times ``1 + margin`` (a buyer's margin is in
``[-1, 0]``, a seller's ``>= 0``, so it never trades at a loss). After every shout in the market
each trader moves its price towards a target by the Widrow-Hoff rule with momentum: with the last
shout at price ``q``, the target is ``R * q + A`` with ``R`` drawn in ``[1, 1 + relative]`` and ``A``
in ``[0, absolute]`` to raise a price, or ``[1 - relative, 1]`` and ``[-absolute, 0]`` to lower it.
Cliff's rules, for a seller at price ``p``: the last shout was accepted at ``q`` -> raise if ``p <= q``;
moreover, if it was a bid and the seller still has a unit, lower if ``p >= q``; not accepted and an
offer -> lower if ``p >= q`` (an active seller). Buyers mirror them.

What the traders see: in a market where this population is the only one, every shout is one of
its own (the outcome says whether it traded and at what price), so each shout is observed whole.
Shouts of other populations are seen only when they trade (``TradeExecuted``): the side of the
accepted shout is then inferred from which of this population's orders traded, and trades
between two outsiders are not learned from. Draws of margins, rates and momenta come from the
population's ``zip`` stream; the per-update draws of ``R`` and ``A`` from its main stream.
"""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, model_validator

from flagship.mechanisms import Outcome, PopulationContext, register
from flagship.mechanisms.events import TradeExecuted

from ._induced import InducedParams, InducedTraders

__all__ = ["ZIPParams", "ZIPTraders"]


class ZIPParams(InducedParams):
    """Cliff's ZIP traders: the schedule and periods of induced-value traders, plus learning."""

    margin_range: tuple[NonNegativeFloat, NonNegativeFloat] = Field(
        default=(0.05, 0.35),
        description="initial profit margins are drawn in [lo, hi] (a buyer's is negated)")
    learning_rate: tuple[NonNegativeFloat, NonNegativeFloat] = Field(
        default=(0.1, 0.5),
        description="each trader's Widrow-Hoff learning rate beta is drawn in [lo, hi]")
    momentum: tuple[NonNegativeFloat, NonNegativeFloat] = Field(
        default=(0.0, 0.1), description="each trader's momentum gamma is drawn in [lo, hi]")
    relative: NonNegativeFloat = Field(default=0.05, description="R of a target lies within 1 +/- relative")
    absolute: NonNegativeFloat = Field(default=0.05,
                                       description="A of a target lies within +/- absolute (ticks)")

    @model_validator(mode="after")
    def _check_zip(self) -> ZIPParams:
        for name in ("margin_range", "learning_rate", "momentum"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: expected lo <= hi")
        if self.learning_rate[1] > 1 or self.momentum[1] >= 1:
            raise ValueError("learning_rate must lie in [0, 1] and momentum in [0, 1)")
        return self


@register
class ZIPTraders(InducedTraders):
    """ZIP: a per-trader profit margin learned from the market's shouts (see the module docstring)."""

    name = "zip"
    Params = ZIPParams

    def __init__(self, params: ZIPParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        rng = ctx.stream("zip")
        count = ctx.count
        margins = rng.uniform(*params.margin_range, count)
        self._margin = [float(-m) if self.is_buyer(i) else float(m) for i, m in enumerate(margins)]
        self._beta = [float(x) for x in rng.uniform(*params.learning_rate, count)]
        self._gamma = [float(x) for x in rng.uniform(*params.momentum, count)]
        self._change = [0.0] * count
        self._accepted: tuple[str, int] | None = None  # (side of the accepted shout, price) of this shout

    def _quote(self, participant: int, limit: int) -> float:
        return limit * (1.0 + self._margin[participant])

    def shout_price(self, participant: int, buyer: bool, limit: int) -> int:
        params: ZIPParams = self.params
        size = params.tick_size
        quote = self._quote(participant, limit)
        # Never at a loss: a buyer's price rounds down to the tick, a seller's up.
        price = int(quote // size) * size if buyer else int(-(-quote // size)) * size
        price = min(price, limit) if buyer else max(price, limit)
        return max(params.price_floor, min(params.price_ceiling, price))

    def shout(self, participant: int, side: str, price: int) -> Outcome:
        self._accepted = None
        outcome = super().shout(participant, side, price)
        if outcome.accepted and self._accepted is None:
            self._learn(side, price, accepted=False)
        self._accepted = None
        return outcome

    def _on_trade(self, event: TradeExecuted) -> None:
        super()._on_trade(event)
        taking = self._taking
        if taking is not None:  # our own shout traded: its side is the side of our order
            self._accepted = (taking[1], event.price)
            self._learn(taking[1], event.price, accepted=True)
        else:  # an outsider's shout traded against one of our resting orders
            maker = self._index.get(event.maker)
            if maker is not None:
                self._learn("sell" if self.is_buyer(maker) else "buy", event.price, accepted=True)

    def _learn(self, side: str, price: int, *, accepted: bool) -> None:
        """Every trader updates its margin after a shout on ``side`` at ``price``."""
        for participant in range(self.ctx.count):
            limit = self.limit_price(participant)
            if limit is None:
                continue  # no unit left this period: nothing to price
            buyer = self.is_buyer(participant)
            mine = self._quote(participant, limit)
            shout = self.shout_price(participant, buyer, limit)  # compared on the tick, as shouted
            if buyer:
                if accepted and shout >= price:
                    self._move(participant, limit, mine, price, raise_price=False)
                elif (accepted and side == "sell" and shout <= price) or \
                        (not accepted and side == "buy" and shout <= price):
                    self._move(participant, limit, mine, price, raise_price=True)
            elif accepted and shout <= price:
                self._move(participant, limit, mine, price, raise_price=True)
            elif (accepted and side == "buy" and shout >= price) or \
                    (not accepted and side == "sell" and shout >= price):
                self._move(participant, limit, mine, price, raise_price=False)

    def _move(self, participant: int, limit: int, mine: float, price: int, *, raise_price: bool) -> None:
        params: ZIPParams = self.params
        rng = self.ctx.rng
        ratio = (rng.draw_uniform(1.0, 1.0 + params.relative) if raise_price
                 else rng.draw_uniform(1.0 - params.relative, 1.0))
        shift = rng.draw_uniform(0.0, params.absolute)
        target = ratio * price + (shift if raise_price else -shift)
        delta = self._beta[participant] * (target - mine)
        gamma = self._gamma[participant]
        change = gamma * self._change[participant] + (1.0 - gamma) * delta
        self._change[participant] = change
        margin = (mine + change) / limit - 1.0
        # A buyer's margin stays in [-1, 0], a seller's at 0 or above: never a loss-making quote.
        buyer = self.is_buyer(participant)
        self._margin[participant] = max(-1.0, min(0.0, margin)) if buyer else max(0.0, margin)
