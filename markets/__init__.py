"""Markets: a pure-Python continuous limit order book (phase 1: the matching engine).

>>> from markets import OrderBook
>>> book = OrderBook()
>>> book.limit("a1", "sell", 101, 5, owner="alice")
[]
>>> [(f.maker_id, f.price, f.qty) for f in book.limit("b1", "buy", 102, 3, owner="bob")]
[('a1', 101, 3)]
>>> book.best_bid(), book.best_ask()
(None, 101)

See :class:`OrderBook` for the matching rules and :class:`BookReason` for every rejection.
"""

from ._book import OrderBook
from ._reasons import BookReason, OrderRejected
from ._records import (
    MAX_PRICE,
    Depth,
    Fill,
    OrderId,
    OrderView,
    SelfTradeEvent,
    Side,
    STPMode,
    TimeInForce,
)

__all__ = [
    "MAX_PRICE",
    "BookReason",
    "Depth",
    "Fill",
    "OrderBook",
    "OrderId",
    "OrderRejected",
    "OrderView",
    "STPMode",
    "SelfTradeEvent",
    "Side",
    "TimeInForce",
]
