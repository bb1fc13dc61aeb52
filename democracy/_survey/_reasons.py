"""Why the legitimacy survey refuses a response: the closed set of reason codes and their HTTP statuses.

404 for a survey id never opened (``UNKNOWN_SURVEY``) and an item the questionnaire does not
have (``UNKNOWN_ITEM``); 403 for someone the decision did not affect (``NOT_AFFECTED``); 422 for
an answer off its item's scale (``ANSWER_OFF_SCALE``) or a response with no answer
(``NO_ANSWERS``; ``INVALID_PAYLOAD`` is 422 by default); 409 for conflicts with the survey's
state (``SURVEY_CLOSED``, ``ALREADY_RESPONDED``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = ["REASON_STATUS", "SurveyReason"]


class SurveyReason(StrEnum):
    """Why the survey rejected a ``respond`` action: a closed set, one code per cause."""

    UNKNOWN_SURVEY = "UNKNOWN_SURVEY"
    """No survey with this id was ever opened."""
    NOT_AFFECTED = "NOT_AFFECTED"
    """The actor is not among the participants the surveyed decision affected."""
    SURVEY_CLOSED = "SURVEY_CLOSED"
    """The survey's response window has closed."""
    ALREADY_RESPONDED = "ALREADY_RESPONDED"
    """The actor has already responded to this survey (one response per participant per decision)."""
    UNKNOWN_ITEM = "UNKNOWN_ITEM"
    """An answer names an item that is not in the survey's questionnaire."""
    ANSWER_OFF_SCALE = "ANSWER_OFF_SCALE"
    """An answer is not on its item's scale (or is 'dont_know' where the item offers none)."""
    NO_ANSWERS = "NO_ANSWERS"
    """The response answers no item (every answer missing)."""


REASON_STATUS: Mapping[str, int] = {
    SurveyReason.UNKNOWN_SURVEY: 404,
    SurveyReason.UNKNOWN_ITEM: 404,
    SurveyReason.NOT_AFFECTED: 403,
    SurveyReason.ANSWER_OFF_SCALE: 422,
    SurveyReason.NO_ANSWERS: 422,
}
"""HTTP status by reason code; every code not listed is a 409 conflict."""
