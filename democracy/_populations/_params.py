"""What each voter population takes (its ``Params``); see :mod:`flagship.democracy._populations`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

from flagship.democracy._deliberation import DeliberationModel

__all__ = ["CitizensParams", "CoalitionParams", "SybilParams", "VoterParams"]


def _default_strata() -> dict[str, dict[str, float]]:
    return {
        "region": {"north": 0.3, "south": 0.3, "east": 0.2, "west": 0.2},
        "age_band": {"18-34": 0.3, "35-54": 0.35, "55+": 0.35},
    }


class VoterParams(BaseModel):
    """What every voter population takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strata: dict[str, dict[str, PositiveFloat]] = Field(
        default_factory=_default_strata,
        description="stratum key -> {value: weight}; each member draws each key independently (the keys "
        "must be the mechanism's strata)",
    )
    turnout: float = Field(default=0.85, ge=0, le=1, description="chance a convened member votes")
    time_to_vote: PositiveFloat = Field(
        default=600.0, description="mean seconds from the ballot opening to casting (exponential)"
    )
    register_at: NonNegativeFloat = Field(default=0.0, description="sim time the members register")

    @model_validator(mode="after")
    def _check_strata(self) -> VoterParams:
        for key, values in self.strata.items():
            if not key.isidentifier() or not values:
                raise ValueError(f"strata.{key}: expected an identifier key with at least one value")
        return self


class CitizensParams(VoterParams):
    """Sincere citizens with informed preferences and an opinion model for deliberation."""

    preferences: Literal["impartial", "mallows", "spatial"] = Field(
        default="mallows", description="model of the informed rankings"
    )
    reference: list[str] = Field(
        default_factory=list, description="Mallows reference ranking (empty: the candidates' order)"
    )
    phi: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Mallows dispersion: 1 is impartial culture, smaller is more concentrated",
    )
    dimensions: int = Field(default=2, ge=1, description="spatial model dimensions")
    stratum_references: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description="stratum key -> value -> Mallows reference of the members with that value (first "
        "matching key wins; others use `reference`): preferences that differ by stratum",
    )
    informedness: tuple[float, float] = Field(
        default=(0.3, 0.9), description="range of the initial weight of the informed view (uniform)"
    )
    prior: list[str] = Field(
        default_factory=list,
        description="the uninformed public's shared gut ranking after an incident (empty: none)",
    )
    noise: NonNegativeFloat = Field(default=0.2, description="sd of each voter's uninformed score noise")
    deliberation_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="the SIZE of deliberation's effect: share of the way to the deliberation target "
        "covered per round (0, the default: deliberation changes nobody's ranking; a scenario states "
        "the effect it assumes)",
    )
    deliberation_model: DeliberationModel = Field(
        default="learning",
        description="learning: toward one's deliberation target (see materials_quality); peer: toward "
        "the better informed members' current views",
    )
    materials_quality: float = Field(
        default=0.0,
        ge=-1,
        le=1,
        description="the DIRECTION of deliberation's effect (learning model): each member's target is "
        "q * informed + (1 - |q|) * takeaway, the takeaway a ranking drawn from the materials "
        "independently of the informed one; 1: materials lead to one's informed view, 0: unrelated to "
        "it, -1: away from it (to its reverse)",
    )
    materials: list[str] = Field(
        default_factory=list,
        description="the ranking the deliberation materials push (Mallows reference of each member's "
        "takeaway; empty: takeaways drawn by impartial culture, i.e. materials with no slant)",
    )
    materials_phi: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Mallows dispersion of the takeaways around `materials` (1: impartial culture)",
    )
    round_seconds: PositiveFloat = Field(default=60.0, description="seconds per deliberation round")
    redraws: int = Field(default=20, ge=0, description="panels redrawn per decision for the flip rate")

    @model_validator(mode="after")
    def _check_range(self) -> CitizensParams:
        low, high = self.informedness
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"informedness: expected 0 <= low <= high <= 1, got {list(self.informedness)}")
        return self


class CoalitionParams(VoterParams):
    """A coalition sharing one sincere ranking that misreports to move the outcome its way."""

    turnout: float = Field(default=1.0, ge=0, le=1, description="chance a convened member votes")
    sincere: list[str] = Field(
        default_factory=list, description="the coalition's sincere ranking (empty: drawn at random)"
    )
    strategy: Literal["bury", "bullet", "sincere"] = Field(
        default="bury",
        description="bury: the threat ranked last; bullet: only the favourite; sincere: the control",
    )
    threat: str = Field(
        default="",
        description="candidate to bury (empty: the last count's plurality leader if not the "
        "favourite, else the sincere second choice)",
    )


class SybilParams(VoterParams):
    """Operators running several actor ids each, trying to vote more than once."""

    turnout: float = Field(default=1.0, ge=0, le=1, description="chance an id tries to vote")
    operators: int = Field(default=2, ge=1, description="persons behind the ids (round-robin)")
    push: list[str] = Field(
        default_factory=list, description="the ranking every id casts (empty: drawn at random)"
    )
    double_vote: bool = Field(default=True, description="each id also tries a second ballot")
