"""A slow, obviously correct order book: the oracle for differential tests of markets.OrderBook.

Written independently of the engine, for clarity only: the book is one flat list of resting
orders, each with an explicit arrival ``time``; every step of matching scans the whole list
for the best eligible maker (sorted by price, then priority, then time).  Fill-or-kill is
decided by running the order on a deep copy of the book.  It shares nothing with the engine but
its public vocabulary (reason codes, exception, record types), so that outcomes compare
directly.  Semantics follow the documentation of ``flagship.markets.OrderBook`` and
``flagship.markets.STPMode``.
"""

from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass
from typing import Any

from flagship.markets import BookReason, Depth, Fill, OrderRejected, SelfTradeEvent

__all__ = ["RefOrder", "ReferenceBook"]

MAX_PRICE = 2**63 - 1
SIDES = ("buy", "sell")
TIFS = ("GTC", "IOC", "FOK")
STP_MODES = ("none", "cancel_newest", "cancel_oldest", "cancel_both", "decrement")


@dataclass
class RefOrder:
    oid: Any
    side: str
    price: int
    qty: int
    owner: str
    priority: int
    stp: str
    post_only: bool
    time: int


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class ReferenceBook:
    def __init__(
        self,
        tick_size: int = 1,
        *,
        price_band: tuple[int, int] | None = None,
        stp: str = "cancel_newest",
    ) -> None:
        self.tick = tick_size
        self.default_stp = stp
        self.band: tuple[int, int] | None = None
        self.halted = False
        self.resting: list[RefOrder] = []
        self.clock = 0
        self.tape: list[Fill] = []
        self.stp_log: list[SelfTradeEvent] = []
        self.set_price_band(price_band)

    # ---------------------------------------------------------------- helpers

    def _lo_hi(self) -> tuple[int, int]:
        return self.band if self.band is not None else (1, MAX_PRICE)

    def _live(self, oid: Any) -> RefOrder | None:
        """Ids are looked up like dict keys, as the engine documents."""
        try:
            hash(oid)
        except TypeError:
            return None
        for order in self.resting:
            if order.oid == oid:
                return order
        return None

    def _tick_time(self) -> int:
        self.clock += 1
        return self.clock

    def _reject(self, reason: BookReason) -> OrderRejected:
        return OrderRejected(reason)

    def _check_id(self, oid: Any) -> Any:
        if isinstance(oid, bool):
            raise self._reject(BookReason.INVALID_ID)
        if isinstance(oid, str):
            return str(oid)
        if _is_int(oid):
            return int(oid)
        raise self._reject(BookReason.INVALID_ID)

    def _check_price(self, price: Any) -> int:
        if not _is_int(price) or not 1 <= int(price) <= MAX_PRICE:
            raise self._reject(BookReason.INVALID_PRICE)
        if int(price) % self.tick != 0:
            raise self._reject(BookReason.OFF_TICK)
        return int(price)

    def _check_qty(self, qty: Any) -> int:
        if not _is_int(qty) or int(qty) < 1:
            raise self._reject(BookReason.INVALID_QTY)
        return int(qty)

    def _check_stp(self, stp: Any) -> str:
        if stp is None:
            return self.default_stp
        if not isinstance(stp, str) or stp not in STP_MODES:
            raise self._reject(BookReason.INVALID_STP)
        return str(stp)

    def _crossing(self, taker_side: str, limit: int) -> list[RefOrder]:
        if taker_side == "buy":
            return [o for o in self.resting if o.side == "sell" and o.price <= limit]
        return [o for o in self.resting if o.side == "buy" and o.price >= limit]

    @staticmethod
    def _match_key(taker_side: str) -> Any:
        if taker_side == "buy":
            return lambda o: (o.price, -o.priority, o.time)
        return lambda o: (-o.price, -o.priority, o.time)

    def _take(
        self, taker_id: Any, side: str, limit: int, qty: int, owner: str, mode: str
    ) -> tuple[list[Fill], int]:
        """Match; return the fills and the quantity left (0 if STP cancelled the taker)."""
        fills: list[Fill] = []
        while qty > 0:
            candidates = self._crossing(side, limit)
            if not candidates:
                break
            maker = min(candidates, key=self._match_key(side))
            if owner != "" and maker.owner == owner and mode != "none":
                seq_now = len(self.tape) + len(fills)
                if mode == "cancel_newest":
                    if not fills:
                        raise self._reject(BookReason.SELF_TRADE)
                    self.stp_log.append(SelfTradeEvent(seq_now, mode, taker_id, maker.oid, qty, 0))
                    qty = 0
                    break
                if mode == "cancel_oldest":
                    self.resting.remove(maker)
                    self.stp_log.append(SelfTradeEvent(seq_now, mode, taker_id, maker.oid, 0, maker.qty))
                    continue
                if mode == "cancel_both":
                    self.resting.remove(maker)
                    self.stp_log.append(SelfTradeEvent(seq_now, mode, taker_id, maker.oid, qty, maker.qty))
                    qty = 0
                    break
                assert mode == "decrement"
                cut = min(qty, maker.qty)
                maker.qty -= cut
                qty -= cut
                if maker.qty == 0:
                    self.resting.remove(maker)
                self.stp_log.append(SelfTradeEvent(seq_now, mode, taker_id, maker.oid, cut, cut))
                continue
            traded = min(qty, maker.qty)
            fills.append(
                Fill.of(
                    seq=len(self.tape) + len(fills) + 1,
                    maker_id=maker.oid,
                    taker_id=taker_id,
                    price=maker.price,
                    qty=traded,
                    taker_side=side,
                    maker_owner=maker.owner,
                    taker_owner=owner,
                )
            )
            maker.qty -= traded
            qty -= traded
            if maker.qty == 0:
                self.resting.remove(maker)
        self.tape.extend(fills)
        return fills, qty

    # ---------------------------------------------------------------- requests

    def limit(
        self,
        order_id: Any,
        side: Any,
        price: Any,
        qty: Any,
        owner: Any = "",
        *,
        tif: Any = "GTC",
        post_only: Any = False,
        stp: Any = None,
        priority: Any = 0,
    ) -> list[Fill]:
        oid = self._check_id(order_id)
        if side not in SIDES:
            raise self._reject(BookReason.INVALID_SIDE)
        price = self._check_price(price)
        qty = self._check_qty(qty)
        if not isinstance(owner, str):
            raise self._reject(BookReason.INVALID_OWNER)
        if not isinstance(tif, str) or tif not in TIFS:
            raise self._reject(BookReason.INVALID_TIF)
        if not isinstance(post_only, bool):
            raise self._reject(BookReason.INVALID_TIF)
        if post_only and tif != "GTC":
            raise self._reject(BookReason.INVALID_TIF)
        mode = self._check_stp(stp)
        if not _is_int(priority):
            raise self._reject(BookReason.INVALID_PRIORITY)
        if self._live(oid) is not None:
            raise self._reject(BookReason.DUPLICATE_ID)
        if self.halted:
            raise self._reject(BookReason.HALTED)
        lo, hi = self._lo_hi()
        if not lo <= price <= hi:
            raise self._reject(BookReason.PRICE_BAND)
        if post_only and self._crossing(side, price):
            raise self._reject(BookReason.POST_ONLY_WOULD_CROSS)
        if tif == "FOK":
            trial = copy.copy(self)
            trial.resting = copy.deepcopy(self.resting)
            trial.tape, trial.stp_log = [], []
            try:
                trial_fills, _ = trial._take(oid, side, price, qty, str(owner), mode)
            except OrderRejected:
                trial_fills = []
            if sum(f.qty for f in trial_fills) < qty:
                raise self._reject(BookReason.FOK_UNFILLABLE)
        fills, left = self._take(oid, side, price, qty, str(owner), mode)
        if left > 0 and tif == "GTC":
            self.resting.append(
                RefOrder(
                    oid,
                    side,
                    price,
                    left,
                    str(owner),
                    int(priority),
                    mode,
                    post_only,
                    self._tick_time(),
                )
            )
        return fills

    def market(self, order_id: Any, side: Any, qty: Any, owner: Any = "", *, stp: Any = None) -> list[Fill]:
        oid = self._check_id(order_id)
        if side not in SIDES:
            raise self._reject(BookReason.INVALID_SIDE)
        qty = self._check_qty(qty)
        if not isinstance(owner, str):
            raise self._reject(BookReason.INVALID_OWNER)
        mode = self._check_stp(stp)
        if self._live(oid) is not None:
            raise self._reject(BookReason.DUPLICATE_ID)
        if self.halted:
            raise self._reject(BookReason.HALTED)
        lo, hi = self._lo_hi()
        fills, _ = self._take(oid, side, hi if side == "buy" else lo, qty, str(owner), mode)
        return fills

    def cancel(self, order_id: Any) -> bool:
        order = self._live(order_id)
        if order is None:
            return False
        self.resting.remove(order)
        return True

    def modify(self, order_id: Any, qty: Any = None, price: Any = None) -> list[Fill]:
        new_price = None if price is None else self._check_price(price)
        new_qty = None if qty is None else self._check_qty(qty)
        order = self._live(order_id)
        if order is None:
            raise self._reject(BookReason.UNKNOWN_ORDER)
        if self.halted:
            raise self._reject(BookReason.HALTED)
        if new_qty is None:
            new_qty = order.qty
        if new_price is None or new_price == order.price:
            if new_qty > order.qty:
                order.time = self._tick_time()
            order.qty = new_qty
            return []
        lo, hi = self._lo_hi()
        if not lo <= new_price <= hi:
            raise self._reject(BookReason.PRICE_BAND)
        if order.post_only and self._crossing(order.side, new_price):
            raise self._reject(BookReason.POST_ONLY_WOULD_CROSS)
        fills, left = self._take(order.oid, order.side, new_price, new_qty, order.owner, order.stp)
        if left > 0:
            order.price = new_price
            order.qty = left
            order.time = self._tick_time()
        else:
            self.resting.remove(order)
        return fills

    def halt(self) -> None:
        self.halted = True

    def resume(self) -> None:
        self.halted = False

    def set_price_band(self, band: tuple[int, int] | None) -> list[Any]:
        if band is not None:
            lo, hi = band
            assert _is_int(lo) and _is_int(hi) and 1 <= lo <= hi and lo % self.tick == 0
            assert hi % self.tick == 0
            self.band = (int(lo), int(hi))
        else:
            self.band = None
        lo, hi = self._lo_hi()
        outside = [o for side in ("buy", "sell") for o in self._ordered(side) if not lo <= o.price <= hi]
        for order in outside:
            self.resting.remove(order)
        return [o.oid for o in outside]

    # ---------------------------------------------------------------- views

    def _ordered(self, side: str) -> list[RefOrder]:
        """Resting orders of one side in matching order (best first)."""
        taker = "sell" if side == "buy" else "buy"
        return sorted((o for o in self.resting if o.side == side), key=self._match_key(taker))

    def best_bid(self) -> int | None:
        return max((o.price for o in self.resting if o.side == "buy"), default=None)

    def best_ask(self) -> int | None:
        return min((o.price for o in self.resting if o.side == "sell"), default=None)

    def _levels(self, side: str) -> list[tuple[int, list[RefOrder]]]:
        levels: list[tuple[int, list[RefOrder]]] = []
        for order in self._ordered(side):
            if levels and levels[-1][0] == order.price:
                levels[-1][1].append(order)
            else:
                levels.append((order.price, [order]))
        return levels

    def depth(self, levels: int | None = 10) -> Depth:
        def side(name: str) -> tuple[tuple[int, int, int], ...]:
            rows = [(p, sum(o.qty for o in os), len(os)) for p, os in self._levels(name)]
            return tuple(rows if levels is None else rows[:levels])

        return Depth(side("buy"), side("sell"))

    def order(self, order_id: Any) -> RefOrder | None:
        return self._live(order_id)

    def snapshot(self) -> dict[str, Any]:
        def side(name: str) -> list[dict[str, Any]]:
            return [
                {
                    "price": price,
                    "orders": [
                        {
                            "id": o.oid,
                            "qty": o.qty,
                            "owner": o.owner,
                            "priority": o.priority,
                            "stp": o.stp,
                            "post_only": o.post_only,
                        }
                        for o in orders
                    ],
                }
                for price, orders in self._levels(name)
            ]

        return {
            "tick_size": self.tick,
            "price_band": None if self.band is None else list(self.band),
            "halted": self.halted,
            "stp": self.default_stp,
            "fills": len(self.tape),
            "stp_events": len(self.stp_log),
            "bids": side("buy"),
            "asks": side("sell"),
        }
