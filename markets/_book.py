"""The limit order book engine: integer prices and quantities, price-(priority-)time matching.

Layout, chosen by measuring the plain price-time path (benchmarks/bench_order_book.py; CPU
instruction counts under cachegrind, since wall-clock time on a shared machine is noisy):

* each side keeps a sorted ``list`` of *keys* plus a ``dict`` key -> level.  The key is the price
  for bids and minus the price for asks, so on both sides the best level is ``keys[-1]`` (popped
  in O(1) when it empties) and "this level is marketable for a limit L" is one comparison
  ``key >= key_limit`` with ``key_limit = -L`` for a buy and ``L`` for a sell.  New levels are
  inserted with ``bisect.insort`` (a C memmove; books have at most a few thousand levels);
* a level is a ``deque`` of its orders in matching order, nothing else: its quantity and order
  count are summed when :meth:`OrderBook.depth` asks, which is cheaper overall than keeping
  running totals on every request.  A cancel removes the order with ``deque.remove``, a C scan
  of that one level (O(orders at that price)); measured against lazy deletion (mark dead, skip
  later) it wins at every realistic depth because nothing else has to look out for dead entries;
* an order is a small list mutated in place, indexed by the ``_QTY``... constants below: a list
  costs a quarter of a ``__slots__`` object with an ``__init__`` to build, and the book builds
  one per resting order.  Callers only ever see immutable copies (:class:`~flagship.markets.OrderView`,
  :class:`~flagship.markets.Fill`).

The common request (a valid GTC limit or market order without extras) runs through a short fast
path; anything else, every rejection included, goes through the fully checked path.  The fast
path never rejects by itself, it only hands over, so the two cannot disagree about validity.
"""

from __future__ import annotations

import numbers
import operator
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Sequence
from typing import Any, TypeAlias

from flagship.mechanisms._errors import InputError, Problem

from ._reasons import BookReason, OrderRejected
from ._records import (
    MAX_PRICE,
    Depth,
    Fill,
    OrderId,
    OrderView,
    SelfTradeEvent,
    STPMode,
    TimeInForce,
)

__all__ = ["OrderBook"]

# Self-trade prevention modes as small ints: the matching loop tests them on the rare self-match.
_STP_NONE = 0
_CANCEL_NEWEST = 1
_CANCEL_OLDEST = 2
_CANCEL_BOTH = 3
_DECREMENT = 4
_STP_CODES: dict[str, int] = {
    STPMode.NONE.value: _STP_NONE,
    STPMode.CANCEL_NEWEST.value: _CANCEL_NEWEST,
    STPMode.CANCEL_OLDEST.value: _CANCEL_OLDEST,
    STPMode.CANCEL_BOTH.value: _CANCEL_BOTH,
    STPMode.DECREMENT.value: _DECREMENT,
}
_STP_NAMES: tuple[str, ...] = tuple(_STP_CODES)

_GTC = "GTC"  # a literal, hence the interned object that callers' "GTC" literals also are
_FOK = "FOK"
_TIFS = frozenset(tif.value for tif in TimeInForce)
_ZERO = 0
_ID_TYPES = frozenset((int, str))

# Indices into an order list.
_QTY = 0  # remaining quantity
_OID = 1
_OWNER = 2
_PRIORITY = 3
_PRICE = 4
_IS_BUY = 5
_STP = 6  # the order's self-trade prevention mode, used when a modify makes it a taker
_POST_ONLY = 7
_Order: TypeAlias = list[Any]
_Level: TypeAlias = deque[_Order]


def _neg_priority(order: _Order) -> int:
    return -order[_PRIORITY]  # type: ignore[no-any-return]


def _level_qty(level: _Level) -> int:
    return sum(order[_QTY] for order in level)


class OrderBook:
    """A continuous limit order book for one instrument.

    Prices are integer ticks (multiples of ``tick_size``, in ``1 .. MAX_PRICE``), quantities
    integer lots (>= 1).  An incoming order trades against the opposite side at prices at or
    better than its limit: best price first, within a price higher ``priority`` first, then
    oldest first; every fill prints at the resting (maker) order's price.  With all priorities
    0 this is plain price-time priority.

    Every request either succeeds or raises :class:`~flagship.markets.OrderRejected` with a
    :class:`~flagship.markets.BookReason` and leaves the book exactly as it was.  After every request
    the book is uncrossed (best bid < best ask) and holds no empty price level.

    Order ids are ints or strs, unique among live orders (a filled or cancelled order's id may
    be used again).  ``cancel``, ``modify`` and ``order`` look ids up as dict keys do, so ``1``,
    ``1.0`` and ``True`` name the same order there.

    ``price_band=(lo, hi)`` (inclusive) confines limit prices and the prices market orders may
    trade at; see :meth:`set_price_band`.  ``stp`` is the default self-trade prevention mode
    (:class:`~flagship.markets.STPMode`), overridable per order.  Configuration errors raise
    :class:`~flagship.mechanisms._errors.InputError`.
    """

    __slots__ = (
        "_accept_hi",
        "_accept_lo",
        "_ask_keys",
        "_ask_levels",
        "_band",
        "_bid_keys",
        "_bid_levels",
        "_halted",
        "_hi",
        "_lo",
        "_orders",
        "_ranked",
        "_seq",
        "_stp",
        "_stp_log",
        "_tape",
        "_tick",
    )

    def __init__(
        self,
        tick_size: int = 1,
        *,
        price_band: tuple[int, int] | None = None,
        stp: str = STPMode.CANCEL_NEWEST.value,
    ) -> None:
        tick = _integer(tick_size)
        if tick is None or not 0 < tick <= MAX_PRICE:
            raise InputError(Problem("tick_size", f"expected an int >= 1, got {tick_size!r}"))
        code = _STP_CODES.get(stp) if isinstance(stp, str) else None
        if code is None:
            raise InputError(Problem("stp", f"expected one of {list(_STP_NAMES)}, got {stp!r}"))
        self._tick = tick
        self._stp = code
        self._halted = False
        self._bid_keys: list[int] = []  # prices, ascending: best bid last
        self._bid_levels: dict[int, _Level] = {}
        self._ask_keys: list[int] = []  # minus prices, ascending: best (lowest) ask last
        self._ask_levels: dict[int, _Level] = {}
        self._orders: dict[OrderId, _Order] = {}
        # False until an order with a non-zero priority rests; until then every level is in
        # plain time order and appending is always right.
        self._ranked = False
        self._seq = 0
        self._tape: list[Fill] = []
        self._stp_log: list[SelfTradeEvent] = []
        self._band: tuple[int, int] | None = None
        # _lo/_hi: the band (1..MAX_PRICE without one).  _accept_lo/_accept_hi: the limit prices
        # the fast path takes, i.e. the band, or nothing while halted.
        self._lo = self._accept_lo = 1
        self._hi = self._accept_hi = MAX_PRICE
        self.set_price_band(price_band)

    # ------------------------------------------------------------------ requests

    def limit(
        self,
        order_id: OrderId,
        side: str,
        price: int,
        qty: int,
        owner: str = "",
        tif: str = _GTC,
        post_only: bool = False,
        stp: str | None = None,
        priority: int = 0,
    ) -> list[Fill]:
        """Submit a limit order; return the fills it made, in order.

        ``side`` is ``"buy"`` or ``"sell"``.  The order first trades against the opposite side
        at prices at or better than ``price``; then by ``tif`` (:class:`~flagship.markets.TimeInForce`)
        its remainder rests at ``price`` (GTC), is dropped (IOC), or, for FOK, the order is
        rejected with ``FOK_UNFILLABLE`` unless it can be filled completely at once.
        ``post_only`` orders (GTC only) are rejected with ``POST_ONLY_WOULD_CROSS`` if they
        would trade at all.  ``stp`` overrides the book's self-trade prevention mode for this
        order (it applies when this order is the taker, now or after a repricing ``modify``);
        ``owner`` "" never self-trades.  ``priority`` ranks the order within its price level
        (higher first, then time).  ``order_id`` must not be live already.

        Pass ``tif``, ``post_only``, ``stp`` and ``priority`` by keyword.  (They are not
        keyword-only because CPython 3.11 calls a function with keyword-only defaults through
        a slower path, which cost this method a tenth of its time.)
        """
        # Fast path: a valid plain GTC order.  Anything unusual is handed, untouched, to the
        # checked path, which alone decides rejections.
        if (
            tif is not _GTC  # identity, not equality: an equal str takes the checked path
            or post_only is not False
            or stp is not None
            or priority is not _ZERO  # CPython shares one 0 object; any other goes checked
            or type(price) is not int
            or type(qty) is not int
            or type(owner) is not str
            or type(order_id) not in _ID_TYPES
            or not self._accept_lo <= price <= self._accept_hi  # the band; empty while halted
            or qty <= 0
            or price % self._tick
            or order_id in self._orders
        ):
            return self._limit_checked(
                order_id,
                side,
                price,
                qty,
                owner,
                tif=tif,
                post_only=post_only,
                stp=stp,
                priority=priority,
            )
        if side == "buy":
            keys = self._ask_keys
            if keys and keys[-1] >= -price:
                fills: list[Fill] = []
                qty = self._match(order_id, True, -price, qty, owner, self._stp, fills)
                self._tape.extend(fills)
                if not qty:
                    return fills
            else:
                fills = []
            order = [qty, order_id, owner, 0, price, True, self._stp, False]
            levels = self._bid_levels
            level = levels.get(price)
            if level is None:
                levels[price] = deque((order,))
                insort(self._bid_keys, price)
            elif self._ranked and level[-1][_PRIORITY] < 0:
                level.insert(bisect_right(level, 0, key=_neg_priority), order)
            else:
                level.append(order)
            self._orders[order_id] = order
            return fills
        if side == "sell":
            keys = self._bid_keys
            if keys and keys[-1] >= price:
                fills = []
                qty = self._match(order_id, False, price, qty, owner, self._stp, fills)
                self._tape.extend(fills)
                if not qty:
                    return fills
            else:
                fills = []
            order = [qty, order_id, owner, 0, price, False, self._stp, False]
            levels = self._ask_levels
            level = levels.get(-price)
            if level is None:
                levels[-price] = deque((order,))
                insort(self._ask_keys, -price)
            elif self._ranked and level[-1][_PRIORITY] < 0:
                level.insert(bisect_right(level, 0, key=_neg_priority), order)
            else:
                level.append(order)
            self._orders[order_id] = order
            return fills
        return self._limit_checked(
            order_id, side, price, qty, owner, tif=tif, post_only=post_only, stp=stp, priority=priority
        )

    def market(
        self,
        order_id: OrderId,
        side: str,
        qty: int,
        owner: str = "",
        stp: str | None = None,
    ) -> list[Fill]:
        """Submit a market order; return its fills.  Whatever does not fill now is dropped.

        With a price band a market buy trades only at prices <= the band's top and a market sell
        only at prices >= its bottom.  An empty opposite side is not an error: no fills.
        ``order_id`` must not be live (it names the taker in the fills).  Pass ``stp`` by
        keyword.
        """
        if (
            stp is not None
            or type(qty) is not int
            or type(owner) is not str
            or type(order_id) not in _ID_TYPES
            or qty <= 0
            or self._halted
            or order_id in self._orders
        ):
            return self._market_checked(order_id, side, qty, owner, stp)
        fills: list[Fill] = []
        if side == "buy":
            self._match(order_id, True, -self._hi, qty, owner, self._stp, fills)
        elif side == "sell":
            self._match(order_id, False, self._lo, qty, owner, self._stp, fills)
        else:
            return self._market_checked(order_id, side, qty, owner, stp)
        if fills:
            self._tape.extend(fills)
        return fills

    def cancel(self, order_id: OrderId) -> bool:
        """Cancel a live order.  True if it was live; False for an unknown, filled or already
        cancelled id.  Accepted while halted."""
        try:
            order = self._orders.pop(order_id, None)
        except TypeError:  # unhashable: cannot name a live order
            return False
        if order is None:
            return False
        if order[_IS_BUY]:
            level = self._bid_levels[order[_PRICE]]
            level.remove(order)
            if not level:
                self._drop_level(self._bid_keys, self._bid_levels, order[_PRICE])
        else:
            level = self._ask_levels[-order[_PRICE]]
            level.remove(order)
            if not level:
                self._drop_level(self._ask_keys, self._ask_levels, -order[_PRICE])
        return True

    def modify(self, order_id: OrderId, qty: int | None = None, price: int | None = None) -> list[Fill]:
        """Change a live order's remaining quantity and/or price; return any fills.

        ``qty`` is the new *remaining* quantity (>= 1; cancel to remove an order).  Lowering it
        at an unchanged price keeps the order's place in the queue.  Raising it, or changing the
        price, sends the order to the back of its (new) level's priority class, as if it had
        just arrived; a new price that crosses the opposite side trades first, as a GTC taker
        with the order's own self-trade prevention mode, and its remainder rests.  A post-only
        order whose new price would cross is rejected (``POST_ONLY_WOULD_CROSS``).  Owner,
        priority and id are kept.  A request that changes nothing is accepted and does nothing.
        """
        new_price: int | None = None
        if price is not None:
            new_price = self._checked_price(price, order_id)
        new_qty: int | None = None
        if qty is not None:
            new_qty = _integer(qty)
            if new_qty is None or new_qty < 1:
                raise OrderRejected(BookReason.INVALID_QTY, f"qty must be an int >= 1, got {qty!r}", order_id)
        try:
            order = self._orders.get(order_id)
        except TypeError:
            order = None
        if order is None:
            raise OrderRejected(BookReason.UNKNOWN_ORDER, f"no live order {order_id!r}", order_id)
        if self._halted:
            raise OrderRejected(BookReason.HALTED, "trading is halted", order_id)
        if new_qty is None:
            new_qty = order[_QTY]
        if new_price is None or new_price == order[_PRICE]:
            if new_qty < order[_QTY]:
                order[_QTY] = new_qty
            elif new_qty > order[_QTY]:
                self._requeue(order, order[_PRICE], new_qty)
            return []
        if not self._lo <= new_price <= self._hi:
            raise OrderRejected(
                BookReason.PRICE_BAND, f"price {new_price} outside band {self._band}", order_id
            )
        is_buy = order[_IS_BUY]
        key_limit = -new_price if is_buy else new_price
        opposite = self._ask_keys if is_buy else self._bid_keys
        fills: list[Fill] = []
        if opposite and opposite[-1] >= key_limit:
            if order[_POST_ONLY]:
                raise OrderRejected(
                    BookReason.POST_ONLY_WOULD_CROSS, f"price {new_price} would trade", order_id
                )
            # The order itself rests on the other side, so it cannot meet itself here, and a
            # SELF_TRADE rejection from _match comes before anything has changed.
            new_qty = self._match(order[_OID], is_buy, key_limit, new_qty, order[_OWNER], order[_STP], fills)
            self._tape.extend(fills)
        if new_qty:
            self._requeue(order, new_price, new_qty)
        else:
            del self._orders[order[_OID]]
            self._unlink(order)
        return fills

    # ------------------------------------------------------------------ trading state

    @property
    def halted(self) -> bool:
        """True while trading is halted."""
        return self._halted

    def halt(self) -> None:
        """Halt trading: new orders and modifies are rejected with ``HALTED`` until
        :meth:`resume`; cancels are still accepted.  Resting orders stay.  Idempotent."""
        self._halted = True
        self._accept_lo, self._accept_hi = 1, 0

    def resume(self) -> None:
        """End a halt.  Idempotent."""
        self._halted = False
        self._accept_lo, self._accept_hi = self._lo, self._hi

    @property
    def tick_size(self) -> int:
        """Prices must be multiples of this."""
        return self._tick

    @property
    def price_band(self) -> tuple[int, int] | None:
        """The inclusive ``(lo, hi)`` price band, or None for none."""
        return self._band

    def set_price_band(self, band: tuple[int, int] | None) -> list[OrderId]:
        """Set (or with None, clear) the inclusive price band ``(lo, hi)``.

        Afterwards every new limit price and every modify's new price must lie in it
        (``PRICE_BAND`` otherwise), and market orders trade only inside it.  Resting orders
        priced outside the new band are cancelled, so that *every* resting order and hence every
        later fill lies inside the band; their ids are returned (bids then asks, each best
        first).  ``lo`` and ``hi`` are on-tick ints with ``1 <= lo <= hi <= MAX_PRICE``;
        otherwise InputError and nothing changes.  Allowed while halted.
        """
        if band is None:
            lo, hi = 1, MAX_PRICE
        else:
            if not isinstance(band, tuple | list) or len(band) != 2:
                raise InputError(Problem("price_band", f"expected (lo, hi), got {band!r}"))
            low, high = _integer(band[0]), _integer(band[1])
            if (
                low is None
                or high is None
                or not 1 <= low <= high <= MAX_PRICE
                or low % self._tick
                or high % self._tick
            ):
                raise InputError(
                    Problem(
                        "price_band",
                        f"expected on-tick ints 1 <= lo <= hi <= {MAX_PRICE}, got {band!r}",
                    )
                )
            lo, hi = low, high
        self._band = None if band is None else (lo, hi)
        self._lo, self._hi = lo, hi
        if not self._halted:
            self._accept_lo, self._accept_hi = lo, hi
        outside = [
            order[_OID]
            for keys, levels in (
                (self._bid_keys, self._bid_levels),
                (self._ask_keys, self._ask_levels),
            )
            for key in reversed(keys)
            if not lo <= abs(key) <= hi
            for order in levels[key]
        ]
        for oid in outside:
            self.cancel(oid)
        return outside

    # ------------------------------------------------------------------ views

    def best_bid(self) -> int | None:
        """Highest resting buy price, or None."""
        keys = self._bid_keys
        return keys[-1] if keys else None

    def best_ask(self) -> int | None:
        """Lowest resting sell price, or None."""
        keys = self._ask_keys
        return -keys[-1] if keys else None

    def depth(self, levels: int | None = 10) -> Depth:
        """Level-2 snapshot: up to ``levels`` price levels per side (None: all), best first,
        each ``(price, total_qty, order_count)``."""
        if levels is None:
            stop = None
        else:
            count = _integer(levels)
            if count is None or count < 1:
                raise InputError(Problem("levels", f"expected an int >= 1 or None, got {levels!r}"))
            stop = -count - 1
        bids = self._bid_levels
        asks = self._ask_levels
        return Depth(
            tuple((key, _level_qty(bids[key]), len(bids[key])) for key in self._bid_keys[:stop:-1]),
            tuple((-key, _level_qty(asks[key]), len(asks[key])) for key in self._ask_keys[:stop:-1]),
        )

    def order(self, order_id: OrderId) -> OrderView | None:
        """The live order with this id, or None if it is not live."""
        try:
            order = self._orders.get(order_id)
        except TypeError:
            return None
        return None if order is None else _view(order)

    def orders_of(self, owner: str) -> list[OrderView]:
        """The live orders of ``owner``, in the order they were first accepted (O(live orders))."""
        return [_view(order) for order in self._orders.values() if order[_OWNER] == owner]

    def __len__(self) -> int:
        """Number of live orders."""
        return len(self._orders)

    @property
    def tape(self) -> Sequence[Fill]:
        """Every fill so far, oldest first (read-only view; grows as the book trades)."""
        return self._tape

    @property
    def stp_log(self) -> Sequence[SelfTradeEvent]:
        """Every time self-trade prevention cancelled quantity, oldest first (read-only)."""
        return self._stp_log

    def snapshot(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict; equal states give equal snapshots.

        Levels are listed best first, and the orders of a level in matching order, so the
        snapshot also pins time priority.  The tape and STP log appear as their lengths.
        """

        def side(keys: list[int], levels: dict[int, _Level]) -> list[dict[str, Any]]:
            return [
                {
                    "price": abs(key),
                    "orders": [
                        {
                            "id": order[_OID],
                            "qty": order[_QTY],
                            "owner": order[_OWNER],
                            "priority": order[_PRIORITY],
                            "stp": _STP_NAMES[order[_STP]],
                            "post_only": order[_POST_ONLY],
                        }
                        for order in levels[key]
                    ],
                }
                for key in reversed(keys)
            ]

        return {
            "tick_size": self._tick,
            "price_band": None if self._band is None else list(self._band),
            "halted": self._halted,
            "stp": _STP_NAMES[self._stp],
            "fills": self._seq,
            "stp_events": len(self._stp_log),
            "bids": side(self._bid_keys, self._bid_levels),
            "asks": side(self._ask_keys, self._ask_levels),
        }

    def __repr__(self) -> str:
        return (
            f"OrderBook(bid={self.best_bid()}, ask={self.best_ask()}, "
            f"orders={len(self._orders)}, fills={self._seq}, halted={self._halted})"
        )

    # ------------------------------------------------------------------ checked paths

    def _checked_price(self, price: object, oid: object) -> int:
        number = _integer(price)
        if number is None or not 1 <= number <= MAX_PRICE:
            raise OrderRejected(
                BookReason.INVALID_PRICE,
                f"price must be an int in 1..{MAX_PRICE}, got {price!r}",
                oid,
            )
        if number % self._tick:
            raise OrderRejected(BookReason.OFF_TICK, f"price {number} is not a multiple of {self._tick}", oid)
        return number

    def _checked_stp(self, stp: object, oid: OrderId) -> int:
        if stp is None:
            return self._stp
        code = _STP_CODES.get(stp) if isinstance(stp, str) else None
        if code is None:
            raise OrderRejected(
                BookReason.INVALID_STP, f"stp must be one of {list(_STP_NAMES)}, got {stp!r}", oid
            )
        return code

    def _checked_state(self, oid: OrderId) -> None:
        if oid in self._orders:
            raise OrderRejected(BookReason.DUPLICATE_ID, f"order {oid!r} is live", oid)
        if self._halted:
            raise OrderRejected(BookReason.HALTED, "trading is halted", oid)

    def _limit_checked(
        self,
        order_id: object,
        side: object,
        price: object,
        qty: object,
        owner: object,
        *,
        tif: object,
        post_only: object,
        stp: object,
        priority: object,
    ) -> list[Fill]:
        # Checks run in BookReason's documented order.
        oid = _order_id(order_id)
        is_buy = _side(side, oid)
        number_price = self._checked_price(price, oid)
        number_qty = _qty(qty, oid)
        owner_str = _owner(owner, oid)
        if not isinstance(tif, str) or tif not in _TIFS:
            raise OrderRejected(
                BookReason.INVALID_TIF, f"tif must be one of {sorted(_TIFS)}, got {tif!r}", oid
            )
        if not isinstance(post_only, bool):
            raise OrderRejected(BookReason.INVALID_TIF, f"post_only must be a bool, got {post_only!r}", oid)
        if post_only and tif != _GTC:
            raise OrderRejected(BookReason.INVALID_TIF, f"post-only order with tif {tif}", oid)
        code = self._checked_stp(stp, oid)
        number_priority = _integer(priority)
        if number_priority is None:
            raise OrderRejected(
                BookReason.INVALID_PRIORITY, f"priority must be an int, got {priority!r}", oid
            )
        self._checked_state(oid)
        if not self._lo <= number_price <= self._hi:
            raise OrderRejected(BookReason.PRICE_BAND, f"price {number_price} outside band {self._band}", oid)
        key_limit = -number_price if is_buy else number_price
        opposite = self._ask_keys if is_buy else self._bid_keys
        crosses = bool(opposite) and opposite[-1] >= key_limit
        if post_only and crosses:
            raise OrderRejected(BookReason.POST_ONLY_WOULD_CROSS, f"price {number_price} would trade", oid)
        if tif == _FOK and not self._fillable(is_buy, key_limit, number_qty, owner_str, code):
            raise OrderRejected(BookReason.FOK_UNFILLABLE, f"cannot fill {number_qty} at {number_price}", oid)
        fills: list[Fill] = []
        if crosses:
            number_qty = self._match(oid, is_buy, key_limit, number_qty, owner_str, code, fills)
            self._tape.extend(fills)
        if number_qty and tif == _GTC:
            self._rest([number_qty, oid, owner_str, number_priority, number_price, is_buy, code, post_only])
        return fills

    def _market_checked(
        self, order_id: object, side: object, qty: object, owner: object, stp: object
    ) -> list[Fill]:
        oid = _order_id(order_id)
        is_buy = _side(side, oid)
        number_qty = _qty(qty, oid)
        owner_str = _owner(owner, oid)
        code = self._checked_stp(stp, oid)
        self._checked_state(oid)
        fills: list[Fill] = []
        key_limit = -self._hi if is_buy else self._lo
        self._match(oid, is_buy, key_limit, number_qty, owner_str, code, fills)
        self._tape.extend(fills)
        return fills

    # ------------------------------------------------------------------ machinery

    def _match(
        self,
        taker_id: OrderId,
        is_buy: bool,
        key_limit: int,
        qty: int,
        owner: str,
        stp: int,
        fills: list[Fill],
    ) -> int:
        """Trade ``qty`` against the opposite side's levels with key >= ``key_limit``, appending
        to ``fills``; return the quantity left to rest (0 also when STP cancelled the taker).

        Raises ``SELF_TRADE`` only when nothing has changed yet (cancel_newest before any fill).
        """
        if is_buy:
            keys = self._ask_keys
            levels = self._ask_levels
            taker_side = "buy"
        else:
            keys = self._bid_keys
            levels = self._bid_levels
            taker_side = "sell"
        orders = self._orders
        seq = self._seq
        append = fills.append
        stp_owner = owner if stp else ""
        while keys:
            key = keys[-1]
            if key < key_limit:
                break
            level = levels[key]
            price = -key if is_buy else key
            while True:
                maker = level[0]
                maker_qty = maker[_QTY]
                if stp_owner and maker[_OWNER] == stp_owner:
                    if stp == _CANCEL_NEWEST and seq == self._seq:
                        raise OrderRejected(
                            BookReason.SELF_TRADE,
                            f"would meet own order {maker[_OID]!r} before trading",
                            taker_id,
                        )
                    if stp == _CANCEL_OLDEST:
                        cut, taker_cut = maker_qty, 0
                    elif stp == _CANCEL_BOTH:
                        cut, taker_cut = maker_qty, qty
                    elif stp == _DECREMENT:
                        cut = taker_cut = maker_qty if maker_qty < qty else qty
                    else:  # cancel_newest after some fills: the taker's remainder goes
                        cut, taker_cut = 0, qty
                    self._stp_log.append(
                        SelfTradeEvent(seq, _STP_NAMES[stp], taker_id, maker[_OID], taker_cut, cut)
                    )
                    qty -= taker_cut
                    if cut == maker_qty:
                        level.popleft()
                        del orders[maker[_OID]]
                        if not level:
                            break
                    elif cut:
                        maker[_QTY] = maker_qty - cut
                    if not qty:
                        break
                    continue
                seq += 1
                if maker_qty <= qty:
                    level.popleft()
                    del orders[maker[_OID]]
                    qty -= maker_qty
                    append(
                        Fill(
                            (seq, maker[_OID], taker_id, price, maker_qty, taker_side, maker[_OWNER], owner),
                        )
                    )
                    if not level or not qty:
                        break
                else:
                    maker[_QTY] = maker_qty - qty
                    append(
                        Fill(
                            (seq, maker[_OID], taker_id, price, qty, taker_side, maker[_OWNER], owner),
                        )
                    )
                    qty = 0
                    break
            if level:  # the level outlived the taker
                break
            keys.pop()
            del levels[key]
            if not qty:
                break
        self._seq = seq
        return qty

    def _fillable(self, is_buy: bool, key_limit: int, qty: int, owner: str, stp: int) -> bool:
        """Would :meth:`_match` fill all of ``qty`` with trades?  Walks makers in matching order;
        an own order under STP is skipped by cancel_oldest and ends the walk otherwise."""
        keys, levels = (self._ask_keys, self._ask_levels) if is_buy else (self._bid_keys, self._bid_levels)
        stp_owner = owner if stp else ""
        for key in reversed(keys):
            if key < key_limit:
                return False
            for maker in levels[key]:
                if stp_owner and maker[_OWNER] == stp_owner:
                    if stp == _CANCEL_OLDEST:
                        continue
                    return False
                qty -= maker[_QTY]
                if qty <= 0:
                    return True
        return False

    def _rest(self, order: _Order) -> None:
        """Add a new live order at the back of its priority class in its level."""
        if order[_IS_BUY]:
            keys, levels, key = self._bid_keys, self._bid_levels, order[_PRICE]
        else:
            keys, levels, key = self._ask_keys, self._ask_levels, -order[_PRICE]
        priority = order[_PRIORITY]
        if priority:
            self._ranked = True
        level = levels.get(key)
        if level is None:
            levels[key] = deque((order,))
            insort(keys, key)
        elif level[-1][_PRIORITY] >= priority:
            level.append(order)
        else:
            # A level is sorted by priority, descending; the order goes after its equals.
            level.insert(bisect_right(level, -priority, key=_neg_priority), order)
        self._orders[order[_OID]] = order

    def _unlink(self, order: _Order) -> None:
        """Take a live order out of its level (the caller handles ``_orders``)."""
        if order[_IS_BUY]:
            keys, levels, key = self._bid_keys, self._bid_levels, order[_PRICE]
        else:
            keys, levels, key = self._ask_keys, self._ask_levels, -order[_PRICE]
        level = levels[key]
        # By identity in practice: no other order in the book can equal it (ids are unique).
        level.remove(order)
        if not level:
            self._drop_level(keys, levels, key)

    @staticmethod
    def _drop_level(keys: list[int], levels: dict[int, _Level], key: int) -> None:
        del levels[key]
        del keys[bisect_left(keys, key)]

    def _requeue(self, order: _Order, price: int, qty: int) -> None:
        """Replace a live order by a copy at ``price``/``qty`` at the back of its class."""
        moved = order.copy()
        moved[_QTY] = qty
        moved[_PRICE] = price
        self._unlink(order)
        self._rest(moved)


def _integer(value: object) -> int | None:
    """``value`` as an int if it is an integer other than a bool (numpy integers included)."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return operator.index(value)


def _order_id(value: object) -> OrderId:
    if type(value) is int or type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a plain str, so snapshots and fills hold no subclasses
    number = _integer(value)
    if number is None:
        raise OrderRejected(BookReason.INVALID_ID, f"order id must be an int or a str, got {value!r}", value)
    return number


def _side(side: object, oid: OrderId) -> bool:
    if not isinstance(side, str) or side not in ("buy", "sell"):
        raise OrderRejected(BookReason.INVALID_SIDE, f"side must be 'buy' or 'sell', got {side!r}", oid)
    return side == "buy"


def _qty(qty: object, oid: OrderId) -> int:
    number = _integer(qty)
    if number is None or number < 1:
        raise OrderRejected(BookReason.INVALID_QTY, f"qty must be an int >= 1, got {qty!r}", oid)
    return number


def _owner(owner: object, oid: OrderId) -> str:
    if not isinstance(owner, str):
        raise OrderRejected(BookReason.INVALID_OWNER, f"owner must be a str, got {owner!r}", oid)
    return str.__str__(owner)


def _view(order: _Order) -> OrderView:
    return OrderView(
        order[_OID],
        "buy" if order[_IS_BUY] else "sell",
        order[_PRICE],
        order[_QTY],
        order[_OWNER],
        order[_PRIORITY],
    )
