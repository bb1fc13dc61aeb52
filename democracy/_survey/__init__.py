"""The legitimacy survey: a mechanism that asks the participants each decision affected.

Parts, one module each: ``_instruments`` (questionnaires as versioned TOML data, shipped in
``instruments/``), ``_config``, ``_reasons``, ``_events`` (``SurveyOpened``), ``_mechanism``
(:class:`LegitimacySurvey`, ``legitimacy_survey``), ``_state`` (one survey), ``_scores`` (its measures),
``_reliability`` (alpha, omega, intervals), ``_export`` (the anonymised response table),
``_http`` (live routes) and ``_respondents`` (:class:`SurveyRespondents`, the simulated
response model). It imports only the contract, so it could move out of the democracy wing
unchanged. See docs/legitimacy.md.
"""

from __future__ import annotations

from flagship.democracy._survey._config import SurveyConfig
from flagship.democracy._survey._events import SurveyOpened
from flagship.democracy._survey._instruments import (
    CONSTRUCTS,
    Instrument,
    Item,
    Questionnaire,
    instrument,
    questionnaire,
    shipped_instruments,
)
from flagship.democracy._survey._mechanism import LegitimacySurvey
from flagship.democracy._survey._reasons import SurveyReason
from flagship.democracy._survey._reliability import cronbach_alpha, mcdonald_omega
from flagship.democracy._survey._respondents import RespondentParams, SurveyRespondents

__all__ = [
    "CONSTRUCTS",
    "Instrument",
    "Item",
    "LegitimacySurvey",
    "Questionnaire",
    "RespondentParams",
    "SurveyConfig",
    "SurveyOpened",
    "SurveyReason",
    "SurveyRespondents",
    "cronbach_alpha",
    "instrument",
    "mcdonald_omega",
    "questionnaire",
    "shipped_instruments",
]
