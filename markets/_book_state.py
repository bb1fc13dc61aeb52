"""The order book's state, its level primitives and every read-only view of it (requests: ``_book.py``).

:class:`BookState` holds the book's slots, the trading state (halts, tick, band), the views
(touch, depth, orders, tape, snapshot), the checks that only read state and the primitives
that put an order into its level or take it out; the
:class:`~flagship.markets.OrderBook` subclass adds the requests and matching. The constants
below and :class:`_Order` are the engine's layout (see ``_book.py``).
"""

from __future__ import annotations

import numbers
import operator
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Final, TypeAlias, overload

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

__all__ = ["BookState"]

# Self-trade prevention modes as small ints: the matching loop tests them on the rare self-match.
_STP_NONE: Final = 0
_CANCEL_NEWEST: Final = 1
_CANCEL_OLDEST: Final = 2
_CANCEL_BOTH: Final = 3
_DECREMENT: Final = 4
_STP_CODES: dict[str, int] = {
    STPMode.NONE.value: _STP_NONE,
    STPMode.CANCEL_NEWEST.value: _CANCEL_NEWEST,
    STPMode.CANCEL_OLDEST.value: _CANCEL_OLDEST,
    STPMode.CANCEL_BOTH.value: _CANCEL_BOTH,
    STPMode.DECREMENT.value: _DECREMENT,
}
_STP_NAMES: tuple[str, ...] = tuple(_STP_CODES)

_GTC: Final = "GTC"  # a literal, hence the interned object that callers' "GTC" literals also are
_FOK: Final = "FOK"
_TIFS = frozenset(tif.value for tif in TimeInForce)


class _Order:
    """A resting order, mutated in place while it lives (only ``qty`` changes; 0 marks it
    cancelled inside its level, see :meth:`BookState._bury`).

    Compiled by mypyc this is a native class, a C struct with unboxed int fields, which the
    matching loop reads without the type checks and boxing that a list's elements need; pure,
    ``__slots__`` make it about as cheap to read as a list.  Callers only ever see immutable
    copies (:class:`~flagship.markets.OrderView`, :class:`~flagship.markets.Fill`).
    """

    __slots__ = ("is_buy", "oid", "owner", "post_only", "price", "priority", "qty", "rank", "stp")

    def __init__(
        self,
        qty: int,
        oid: OrderId,
        owner: str,
        priority: int,
        price: int,
        is_buy: bool,
        stp: int,
        post_only: bool,
    ) -> None:
        self.qty = qty  # remaining quantity
        self.oid = oid
        self.owner = owner
        self.priority = priority
        self.price = price
        self.is_buy = is_buy
        self.stp = stp  # the self-trade prevention mode, used when a modify makes it a taker
        self.post_only = post_only
        # minus the priority: levels sort by rank, ascending, so a C-keyed bisect places an order
        self.rank = -priority

    def moved(self, price: int, qty: int) -> _Order:
        """A copy at ``price`` with ``qty`` left (a requeued order is a new arrival)."""
        return _Order(qty, self.oid, self.owner, self.priority, price, self.is_buy, self.stp, self.post_only)


# A fill as the book keeps it: a plain tuple, which the garbage collector stops tracking (it holds
# only ints and strs), where a Fill (a tuple subclass) would be traversed by every full
# collection for the book's whole life: that cost a quarter of the engine's time on a long tape.
_Row: TypeAlias = tuple[int, OrderId, OrderId, int, int, str, str, str]
_Level: TypeAlias = deque[_Order]

_rank_of = operator.attrgetter("rank")


def _insert_ranked(level: _Level, order: _Order, priority: int) -> None:
    """Put ``order`` after the last order of ``level`` with priority >= ``priority`` (a level is
    sorted by priority, descending); the caller has seen that the level's last order ranks lower.

    A bisect on ``rank`` with a C key (``attrgetter``): on the benchmark stream with
    ``value_priority`` the orders of lower priority behind the new one are often dozens, so a
    scan from the back, or a bisect calling a Python key function, cost twice as much.
    """
    level.insert(bisect_right(level, -priority, key=_rank_of), order)


def _level_qty(level: _Level) -> int:
    return sum(order.qty for order in level)  # cancelled orders left in the level count 0


def _level_count(level: _Level) -> int:
    return sum(1 for order in level if order.qty)


class _Tape(Sequence[Fill]):
    """A read-only view of the book's fills as :class:`~flagship.markets.Fill` records, built on access."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[_Row]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Fill: ...
    @overload
    def __getitem__(self, index: slice) -> list[Fill]: ...
    def __getitem__(self, index: int | slice) -> Fill | list[Fill]:
        if isinstance(index, slice):
            return list(map(Fill, self._rows[index]))
        return Fill(self._rows[index])

    def __iter__(self) -> Iterator[Fill]:
        return map(Fill, self._rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Tape):
            return self._rows == other._rows
        return isinstance(other, Sequence) and not isinstance(other, str) and self._rows == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


class BookState:
    """The state of an :class:`~flagship.markets.OrderBook`, its level primitives and its views."""

    __slots__ = (
        "_accept_hi",
        "_accept_lo",
        "_ask_keys",
        "_ask_levels",
        "_band",
        "_bid_keys",
        "_bid_levels",
        "_dead",
        "_halted",
        "_hi",
        "_lo",
        "_orders",
        "_seq",
        "_stp",
        "_stp_log",
        "_tape",
        "_tick",
    )

    _accept_hi: int
    _accept_lo: int
    _ask_keys: list[int]
    _ask_levels: dict[int, _Level]
    _band: tuple[int, int] | None
    _bid_keys: list[int]
    _bid_levels: dict[int, _Level]
    _dead: int
    _halted: bool
    _hi: int
    _lo: int
    _orders: dict[object, _Order]  # looked up as dict keys are: 1, 1.0 and True name one order
    _seq: int
    _stp: int
    _stp_log: list[SelfTradeEvent]
    _tape: list[_Row]
    _tick: int

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

    # ------------------------------------------------------------------ views

    def best_bid(self) -> int | None:
        """Highest resting buy price, or None."""
        keys = self._bid_keys
        return keys[-1] if keys else None

    def best_ask(self) -> int | None:
        """Lowest resting sell price, or None."""
        keys = self._ask_keys
        return -keys[-1] if keys else None

    def depth(self, levels: int | object = 10) -> Depth:
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
            tuple((key, _level_qty(bids[key]), _level_count(bids[key])) for key in self._bid_keys[:stop:-1]),
            tuple((-key, _level_qty(asks[key]), _level_count(asks[key])) for key in self._ask_keys[:stop:-1]),
        )

    def order(self, order_id: OrderId | object) -> OrderView | None:
        """The live order with this id, or None if it is not live."""
        try:
            order = self._orders.get(order_id)
        except TypeError:
            return None
        return None if order is None else _view(order)

    def orders_of(self, owner: str | object) -> list[OrderView]:
        """The live orders of ``owner``, in the order they were first accepted (O(live orders))."""
        return [_view(order) for order in self._orders.values() if order.owner == owner]

    def __len__(self) -> int:
        """Number of live orders."""
        return len(self._orders)

    @property
    def tape(self) -> Sequence[Fill]:
        """Every fill so far, oldest first (read-only view; grows as the book trades)."""
        return _Tape(self._tape)

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
                            "id": order.oid,
                            "qty": order.qty,
                            "owner": order.owner,
                            "priority": order.priority,
                            "stp": _STP_NAMES[order.stp],
                            "post_only": order.post_only,
                        }
                        for order in levels[key]
                        if order.qty
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

    def _fillable(self, is_buy: bool, key_limit: int, qty: int, owner: str, stp: int) -> bool:
        """Would :meth:`_match` fill all of ``qty`` with trades?  Walks makers in matching order;
        an own order under STP is skipped by cancel_oldest and ends the walk otherwise."""
        keys, levels = (self._ask_keys, self._ask_levels) if is_buy else (self._bid_keys, self._bid_levels)
        stp_owner = owner if stp else ""
        for key in reversed(keys):
            if key < key_limit:
                return False
            for maker in levels[key]:
                if not maker.qty:  # cancelled, not yet swept out
                    continue
                if stp_owner and maker.owner == stp_owner:
                    if stp == _CANCEL_OLDEST:
                        continue
                    return False
                qty -= maker.qty
                if qty <= 0:
                    return True
        return False

    # ------------------------------------------------------------------ levels

    def _rest(self, order: _Order) -> None:
        """Add a new live order at the back of its priority class in its level."""
        if order.is_buy:
            keys, levels, key = self._bid_keys, self._bid_levels, order.price
        else:
            keys, levels, key = self._ask_keys, self._ask_levels, -order.price
        priority = order.priority
        level = levels.get(key)
        if level is None:
            levels[key] = deque((order,))
            insort(keys, key)
        elif level[-1].priority >= priority:
            level.append(order)
        else:
            _insert_ranked(level, order, priority)
        self._orders[order.oid] = order

    def _unlink(self, order: _Order) -> None:
        """Take a live order out of its level (the caller handles ``_orders``)."""
        if order.is_buy:
            keys, levels, key = self._bid_keys, self._bid_levels, order.price
        else:
            keys, levels, key = self._ask_keys, self._ask_levels, -order.price
        self._bury(order, levels[key], keys, levels, key)

    def _bury(
        self, order: _Order, level: _Level, keys: list[int], levels: dict[int, _Level], key: int
    ) -> None:
        """Cancel ``order`` in ``level`` in O(1) amortized: mark it dead (quantity 0); pop it at
        once if it is at either end of the level, else leave it for matching to sweep out.

        Invariant between requests: the first and the last order of every level are live, so a
        level is non-empty exactly when it holds a live order, and the best price is exact.
        Dead orders in the middle are counted in ``_dead``; when they outnumber the live orders
        (plus a constant) every level is rebuilt, so memory stays within twice the live book.
        """
        order.qty = 0
        if level[0] is order:
            level.popleft()
            while level and not level[0].qty:
                level.popleft()
        elif level[-1] is order:
            level.pop()
            while not level[-1].qty:  # the front is live, so this stops
                level.pop()
        else:
            self._dead += 1
            if self._dead > len(self._orders) + 1024:
                self._sweep()
            return
        if not level:
            self._drop_level(keys, levels, key)

    def _sweep(self) -> None:
        """Drop every dead order from every level (levels keep their live ends, so none empties)."""
        for levels in (self._bid_levels, self._ask_levels):
            for key, level in levels.items():
                levels[key] = deque([order for order in level if order.qty])
        self._dead = 0

    @staticmethod
    def _drop_level(keys: list[int], levels: dict[int, _Level], key: int) -> None:
        del levels[key]
        del keys[bisect_left(keys, key)]

    def _requeue(self, order: _Order, price: int, qty: int) -> None:
        """Replace a live order by a copy at ``price``/``qty`` at the back of its class."""
        moved = order.moved(price, qty)
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
        order.oid,
        "buy" if order.is_buy else "sell",
        order.price,
        order.qty,
        order.owner,
        order.priority,
    )
