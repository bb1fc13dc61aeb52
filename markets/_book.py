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
  running totals on every request.  A cancel is O(1) amortized (``BookState._bury``): the
  order is marked dead (quantity 0) and popped at once only at either end of its level; dead
  orders inside a level are skipped and dropped by matching, ignored by the views, and swept
  when they outnumber the live ones.  ``deque.remove`` (a scan of the level) was cheaper at
  shallow depth but made a market's cost grow faster than its size (benchmarks/bench_scaling.py:
  exponent 1.16 against participants, 1.28 against duration);
* an order is an ``_Order`` (``_book_state.py``) mutated in place: compiled, a native class
  (a C struct with unboxed ints) is cheaper to read than a list, whose elements mypyc boxes and
  type-checks on every access; callers only ever see immutable copies
  (:class:`~flagship.markets.OrderView`, :class:`~flagship.markets.Fill`).

Public parameters are typed ``X | object`` (that is, ``object``): compiled by mypyc (setup.py,
``flagship.markets.ENGINE``), a narrower type would be enforced with mypyc's own TypeError, where
the methods below check their arguments themselves, so that the compiled and the pure engine
answer bad input alike (tests/markets/test_market_book_engines.py).

The common request (a valid GTC limit order, with any int priority, or a market order, without
other extras) runs through a short fast path; anything else, every rejection included, goes
through the fully checked path.  The fast path never rejects by itself, it only hands over, so
the two cannot disagree about validity.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from typing import Any

from flagship.mechanisms._errors import InputError, Problem

from ._book_state import (  # the engine's layout and checks, shared with its state
    _CANCEL_BOTH,
    _CANCEL_NEWEST,
    _CANCEL_OLDEST,
    _DECREMENT,
    _FOK,
    _GTC,
    _STP_CODES,
    _STP_NAMES,
    _TIFS,
    BookState,
    _insert_ranked,
    _integer,
    _Level,
    _Order,
    _order_id,
    _owner,
    _qty,
    _Row,
    _side,
)
from ._reasons import BookReason, OrderRejected
from ._records import (
    MAX_PRICE,
    Fill,
    OrderId,
    SelfTradeEvent,
    STPMode,
)

__all__ = ["OrderBook"]


class OrderBook(BookState):
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

    __slots__ = ()

    def __init__(
        self,
        tick_size: int | object = 1,
        *,
        price_band: tuple[int, int] | object = None,
        stp: str | object = STPMode.CANCEL_NEWEST.value,
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
        self._orders: dict[object, _Order] = {}
        self._dead = 0  # cancelled orders left inside levels (see BookState._bury)
        self._seq = 0
        self._tape: list[_Row] = []  # plain tuples, see _book_state._Row
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
        order_id: OrderId | object,
        side: str | object,
        price: int | object,
        qty: int | object,
        owner: str | object = "",
        tif: str | object = _GTC,
        post_only: bool | object = False,
        stp: str | object = None,
        priority: int | object = 0,
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
            or type(priority) is not int
            or type(price) is not int
            or type(qty) is not int
            or type(owner) is not str
            or (type(order_id) is not int and type(order_id) is not str)
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
                return self._take(order_id, True, price, qty, owner, priority)
            order = _Order(qty, order_id, owner, priority, price, True, self._stp, False)
            levels = self._bid_levels
            level = levels.get(price)
            if level is None:
                levels[price] = deque((order,))
                insort(self._bid_keys, price)
            elif level[-1].priority < priority:  # after the last order of equal or higher priority
                _insert_ranked(level, order, priority)
            else:
                level.append(order)
            self._orders[order_id] = order
            return []  # a fresh list: the caller may keep or change it
        if side == "sell":
            keys = self._bid_keys
            if keys and keys[-1] >= price:
                return self._take(order_id, False, price, qty, owner, priority)
            order = _Order(qty, order_id, owner, priority, price, False, self._stp, False)
            levels = self._ask_levels
            level = levels.get(-price)
            if level is None:
                levels[-price] = deque((order,))
                insort(self._ask_keys, -price)
            elif level[-1].priority < priority:  # after the last order of equal or higher priority
                _insert_ranked(level, order, priority)
            else:
                level.append(order)
            self._orders[order_id] = order
            return []  # a fresh list: the caller may keep or change it
        return self._limit_checked(
            order_id, side, price, qty, owner, tif=tif, post_only=post_only, stp=stp, priority=priority
        )

    def market(
        self,
        order_id: OrderId | object,
        side: str | object,
        qty: int | object,
        owner: str | object = "",
        stp: str | object = None,
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
            or (type(order_id) is not int and type(order_id) is not str)
            or qty <= 0
            or self._halted
            or order_id in self._orders
        ):
            return self._market_checked(order_id, side, qty, owner, stp)
        fills: list[_Row] = []
        if side == "buy":
            self._match(order_id, True, -self._hi, qty, owner, self._stp, fills)
        elif side == "sell":
            self._match(order_id, False, self._lo, qty, owner, self._stp, fills)
        else:
            return self._market_checked(order_id, side, qty, owner, stp)
        if not fills:
            return []
        self._tape.extend(fills)
        return list(map(Fill, fills))

    def cancel(self, order_id: OrderId | object) -> bool:
        """Cancel a live order.  True if it was live; False for an unknown, filled or already
        cancelled id.  Accepted while halted."""
        try:
            order = self._orders.pop(order_id, None)
        except TypeError:  # unhashable: cannot name a live order
            return False
        if order is None:
            return False
        if order.is_buy:
            keys, levels, key = self._bid_keys, self._bid_levels, order.price
        else:
            keys, levels, key = self._ask_keys, self._ask_levels, -order.price
        # BookState._bury inlined (a call less per cancel), keeping its invariant: the first and
        # the last order of every level are live.
        level = levels[key]
        order.qty = 0
        if level[-1] is order:
            level.pop()
            if level:
                while not level[-1].qty:  # the front is live, so this stops
                    level.pop()
                return True
        elif level[0] is order:
            level.popleft()
            while not level[0].qty:  # the back is live, so this stops
                level.popleft()
            return True
        else:
            self._dead += 1
            if self._dead > len(self._orders) + 1024:
                self._sweep()
            return True
        self._drop_level(keys, levels, key)
        return True

    def _take(
        self, order_id: OrderId, is_buy: bool, price: int, qty: int, owner: str, priority: int
    ) -> list[Fill]:
        """The fast path's marketable limit order: trade, then rest what is left."""
        fills: list[_Row] = []
        stp = self._stp
        qty = self._match(order_id, is_buy, -price if is_buy else price, qty, owner, stp, fills)
        self._tape.extend(fills)
        if qty:
            self._rest(_Order(qty, order_id, owner, priority, price, is_buy, stp, False))
        return list(map(Fill, fills))

    def modify(
        self, order_id: OrderId | object, qty: int | object = None, price: int | object = None
    ) -> list[Fill]:
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
            new_qty = order.qty
        if new_price is None or new_price == order.price:
            if new_qty < order.qty:
                order.qty = new_qty
            elif new_qty > order.qty:
                self._requeue(order, order.price, new_qty)
            return []
        if not self._lo <= new_price <= self._hi:
            raise OrderRejected(
                BookReason.PRICE_BAND, f"price {new_price} outside band {self._band}", order_id
            )
        is_buy = order.is_buy
        key_limit = -new_price if is_buy else new_price
        opposite = self._ask_keys if is_buy else self._bid_keys
        fills: list[_Row] = []
        if opposite and opposite[-1] >= key_limit:
            if order.post_only:
                raise OrderRejected(
                    BookReason.POST_ONLY_WOULD_CROSS, f"price {new_price} would trade", order_id
                )
            # The order itself rests on the other side, so it cannot meet itself here, and a
            # SELF_TRADE rejection from _match comes before anything has changed.
            new_qty = self._match(order.oid, is_buy, key_limit, new_qty, order.owner, order.stp, fills)
            self._tape.extend(fills)
        if new_qty:
            self._requeue(order, new_price, new_qty)
        else:
            del self._orders[order.oid]
            self._unlink(order)
        return list(map(Fill, fills))

    def set_price_band(self, band: tuple[int, int] | object) -> list[OrderId]:
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
            order.oid
            for keys, levels in (
                (self._bid_keys, self._bid_levels),
                (self._ask_keys, self._ask_levels),
            )
            for key in reversed(keys)
            if not lo <= abs(key) <= hi
            for order in levels[key]
            if order.qty
        ]
        for oid in outside:
            self.cancel(oid)
        return outside

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
        fills: list[_Row] = []
        if crosses:
            number_qty = self._match(oid, is_buy, key_limit, number_qty, owner_str, code, fills)
            self._tape.extend(fills)
        if number_qty and tif == _GTC:
            order = _Order(number_qty, oid, owner_str, number_priority, number_price, is_buy, code, post_only)
            self._rest(order)
        return list(map(Fill, fills))

    def _market_checked(
        self, order_id: object, side: object, qty: object, owner: object, stp: object
    ) -> list[Fill]:
        oid = _order_id(order_id)
        is_buy = _side(side, oid)
        number_qty = _qty(qty, oid)
        owner_str = _owner(owner, oid)
        code = self._checked_stp(stp, oid)
        self._checked_state(oid)
        fills: list[_Row] = []
        key_limit = -self._hi if is_buy else self._lo
        self._match(oid, is_buy, key_limit, number_qty, owner_str, code, fills)
        self._tape.extend(fills)
        return list(map(Fill, fills))

    # ------------------------------------------------------------------ machinery

    def _match(
        self,
        taker_id: OrderId,
        is_buy: bool,
        key_limit: int,
        qty: int,
        owner: str,
        stp: int,
        fills: list[_Row],
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
            # Boxed once per level and shared by its fills (``Any`` is an object to mypyc): an
            # ``int`` local is a native int, boxed anew into every fill's row, a 32-byte int per
            # fill beside the 104-byte row, kept by the tape for the book's life.  Pure Python
            # shared it already: in both engines the fills a taker makes at one level share one price.
            price: Any = -key if is_buy else key
            while True:
                maker = level[0]
                maker_qty: int = maker.qty  # typed: compiled, the loop's arithmetic is native
                if not maker_qty:  # cancelled earlier; the level's last order is live
                    level.popleft()
                    continue
                if stp_owner and maker.owner == stp_owner:
                    if stp == _CANCEL_NEWEST and seq == self._seq:
                        raise OrderRejected(
                            BookReason.SELF_TRADE,
                            f"would meet own order {maker.oid!r} before trading",
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
                        SelfTradeEvent(seq, _STP_NAMES[stp], taker_id, maker.oid, taker_cut, cut)
                    )
                    qty -= taker_cut
                    if cut == maker_qty:
                        level.popleft()
                        del orders[maker.oid]
                        if not level:
                            break
                    elif cut:
                        maker.qty = maker_qty - cut
                    if not qty:
                        break
                    continue
                seq += 1
                if maker_qty <= qty:
                    level.popleft()
                    del orders[maker.oid]
                    qty -= maker_qty
                    append((seq, maker.oid, taker_id, price, maker_qty, taker_side, maker.owner, owner))
                    if not level or not qty:
                        break
                else:
                    maker.qty = maker_qty - qty
                    append((seq, maker.oid, taker_id, price, qty, taker_side, maker.owner, owner))
                    qty = 0
                    break
            if level:  # the level outlived the taker; its front must be live again
                while not level[0].qty:
                    level.popleft()
                break
            keys.pop()
            del levels[key]
            if not qty:
                break
        self._seq = seq
        return qty
