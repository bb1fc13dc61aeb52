"""The mechanism contract: actions, outcomes, bus, registry, streams, measures."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flagship.mechanisms import (
    EMPTY,
    Action,
    Area,
    Bus,
    CommonReason,
    ContractError,
    Event,
    Measure,
    Mechanism,
    NoConfig,
    Outcome,
    Streams,
    UnknownNameError,
    canonical_json,
    mechanism,
    mechanisms,
    population,
    register,
    unregister,
)
from flagship.mechanisms.events import DecisionTaken, ShockFired, TradingHalted
from flagship.sandbox import Host


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(Event):
    n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong(Event):
    n: int


def test_outcome_accept_without_effects_is_shared_and_reject_carries_code() -> None:
    assert Outcome.accept() is Outcome.accept()
    assert Outcome.accept({"x": 1}).effects == {"x": 1}
    rejected = Outcome.reject(CommonReason.INVALID_PAYLOAD, "qty: expected int")
    assert not rejected.accepted and rejected.reason == "INVALID_PAYLOAD"


@dataclass(frozen=True, slots=True)
class _GeneratedOutcome:
    """Outcome's fields as dataclass itself writes their __init__: the reference for Outcome's own."""

    accepted: bool
    reason: str | None = None
    effects: Any = EMPTY
    detail: str = ""


@given(st.booleans(), st.none() | st.sampled_from(["INVALID_PAYLOAD", "X"]),
       st.dictionaries(st.sampled_from(["a", "b"]), st.integers()), st.text(max_size=5),
       st.integers(min_value=1, max_value=4), st.booleans())
def test_outcome_is_built_as_dataclass_would_build_it(accepted: bool, reason: str | None,
                                                      effects: dict[str, int], detail: str, given_args: int,
                                                      by_keyword: bool) -> None:
    """Outcome's hand-written __init__ (descriptor sets, for speed) against the generated one: the
    same signature, the same fields from the same arguments (positional or keyword, defaults
    included), still frozen, equal, hashable and picklable."""
    names = ("accepted", "reason", "effects", "detail")
    values = (accepted, reason, effects, detail)[:given_args]
    args: tuple[Any, ...] = () if by_keyword else values
    kwargs = dict(zip(names, values, strict=False)) if by_keyword else {}
    ours, reference = Outcome(*args, **kwargs), _GeneratedOutcome(*args, **kwargs)
    def shape(cls: type) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()]

    assert shape(Outcome) == shape(_GeneratedOutcome)
    assert [getattr(ours, name) for name in names] == [getattr(reference, name) for name in names]
    assert dataclasses.astuple(ours) == dataclasses.astuple(reference)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours.accepted = not accepted  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(ours)) == ours
    if given_args < 3:  # effects left at the shared EMPTY: hashable
        assert hash(ours) == hash(Outcome(*args, **kwargs)) == hash(reference)


def test_bus_delivers_breadth_first_in_subscription_order() -> None:
    bus = Bus(keep_log=True)
    seen: list[str] = []

    def first(e: Ping) -> None:
        seen.append(f"first:{e.n}")
        if e.n == 0:
            bus.publish(Pong(time=0.0, source="t", n=1))

    bus.subscribe(Ping, first)
    bus.subscribe(Ping, lambda e: seen.append(f"second:{e.n}"))
    bus.subscribe(Event, lambda e: seen.append(f"all:{e.topic}"))
    bus.subscribe(Pong, lambda e: seen.append(f"pong:{e.n}"))
    bus.publish(Ping(time=0.0, source="t", n=0))
    # the Pong published inside a handler waits until Ping reached every subscriber
    assert seen == ["first:0", "second:0", "all:Ping", "all:Pong", "pong:1"]
    assert bus.counts == {"Ping": 1, "Pong": 1}
    assert [e.topic for e in bus.log or []] == ["Ping", "Pong"]


def test_bus_handler_error_propagates_and_clears_the_queue() -> None:
    bus = Bus()
    calls: list[int] = []

    def explode(e: Ping) -> None:
        bus.publish(Pong(time=0.0, source="t", n=9))
        raise RuntimeError("handler failed")

    bus.subscribe(Ping, explode)
    bus.subscribe(Pong, lambda e: calls.append(e.n))
    with pytest.raises(RuntimeError, match="handler failed"):
        bus.publish(Ping(time=0.0, source="t", n=0))
    assert calls == []  # the queued Pong was dropped with the failed delivery
    bus.publish(Pong(time=1.0, source="t", n=2))  # and the bus still works
    assert calls == [2]


def test_event_topics_default_to_class_names() -> None:
    assert TradingHalted.topic == "TradingHalted"
    event = DecisionTaken(time=3.0, source="vote", decision_id="d1", measure="halt_trading",
                          sunset=10.0)
    assert event.to_dict()["topic"] == "DecisionTaken"
    assert canonical_json(event.to_dict()).startswith('{"decision_id":"d1"')


class _Announcer(Mechanism[NoConfig]):
    name = "announcer_test"
    publishes = (Ping,)
    subscribes = (ShockFired,)

    def handle(self, action: Action) -> Outcome:
        if action.kind == "ping":
            self.ctx.publish(Ping(time=self.ctx.now, source=self.ctx.name, n=1))
        elif action.kind == "pong":
            self.ctx.publish(Pong(time=self.ctx.now, source=self.ctx.name, n=1))
        elif action.kind == "listen":
            self.ctx.subscribe(Pong, lambda e: None)
        return Outcome.accept()

    def snapshot(self) -> dict[str, Any]:
        return {}


def test_context_enforces_declared_events() -> None:
    host = Host(1)
    host.add_mechanism("a", _Announcer, NoConfig())
    host.start()
    assert host.submit("a", Action(0.0, "x", "ping")).accepted
    with pytest.raises(ContractError, match="does not declare it in publishes"):
        host.submit("a", Action(0.0, "x", "pong"))
    with pytest.raises(ContractError, match="does not declare it in subscribes"):
        host.submit("a", Action(0.0, "x", "listen"))


def test_register_rejects_taken_names_and_lenient_configs() -> None:
    class First(Mechanism[NoConfig]):
        name = "dup_test"

        def handle(self, action: Action) -> Outcome:
            return Outcome.accept()

        def snapshot(self) -> Any:
            return {}

    class Second(First):
        pass

    register(First)
    try:
        assert register(First) is First  # idempotent
        with pytest.raises(ContractError, match="taken by"):
            register(Second)
    finally:
        unregister("dup_test")

    from pydantic import BaseModel

    class Lenient(BaseModel):
        x: int = 1

    class Loose(First):
        name = "loose_test"
        Config = Lenient

    with pytest.raises(ContractError, match="extra='forbid'"):
        register(Loose)


def test_unknown_names_list_what_is_known() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown mechanism 'nope'; known: .*posted_price"):
        mechanism("nope")


def test_plugin_is_discovered_through_entry_points() -> None:
    # tests/plugin is a separate distribution installed into the test venv
    cls = mechanism("posted_price")
    assert cls.__module__ == "flagship_plugin_example"
    assert "posted_price" in mechanisms()
    assert population("shoppers").__module__ == "flagship_plugin_example"


def test_measure_declarations_are_checked() -> None:
    with pytest.raises(ContractError, match="snake_case"):
        Measure("Bad Name", Area.UX, "ratio", True, "x")
    with pytest.raises(ContractError, match="definition"):
        Measure("fine", Area.UX, "ratio", True, "  ")
    assert Measure("fill_ratio", Area.UX, "ratio", True, "filled / submitted").qualified == \
        "ux.fill_ratio"


def test_streams_depend_on_names_not_creation_order() -> None:
    a = Streams(42)
    first = a("population:alpha").random(5)
    b = Streams(42)
    b("population:newcomer")  # another component added before
    second = b("population:alpha").random(5)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(Streams(43)("population:alpha").random(5), first)


def test_streams_refuse_a_name_twice_and_bad_seeds() -> None:
    streams = Streams(1)
    streams("x")
    with pytest.raises(ContractError, match="requested twice"):
        streams("x")
    for bad in (-1, 1.5, True):
        with pytest.raises(ContractError, match="seed"):
            Streams(bad)  # type: ignore[arg-type]


@given(st.dictionaries(st.text(), st.integers() | st.text() | st.booleans(), max_size=5))
def test_canonical_json_is_order_independent(data: dict[str, Any]) -> None:
    reordered = dict(reversed(list(data.items())))
    assert canonical_json(data) == canonical_json(reordered)
