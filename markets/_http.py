"""Live-pilot HTTP routes of the ``value_market`` mechanism (``ValueMarket.http``).

Routes (fixed paths under ``/v1/market``; see ``docs/live.md`` for auth, idempotency and errors):

* ``POST /v1/market/orders`` (``Idempotency-Key`` required): place a limit or market order;
  201 with what happened (fills at price and qty, lots resting, the touch afterwards).
* ``DELETE /v1/market/orders/{order_id}``: cancel one of *your own* live orders; 200 with the
  lots taken off, 404 ``UNKNOWN_ORDER`` otherwise. Order ids are scoped per participant, so
  another participant's id names nothing (and the 404 says nothing about it).
* ``PATCH /v1/market/orders/{order_id}`` (``Idempotency-Key`` required): modify one of your live
  orders (``qty``: the new resting lots; ``price``: a new limit). Lowering the quantity keeps
  the order's place in the queue; anything else sends it to the back, and a new price that
  crosses trades first. 200 with what happened, as for a new order.
* ``GET /v1/market/orders``: your live orders, oldest first (lots resting and filled).
* ``GET /v1/market/fills?limit=N``: your last N fills, oldest first, each with your order id
  and whether you were the maker.
* ``GET /v1/market/book?levels=N``: level-2 depth, best price first.
* ``GET /v1/market/trades?limit=N``: the last N trades, oldest first; public fields only
  (``seq``, ``price``, ``qty``), never who traded.

Over HTTP an order id is a string of 1..64 URL-safe characters (``A-Z a-z 0-9 . _ ~ -``), so
that it can name the order in a path. Rejected actions are problem+json carrying the market's
reason code, with the status ``ValueMarket.reason_status`` declares: 404 ``UNKNOWN_ORDER``, 403
``NOT_ADMITTED`` (agents-only markets), 422 for a payload the market finds malformed
(``INVALID_*``, ``UNKNOWN_VALUE_TAG``...), 409 for every other rejection (``HALTED``,
``DUPLICATE_ID``, ``POST_ONLY_WOULD_CROSS``, ``NORM_PROHIBITED``...). ``gateway.act`` raises them.

FastAPI is imported inside the factory, so the market imports where it is not installed. No
``from __future__ import annotations``: FastAPI reads the handlers' annotations at runtime.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from flagship.mechanisms import Gateway, Principal, RoutesFactory

from ._values import MAX_TAGS, MAX_TEXT

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["BookLevel", "BookView", "Cancelled", "FillView", "LiveOrder", "LiveOrders", "ModifyRequest",
           "OrderModified", "OrderPlaced", "OrderRequest", "OwnFill", "OwnFills", "Trade", "Trades", "routes"]

_MAX_INT = 2**63 - 1
ORDER_ID_PATTERN = r"^[A-Za-z0-9._~-]{1,64}$"
OrderId = Annotated[str, Field(pattern=ORDER_ID_PATTERN,
                                description="your id for the order (per participant)")]

class OrderRequest(BaseModel):
    """A limit order (``price`` required) or a market order (no ``price``, ``tif`` or ``post_only``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    order_id: OrderId
    side: Literal["buy", "sell"]
    type: Literal["limit", "market"] = Field(description="limit: rest what does not trade; market: IOC")
    price: int | None = Field(default=None, ge=1, le=_MAX_INT, validate_default=True,
                              description="limit price in ticks (limit orders only, required there)")
    qty: int = Field(ge=1, le=_MAX_INT, description="lots")
    tif: Literal["GTC", "IOC", "FOK"] | None = Field(default=None, description="limit orders only (GTC)")
    post_only: bool | None = Field(default=None, description="limit orders only: never take liquidity")
    values: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]] | None = Field(
        default=None, max_length=MAX_TAGS, description="value tags attested for the order")
    externality: float | None = Field(default=None, ge=0, allow_inf_nan=False,
                                      description="attested externality, ticks per lot")
    attestor: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT,
                                 description="third party vouching for the attestation")

    @field_validator("price")
    @classmethod
    def _price_for_limits_only(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("type")
        if kind == "limit" and value is None:
            raise ValueError("a limit order needs a price")
        if kind == "market" and value is not None:
            raise ValueError("a market order has no price")
        return value

    @field_validator("tif", "post_only")
    @classmethod
    def _limit_only(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("type") == "market":
            raise ValueError(f"{info.field_name} applies to limit orders only")
        return value

    def payload(self) -> dict[str, Any]:
        """The mechanism's payload for this order (absent optional fields left out)."""
        return self.model_dump(exclude={"type"}, exclude_none=True)


class ModifyRequest(BaseModel):
    """A new resting quantity, a new limit price, or both (at least one)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    qty: int | None = Field(default=None, ge=1, le=_MAX_INT, description="new lots resting")
    price: int | None = Field(default=None, ge=1, le=_MAX_INT, description="new limit price, ticks")

    @model_validator(mode="after")
    def _something(self) -> "ModifyRequest":
        if self.qty is None and self.price is None:
            raise ValueError("give qty, price or both")
        return self


class FillView(BaseModel):
    price: int = Field(description="ticks (the resting order's price)")
    qty: int = Field(description="lots")


class OrderPlaced(BaseModel):
    order_id: str
    side: str
    type: str
    fills: list[FillView] = Field(description="what traded on arrival, in order")
    filled: int = Field(description="lots traded on arrival")
    resting: int = Field(description="lots left on the book (0 for market, IOC and FOK orders)")
    bid: int | None = Field(description="best bid afterwards (None: empty side)")
    ask: int | None = Field(description="best ask afterwards (None: empty side)")
    fee: int | None = Field(default=None, description="externality fee paid, ticks (under externality_fee)")


class OrderModified(BaseModel):
    order_id: str
    fills: list[FillView] = Field(description="what traded because of the change, in order")
    filled: int = Field(description="lots traded because of the change")
    resting: int = Field(description="lots left on the book (0: the order traded out)")
    bid: int | None = Field(description="best bid afterwards (None: empty side)")
    ask: int | None = Field(description="best ask afterwards (None: empty side)")
    fee: int | None = Field(default=None, description="externality fee paid, ticks (under externality_fee)")


class LiveOrder(BaseModel):
    order_id: str
    side: str
    price: int = Field(description="limit price, ticks")
    resting: int = Field(description="lots on the book")
    filled: int = Field(description="lots traded so far")
    placed: float = Field(description="sim time the order was accepted")


class LiveOrders(BaseModel):
    orders: list[LiveOrder] = Field(description="your live orders, oldest first")


class OwnFill(BaseModel):
    seq: int = Field(description="the trade's place on the tape (as in /v1/market/trades)")
    order_id: str = Field(description="your order that traded")
    side: Literal["buy", "sell"] = Field(description="your side")
    price: int
    qty: int
    maker: bool = Field(description="true when your order was resting")


class OwnFills(BaseModel):
    fills: list[OwnFill] = Field(description="your most recent fills, oldest first")


class Cancelled(BaseModel):
    order_id: str
    cancelled: int = Field(description="lots taken off the book")


class BookLevel(BaseModel):
    price: int
    qty: int = Field(description="lots resting at this price")
    orders: int = Field(description="orders resting at this price")


class BookView(BaseModel):
    bids: list[BookLevel] = Field(description="best (highest) first")
    asks: list[BookLevel] = Field(description="best (lowest) first")
    halted: bool
    time: float = Field(description="the trial's sim time")


class Trade(BaseModel):
    seq: int = Field(description="1, 2, 3... in the order the market traded")
    price: int
    qty: int


class Trades(BaseModel):
    trades: list[Trade] = Field(description="the most recent trades, oldest first")


def _trade_fields(effects: Mapping[str, Any]) -> dict[str, Any]:
    """What an accepted order or modify did, from its outcome's effects (counterparties left out)."""
    fills = [FillView(price=int(fill["price"]), qty=int(fill["qty"])) for fill in effects.get("fills", ())]
    fee = effects.get("fee")
    return {"fills": fills, "filled": sum(fill.qty for fill in fills),
            "resting": int(effects.get("resting", 0)), "bid": effects.get("bid"),
            "ask": effects.get("ask"), "fee": None if fee is None else int(fee)}


def placed(body: OrderRequest, effects: Mapping[str, Any]) -> OrderPlaced:
    """The response to an accepted order."""
    return OrderPlaced(order_id=body.order_id, side=body.side, type=body.type, **_trade_fields(effects))


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "NOT_ADMITTED: this agents-only market has not admitted you"},
    404: {"description": "UNKNOWN_ORDER: you have no live order with this id"},
    409: {"description": "the market refused the action now (HALTED, DUPLICATE_ID, ...)"},
    422: {"description": "a malformed request (each field named) or a payload the market refused"},
}


def _routes(name: str, gateway: Gateway) -> "APIRouter":
    """The market's routes for mechanism ``name`` of a live trial (see the module docstring)."""
    from fastapi import APIRouter, Depends, Path, Query  # noqa: PLC0415 - the server's deps

    router = APIRouter(prefix="/v1/market", tags=["market"])
    Caller = Annotated[Principal, Depends(gateway.principal)]  # noqa: N806 - a type alias

    @router.post("/orders", status_code=201, response_model=OrderPlaced, summary="Place an order",
                 responses={k: v for k, v in _PROBLEMS.items() if k != 404})
    async def place(body: OrderRequest, principal: Caller) -> OrderPlaced:
        """A limit order rests what does not trade at once (unless IOC or FOK); a market order
        trades what it can now and drops the rest."""
        outcome = await gateway.act(name, body.type, body.payload(), actor=principal.actor)
        return placed(body, outcome.effects)

    @router.delete("/orders/{order_id}", response_model=Cancelled, summary="Cancel one of your orders",
                   responses={k: v for k, v in _PROBLEMS.items() if k in (404, 422)})
    async def cancel(principal: Caller,
                     order_id: Annotated[str, Path(pattern=ORDER_ID_PATTERN)]) -> Cancelled:
        """Allowed while trading is halted. Only your own orders: ids are per participant."""
        outcome = await gateway.act(name, "cancel", {"order_id": order_id}, actor=principal.actor)
        return Cancelled(order_id=order_id, cancelled=int(outcome.effects.get("cancelled", 0)))

    @router.patch("/orders/{order_id}", response_model=OrderModified, summary="Modify one of your orders",
                  responses={k: v for k, v in _PROBLEMS.items()})
    async def modify(body: ModifyRequest, principal: Caller,
                     order_id: Annotated[str, Path(pattern=ORDER_ID_PATTERN)]) -> OrderModified:
        """Lowering the quantity keeps the order's place in the queue; raising it or changing
        the price sends it to the back, and a price that crosses trades first."""
        payload = body.model_dump(exclude_none=True)
        outcome = await gateway.act(name, "modify", {"order_id": order_id, **payload}, actor=principal.actor)
        return OrderModified(order_id=order_id, **_trade_fields(outcome.effects))

    @router.get("/orders", response_model=LiveOrders, summary="Your live orders")
    async def own_orders(principal: Caller) -> LiveOrders:
        market: Any = gateway.mechanism(name)
        return LiveOrders(orders=[
            LiveOrder(order_id=str(client_id), side=view.side, price=view.price, resting=view.qty,
                      filled=filled, placed=placed_at)
            for client_id, view, filled, placed_at in market.orders_of(principal.actor)])

    @router.get("/fills", response_model=OwnFills, summary="Your recent fills")
    async def own_fills(principal: Caller,
                        limit: Annotated[int, Query(ge=1, le=1000, description="at most this many")] = 50,
                        ) -> OwnFills:
        market: Any = gateway.mechanism(name)
        fills = []
        for fill, client_id, as_maker in market.fills_of(principal.actor, limit):
            taker_side = fill.taker_side
            side = taker_side if not as_maker else ("sell" if taker_side == "buy" else "buy")
            fills.append(OwnFill(seq=fill.seq, order_id=str(client_id), side=side, price=fill.price,
                                 qty=fill.qty, maker=as_maker))
        return OwnFills(fills=fills)

    @router.get("/book", response_model=BookView, summary="Level-2 depth")
    async def book(levels: Annotated[int, Query(ge=1, le=100, description="price levels per side")] = 10,
                   ) -> BookView:
        market: Any = gateway.mechanism(name)
        depth = market.book.depth(levels)
        return BookView(bids=[BookLevel(price=p, qty=q, orders=n) for p, q, n in depth.bids],
                        asks=[BookLevel(price=p, qty=q, orders=n) for p, q, n in depth.asks],
                        halted=bool(market.halted), time=gateway.now)

    @router.get("/trades", response_model=Trades, summary="Recent trades (public fields)")
    async def trades(limit: Annotated[int, Query(ge=1, le=1000, description="at most this many")] = 50,
                     ) -> Trades:
        tape = gateway.mechanism(name).book.tape  # type: ignore[attr-defined]
        start = max(0, len(tape) - limit)
        return Trades(trades=[Trade(seq=tape[i].seq, price=tape[i].price, qty=tape[i].qty)
                              for i in range(start, len(tape))])

    return router


routes: RoutesFactory = _routes
"""``ValueMarket.http``: typed as the factory protocol, so a class attribute does not bind it."""
