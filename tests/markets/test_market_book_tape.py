"""The book keeps its fills as plain tuples (untracked by the garbage collector) and shows them
as :class:`~flagship.markets.Fill` records through ``OrderBook.tape``: every way of reading the
tape must give Fills equal to the ones the requests returned.  A view that handed out the raw
tuples would fail on ``.seq`` below; one that copied the list would not grow with the book."""

from __future__ import annotations

import gc

import pytest

from flagship.markets import Fill, OrderBook

# Every test here runs on both engines, compiled and pure (tests/markets/conftest.py).
pytestmark = pytest.mark.usefixtures("book_engine")


def _traded() -> tuple[OrderBook, list[Fill]]:
    book = OrderBook()
    book.limit(1, "sell", 100, 5, "a")
    book.limit(2, "sell", 101, 5, "b")
    fills = book.limit(3, "buy", 101, 7, "c")
    return book, fills


def test_the_tape_reads_as_the_fills_returned() -> None:
    book, fills = _traded()
    tape = book.tape
    assert all(type(fill) is Fill for fill in fills)
    assert len(tape) == 2 and tape == fills and list(tape) == fills
    assert type(tape[0]) is Fill and tape[-1].seq == 2 and tape[-1].maker_id == 2
    assert tape[0:1] == fills[:1] and all(type(fill) is Fill for fill in tape[:])
    assert [fill.qty for fill in tape] == [5, 2]
    assert tape != [] and tape != fills[:1]


def test_the_view_grows_with_the_book() -> None:
    book, _ = _traded()
    tape = book.tape
    book.market(4, "buy", 1, "d")
    assert len(tape) == 3 and tape[2].taker_id == 4 and tape == book.tape


def test_the_stored_fills_leave_the_collector() -> None:
    book, _ = _traded()
    gc.collect()
    assert not any(gc.is_tracked(row) for row in book._tape)
