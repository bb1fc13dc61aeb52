"""The engine and the benchmark's straightforward peer (benchmarks/peer_book.py) give identical fills.

bench_order_book.py's ratios mean something only if both books do the same work: the same fills,
the same rejections and the same resting orders on the same stream.  Random streams from
hypothesis (small price range, few owners, so levels are deep, cancels hit the middle of a
level and self-trades are common) and the benchmark's own seeded stream, with and without
priorities, are run on both.  A peer or engine that, say, matched a lower priority first, or
left a cancelled order in the queue, fails here on the first differing fill.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.markets import OrderBook, OrderRejected
from tests._benchmarks import load_benchmark

# Every test here runs on both engines, compiled and pure (tests/markets/conftest.py).
pytestmark = pytest.mark.usefixtures("book_engine")



peer_book = load_benchmark("peer_book")
bench = load_benchmark("bench_order_book")

OWNERS = ["", "a", "b", "c"]
# (kind, side, price, qty, owner, priority, pick): pick chooses a cancel's target among ids so far.
OPS = st.lists(
    st.tuples(
        st.sampled_from(["limit", "limit", "limit", "cancel", "market"]),
        st.sampled_from(["buy", "sell"]),
        st.integers(95, 105),
        st.integers(1, 20),
        st.sampled_from(OWNERS),
        st.sampled_from([0, 0, -1, 1, 2]),
        st.integers(0, 10**6),
    ),
    max_size=150,
)


def _outcome(book: Any, rejected: type[Exception], request: tuple[Any, ...]) -> Any:
    """What ``book`` answers to ``request`` (method name and arguments): fills as plain tuples,
    a cancel's bool, or "rejected"."""
    name, *args = request
    method = getattr(book, name)
    try:
        result = method(*args[:-1], priority=args[-1]) if name == "limit" else method(*args)
    except rejected:
        return "rejected"
    return [tuple(fill) for fill in result] if isinstance(result, list) else result


Stream = list[tuple[str, str, int, int, str, int, int]]


def _run_both(ops: Stream) -> tuple[OrderBook, Any]:
    ours, peer = OrderBook(), peer_book.PeerBook()
    for oid, (kind, side, price, qty, owner, priority, pick) in enumerate(ops):
        request: tuple[Any, ...]
        if kind == "cancel":
            request = ("cancel", pick % oid if oid else 0)
        elif kind == "market":
            request = ("market", oid, side, qty, owner)
        else:
            request = ("limit", oid, side, price, qty, owner, priority)
        engine = _outcome(ours, OrderRejected, request)
        straightforward = _outcome(peer, peer_book.PeerRejectedError, request)
        assert engine == straightforward, f"request {oid} {request}: engine {engine} peer {straightforward}"
        assert (ours.best_bid(), ours.best_ask(), len(ours)) == (peer.best_bid(), peer.best_ask(), len(peer))
    return ours, peer


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_random_streams_give_identical_fills_and_books(ops: Stream) -> None:
    ours, peer = _run_both(ops)
    assert [tuple(fill) for fill in ours.tape] == peer.tape


def test_a_peer_that_ignores_priority_is_caught() -> None:
    """The comparison can fail: an aligned (+1) order that arrives later must trade first."""
    ops = [
        ("limit", "sell", 100, 5, "a", 0, 0),
        ("limit", "sell", 100, 5, "b", 1, 0),
        ("market", "buy", 0, 5, "c", 0, 0),
    ]
    ours, _ = _run_both(ops)
    assert [fill.maker_id for fill in ours.tape] == [1]


def _replay(book: Any, ops: list[Any], rejected: type[Exception]) -> None:
    for kind, oid, side, price, qty, owner, *rest in ops:
        try:
            if kind == bench.LIMIT:
                book.limit(oid, side, price, qty, owner, priority=rest[0] if rest else 0)
            elif kind == bench.CANCEL:
                book.cancel(oid)
            else:
                book.market(oid, side, qty, owner)
        except rejected:
            pass


def test_the_benchmark_stream_gives_identical_fills() -> None:
    ops = bench.generate(20_000)
    for stream in (ops, bench.with_priorities(ops)):
        ours, peer = OrderBook(), peer_book.PeerBook()
        _replay(ours, stream, OrderRejected)
        _replay(peer, stream, peer_book.PeerRejectedError)
        assert len(ours.tape) > 1000
        assert [tuple(fill) for fill in ours.tape] == peer.tape
        assert (len(ours), ours.best_bid(), ours.best_ask()) == (len(peer), peer.best_bid(), peer.best_ask())
