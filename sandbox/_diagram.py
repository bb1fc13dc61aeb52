"""The event flow between mechanisms, drawn from their declarations alone (``flagship events``).

Every mechanism and population declares the event types it ``publishes`` and
``subscribes`` to, and its :class:`~flagship.mechanisms.Context` refuses any other, so a
diagram built from the declarations is the event flow the code can have: it
cannot drift. This module knows no mechanism by name: it reads whatever classes
it is given (by default every registered mechanism, built in or plugged in), the
shared vocabulary in :mod:`flagship.mechanisms.events` and the one event the sandbox
itself publishes (``ShockFired``, from a scenario's ``[[shocks]]``).

The diagram is a Mermaid flowchart, left to right: each top-level package (a
wing, a plug-in) is a box holding its mechanisms (rectangles) and, on request,
its population models (stadiums); events are hexagons; an arrow from a
participant to an event means it publishes it, from an event to a participant
that it subscribes to it (dotted for populations). Everything is sorted, so the
same declarations always give the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import flagship.mechanisms.events as vocabulary
from flagship.mechanisms import Event, Mechanism, Population, mechanisms
from flagship.mechanisms.events import ShockFired

__all__ = ["EventFlow", "event_flow", "render_mermaid", "vocabulary_events"]

SCENARIO_NODE = "scenario"  # the sandbox publishing a scenario's [[shocks]]


def vocabulary_events() -> list[type[Event]]:
    """The shared event types of :mod:`flagship.mechanisms.events`, in their declaration order."""
    found: list[type[Event]] = []
    for name in vocabulary.__all__:
        value = getattr(vocabulary, name)
        if isinstance(value, type) and issubclass(value, Event) and value is not Event:
            found.append(value)
    return found


@dataclass(frozen=True)
class Participant:
    """A mechanism or population model as the diagram shows it."""

    kind: str  # "mechanism" | "population"
    name: str
    package: str
    publishes: tuple[type[Event], ...]
    subscribes: tuple[type[Event], ...]

    @property
    def node(self) -> str:
        return f"{'m' if self.kind == 'mechanism' else 'p'}_{self.name}"


@dataclass(frozen=True)
class EventFlow:
    """Participants, event types and the declared edges between them."""

    participants: list[Participant]
    events: list[type[Event]]
    scenario_shocks: bool = False
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from node, to node, style)

    def publishers(self, event_type: type[Event]) -> list[str]:
        """Names of the participants that declare publishing ``event_type``."""
        return [p.name for p in self.participants if event_type in p.publishes]

    def subscribers(self, event_type: type[Event]) -> list[str]:
        """Names of the participants that declare subscribing to ``event_type`` (or a base of it)."""
        return [p.name for p in self.participants
                if any(issubclass(event_type, declared) for declared in p.subscribes)]


def _package(module: str) -> str:
    """The package that ships a class: ``markets`` for ``flagship.markets._book``, else the top level."""
    head, _, rest = module.partition(".")
    return rest.partition(".")[0] if head == "flagship" and rest else head


def _participants(kind: str, classes: Mapping[str, type[Any]]) -> list[Participant]:
    return [Participant(kind, name, _package(cls.__module__), tuple(cls.publishes), tuple(cls.subscribes))
            for name, cls in sorted(classes.items())]


def event_flow(mechanism_classes: Mapping[str, type[Mechanism[Any]]] | None = None,
               population_classes: Mapping[str, type[Population[Any]]] | None = None) -> EventFlow:
    """The declared event flow of these classes (default: every registered mechanism, no population).

    Participants that declare no event at all are left out (they take no part in the flow).
    """
    chosen = _participants("mechanism", mechanisms() if mechanism_classes is None else mechanism_classes)
    chosen += _participants("population", population_classes or {})
    chosen = [p for p in chosen if p.publishes or p.subscribes]
    events = vocabulary_events()
    others = {t for p in chosen for t in (*p.publishes, *p.subscribes) if t not in events}
    events += sorted(others, key=lambda t: (t.topic, t.__module__))
    edges: list[tuple[str, str, str]] = []
    shocks = any(ShockFired in p.subscribes for p in chosen)
    if shocks:
        edges.append((SCENARIO_NODE, _event_node(ShockFired), "-->"))
    for participant in chosen:
        arrow = "-->" if participant.kind == "mechanism" else "-.->"
        edges.extend((participant.node, _event_node(t), arrow) for t in _unique(participant.publishes))
        edges.extend((_event_node(t), participant.node, arrow) for t in _unique(participant.subscribes))
    return EventFlow(chosen, events, shocks, edges)


def _unique(types: Iterable[type[Event]]) -> list[type[Event]]:
    return sorted(set(types), key=lambda t: (t.topic, t.__module__))


def _event_node(event_type: type[Event]) -> str:
    return f"e_{event_type.topic}"


def render_mermaid(flow: EventFlow) -> str:
    """The flow as a Mermaid flowchart (no code fences), ending with a newline."""
    lines = ["flowchart LR"]
    packages: dict[str, list[Participant]] = {}
    for participant in flow.participants:
        packages.setdefault(participant.package, []).append(participant)
    for package in sorted(packages):
        lines.append(f"    subgraph w_{package}[\"{package}/\"]")
        for participant in packages[package]:
            shape = (f"[{participant.name}]" if participant.kind == "mechanism"
                     else f"([{participant.name}])")
            lines.append(f"        {participant.node}{shape}")
        lines.append("    end")
    if flow.scenario_shocks:
        lines.append(f"    {SCENARIO_NODE}[/\"scenario [[shocks]]\"/]")
    lines.extend(f"    {_event_node(t)}{{{{{t.topic}}}}}" for t in flow.events)
    lines.extend(f"    {source} {arrow} {target}" for source, target, arrow in flow.edges)
    return "\n".join(lines) + "\n"
