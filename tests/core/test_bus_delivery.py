"""The bus delivers from a per-type handler cache: the order and the set of handlers stay those of
a scan over every subscriber in subscription order, whenever subscriptions happen."""

from __future__ import annotations

from dataclasses import dataclass

from flagship.mechanisms import Bus, Event


@dataclass(frozen=True, slots=True, kw_only=True)
class Base(Event):
    n: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Child(Base):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Other(Event):
    pass


def test_delivery_follows_subscription_order_across_types() -> None:
    bus = Bus()
    seen: list[str] = []
    bus.subscribe(Child, lambda e: seen.append("child"))
    bus.subscribe(Event, lambda e: seen.append("any"))
    bus.subscribe(Base, lambda e: seen.append("base"))
    bus.subscribe(Other, lambda e: seen.append("other"))
    bus.publish(Child())
    bus.publish(Base())
    bus.publish(Other())
    assert seen == ["child", "any", "base", "any", "base", "any", "other"]


def test_a_subscription_after_a_publish_receives_later_events() -> None:
    # Fails if the cached handler tuple of Base outlived a new subscription.
    bus = Bus()
    seen: list[str] = []
    bus.subscribe(Base, lambda e: seen.append("first"))
    bus.publish(Base())
    bus.subscribe(Base, lambda e: seen.append("second"))
    bus.publish(Base())
    assert seen == ["first", "first", "second"]


def test_a_handler_that_subscribes_hands_the_current_event_to_the_new_subscriber_last() -> None:
    bus = Bus()
    seen: list[str] = []

    def first(event: Base) -> None:
        seen.append(f"first:{event.n}")
        if event.n == 1:
            bus.subscribe(Base, lambda e: seen.append(f"late:{e.n}"))
            bus.subscribe(Other, lambda e: seen.append("late-other"))

    bus.subscribe(Base, first)
    bus.subscribe(Base, lambda e: seen.append(f"second:{e.n}"))
    bus.publish(Base(n=1))
    bus.publish(Base(n=2))
    assert seen == ["first:1", "second:1", "late:1", "first:2", "second:2", "late:2"]
