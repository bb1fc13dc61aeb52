"""Cancels in the middle of a price level: O(1) lazy deletion must stay invisible.

A cancelled order that is not at either end of its level stays in the level's queue, marked dead,
until matching or a sweep removes it.  Every view and decision must ignore it: depth counts,
snapshots, fill-or-kill checks, matching, price-band cancellations; and the dead entries must
not pile up (memory stays within about twice the live book).  A book that counted dead entries
would, for example, report ``order_count`` 3 instead of 2 in the first test.
"""

from __future__ import annotations

import pytest

from flagship.markets import OrderBook, OrderRejected

# Every test here runs on both engines, compiled and pure (tests/markets/conftest.py).
pytestmark = pytest.mark.usefixtures("book_engine")


def _level_of_three() -> OrderBook:
    book = OrderBook()
    for oid, owner in ((1, "a"), (2, "b"), (3, "c")):
        book.limit(oid, "sell", 100, 10, owner)
    assert book.cancel(2)  # the middle one: left in the queue, dead
    return book


def test_views_ignore_a_cancelled_middle_order() -> None:
    book = _level_of_three()
    assert book.depth().asks == ((100, 20, 2),)
    assert [order["id"] for order in book.snapshot()["asks"][0]["orders"]] == [1, 3]
    assert book.order(2) is None and len(book) == 2
    assert not book.cancel(2)


def test_matching_skips_it_and_the_level_empties() -> None:
    book = _level_of_three()
    fills = book.market(9, "buy", 25, "z")
    assert [(fill.maker_id, fill.qty) for fill in fills] == [(1, 10), (3, 10)]
    assert book.best_ask() is None and book.depth().asks == ()


def test_a_partial_fill_leaves_a_live_front() -> None:
    book = OrderBook()
    for oid in range(1, 6):
        book.limit(oid, "sell", 100, 10, f"o{oid}")
    book.cancel(2)
    book.cancel(4)
    book.market(9, "buy", 10, "z")  # fills 1 exactly; the dead 2 must not be the new front
    assert book.snapshot()["asks"][0]["orders"][0]["id"] == 3
    assert book.depth().asks == ((100, 20, 2),)


def test_fill_or_kill_and_self_trade_ignore_dead_orders() -> None:
    book = OrderBook()
    book.limit(1, "sell", 100, 5, "a")
    book.limit(2, "sell", 100, 5, "me")  # own order, cancelled: must not block or count
    book.limit(3, "sell", 100, 5, "c")
    book.cancel(2)
    with pytest.raises(OrderRejected):
        book.limit(9, "buy", 100, 11, "me", tif="FOK")  # only 10 live
    fills = book.limit(10, "buy", 100, 10, "me", tif="FOK")
    assert [fill.maker_id for fill in fills] == [1, 3]


def test_a_price_band_cancels_only_live_orders() -> None:
    book = _level_of_three()
    assert book.set_price_band((1, 99)) == [1, 3]
    assert len(book) == 0 and book.best_ask() is None


def test_modify_requeue_leaves_no_trace() -> None:
    book = _level_of_three()
    book.limit(4, "sell", 100, 10, "d")
    book.modify(3, qty=20)  # raised: to the back, its old place dead
    assert [order["id"] for order in book.snapshot()["asks"][0]["orders"]] == [1, 4, 3]
    book.modify(4, price=101)
    assert book.depth().asks == ((100, 30, 2), (101, 10, 1))


def test_dead_orders_do_not_pile_up() -> None:
    book = OrderBook()
    book.limit("first", "buy", 50, 1, "x")
    for oid in range(20_000):
        book.limit(oid, "buy", 50, 1, "x")
    book.limit("last", "buy", 50, 1, "x")
    for oid in range(20_000):  # every one in the middle of the level
        assert book.cancel(oid)
    # Live: "first" and "last"; a sweep runs once dead entries outnumber live ones + 1024
    # (without it the queue would still hold all 20,002 entries).
    assert len(book._bid_levels[50]) <= 2 + 1024 + 1
    assert book.depth().bids == ((50, 2, 2),)
    fills = book.market("taker", "sell", 2, "y")
    assert [fill.maker_id for fill in fills] == ["first", "last"]
