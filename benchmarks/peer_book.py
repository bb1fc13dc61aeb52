"""A straightforward order book in plain Python: the peer that bench_order_book.py measures against.

It is what an engineer would write in an afternoon: a ``SortedDict`` (sortedcontainers) of price
-> ``deque`` of orders per side, orders as slotted dataclasses, a dict from id to order, and
``deque.remove`` for cancels.  It supports the subset the benchmark stream uses, with the same
semantics as :class:`flagship.markets.OrderBook` there: GTC limit and market orders, cancels,
price-(priority-)time matching at the maker's price, and self-trade prevention
``cancel_newest`` (a taker that meets its own order before any fill is rejected; after some
fills its remainder is dropped; owner "" never self-trades).  It shares no code with the
engine, so tests/markets/test_market_book_peer.py can compare the fills of the two.

Fills are plain tuples ``(seq, maker_id, taker_id, price, qty, taker_side, maker_owner,
taker_owner)``, the layout of :class:`flagship.markets.Fill`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sortedcontainers import SortedDict

__all__ = ["PeerBook", "PeerRejectedError"]

PeerFill = tuple[int, int | str, int | str, int, int, str, str, str]


class PeerRejectedError(Exception):
    """A request the peer refused (a live id, or a self-trade before any fill); nothing changed."""


@dataclass(slots=True, eq=False)  # compared by identity: deque.remove would call a field-wise __eq__
class PeerOrder:
    oid: int | str
    is_buy: bool
    price: int
    qty: int
    owner: str
    priority: int


class PeerBook:
    """Price-(priority-)time book: per side a sorted dict of price levels, each a deque."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()  # price -> deque; best bid is the last key
        self.asks: SortedDict = SortedDict()  # price -> deque; best ask is the first key
        self.orders: dict[int | str, PeerOrder] = {}
        self.seq = 0
        self.tape: list[PeerFill] = []

    def __len__(self) -> int:
        return len(self.orders)

    def best_bid(self) -> int | None:
        return self.bids.peekitem(-1)[0] if self.bids else None

    def best_ask(self) -> int | None:
        return self.asks.peekitem(0)[0] if self.asks else None

    def limit(self, oid: int | str, side: str, price: int, qty: int, owner: str = "",
              priority: int = 0) -> list[PeerFill]:
        if oid in self.orders:
            raise PeerRejectedError(f"order {oid!r} is live")
        is_buy = side == "buy"
        fills: list[PeerFill] = []
        qty = self._match(oid, is_buy, price, qty, owner, fills)
        if qty:
            order = PeerOrder(oid, is_buy, price, qty, owner, priority)
            book = self.bids if is_buy else self.asks
            level = book.get(price)
            if level is None:
                book[price] = deque([order])
            elif level[-1].priority >= priority:
                level.append(order)
            else:  # after the last order of equal or higher priority
                position = len(level)
                while position and level[position - 1].priority < priority:
                    position -= 1
                level.insert(position, order)
            self.orders[oid] = order
        return fills

    def market(self, oid: int | str, side: str, qty: int, owner: str = "") -> list[PeerFill]:
        if oid in self.orders:
            raise PeerRejectedError(f"order {oid!r} is live")
        fills: list[PeerFill] = []
        self._match(oid, side == "buy", None, qty, owner, fills)
        return fills

    def cancel(self, oid: int | str) -> bool:
        order = self.orders.pop(oid, None)
        if order is None:
            return False
        book = self.bids if order.is_buy else self.asks
        level = book[order.price]
        level.remove(order)
        if not level:
            del book[order.price]
        return True

    def _match(self, taker: int | str, is_buy: bool, limit: int | None, qty: int, owner: str,
               fills: list[PeerFill]) -> int:
        """Trade against the other side up to ``limit`` (None: any price); return what is left."""
        book = self.asks if is_buy else self.bids
        side = "buy" if is_buy else "sell"
        while qty and book:
            price, level = book.peekitem(0) if is_buy else book.peekitem(-1)
            if limit is not None and (price > limit if is_buy else price < limit):
                break
            while qty and level:
                maker = level[0]
                if owner and maker.owner == owner:
                    if not fills:
                        raise PeerRejectedError(f"would meet own order {maker.oid!r} before trading")
                    return 0  # cancel_newest: the taker's remainder is dropped
                traded = min(qty, maker.qty)
                self.seq += 1
                fill = (self.seq, maker.oid, taker, price, traded, side, maker.owner, owner)
                fills.append(fill)
                self.tape.append(fill)
                qty -= traded
                maker.qty -= traded
                if not maker.qty:
                    level.popleft()
                    del self.orders[maker.oid]
            if not level:
                del book[price]
        return qty
