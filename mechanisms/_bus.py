"""The event bus: how mechanisms and populations compose without importing each other.

Lifecycle of an event: a publisher builds a frozen :class:`Event` and calls
:meth:`Bus.publish`. The bus appends it to its queue; if no delivery is in
progress it then delivers queued events one at a time, oldest first, each to
every subscriber whose type matches (``isinstance``), in subscription order.
An event published from inside a handler is queued and delivered after the
current one has reached all its subscribers (breadth first), so delivery order
depends only on publication and subscription order: deterministic. A handler
that raises stops the delivery, the queue is cleared and the error propagates:
events fail loudly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

__all__ = ["Bus", "Event", "EventHandler"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every bus event: when it happened and who published it.

    Subclasses are frozen dataclasses with JSON-able fields; their ``topic``
    (defaults to the class name) is the stable name used in logs and diagrams.
    ``time`` and ``source`` are stamped by ``Context.publish`` (a publisher need not
    set them); an event published straight on a :class:`Bus` keeps what it was given.
    """

    topic: ClassVar[str] = "Event"

    time: float = 0.0
    source: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Not super(): slots=True dataclasses rebuild the class, which breaks its __class__ cell.
        object.__init_subclass__(**kwargs)
        if "topic" not in cls.__dict__:
            cls.topic = cls.__name__

    def to_dict(self) -> dict[str, Any]:
        """The event's fields as a JSON-able dict, with its topic."""
        data: dict[str, Any] = {"topic": self.topic}
        for f in fields(self):
            data[f.name] = getattr(self, f.name)
        return data


E = TypeVar("E", bound=Event)
EventHandler = Callable[[Any], None]


class Bus:
    """Synchronous, deterministic publish/subscribe by event type."""

    __slots__ = ("_delivering", "_handlers", "_queue", "_subscribers", "counts", "log")

    def __init__(self, *, keep_log: bool = False) -> None:
        self._subscribers: list[tuple[type[Event], EventHandler, str]] = []
        # Concrete event type -> its handlers in subscription order: derived from _subscribers,
        # so delivery needs no isinstance scan over every subscriber; emptied on subscribe.
        self._handlers: dict[type[Event], tuple[EventHandler, ...]] = {}
        self._queue: deque[Event] = deque()
        self._delivering = False
        self.counts: dict[str, int] = {}
        self.log: list[Event] | None = [] if keep_log else None

    def subscribe(self, event_type: type[E], handler: Callable[[E], None], *, name: str = "") -> None:
        """Call ``handler`` with every later event that is an instance of ``event_type``."""
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"event_type: expected an Event subclass, got {event_type!r}")
        self._subscribers.append((event_type, handler, name))
        self._handlers.clear()

    def subscribers(self) -> list[tuple[str, str]]:
        """(topic, subscriber name) pairs in subscription order, for diagrams and debugging."""
        return [(event_type.topic, name) for event_type, _, name in self._subscribers]

    def publish(self, event: Event) -> None:
        """Queue ``event`` and, unless a delivery is already running, deliver the queue."""
        self._queue.append(event)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._queue:
                current = self._queue.popleft()
                topic = current.topic
                self.counts[topic] = self.counts.get(topic, 0) + 1
                if self.log is not None:
                    self.log.append(current)
                kind = type(current)
                handlers = self._handlers.get(kind)
                if handlers is None:
                    handlers = self._handlers[kind] = tuple(
                        handler for event_type, handler, _ in self._subscribers
                        if issubclass(kind, event_type))
                subscribed = len(self._subscribers)
                for handler in handlers:
                    handler(current)
                if len(self._subscribers) != subscribed:
                    # A handler subscribed during this delivery: the new subscribers get the
                    # current event too, after the others, as a scan of the list would do.
                    for event_type, handler, _ in self._subscribers[subscribed:]:
                        if isinstance(current, event_type):
                            handler(current)
        except BaseException:
            self._queue.clear()
            raise
        finally:
            self._delivering = False
