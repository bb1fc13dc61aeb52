"""A posted-price shop: the smallest complete Flagship mechanism, written as a plug-in.

A seller posts a price and a stock; shoppers arrive, each with a private value,
and buy one unit when their value covers the price. Registered through the
``flagship.mechanisms`` and ``flagship.populations`` entry points in this
package's pyproject.toml, so Flagship finds it with no change to Flagship.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flagship.mechanisms import (
    SHARE,
    Action,
    Area,
    CommonReason,
    Measure,
    Mechanism,
    Outcome,
    Population,
    register,
)
from flagship_plugin_example.http import routes


class ShopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: int = Field(default=100, gt=0, description="posted price per unit (ticks)")
    stock: int = Field(default=1_000, ge=0, description="units for sale")


class ShopReason(StrEnum):
    SOLD_OUT = "SOLD_OUT"
    BELOW_PRICE = "BELOW_PRICE"


@register
class PostedPrice(Mechanism[ShopConfig]):
    """Sells one unit to any buyer whose offer covers the posted price, while stock lasts."""

    name = "posted_price"
    Config = ShopConfig
    reasons = ShopReason
    http = routes
    live_parameters = frozenset({"price"})  # read from self.config at each sale: an operator may change it
    measures = (
        Measure("sell_through", Area.UX, "ratio", True, "units sold / units offered", bounds=SHARE),
        Measure("buyer_surplus_per_sale", Area.LEGITIMACY, "ticks", True,
                "mean (buyer value - price) over sales"),
        Measure("turned_away_ratio", Area.ROBUSTNESS, "ratio", False,
                "buy requests rejected / buy requests", bounds=SHARE),
    )

    def __init__(self, config: ShopConfig, ctx: Any) -> None:
        super().__init__(config, ctx)
        self.stock = config.stock
        self.sold = 0
        self.requests = 0
        self.surplus = 0

    def handle(self, action: Action) -> Outcome:
        if action.kind != "buy":
            return Outcome.reject(CommonReason.UNKNOWN_KIND)
        offer = action.payload.get("offer")
        if isinstance(offer, bool) or not isinstance(offer, int) or offer <= 0:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "offer: expected a positive integer")
        self.requests += 1  # counted for every well-formed request, accepted or not
        if self.stock == 0:
            return Outcome.reject(ShopReason.SOLD_OUT)
        if offer < self.config.price:
            return Outcome.reject(ShopReason.BELOW_PRICE)
        self.stock -= 1
        self.sold += 1
        self.surplus += offer - self.config.price
        self.ctx.recorder.count("units_sold")
        return Outcome.accept({"price": self.config.price})

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        record("sell_through", self.sold / self.config.stock if self.config.stock else None)
        record("buyer_surplus_per_sale", self.surplus / self.sold if self.sold else None)
        record("turned_away_ratio",
               (self.requests - self.sold) / self.requests if self.requests else None)

    def snapshot(self) -> dict[str, int]:
        # The state that decides future outcomes; request statistics are for measures only.
        return {"stock": self.stock, "sold": self.sold, "surplus": self.surplus}


class ShopperParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_value: int = Field(default=50, gt=0, description="lowest private value")
    max_value: int = Field(default=150, gt=0, description="highest private value")


@register
class Shoppers(Population[ShopperParams]):
    """Shoppers with uniform private values who offer exactly their value."""

    name = "shoppers"
    Params = ShopperParams

    def act(self, participant: int) -> None:
        value = int(self.ctx.rng.integers(self.params.min_value, self.params.max_value + 1))
        self.ctx.submit(Action(self.ctx.now, self.ctx.actor(participant), "buy", {"offer": value}))
