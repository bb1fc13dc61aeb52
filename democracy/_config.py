"""The declared procedure of an ``emergency_vote``: its Config (see :mod:`flagship.democracy._mechanism`
for the lifecycle every field takes part in)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

from flagship.democracy._ballots import BallotType
from flagship.democracy._registry import get_rule, rules

__all__ = ["DEFAULT_CANDIDATES", "MAX_TEXT", "PROCEDURE_KEY", "EmergencyVoteConfig", "text"]

DEFAULT_CANDIDATES = ("pause_deployment", "restrict", "monitor", "no_action")
MAX_TEXT = 256
"""The longest name or id the procedure takes (candidates, persons, strata values, vote ids)."""
PROCEDURE_KEY = "procedure"
"""The key of ``DecisionTaken.params`` holding the vote's metadata (the populations read it)."""


_BALLOT_TYPES = (BallotType.RANKED, BallotType.APPROVAL)
"""The ballots a citizen can cast in the emergency vote: a ranking, or approvals (no yes/no
referendum: the vote chooses among several measures)."""


def _vote_rules() -> list[str]:
    return [name for name, info in rules().items() if info.ballot_type in _BALLOT_TYPES]


class EmergencyVoteConfig(BaseModel):
    """The declared procedure of an ``emergency_vote`` (see the module doc for the lifecycle)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidates: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CANDIDATES),
        min_length=2,
        description="measures on the ballot (name them as the listeners expect: a market halts on "
        "'halt_trading', the agent gate raises its exam threshold on 'raise_gate_threshold')",
    )
    rule: str = Field(
        default="schulze",
        description="a ranked rule of democracy.tally (ballots rank the measures), or 'approval' "
        "(ballots approve any number of measures; the most approved wins)",
    )
    tie_break: Literal["random", "lexicographic"] = Field(
        default="random", description="tie-break among co-winners (random: seeded per vote, recorded)"
    )
    status_quo: str | None = Field(
        default="no_action", description="the candidate that thresholds compare against (None: none)"
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="measure -> share of counted ballots that must rank it above the status quo "
        "(an approval ballot: approve it without approving the status quo; a supermajority for "
        "drastic measures); below it the measure is struck",
    )
    quorum: float = Field(
        default=0.5, ge=0, le=1, description="counted ballots needed, as a share of the convened members"
    )
    fallback_measure: str | None = Field(
        default=None, description="measure decided when the quorum is not met (None: no decision)"
    )
    min_severity: float = Field(default=0.5, ge=0, le=1, description="incidents below are ignored")
    shock_kinds: list[str] = Field(
        default_factory=lambda: ["ai_incident"],
        description="ShockFired kinds that are incidents (payload.severity in [0, 1] required)",
    )
    listen_incidents: bool = Field(default=True, description="IncidentRaised events trigger votes")
    convening: Literal["panel", "electorate"] = Field(
        default="panel", description="a citizens' panel drawn by stratified sortition, or everyone"
    )
    panel_size: int = Field(default=30, ge=1, description="panel members drawn (capped at the electorate)")
    strata: list[str] = Field(
        default_factory=lambda: ["region", "age_band"],
        description="strata keys every registration carries; the panel is stratified on their values",
    )
    selection: Literal["stratified", "leximin"] = Field(
        default="stratified",
        description="panel selection: stratified (largest-remainder seats per cell, uniform inside) or "
        "leximin (Flanigan et al. 2021: quotas met, the least-selected registrant's probability "
        "maximised, then the next's...)",
    )
    panel_quotas: dict[str, dict[str, tuple[int, int]]] = Field(
        default_factory=dict,
        description="leximin only: stratum key -> value -> [low, high] panel members with that value "
        "(empty: every strata cell gets floor or ceil of its proportional share)",
    )
    dedupe_identities: bool = Field(
        default=True,
        description="reject a person registered under a second actor id (false only to "
        "measure the sybil threat)",
    )
    deliberation_seconds: NonNegativeFloat = Field(
        default=1800.0, description="deliberation window before the ballot opens (0: no deliberation)"
    )
    ballot_seconds: PositiveFloat = Field(default=1800.0, description="ballot window")
    sunset_seconds: PositiveFloat | None = Field(
        default=7200.0, description="a decision lapses this long after it is taken (None: never)"
    )
    renewals: int = Field(
        default=0, ge=0, description="renewal votes in a row before a decision is left to lapse"
    )
    renew_lead_seconds: NonNegativeFloat = Field(
        default=60.0, description="a renewal vote closes this long before the sunset"
    )
    review_after_seconds: PositiveFloat | None = Field(
        default=None, description="a review vote is convened this long after each decision (None: no)"
    )
    appeal_signatures: int = Field(
        default=0, ge=0, description="registered voters whose appeal convenes a review (0: no appeals)"
    )
    measure_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="measure -> params published with its DecisionTaken (e.g. raise_gate_threshold: "
        "{exam_threshold_delta = 0.1})",
    )
    ballot_effort_seconds: NonNegativeFloat = Field(
        default=300.0, description="time a voter spends on one ballot (for the time-burden measure)"
    )

    @model_validator(mode="after")
    def _check(self) -> EmergencyVoteConfig:
        names = self.candidates
        if len(set(names)) != len(names) or not all(0 < len(n) <= MAX_TEXT for n in names):
            raise ValueError("candidates: expected distinct non-empty names")
        allowed = _vote_rules()
        if self.rule not in allowed:
            raise ValueError(
                f"rule: expected a ranked or approval rule ({', '.join(allowed)}), got {self.rule!r}"
            )
        for label, name in (("status_quo", self.status_quo), ("fallback_measure", self.fallback_measure)):
            if name is not None and name not in names:
                raise ValueError(f"{label}: {name!r} is not a candidate")
        for name, share in self.thresholds.items():
            if name not in names:
                raise ValueError(f"thresholds: {name!r} is not a candidate")
            if self.status_quo is None or name == self.status_quo:
                raise ValueError("thresholds: need a status_quo, and the status quo takes no threshold")
            if not 0.0 < share <= 1.0:
                raise ValueError(f"thresholds.{name}: expected a share in (0, 1], got {share}")
        for name, params in self.measure_params.items():
            if name not in names:
                raise ValueError(f"measure_params: {name!r} is not a candidate")
            if PROCEDURE_KEY in params:
                raise ValueError(f"measure_params.{name}: {PROCEDURE_KEY!r} is reserved")
        if len(set(self.strata)) != len(self.strata) or not all(key.isidentifier() for key in self.strata):
            raise ValueError("strata: expected distinct identifier keys")
        for key, values in self.panel_quotas.items():
            if key not in self.strata:
                raise ValueError(f"panel_quotas: {key!r} is not one of strata {self.strata}")
            for value, (low, high) in values.items():
                if not 0 <= low <= high:
                    raise ValueError(
                        f"panel_quotas.{key}.{value}: expected 0 <= low <= high, got [{low}, {high}]"
                    )
        if self.panel_quotas and self.selection != "leximin":
            raise ValueError("panel_quotas: only the leximin selection takes quotas")
        return self

    @property
    def ballot_type(self) -> BallotType:
        """What a ballot of this vote is: a ranking (``ranked``) or a set of approvals (``approval``)."""
        return get_rule(self.rule).ballot_type

    @property
    def ballot_field(self) -> str:
        """The ``ballot`` action's payload key holding the ballot: ``ranking`` or ``approvals``."""
        return "approvals" if self.ballot_type is BallotType.APPROVAL else "ranking"

    @property
    def procedure_seconds(self) -> float:
        """From convening to the count."""
        return self.deliberation_seconds + self.ballot_seconds


def text(value: object) -> str | None:
    """``value`` if it is a name or id the procedure takes (a non-empty string up to MAX_TEXT), else None."""
    return value if isinstance(value, str) and 0 < len(value) <= MAX_TEXT else None
