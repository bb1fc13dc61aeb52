"""The immutable records the order book hands out, and the vocabularies of its arguments."""

from __future__ import annotations

import importlib
from enum import StrEnum
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

__all__ = [
    "MAX_PRICE",
    "Depth",
    "Fill",
    "OrderId",
    "OrderView",
    "STPMode",
    "SelfTradeEvent",
    "Side",
    "TimeInForce",
]


try:  # CPython's C accessor for tuple items, the one collections.namedtuple uses
    _tuplegetter: Any = importlib.import_module("_collections")._tuplegetter
except (ImportError, AttributeError):  # other interpreters: a property does the same, slower
    _tuplegetter = None


def _field(index: int) -> Any:
    """A read-only attribute for item ``index`` of a tuple subclass, as namedtuple makes them."""
    if _tuplegetter is None:
        return property(itemgetter(index))
    return _tuplegetter(index, None)


OrderId: TypeAlias = int | str
"""Order ids are ints or strs chosen by the caller; unique among *live* orders only."""

MAX_PRICE = 2**63 - 1
"""Highest valid price: prices are signed 64-bit, so they export losslessly to numpy and SQL."""


class Side(StrEnum):
    """Order side; plain strings ``"buy"`` and ``"sell"`` are accepted everywhere."""

    BUY = "buy"
    SELL = "sell"


class TimeInForce(StrEnum):
    """How long a limit order's unfilled remainder lives.

    GTC rests until filled or cancelled; IOC trades what it can now and drops the rest;
    FOK trades its whole quantity now or is rejected (``FOK_UNFILLABLE``) untouched.
    """

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class STPMode(StrEnum):
    """Self-trade prevention: what happens when an incoming order (the taker) reaches a resting
    order (the maker) with the same non-empty owner.  The taker's mode decides.

    ``none``: they trade like strangers.  ``cancel_newest``: the taker's remainder is cancelled
    and matching stops (if it has not traded yet, the request is rejected with ``SELF_TRADE``
    instead, which leaves the book as it was).  ``cancel_oldest``: the maker is cancelled and
    the taker goes on matching.  ``cancel_both``: both are cancelled, matching stops.
    ``decrement``: both shrink by the smaller of their remaining quantities without a trade; the
    one that reaches zero is gone, and a taker with quantity left goes on matching.
    """

    NONE = "none"
    CANCEL_NEWEST = "cancel_newest"
    CANCEL_OLDEST = "cancel_oldest"
    CANCEL_BOTH = "cancel_both"
    DECREMENT = "decrement"


class Fill(tuple[int, OrderId, OrderId, int, int, str, str, str]):
    """One trade.  ``price`` is always the maker's (resting order's) price.

    ``seq`` numbers the book's fills 1, 2, 3, ... in the order they happened, so it is also the
    fill's position in :attr:`~flagship.markets.OrderBook.tape` plus one.  ``taker_side`` is ``"buy"``
    or ``"sell"``; the maker was on the other side.

    A fill is a tuple ``(seq, maker_id, taker_id, price, qty, taker_side, maker_owner,
    taker_owner)`` with those names as read-only attributes, like a named tuple.  It is not a
    :func:`~typing.NamedTuple` because building one of those costs 60% more, and the book builds
    one per trade: ``Fill(values)`` takes the eight values as one iterable, as ``tuple()`` does
    (use :meth:`of` to build one by field name).
    """

    __slots__ = ()
    _fields = (
        "seq",
        "maker_id",
        "taker_id",
        "price",
        "qty",
        "taker_side",
        "maker_owner",
        "taker_owner",
    )

    if TYPE_CHECKING:

        @property
        def seq(self) -> int: ...
        @property
        def maker_id(self) -> OrderId: ...
        @property
        def taker_id(self) -> OrderId: ...
        @property
        def price(self) -> int: ...
        @property
        def qty(self) -> int: ...
        @property
        def taker_side(self) -> str: ...
        @property
        def maker_owner(self) -> str: ...
        @property
        def taker_owner(self) -> str: ...

    else:
        seq = _field(0)
        maker_id = _field(1)
        taker_id = _field(2)
        price = _field(3)
        qty = _field(4)
        taker_side = _field(5)
        maker_owner = _field(6)
        taker_owner = _field(7)

    @classmethod
    def of(
        cls,
        *,
        seq: int,
        maker_id: OrderId,
        taker_id: OrderId,
        price: int,
        qty: int,
        taker_side: str,
        maker_owner: str = "",
        taker_owner: str = "",
    ) -> Fill:
        """A fill from its fields by name."""
        return cls((seq, maker_id, taker_id, price, qty, taker_side, maker_owner, taker_owner))

    def _asdict(self) -> dict[str, object]:
        """The fields as a dict (JSON-able when the ids are)."""
        return dict(zip(self._fields, self, strict=True))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True))
        return f"Fill({fields})"


class Depth(NamedTuple):
    """Level-2 view: per side, ``(price, total_qty, order_count)`` tuples, best price first."""

    bids: tuple[tuple[int, int, int], ...]
    asks: tuple[tuple[int, int, int], ...]


class OrderView(NamedTuple):
    """A copy of a live order's state; ``qty`` is what is still resting."""

    order_id: OrderId
    side: str
    price: int
    qty: int
    owner: str
    priority: int


class SelfTradeEvent(NamedTuple):
    """Self-trade prevention acted: how much of each side it cancelled (no trade printed).

    ``fill_seq`` is the ``seq`` of the last fill printed before it (0 if none), which places the
    event on the tape.
    """

    fill_seq: int
    mode: str
    taker_id: OrderId
    maker_id: OrderId
    taker_cancelled: int
    maker_cancelled: int
