"""Unit tests of markets.OrderBook, and differential tests against the reference matcher."""

from __future__ import annotations

import json
import math
import pickle
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.markets import (
    MAX_PRICE,
    BookReason,
    Depth,
    Fill,
    OrderBook,
    OrderRejected,
    OrderView,
    SelfTradeEvent,
    STPMode,
    TimeInForce,
)
from flagship.mechanisms._errors import FlagshipError, InputError
from tests.markets.reference_book import ReferenceBook

# Every test here runs on both engines, compiled and pure (tests/markets/conftest.py).
pytestmark = pytest.mark.usefixtures("book_engine")


def state(book: OrderBook) -> tuple[Any, ...]:
    """Everything observable about a book, for before/after comparisons."""
    return (book.snapshot(), list(book.tape), list(book.stp_log), book.depth(None))


def assert_rejected(
    book: OrderBook, reason: BookReason, call: Callable[..., object], *args: Any, **kwargs: Any
) -> OrderRejected:
    before = state(book)
    with pytest.raises(OrderRejected) as caught:
        call(*args, **kwargs)
    assert caught.value.reason is reason, caught.value
    assert state(book) == before, "a rejected request changed the book"
    return caught.value


def ids(fills: list[Fill]) -> list[tuple[Any, Any, int, int]]:
    return [(f.maker_id, f.taker_id, f.price, f.qty) for f in fills]


def level_ids(book: OrderBook, side: str, price: int) -> list[Any]:
    for level in book.snapshot()["bids" if side == "buy" else "asks"]:
        if level["price"] == price:
            return [order["id"] for order in level["orders"]]
    return []


# ---------------------------------------------------------------- matching basics


def test_empty_book() -> None:
    book = OrderBook()
    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.depth() == Depth((), ())
    assert len(book) == 0
    assert book.tape == []


def test_resting_orders_set_best_prices() -> None:
    book = OrderBook()
    assert book.limit(1, "buy", 99, 5) == []
    assert book.limit(2, "buy", 100, 5) == []
    assert book.limit(3, "sell", 102, 5) == []
    assert book.limit(4, "sell", 101, 5) == []
    assert (book.best_bid(), book.best_ask()) == (100, 101)


def test_price_priority_then_time_priority_at_maker_prices() -> None:
    book = OrderBook()
    book.limit("a", "sell", 102, 5)
    book.limit("b", "sell", 101, 5)
    book.limit("c", "sell", 101, 5)
    book.limit("d", "sell", 103, 5)
    fills = book.limit("t", "buy", 102, 12)
    assert ids(fills) == [("b", "t", 101, 5), ("c", "t", 101, 5), ("a", "t", 102, 2)]
    assert book.order("a") == OrderView("a", "sell", 102, 3, "", 0)
    assert (book.best_bid(), book.best_ask()) == (None, 102)


def test_limit_does_not_trade_beyond_its_price_and_rests_remainder() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 4)
    book.limit(2, "buy", 98, 4)
    fills = book.limit(3, "sell", 99, 10)
    assert ids(fills) == [(1, 3, 100, 4)]
    assert book.order(3) == OrderView(3, "sell", 99, 6, "", 0)
    assert (book.best_bid(), book.best_ask()) == (98, 99)


def test_sell_taker_gets_the_bid_price_improvement() -> None:
    book = OrderBook()
    book.limit(1, "buy", 105, 2)
    assert ids(book.limit(2, "sell", 100, 2)) == [(1, 2, 105, 2)]


def test_fill_fields_sequence_and_tape() -> None:
    book = OrderBook()
    book.limit(1, "sell", 10, 3, owner="alice")
    book.limit(2, "sell", 11, 3, owner="bob")
    first = book.limit(3, "buy", 11, 4, owner="carol")
    second = book.market(4, "sell", 1, owner="dave")  # nothing to hit: bid side is empty
    book.limit(5, "buy", 9, 1, owner="erin")
    third = book.market(6, "sell", 1, owner="dave")
    assert second == []
    assert first == [
        Fill((1, 1, 3, 10, 3, "buy", "alice", "carol")),
        Fill((2, 2, 3, 11, 1, "buy", "bob", "carol")),
    ]
    assert third == [
        Fill.of(
            seq=3,
            maker_id=5,
            taker_id=6,
            price=9,
            qty=1,
            taker_side="sell",
            maker_owner="erin",
            taker_owner="dave",
        )
    ]
    assert list(book.tape) == first + third
    assert [f.seq for f in book.tape] == [1, 2, 3]


def test_fill_record_behaves_like_a_named_tuple() -> None:
    fill = Fill.of(seq=7, maker_id="m", taker_id=3, price=100, qty=2, taker_side="sell")
    assert (fill.seq, fill.maker_id, fill.taker_id, fill.price, fill.qty) == (7, "m", 3, 100, 2)
    assert fill._asdict()["taker_side"] == "sell"
    assert repr(fill).startswith("Fill(seq=7, maker_id='m'")
    assert type(pickle.loads(pickle.dumps(fill))) is Fill
    with pytest.raises(AttributeError):
        fill.price = 5  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(fill)) == fill
    assert fill == (7, "m", 3, 100, 2, "sell", "", "")


def test_market_sweeps_levels_and_never_rests() -> None:
    book = OrderBook()
    book.limit(1, "sell", 100, 2)
    book.limit(2, "sell", 101, 2)
    fills = book.market(3, "buy", 10)
    assert ids(fills) == [(1, 3, 100, 2), (2, 3, 101, 2)]
    assert book.order(3) is None
    assert (book.best_bid(), book.best_ask()) == (None, None)
    assert book.market(4, "sell", 5) == []
    assert len(book) == 0


def test_market_order_id_may_not_be_a_live_id() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 2)
    assert_rejected(book, BookReason.DUPLICATE_ID, book.market, 1, "sell", 1)


def test_ids_are_reusable_once_dead() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 2)
    book.market(9, "sell", 2)
    book.limit(1, "buy", 99, 2)
    assert book.cancel(1)
    book.limit(1, "sell", 120, 1)
    assert book.order(1) == OrderView(1, "sell", 120, 1, "", 0)


# ---------------------------------------------------------------- cancel


def test_cancel_return_values() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 2)
    book.limit(2, "sell", 101, 2)
    assert book.cancel(1) is True
    assert book.cancel(1) is False  # already cancelled
    assert book.cancel(99) is False  # never seen
    book.limit(3, "buy", 101, 2)  # fills order 2 completely
    assert book.cancel(2) is False  # filled
    assert book.cancel([1, 2]) is False  # type: ignore[arg-type]  # unhashable: not an id
    assert len(book) == 0
    assert book.depth() == Depth((), ())


def test_cancel_from_middle_keeps_the_others_in_order_and_drops_empty_levels() -> None:
    book = OrderBook()
    for oid in range(5):
        book.limit(oid, "sell", 100, 1)
    book.limit(9, "sell", 101, 1)
    assert book.cancel(2)
    assert level_ids(book, "sell", 100) == [0, 1, 3, 4]
    assert book.cancel(9)
    assert book.depth().asks == ((100, 4, 4),)
    assert ids(book.market(10, "buy", 4)) == [
        (0, 10, 100, 1),
        (1, 10, 100, 1),
        (3, 10, 100, 1),
        (4, 10, 100, 1),
    ]


def test_cancel_is_accepted_while_halted() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 2)
    book.halt()
    assert book.cancel(1)
    assert book.best_bid() is None


# ---------------------------------------------------------------- modify


def test_modify_quantity_down_keeps_time_priority() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 5)
    book.limit(2, "buy", 100, 5)
    assert book.modify(1, qty=2) == []
    assert level_ids(book, "buy", 100) == [1, 2]
    assert book.depth().bids == ((100, 7, 2),)
    assert ids(book.market(3, "sell", 3)) == [(1, 3, 100, 2), (2, 3, 100, 1)]


def test_modify_quantity_up_loses_time_priority() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 5)
    book.limit(2, "buy", 100, 5)
    assert book.modify(1, qty=6) == []
    assert level_ids(book, "buy", 100) == [2, 1]
    assert book.order(1) == OrderView(1, "buy", 100, 6, "", 0)


def test_modify_price_loses_priority_and_moves_level() -> None:
    book = OrderBook()
    book.limit(1, "sell", 105, 5, owner="x")
    book.limit(2, "sell", 104, 5)
    assert book.modify(1, price=104) == []
    assert level_ids(book, "sell", 104) == [2, 1]
    assert book.depth().asks == ((104, 10, 2),)
    assert book.order(1) == OrderView(1, "sell", 104, 5, "x", 0)


def test_modify_to_a_crossing_price_trades_then_rests() -> None:
    book = OrderBook()
    book.limit(1, "sell", 101, 3)
    book.limit(2, "sell", 102, 3)
    book.limit(3, "buy", 99, 10)
    fills = book.modify(3, price=101)
    assert ids(fills) == [(1, 3, 101, 3)]
    assert book.order(3) == OrderView(3, "buy", 101, 7, "", 0)
    assert (book.best_bid(), book.best_ask()) == (101, 102)
    assert list(book.tape) == fills


def test_modify_price_and_quantity_together_may_fill_completely() -> None:
    book = OrderBook()
    book.limit(1, "sell", 101, 3)
    book.limit(2, "buy", 99, 10)
    assert ids(book.modify(2, qty=2, price=103)) == [(1, 2, 101, 2)]
    assert book.order(2) is None
    assert book.order(1) == OrderView(1, "sell", 101, 1, "", 0)


def test_modify_that_changes_nothing_is_a_no_op() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 5)
    book.limit(2, "buy", 100, 5)
    before = state(book)
    assert book.modify(1) == []
    assert book.modify(1, qty=5, price=100) == []
    assert state(book) == before


def test_modify_keeps_priority_owner_and_stp() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 5, owner="a", priority=3, stp="decrement")
    book.modify(1, price=101, qty=6)
    snap = book.snapshot()["bids"][0]["orders"][0]
    assert snap == {"id": 1, "qty": 6, "owner": "a", "priority": 3, "stp": "decrement", "post_only": False}


def test_modify_rejections_change_nothing() -> None:
    book = OrderBook(tick_size=5, price_band=(50, 150))
    book.limit(1, "buy", 100, 5, post_only=True)
    book.limit(2, "sell", 110, 5)
    assert_rejected(book, BookReason.UNKNOWN_ORDER, book.modify, 3, qty=1)
    assert_rejected(book, BookReason.UNKNOWN_ORDER, book.modify, [1], qty=1)
    assert_rejected(book, BookReason.INVALID_QTY, book.modify, 1, qty=0)
    assert_rejected(book, BookReason.INVALID_QTY, book.modify, 1, qty=2.0)
    assert_rejected(book, BookReason.INVALID_PRICE, book.modify, 1, price=100.0)
    assert_rejected(book, BookReason.OFF_TICK, book.modify, 1, price=101)
    assert_rejected(book, BookReason.PRICE_BAND, book.modify, 1, price=155)
    assert_rejected(book, BookReason.POST_ONLY_WOULD_CROSS, book.modify, 1, price=110)
    book.halt()
    assert_rejected(book, BookReason.HALTED, book.modify, 1, qty=1)


def test_modify_self_trade_rejection_leaves_the_order_in_place() -> None:
    book = OrderBook()
    book.limit(1, "sell", 101, 5, owner="a")
    book.limit(2, "buy", 99, 5, owner="a")
    book.limit(3, "buy", 99, 5, owner="b")
    assert_rejected(book, BookReason.SELF_TRADE, book.modify, 2, price=101)
    assert level_ids(book, "buy", 99) == [2, 3]


# ---------------------------------------------------------------- time in force, post-only


def test_ioc_trades_what_it_can_and_drops_the_rest() -> None:
    book = OrderBook()
    book.limit(1, "sell", 100, 3)
    assert ids(book.limit(2, "buy", 100, 5, tif="IOC")) == [(1, 2, 100, 3)]
    assert book.order(2) is None
    assert book.limit(3, "buy", 100, 5, tif="IOC") == []
    assert len(book) == 0


def test_fok_fills_completely_or_is_rejected_untouched() -> None:
    book = OrderBook()
    book.limit(1, "sell", 100, 3)
    book.limit(2, "sell", 101, 3)
    book.limit(3, "sell", 102, 3)
    assert_rejected(book, BookReason.FOK_UNFILLABLE, book.limit, 4, "buy", 101, 7, tif="FOK")
    fills = book.limit(5, "buy", 101, 6, tif="FOK")
    assert ids(fills) == [(1, 5, 100, 3), (2, 5, 101, 3)]
    assert book.order(5) is None
    assert_rejected(book, BookReason.FOK_UNFILLABLE, book.limit, 6, "buy", 200, 4, tif="FOK")
    assert ids(book.limit(7, "buy", 200, 3, tif=TimeInForce.FOK)) == [(3, 7, 102, 3)]


def test_fok_does_not_count_own_orders_it_would_not_trade_with() -> None:
    book = OrderBook()
    book.limit(1, "sell", 100, 5, owner="a")
    book.limit(2, "sell", 100, 5, owner="b")
    assert_rejected(
        book,
        BookReason.FOK_UNFILLABLE,
        book.limit,
        3,
        "buy",
        100,
        6,
        owner="a",
        tif="FOK",
        stp="cancel_oldest",
    )
    assert_rejected(
        book, BookReason.FOK_UNFILLABLE, book.limit, 3, "buy", 100, 5, owner="a", tif="FOK", stp="decrement"
    )
    fills = book.limit(3, "buy", 100, 5, owner="a", tif="FOK", stp="cancel_oldest")
    assert ids(fills) == [(2, 3, 100, 5)]
    assert book.order(1) is None  # cancelled by STP on the way


def test_post_only_rests_or_is_rejected() -> None:
    book = OrderBook()
    book.limit(1, "sell", 101, 3)
    assert book.limit(2, "buy", 100, 3, post_only=True) == []
    assert_rejected(book, BookReason.POST_ONLY_WOULD_CROSS, book.limit, 3, "buy", 101, 1, post_only=True)
    assert_rejected(book, BookReason.POST_ONLY_WOULD_CROSS, book.limit, 3, "sell", 100, 1, post_only=True)
    assert_rejected(book, BookReason.INVALID_TIF, book.limit, 3, "buy", 90, 1, post_only=True, tif="IOC")
    assert book.snapshot()["bids"][0]["orders"][0]["post_only"] is True


# ---------------------------------------------------------------- self-trade prevention


def stp_book(mode: str = "cancel_newest") -> OrderBook:
    book = OrderBook(stp=mode)
    book.limit("x1", "sell", 100, 2, owner="x")
    book.limit("a1", "sell", 100, 3, owner="a")
    book.limit("x2", "sell", 101, 4, owner="x")
    return book


def test_stp_cancel_newest_rejects_when_nothing_traded() -> None:
    book = stp_book()
    book.cancel("x1")
    book.limit("a0", "sell", 99, 1, owner="a")
    assert_rejected(book, BookReason.SELF_TRADE, book.limit, "t", "buy", 101, 5, owner="a")
    assert_rejected(book, BookReason.SELF_TRADE, book.market, "t", "buy", 5, owner="a")


def test_stp_cancel_newest_after_fills_cancels_the_taker_remainder() -> None:
    book = stp_book()
    fills = book.limit("t", "buy", 101, 9, owner="a")
    assert ids(fills) == [("x1", "t", 100, 2)]
    assert book.order("t") is None
    assert book.order("a1") == OrderView("a1", "sell", 100, 3, "a", 0)
    assert list(book.stp_log) == [SelfTradeEvent(1, "cancel_newest", "t", "a1", 7, 0)]


def test_stp_cancel_oldest_cancels_makers_and_goes_on() -> None:
    book = stp_book("cancel_oldest")
    fills = book.limit("t", "buy", 101, 9, owner="x")
    assert ids(fills) == [("a1", "t", 100, 3)]
    assert book.order("x1") is None and book.order("x2") is None
    assert book.order("t") == OrderView("t", "buy", 101, 6, "x", 0)
    assert list(book.stp_log) == [
        SelfTradeEvent(0, "cancel_oldest", "t", "x1", 0, 2),
        SelfTradeEvent(1, "cancel_oldest", "t", "x2", 0, 4),
    ]


def test_stp_cancel_both() -> None:
    book = stp_book("cancel_both")
    fills = book.limit("t", "buy", 101, 9, owner="a")
    assert ids(fills) == [("x1", "t", 100, 2)]
    assert book.order("a1") is None and book.order("t") is None
    assert book.order("x2") is not None
    assert list(book.stp_log) == [SelfTradeEvent(1, "cancel_both", "t", "a1", 7, 3)]


def test_stp_cancel_both_before_any_fill_is_not_a_rejection() -> None:
    book = OrderBook(stp="cancel_both")
    book.limit(1, "sell", 100, 5, owner="a")
    assert book.limit(2, "buy", 100, 2, owner="a") == []
    assert len(book) == 0


def test_stp_decrement_shrinks_both_without_a_trade() -> None:
    book = stp_book("decrement")
    fills = book.limit("t", "buy", 101, 4, owner="x")
    # x1 (2) is decremented away, t is left with 2, a1 then trades 2 of its 3.
    assert ids(fills) == [("a1", "t", 100, 2)]
    assert book.order("x1") is None
    assert book.order("a1") == OrderView("a1", "sell", 100, 1, "a", 0)
    assert list(book.stp_log) == [SelfTradeEvent(0, "decrement", "t", "x1", 2, 2)]
    fills = book.limit("u", "buy", 101, 2, owner="x")
    assert ids(fills) == [("a1", "u", 100, 1)]
    assert book.order("x2") == OrderView("x2", "sell", 101, 3, "x", 0)
    assert book.order("u") is None
    assert all(f.maker_owner != f.taker_owner for f in book.tape)


def test_stp_none_allows_self_trades_and_empty_owner_never_matches() -> None:
    book = OrderBook(stp="none")
    book.limit(1, "sell", 100, 1, owner="a")
    assert ids(book.limit(2, "buy", 100, 1, owner="a")) == [(1, 2, 100, 1)]
    book = OrderBook()
    book.limit(1, "sell", 100, 1)
    assert ids(book.limit(2, "buy", 100, 1)) == [(1, 2, 100, 1)]


def test_stp_per_order_override() -> None:
    book = OrderBook(stp="none")
    book.limit(1, "sell", 100, 1, owner="a")
    assert_rejected(
        book, BookReason.SELF_TRADE, book.limit, 2, "buy", 100, 1, owner="a", stp=STPMode.CANCEL_NEWEST
    )
    assert ids(book.market(3, "buy", 1, owner="a", stp="none")) == [(1, 3, 100, 1)]


# ---------------------------------------------------------------- bands and halts


def test_price_band_rejects_limits_outside_and_bounds_market_orders() -> None:
    book = OrderBook(price_band=(90, 110))
    assert book.price_band == (90, 110)
    assert_rejected(book, BookReason.PRICE_BAND, book.limit, 1, "buy", 89, 1)
    assert_rejected(book, BookReason.PRICE_BAND, book.limit, 1, "sell", 111, 1)
    book.limit(1, "sell", 105, 1)
    book.limit(2, "sell", 110, 1)
    assert ids(book.market(3, "buy", 5)) == [(1, 3, 105, 1), (2, 3, 110, 1)]


def test_set_price_band_cancels_resting_orders_outside_it() -> None:
    book = OrderBook()
    book.limit("b1", "buy", 95, 1)
    book.limit("b2", "buy", 80, 1)
    book.limit("b3", "buy", 70, 1)
    book.limit("s1", "sell", 105, 1)
    book.limit("s2", "sell", 130, 1)
    assert book.set_price_band((90, 120)) == ["b2", "b3", "s2"]
    assert book.depth() == Depth(((95, 1, 1),), ((105, 1, 1),))
    assert book.set_price_band(None) == []
    assert book.price_band is None
    book.limit("s3", "sell", 500, 1)  # no band any more


@pytest.mark.parametrize("band", [(0, 10), (10, 5), (1.0, 5), (True, 5), (5,), "ab", (5, 12), (2**63, 2**63)])
def test_invalid_price_bands_raise_input_error_and_change_nothing(band: Any) -> None:
    book = OrderBook(tick_size=5, price_band=(5, 100))
    book.limit(1, "buy", 50, 1)
    before = state(book)
    with pytest.raises(InputError):
        book.set_price_band(band)
    assert state(book) == before
    assert book.price_band == (5, 100)


def test_halt_rejects_orders_and_modifies_until_resumed() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 2)
    book.halt()
    assert book.halted
    assert_rejected(book, BookReason.HALTED, book.limit, 2, "sell", 100, 1)
    assert_rejected(book, BookReason.HALTED, book.limit, 2, "sell", 100, 1, tif="IOC")
    assert_rejected(book, BookReason.HALTED, book.market, 2, "sell", 1)
    assert_rejected(book, BookReason.HALTED, book.modify, 1, qty=1)
    book.set_price_band((50, 150))  # allowed while halted, and does not end the halt
    assert_rejected(book, BookReason.HALTED, book.limit, 2, "sell", 100, 1)
    book.resume()
    assert not book.halted
    assert_rejected(book, BookReason.PRICE_BAND, book.limit, 2, "sell", 151, 1)
    assert ids(book.limit(2, "sell", 100, 1)) == [(1, 2, 100, 1)]


# ---------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"order_id": 1.5}, BookReason.INVALID_ID),
        ({"order_id": None}, BookReason.INVALID_ID),
        ({"order_id": True}, BookReason.INVALID_ID),
        ({"order_id": (1, 2)}, BookReason.INVALID_ID),
        ({"side": "BUY"}, BookReason.INVALID_SIDE),
        ({"side": None}, BookReason.INVALID_SIDE),
        ({"price": 100.0}, BookReason.INVALID_PRICE),
        ({"price": 5.0}, BookReason.INVALID_PRICE),
        ({"price": math.nan}, BookReason.INVALID_PRICE),
        ({"price": math.inf}, BookReason.INVALID_PRICE),
        ({"price": True}, BookReason.INVALID_PRICE),
        ({"price": "100"}, BookReason.INVALID_PRICE),
        ({"price": 0}, BookReason.INVALID_PRICE),
        ({"price": -5}, BookReason.INVALID_PRICE),
        ({"price": MAX_PRICE + 1}, BookReason.INVALID_PRICE),
        ({"price": 102}, BookReason.OFF_TICK),
        ({"qty": 0}, BookReason.INVALID_QTY),
        ({"qty": -3}, BookReason.INVALID_QTY),
        ({"qty": 2.0}, BookReason.INVALID_QTY),
        ({"qty": math.nan}, BookReason.INVALID_QTY),
        ({"qty": True}, BookReason.INVALID_QTY),
        ({"owner": 7}, BookReason.INVALID_OWNER),
        ({"owner": None}, BookReason.INVALID_OWNER),
        ({"tif": "DAY"}, BookReason.INVALID_TIF),
        ({"tif": None}, BookReason.INVALID_TIF),
        ({"post_only": 1}, BookReason.INVALID_TIF),
        ({"stp": "cancel"}, BookReason.INVALID_STP),
        ({"stp": 1}, BookReason.INVALID_STP),
        ({"priority": 1.0}, BookReason.INVALID_PRIORITY),
        ({"priority": False}, BookReason.INVALID_PRIORITY),
        ({"priority": None}, BookReason.INVALID_PRIORITY),
        ({"order_id": "live"}, BookReason.DUPLICATE_ID),
        ({"price": 200}, BookReason.PRICE_BAND),
        ({"price": 120}, BookReason.POST_ONLY_WOULD_CROSS),  # with post_only below
    ],
)
def test_limit_rejections_change_nothing(kwargs: dict[str, Any], reason: BookReason) -> None:
    book = OrderBook(tick_size=5, price_band=(50, 150))
    book.limit("live", "buy", 100, 5)
    book.limit("ask", "sell", 120, 5)
    call: dict[str, Any] = {"order_id": "new", "side": "buy", "price": 105, "qty": 3}
    if reason is BookReason.POST_ONLY_WOULD_CROSS:
        call["post_only"] = True
    call.update(kwargs)
    error = assert_rejected(book, reason, book.limit, **call)
    assert isinstance(error, FlagshipError)
    assert str(error).startswith(reason.value)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"order_id": 2.5}, BookReason.INVALID_ID),
        ({"side": "short"}, BookReason.INVALID_SIDE),
        ({"qty": 0}, BookReason.INVALID_QTY),
        ({"qty": 1.0}, BookReason.INVALID_QTY),
        ({"qty": False}, BookReason.INVALID_QTY),
        ({"owner": b"a"}, BookReason.INVALID_OWNER),
        ({"stp": "nope"}, BookReason.INVALID_STP),
        ({"order_id": "live"}, BookReason.DUPLICATE_ID),
    ],
)
def test_market_rejections_change_nothing(kwargs: dict[str, Any], reason: BookReason) -> None:
    book = OrderBook()
    book.limit("live", "buy", 100, 5)
    book.limit("ask", "sell", 120, 5)
    call: dict[str, Any] = {"order_id": "new", "side": "buy", "qty": 3}
    call.update(kwargs)
    assert_rejected(book, reason, book.market, **call)


def test_first_applicable_reason_wins() -> None:
    book = OrderBook(tick_size=5)
    book.limit(1, "buy", 100, 1)
    book.halt()
    # Malformed arguments are reported before the book's state (duplicate id, halt).
    assert_rejected(book, BookReason.INVALID_PRICE, book.limit, 1, "buy", 1.0, 1)
    assert_rejected(book, BookReason.OFF_TICK, book.limit, 1, "buy", 101, 0)
    assert_rejected(book, BookReason.INVALID_QTY, book.limit, 1, "buy", 100, 0)
    assert_rejected(book, BookReason.DUPLICATE_ID, book.limit, 1, "buy", 100, 1)
    assert_rejected(book, BookReason.HALTED, book.limit, 2, "buy", 100, 1)


def test_reason_set_is_closed_and_documented() -> None:
    assert {reason.value for reason in BookReason} == {
        "invalid_id",
        "invalid_side",
        "invalid_price",
        "off_tick",
        "invalid_qty",
        "invalid_owner",
        "invalid_tif",
        "invalid_stp",
        "invalid_priority",
        "duplicate_id",
        "unknown_order",
        "halted",
        "price_band",
        "post_only_would_cross",
        "fok_unfillable",
        "self_trade",
    }
    assert all(reason.__doc__ for reason in BookReason)


@pytest.mark.parametrize(
    "kwargs",
    [{"tick_size": 0}, {"tick_size": 2.0}, {"tick_size": True}, {"stp": "sometimes"}, {"price_band": (3, 1)}],
)
def test_invalid_configuration_raises_input_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        OrderBook(**kwargs)


# ---------------------------------------------------------------- accepted variants


def test_numpy_integers_are_accepted_and_normalised() -> None:
    book = OrderBook()
    book.limit(np.int64(1), "sell", np.int64(100), np.int32(5))  # type: ignore[arg-type]
    fills = book.limit(2, "buy", 100, np.int64(2), priority=np.int64(0))  # type: ignore[arg-type]
    assert type(fills[0].maker_id) is int
    assert type(fills[0].price) is int
    assert json.dumps(book.snapshot())
    assert book.order(1) == OrderView(1, "sell", 100, 3, "", 0)


def test_enum_and_equal_strings_take_the_checked_path_with_the_same_result() -> None:
    plain, checked = OrderBook(), OrderBook()
    gtc = "".join(["G", "T", "C"])  # equal to "GTC" but not the interned object
    runs: list[tuple[OrderBook, dict[str, Any]]] = [
        (plain, {}),
        (checked, {"tif": gtc, "stp": None, "priority": 0}),
    ]
    for book, extra in runs:
        book.limit(1, "sell", 100, 5, "a", **extra)
        book.limit(2, "sell", 101, 5, "b", **extra)
        book.limit(3, "buy", 101, 7, "c", **extra)
    checked.limit(4, "sell", 102, 1, owner="d", tif=TimeInForce.GTC)
    plain.limit(4, "sell", 102, 1, owner="d")
    assert state(plain) == state(checked)


def test_str_subclass_ids_and_owners_are_stored_as_plain_str() -> None:
    book = OrderBook()
    book.limit(STPMode.DECREMENT, "buy", 100, 1, owner=STPMode.NONE)
    (order,) = book.orders_of("none")
    assert type(order.order_id) is str and type(order.owner) is str


# ---------------------------------------------------------------- value priority


@pytest.mark.parametrize(
    ("side", "taker", "price", "better"), [("sell", "buy", 100, 99), ("buy", "sell", 100, 101)]
)
def test_priority_orders_within_a_level_then_time(side: str, taker: str, price: int, better: int) -> None:
    book = OrderBook()
    book.limit("p0a", side, price, 1)
    book.limit("p2", side, price, 1, priority=2)
    book.limit("p0b", side, price, 1)
    book.limit("p5", side, price, 1, priority=5)
    book.limit("p2b", side, price, 1, priority=2)
    book.limit("neg", side, price, 1, priority=-1)
    book.limit("p0c", side, price, 1)  # plain request, still ahead of the negative priority
    book.limit("better", side, better, 1, priority=-9)  # price still comes first
    order = ["better", "p5", "p2", "p2b", "p0a", "p0b", "p0c", "neg"]
    assert level_ids(book, side, price) == order[1:]
    assert [f.maker_id for f in book.market("t", taker, 8)] == order


def test_modify_quantity_up_goes_to_the_back_of_its_priority_class() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 1, priority=1)
    book.limit(2, "buy", 100, 1, priority=1)
    book.limit(3, "buy", 100, 1)
    book.modify(1, qty=2)
    assert level_ids(book, "buy", 100) == [2, 1, 3]
    book.modify(2, qty=1, price=100)
    assert level_ids(book, "buy", 100) == [2, 1, 3]


# ---------------------------------------------------------------- views


def test_depth_levels_and_limits() -> None:
    book = OrderBook()
    for i, price in enumerate([100, 100, 99, 98, 97]):
        book.limit(f"b{i}", "buy", price, i + 1)
    for i, price in enumerate([101, 103, 103]):
        book.limit(f"s{i}", "sell", price, 2)
    assert book.depth(2) == Depth(((100, 3, 2), (99, 3, 1)), ((101, 2, 1), (103, 4, 2)))
    assert book.depth(None).bids == ((100, 3, 2), (99, 3, 1), (98, 4, 1), (97, 5, 1))
    assert book.depth(1).asks == ((101, 2, 1),)
    for bad in (0, -1, 1.5, "3"):
        with pytest.raises(InputError):
            book.depth(bad)  # type: ignore[arg-type]


def test_order_views_and_orders_of() -> None:
    book = OrderBook()
    book.limit(1, "buy", 100, 2, owner="a", priority=4)
    book.limit(2, "sell", 110, 3, owner="b")
    book.limit(3, "sell", 111, 3, owner="a")
    assert book.order(1) == OrderView(1, "buy", 100, 2, "a", 4)
    assert book.order(4) is None
    assert book.order([1]) is None  # type: ignore[arg-type]
    assert [view.order_id for view in book.orders_of("a")] == [1, 3]
    assert book.orders_of("nobody") == []
    assert "orders=3" in repr(book)


def test_snapshot_is_json_and_canonical() -> None:
    a, b = OrderBook(), OrderBook()
    a.limit(1, "buy", 100, 2, owner="x")
    a.limit(2, "buy", 100, 2, owner="y")
    a.limit(3, "buy", 100, 2, owner="z")
    a.cancel(2)
    b.limit(1, "buy", 100, 2, owner="x")
    b.limit(3, "buy", 100, 2, owner="z")
    assert a.snapshot() == b.snapshot()
    assert json.loads(json.dumps(a.snapshot())) == a.snapshot()
    b.modify(1, qty=3)  # different time priority: different snapshot
    b.modify(1, qty=2)
    assert a.snapshot() != b.snapshot()


# ---------------------------------------------------------------- differential tests


def apply(book: Any, op: tuple[str, tuple[Any, ...], dict[str, Any]]) -> Any:
    """Run one request; an outcome comparable across engine and reference."""
    name, args, kwargs = op
    try:
        result = getattr(book, name)(*args, **kwargs)
    except OrderRejected as error:
        return ("rejected", error.reason)
    if isinstance(result, list):  # fills, or the ids set_price_band cancelled
        return ("ok", [tuple(item) if isinstance(item, Fill) else item for item in result])
    return ("ok", result)


def observe(book: Any) -> tuple[Any, ...]:
    return (
        book.snapshot(),
        book.best_bid(),
        book.best_ask(),
        book.depth(3),
        book.depth(None),
        [tuple(f) for f in book.tape],
        [tuple(e) for e in book.stp_log],
    )


Pick = Callable[[list[Any]], Any]


class OpMaker:
    """Draws requests with ``pick`` (hypothesis or a seeded Random): mostly valid, and mostly
    about orders submitted recently, so cancels and modifies usually find them."""

    def __init__(self, pick: Pick, tick: int, str_ids: bool, live: Callable[[], list[Any]]) -> None:
        self.pick = pick
        self.live = live  # the reference's live ids: cancels and modifies mostly aim at them
        self.tick = tick
        self.str_ids = str_ids
        self.submitted: list[Any] = []
        self.count = 0

    def sometimes(self, valid: list[Any], invalid: list[Any]) -> Any:
        return self.pick(valid * 40 + invalid)

    def recent_id(self) -> Any:
        if not self.submitted:
            return 0
        return self.pick([*self.submitted[-30:], self.submitted[0]])

    def target_id(self) -> Any:
        live = self.live()
        if live and self.pick([True, True, True, False]):
            return self.pick(live)
        return self.recent_id()

    def new_id(self, resting: bool = True) -> Any:
        """A fresh id (remembered for cancels and modifies if the order may rest), sometimes a
        recent one (possibly live: DUPLICATE_ID) or an invalid one."""
        choice = self.pick(["new"] * 60 + ["recent", "recent", 1.5, None, True])
        if choice == "recent":
            return self.recent_id()
        if choice == "new":
            self.count += 1
            oid = f"o{self.count}" if self.str_ids and self.count % 3 == 0 else self.count
            if resting:
                self.submitted.append(oid)
            return oid
        return choice

    def make(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        pick, tick = self.pick, self.tick
        side = self.sometimes(["buy", "sell"], ["hold"])
        # Buys mostly below sells, overlapping in the middle: the book builds depth and trades.
        ks = range(14, 21) if side == "buy" else range(18, 25) if side == "sell" else range(20)
        price = self.sometimes([tick * k for k in ks], [100.0, True, math.nan, 0, -tick, 101])
        qty = self.sometimes(list(range(1, 12)), [0, -2, 2.0, True])
        owner = self.sometimes(["", "a", "b", "c"], [7])
        kind = pick(
            ["limit"] * 40
            + ["market"] * 6
            + ["cancel"] * 8
            + ["modify"] * 12
            + ["halt"]
            + ["resume"] * 8
            + ["band"]
        )
        if kind == "limit":
            kwargs: dict[str, Any] = {}
            if pick([0, 1]):
                kwargs["tif"] = self.sometimes(["GTC", "IOC", "FOK", TimeInForce.IOC], ["DAY"])
            if pick([0, 0, 1]):
                kwargs["post_only"] = self.sometimes([True, False], [1])
            if pick([0, 1]):
                kwargs["stp"] = self.sometimes([None, *STPMode], ["bogus"])
            if pick([0, 0, 1]):
                kwargs["priority"] = self.sometimes([-1, 0, 1, 2], [1.0])
            return ("limit", (self.new_id(), side, price, qty, owner), kwargs)
        if kind == "market":
            kwargs = {"stp": self.sometimes([None, *STPMode], ["bogus"])} if pick([0, 1]) else {}
            return ("market", (self.new_id(resting=False), side, qty, owner), kwargs)
        if kind == "cancel":
            return ("cancel", (self.pick([self.target_id()] * 8 + [-1, [1]]),), {})
        if kind == "modify":
            change = pick(["qty", "price", "both", "neither"])
            kwargs = {}
            if change in ("qty", "both"):
                kwargs["qty"] = qty
            if change in ("price", "both"):
                kwargs["price"] = price
            return ("modify", (self.target_id(),), kwargs)
        if kind == "band":
            band = pick([None, None, (tick * 15, tick * 23), (tick, tick * 100)])
            return ("set_price_band", (band,), {})
        return (kind, (), {})


def run_differential(
    pick: Pick, n_ops: int, tick: int, stp: str, band: Any, str_ids: bool = False
) -> tuple[OrderBook, Counter[str]]:
    """Run the same requests on engine and reference, comparing outcome and state each step."""
    engine = OrderBook(tick_size=tick, stp=stp, price_band=band)
    reference = ReferenceBook(tick_size=tick, stp=stp, price_band=band)
    maker = OpMaker(pick, tick, str_ids, lambda: [o.oid for o in reference.resting])
    outcomes: Counter[str] = Counter()
    assert observe(engine) == observe(reference)
    for step in range(n_ops):
        op = maker.make()
        got, want = apply(engine, op), apply(reference, op)
        assert got == want, f"step {step}: {op}"
        assert observe(engine) == observe(reference), f"step {step}: {op}"
        outcomes[got[1].value if got[0] == "rejected" else op[0]] += 1
    return engine, outcomes


@settings(max_examples=120, deadline=None)
@given(
    st.data(),
    st.sampled_from([1, 5]),
    st.sampled_from(list(STPMode)),
    st.booleans(),
)
def test_differential_against_reference_hypothesis(
    data: st.DataObject, tick: int, stp: STPMode, banded: bool
) -> None:
    def pick(options: list[Any]) -> Any:
        return data.draw(st.sampled_from(options))

    band = (tick * 15, tick * 23) if banded else None
    n_ops = data.draw(st.integers(1, 60))
    run_differential(pick, n_ops, tick, stp.value, band)


@pytest.mark.parametrize("seed", range(6))
def test_differential_against_reference_seeded_stream(seed: int) -> None:
    rng = random.Random(seed)
    tick = 1 if seed % 2 else 5
    stp = list(STPMode)[seed % len(STPMode)].value
    engine, outcomes = run_differential(rng.choice, 2000, tick, stp, None, str_ids=True)
    # The stream must exercise the book, not just bounce off validation.
    assert len(engine.tape) > 200 and len(engine.stp_log) > 5
    assert outcomes["limit"] > 500 and outcomes["cancel"] > 150 and outcomes["modify"] > 150
