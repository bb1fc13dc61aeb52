"""The desk's per-actor index of resting orders agrees with a scan of every order.

``OrderDesk.remove_of`` (used when the gate bars an agent) and ``orders_of`` read the actor's
own index instead of scanning every resting order (which made barring one agent after another
cost the square of the participants: benchmarks/bench_scaling_agents.py). Differentially: on
random scripts of limits, market orders, cancels and modifies from a few traders, the index
holds exactly each actor's orders in the scan's order (oldest first), and removing an actor's
orders through it leaves the same market as the scan-based ``remove_where``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.mechanisms import canonical_json

from .test_market_mechanism import World, random_script


def _replayed(seed: int) -> World:
    world = World()
    for action in random_script(np.random.default_rng(seed), n=150):
        world.act(action.actor, action.kind, action.payload, t=action.time)
    return world


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 4))
def test_removing_an_actors_orders_by_the_index_equals_the_scan(seed: int, victim: int) -> None:
    indexed, scanned = _replayed(seed), _replayed(seed)
    desk = indexed.market.desk
    for actor in {order.actor for order in desk.orders.values()}:
        assert list(desk.resting_of[actor]) == [oid for oid, o in desk.orders.items() if o.actor == actor]
    actor = f"t-{victim}"
    expected = scanned.market.desk.remove_where(lambda order: order.actor == actor)
    assert desk.remove_of(actor) == expected
    assert indexed.market.orders_of(actor) == [] and actor not in desk.resting_of
    assert canonical_json(indexed.market.snapshot()) == canonical_json(scanned.market.snapshot())
    for other in (f"t-{i}" for i in range(5)):
        assert indexed.market.orders_of(other) == scanned.market.orders_of(other)
