"""The declared procedure of a ``legitimacy_survey``: the decisions it follows, what it asks, how long."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator

from flagship.democracy._survey._instruments import questionnaire, shipped_instruments
from flagship.mechanisms import ContractError

__all__ = ["FOLLOWED", "SurveyConfig"]

Followed = Literal["vote", "gate"]
FOLLOWED: tuple[Followed, ...] = ("vote", "gate")
"""Decisions a survey can follow: a vote's count (``BallotClosed``; its convened members are
surveyed) and a gate's decisions about one agent (admitted, suspended, revoked, reinstated)."""


class SurveyConfig(BaseModel):
    """A legitimacy survey (see :mod:`flagship.democracy._survey._mechanism` for the lifecycle)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    follow: list[Followed] = Field(
        default_factory=lambda: list[Followed](["vote"]), min_length=1,
        description="decisions to survey after: 'vote' (each count of a vote, its convened members) "
                    "and/or 'gate' (each gate decision, the agent it is about)")
    instruments: list[str] = Field(
        default_factory=lambda: ["procedural_justice", "decision_acceptance", "institutional_trust"],
        min_length=1, description="shipped instruments asked, in order (flagship.democracy."
                                  "shipped_instruments() lists them)")
    window_seconds: PositiveFloat = Field(
        default=3600.0, description="a survey takes responses for this long after its decision")
    min_answered_share: float = Field(
        default=0.5, gt=0, le=1, description="a respondent's construct score needs at least this share "
                                             "of the construct's items answered (else it is missing)")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="level of the within-run intervals")

    @field_validator("instruments")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        shipped = shipped_instruments()
        for name in names:
            if name not in shipped:
                raise ValueError(f"unknown instrument {name!r}: expected one of {', '.join(shipped)}")
        if len(set(names)) != len(names):
            raise ValueError("expected each instrument once")
        try:
            questionnaire(names)
        except ContractError as exc:
            raise ValueError(str(exc)) from exc
        return names

    @field_validator("follow")
    @classmethod
    def _distinct(cls, follow: list[Followed]) -> list[Followed]:
        if len(set(follow)) != len(follow):
            raise ValueError("expected each decision kind once")
        return follow
