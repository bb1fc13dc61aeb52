"""Actions in, outcomes out: the two values every mechanism speaks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

__all__ = ["EMPTY", "Action", "CommonReason", "Outcome"]



class _Empty(Mapping[str, Any]):
    """An immutable, hashable empty mapping: a safe shared default for payloads and effects."""

    __slots__ = ()

    def __getitem__(self, key: str) -> NoReturn:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


EMPTY: Mapping[str, Any] = _Empty()
"""The shared empty payload / effects mapping (immutable, so safe to share)."""


@dataclass(slots=True)
class Action:
    """Something a participant asks a mechanism to do, at a simulated time.

    Plain slotted dataclass: created in the innermost loop of every simulation,
    so it is never validated here. Validation happens at the boundaries (scenario
    files, HTTP) and inside ``Mechanism.handle``, which rejects bad payloads with a
    reason code. Treat an Action as immutable once submitted: the action log keeps it.
    """

    time: float
    actor: str
    kind: str
    payload: Mapping[str, Any] = EMPTY


class CommonReason(StrEnum):
    """Reason codes every mechanism may use, on top of its own closed set."""

    UNKNOWN_KIND = "UNKNOWN_KIND"
    """The action's kind is not one the mechanism handles."""
    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    """A payload field is missing or of the wrong type or range."""
    NOT_PERMITTED = "NOT_PERMITTED"
    """The actor may not do this (not admitted, not a member, acting for another)."""


@dataclass(frozen=True, slots=True, init=False)
class Outcome:
    """A mechanism's answer to one action.

    ``reason`` is ``None`` exactly when ``accepted``; on rejection it is a member
    of the mechanism's closed reason set (``CommonReason`` or its own ``reasons``
    enum). ``effects`` holds what happened (fills, tallies, admissions...) as
    JSON-able values; ``detail`` may add a human sentence but never replaces the code.
    """

    accepted: bool
    reason: str | None = None
    effects: Mapping[str, Any] = EMPTY
    detail: str = ""

    def __init__(self, accepted: bool, reason: str | None = None, effects: Mapping[str, Any] = EMPTY,
                 detail: str = "") -> None:
        # The __init__ dataclass would write (same parameters and defaults), setting the frozen
        # slots through their descriptors, bound once below, instead of object.__setattr__: one
        # outcome per action, at half the cost.
        _set_accepted(self, accepted)
        _set_reason(self, reason)
        _set_effects(self, effects)
        _set_detail(self, detail)

    @staticmethod
    def accept(effects: Mapping[str, Any] = EMPTY) -> Outcome:
        """An accepted outcome; with no effects the shared ``ACCEPTED`` instance is returned."""
        if not effects:
            return ACCEPTED
        return Outcome(True, None, effects)

    @staticmethod
    def reject(reason: StrEnum, detail: str = "", effects: Mapping[str, Any] = EMPTY) -> Outcome:
        """A rejected outcome carrying a reason code from a closed set."""
        return Outcome(False, reason, effects, detail)


# The slots' own setters (the class dataclass built with slots=True holds the descriptors).
_set_accepted = Outcome.__dict__["accepted"].__set__
_set_reason = Outcome.__dict__["reason"].__set__
_set_effects = Outcome.__dict__["effects"].__set__
_set_detail = Outcome.__dict__["detail"].__set__

ACCEPTED = Outcome(True)
