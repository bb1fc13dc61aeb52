"""Stateful property test of markets.OrderBook: random request sequences, invariants after each.

The machine keeps its own ledger per order id, built only from what the book reports (fills,
STP events, cancel results, views before a request) and the documented rules:

* conservation: quantity ever given to an order == filled + resting + cancelled, where
  cancelled counts explicit cancels, quantity taken away by ``modify``, STP cuts from
  :attr:`OrderBook.stp_log`, band cancellations, and the dropped remainder of IOC/FOK/market
  takers (a GTC order never loses quantity silently);
* the book's live orders are exactly the ledger's orders with quantity left, at the ledger's
  price, side, owner and priority;
* within a level orders are sorted by (priority desc, time of (re)queueing), i.e. FIFO when
  priorities are equal; the ledger decides when an order was (re)queued from the modify rules;
* every fill prints at the maker's price, within the taker's limit, and never between two
  orders of one owner when the taker's STP mode is on;
* the book is never crossed, has no empty level, and the tape is the concatenation of fills.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from flagship.markets import Fill, OrderBook, OrderRejected, STPMode
from flagship.markets._engine import load_pure_book

OWNERS = ["", "a", "b"]
MODES = [mode.value for mode in STPMode]


@dataclass
class Entry:
    """The ledger's view of one order id's current incarnation."""

    side: str
    price: int | None  # None for market orders
    owner: str
    priority: int
    stp: str
    given: int = 0
    filled: int = 0
    cancelled: int = 0
    time: int = 0

    @property
    def remaining(self) -> int:
        return self.given - self.filled - self.cancelled


class BookMachine(RuleBasedStateMachine):
    engine: type[OrderBook] = OrderBook  # the installed engine; PureBookMachine below: the source

    def __init__(self) -> None:
        super().__init__()
        self.book = self.engine()
        self.ledger: dict[int, Entry] = {}
        self.retired: list[Entry] = []  # dead incarnations, still checked for conservation
        self.next_id = 0
        self.clock = 0
        self.tape: list[Fill] = []
        self.log_seen = 0
        self.tick = 1

    @initialize(
        tick=st.sampled_from([1, 2]),
        stp=st.sampled_from(MODES),
        banded=st.booleans(),
        seed_orders=st.lists(
            st.tuples(
                st.sampled_from(["buy", "sell"]),
                st.integers(0, 3),
                st.integers(1, 9),
                st.sampled_from(OWNERS),
                st.sampled_from([0, 0, 1]),
            ),
            max_size=20,
        ),
    )
    def setup(
        self, tick: int, stp: str, banded: bool, seed_orders: list[tuple[str, int, int, str, int]]
    ) -> None:
        """A fresh book, seeded with passive orders so that levels hold several orders."""
        self.tick = tick
        band = (tick * 5, tick * 11) if banded else None
        self.book = self.engine(tick_size=tick, stp=stp, price_band=band)
        self.default_stp = stp
        for side, k, qty, owner, priority in seed_orders:
            self.passive_limit(side, k, qty, owner, priority)

    # ------------------------------------------------------------ bookkeeping

    def live_ids(self) -> list[int]:
        return sorted(oid for oid, entry in self.ledger.items() if entry.remaining > 0)

    def new_entry(self, oid: int, entry: Entry) -> None:
        old = self.ledger.pop(oid, None)
        if old is not None:
            self.retired.append(old)
        self.ledger[oid] = entry

    def absorb(self, fills: list[Fill], taker: int, limit: int | None, stp: str) -> None:
        """Check and book the fills and STP events of one request."""
        taker_entry = self.ledger[taker]
        for fill in fills:
            maker = self.ledger[fill.maker_id]  # type: ignore[index]
            assert fill.taker_id == taker
            assert maker.remaining > 0, "filled a dead order"
            assert maker.side != taker_entry.side
            assert fill.price == maker.price, "fill not at the maker's price"
            if limit is not None:
                assert fill.price <= limit if taker_entry.side == "buy" else fill.price >= limit
            assert fill.taker_side == taker_entry.side
            assert (fill.maker_owner, fill.taker_owner) == (maker.owner, taker_entry.owner)
            if stp != "none" and taker_entry.owner:
                assert fill.maker_owner != fill.taker_owner, "self-trade despite STP"
            assert 0 < fill.qty <= maker.remaining
            maker.filled += fill.qty
            taker_entry.filled += fill.qty
            assert fill.seq == len(self.tape) + 1
            self.tape.append(fill)
        for event in self.book.stp_log[self.log_seen :]:
            assert event.taker_id == taker
            assert event.mode == stp
            maker = self.ledger[event.maker_id]  # type: ignore[index]
            assert maker.owner == taker_entry.owner != ""
            maker.cancelled += event.maker_cancelled
            taker_entry.cancelled += event.taker_cancelled
        self.log_seen = len(self.book.stp_log)
        assert taker_entry.remaining >= 0 and all(e.remaining >= 0 for e in self.ledger.values())

    def rest_or_drop(self, oid: int, keeps_rest: bool) -> None:
        """After a taker finished: resting GTC orders get a queue time; others drop the rest."""
        entry = self.ledger[oid]
        view = self.book.order(oid)
        if keeps_rest and entry.remaining > 0:
            assert view is not None and view.qty == entry.remaining
            self.clock += 1
            entry.time = self.clock
        else:
            assert view is None
            entry.cancelled += entry.remaining

    # ------------------------------------------------------------ rules

    def price(self, k: int) -> int:
        return self.tick * k

    @rule(
        side=st.sampled_from(["buy", "sell"]),
        k=st.integers(4, 12),
        qty=st.integers(1, 9),
        owner=st.sampled_from(OWNERS),
        tif=st.sampled_from(["GTC", "GTC", "GTC", "IOC", "FOK"]),
        post_only=st.booleans(),
        stp=st.sampled_from([None, None, *MODES]),
        priority=st.sampled_from([0, 0, 0, 1, 2, -1]),
    )
    def limit(
        self,
        side: str,
        k: int,
        qty: int,
        owner: str,
        tif: str,
        post_only: bool,
        stp: str | None,
        priority: int,
    ) -> None:
        self.submit(side, k, qty, owner, tif, post_only, stp, priority)

    def submit(
        self,
        side: str,
        k: int,
        qty: int,
        owner: str,
        tif: str,
        post_only: bool,
        stp: str | None,
        priority: int,
    ) -> None:
        oid = self.next_id
        self.next_id += 1
        price = self.price(k)
        post_only = post_only and tif == "GTC"
        mode = stp or self.default_stp
        try:
            fills = self.book.limit(
                oid,
                side,
                price,
                qty,
                owner,
                tif=tif,
                post_only=post_only,
                stp=stp,
                priority=priority,
            )
        except OrderRejected:
            return
        self.new_entry(oid, Entry(side, price, owner, priority, mode, given=qty))
        if post_only:
            assert fills == []
        self.absorb(fills, oid, price, mode)
        if tif == "FOK":
            assert self.ledger[oid].filled == qty
        self.rest_or_drop(oid, tif == "GTC")

    @rule(
        side=st.sampled_from(["buy", "sell"]),
        qty=st.integers(1, 15),
        owner=st.sampled_from(OWNERS),
        stp=st.sampled_from([None, None, *MODES]),
    )
    def market(self, side: str, qty: int, owner: str, stp: str | None) -> None:
        oid = self.next_id
        self.next_id += 1
        mode = stp or self.default_stp
        try:
            fills = self.book.market(oid, side, qty, owner, stp=stp)
        except OrderRejected:
            return
        self.new_entry(oid, Entry(side, None, owner, 0, mode, given=qty))
        self.absorb(fills, oid, None, mode)
        self.rest_or_drop(oid, keeps_rest=False)

    @precondition(lambda self: self.next_id > 0)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        oid = data.draw(st.sampled_from(self.live_ids() or [self.next_id - 1]))
        entry = self.ledger.get(oid)
        was_live = entry is not None and entry.remaining > 0
        assert self.book.cancel(oid) is was_live
        if entry is not None and was_live:
            entry.cancelled += entry.remaining
        assert self.book.cancel(oid) is False

    @precondition(lambda self: any(e.remaining > 0 for e in self.ledger.values()))
    @rule(
        data=st.data(),
        qty=st.one_of(st.none(), st.integers(1, 9)),
        k=st.one_of(st.none(), st.integers(4, 12)),
    )
    def modify(self, data: st.DataObject, qty: int | None, k: int | None) -> None:
        oid = data.draw(st.sampled_from(self.live_ids()))
        entry = self.ledger[oid]
        price = None if k is None else self.price(k)
        old_qty, old_price = entry.remaining, entry.price
        try:
            fills = self.book.modify(oid, qty=qty, price=price)
        except OrderRejected:
            return
        new_qty = old_qty if qty is None else qty
        new_price = old_price if price is None else price
        if new_qty > old_qty:
            entry.given += new_qty - old_qty
        else:
            entry.cancelled += old_qty - new_qty
        entry.price = new_price
        self.absorb(fills, oid, new_price, entry.stp)
        if new_price != old_price or new_qty > old_qty:
            self.rest_or_drop(oid, keeps_rest=True)  # re-queued: a new place in the queue
        else:
            assert fills == []

    @rule(
        side=st.sampled_from(["buy", "sell"]),
        k=st.integers(0, 4),
        qty=st.integers(1, 9),
        owner=st.sampled_from(OWNERS),
        priority=st.sampled_from([0, 0, 0, 1, -1]),
    )
    def passive_limit(self, side: str, k: int, qty: int, owner: str, priority: int) -> None:
        """A GTC order on its own side of the book (buys low, sells high): builds deep levels."""
        self.submit(side, 4 + k if side == "buy" else 8 + k, qty, owner, "GTC", False, None, priority)

    @precondition(lambda self: bool(self.ledger))
    @rule(data=st.data())
    def halt_briefly(self, data: st.DataObject) -> None:
        """While halted, orders and modifies bounce off unchanged; cancels still work."""
        self.book.halt()
        before = (self.book.snapshot(), list(self.book.tape))
        attempts: list[Callable[[], object]] = [
            lambda: self.book.limit(self.next_id, "buy", self.price(8), 1),
            lambda: self.book.market(self.next_id, "sell", 1),
            lambda: self.book.modify(max(self.ledger), qty=1),
        ]
        for attempt in attempts:
            try:
                attempt()
            except OrderRejected as error:
                assert error.reason in ("halted", "unknown_order")
            else:
                raise AssertionError("accepted while halted")
        assert (self.book.snapshot(), list(self.book.tape)) == before
        if data.draw(st.booleans()):
            self.cancel(data)
        self.book.resume()

    @rule(band=st.sampled_from([None, None, (2, 18), (5, 11), (1, 19)]))
    def set_band(self, band: tuple[int, int] | None) -> None:
        scaled = None if band is None else (self.price(band[0]), self.price(band[1]))
        before = {oid: self.ledger[oid].remaining for oid in self.live_ids()}
        cancelled = self.book.set_price_band(scaled)
        for oid in cancelled:
            entry = self.ledger[oid]  # type: ignore[index]
            assert scaled is not None and not scaled[0] <= (entry.price or 0) <= scaled[1]
            entry.cancelled += before[oid]  # type: ignore[index]

    # ------------------------------------------------------------ invariants

    @invariant()
    def never_crossed(self) -> None:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        if bid is not None and ask is not None:
            assert bid < ask

    @invariant()
    def no_empty_levels(self) -> None:
        depth = self.book.depth(None)
        for levels in (depth.bids, depth.asks):
            assert all(qty > 0 and count > 0 for _, qty, count in levels)
        snapshot = self.book.snapshot()
        assert all(level["orders"] for side in ("bids", "asks") for level in snapshot[side])
        assert [lvl[0] for lvl in depth.bids] == sorted((lvl[0] for lvl in depth.bids), reverse=True)
        assert [lvl[0] for lvl in depth.asks] == sorted(lvl[0] for lvl in depth.asks)

    @invariant()
    def quantity_conserved_per_order(self) -> None:
        for entry in [*self.ledger.values(), *self.retired]:
            assert entry.given == entry.filled + entry.remaining + entry.cancelled
            assert entry.remaining >= 0

    @invariant()
    def live_orders_match_the_ledger(self) -> None:
        live = set(self.live_ids())
        seen: set[Any] = set()
        for side_name, side in (("bids", "buy"), ("asks", "sell")):
            for level in self.book.snapshot()[side_name]:
                for order in level["orders"]:
                    entry = self.ledger[order["id"]]
                    assert (entry.side, entry.price) == (side, level["price"])
                    assert order["qty"] == entry.remaining
                    assert (order["owner"], order["priority"]) == (entry.owner, entry.priority)
                    seen.add(order["id"])
        assert seen == live
        assert len(self.book) == len(live)

    @invariant()
    def levels_in_priority_then_time_order(self) -> None:
        for side_name in ("bids", "asks"):
            for level in self.book.snapshot()[side_name]:
                keys = [(-self.ledger[o["id"]].priority, self.ledger[o["id"]].time) for o in level["orders"]]
                assert keys == sorted(keys), f"queue order broken at {level['price']}"

    @invariant()
    def tape_is_all_fills(self) -> None:
        assert list(self.book.tape) == self.tape


class PureBookMachine(BookMachine):
    """The same machine on the pure-Python engine (a unittest case: fixtures cannot parametrize it)."""

    engine = load_pure_book().OrderBook


BookMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=80, deadline=None)
PureBookMachine.TestCase.settings = BookMachine.TestCase.settings
test_order_book_state_machine = BookMachine.TestCase
test_order_book_state_machine_pure = PureBookMachine.TestCase
