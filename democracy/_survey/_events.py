"""The survey's own event: a response window opened for the participants a decision affected.

Defined in the survey's package (not in :mod:`flagship.mechanisms.events`): only the survey
publishes it and only simulated respondents listen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flagship.mechanisms import EMPTY, Event

__all__ = ["SurveyOpened"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyOpened(Event):
    """Survey ``survey_id`` about decision ``subject`` takes responses until ``closes`` (exclusive).

    ``groups`` maps each invited participant (sorted) to ``winner`` (their preferred option
    was decided, or the gate decided in their favour), ``loser``, or ``no_stake`` (affected
    but with no recorded preference: convened, no counted ballot); ``voice`` lists those who
    had a voice before the decision (deliberated on the panel, or appealed and were heard);
    ``procedural`` is false when the decision came by default (no quorum) rather than by the
    procedure. ``items`` are the questionnaire's item ids, in order.
    """

    survey_id: str
    subject: str
    kind: str
    closes: float
    groups: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    voice: tuple[str, ...] = ()
    procedural: bool = True
    items: tuple[str, ...] = ()
