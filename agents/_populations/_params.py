"""What the simulated agent populations take: their params, one model per kind of agent."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

__all__ = [
    "AgentParams",
    "DeceptiveParams",
    "DefectorParams",
    "ForgerParams",
    "ForgeryMode",
    "HonestParams",
    "IncompetentParams",
    "ReplayMode",
    "ReplayerParams",
    "SybilParams",
]


def _unit_range(value: tuple[float, float], name: str) -> None:
    low, high = value
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"{name}: expected 0 <= low <= high <= 1, got {list(value)}")


class AgentParams(BaseModel):
    """What every simulated agent population takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vendors: dict[str, str] = Field(
        default_factory=lambda: {"vendor-a": "eval-a", "vendor-b": "eval-b"},
        description="vendor -> simulated evaluator that certifies its agents; agents are "
                    "assigned to vendors round-robin")
    competence: tuple[float, float] = Field(
        default=(0.8, 1.0), description="latent competence range (uniform draw per agent)")
    honesty: tuple[float, float] = Field(
        default=(0.9, 1.0), description="latent honesty range: resistance to tempting breaches")
    credential_noise: NonNegativeFloat = Field(
        default=0.05, description="sd of the evaluator's measurement noise on competence")
    credential_validity: PositiveFloat = Field(default=7200.0, description="seconds a credential lasts")
    battery: str = Field(default="agent-competence-v1", min_length=1,
                         description="battery the evaluators certify")
    max_applications: int = Field(
        default=3, ge=1, description="refused applications in a row before the agent gives up")
    appeal_probability: float = Field(
        default=1.0, ge=0, le=1, description="chance an agent appeals a sanction")
    recertify_margin: NonNegativeFloat = Field(
        default=600.0, description="seconds before its admission lapses that an agent recertifies")
    market: str = Field(default="", description="market mechanism admitted agents trade on ('' = none)")
    reference_price: int = Field(default=100, gt=0, description="price ticks agents quote around")
    order_qty: int = Field(default=1, gt=0, description="lots per genuine order")
    max_open_orders: int = Field(default=3, ge=1, description="genuine orders kept open per agent")
    block_probability: float = Field(
        default=0.0, ge=0, le=1,
        description="chance a genuine order is a block: block_qty lots, placed block_distance ticks "
                    "from the reference price (patient liquidity, away from the touch)")
    block_qty: tuple[int, int] = Field(default=(10, 60), description="lots of a block order (uniform draw)")
    block_distance: tuple[int, int] = Field(
        default=(1, 10), description="ticks a block order sits from the reference price (uniform draw)")
    reprice_probability: float = Field(
        default=0.0, ge=0, le=1,
        description="chance a genuine order is repriced: cancelled after an exponential delay of mean "
                    "reprice_after seconds and replaced by a fresh small order")
    reprice_after: PositiveFloat = Field(
        default=2.0, description="mean seconds before a repriced order is cancelled")

    @model_validator(mode="after")
    def _check_ranges(self) -> AgentParams:
        _unit_range(self.competence, "competence")
        _unit_range(self.honesty, "honesty")
        for name in ("block_qty", "block_distance"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ValueError(f"{name}: expected 1 <= low <= high, got {[low, high]}")
        if not self.vendors:
            raise ValueError("vendors: expected at least one vendor")
        return self


class HonestParams(AgentParams):
    """Honest agents: competent, and trading as legitimate algorithmic traders do.

    Competence spans the whole competent range, from the marketplace's bar (0.6, the examples'
    credential threshold) up: a marginal agent's noisy credential or exam can fail it. Their
    conduct includes occasional block orders away from the touch and quick cancels (reprices),
    which is legitimate and can still look like spoofing to a surveillance desk.
    """

    competence: tuple[float, float] = Field(
        default=(0.6, 1.0), description="latent competence range (uniform draw per agent): competent "
                                        "means at or above the marketplace's bar, 0.6")
    block_probability: float = Field(default=0.1, ge=0, le=1,
                                     description="chance a genuine order is a block (see AgentParams)")
    reprice_probability: float = Field(default=0.5, ge=0, le=1,
                                       description="chance a genuine order is repriced (see AgentParams)")


class IncompetentParams(HonestParams):
    """Honest but incompetent agents."""

    competence: tuple[float, float] = Field(default=(0.3, 0.6), description="latent competence range")
    honesty: tuple[float, float] = Field(default=(0.8, 1.0), description="latent honesty range")


class DefectorParams(AgentParams):
    """Agents that spoof once admitted: large orders away from the price, cancelled quickly."""

    honesty: tuple[float, float] = Field(default=(0.0, 0.3), description="latent honesty range")
    spoof_probability: float = Field(
        default=0.5, ge=0, le=1, description="chance a market step of an admitted agent is a spoof")
    spoof_qty: int = Field(default=50, gt=0, description="lots of a spoofing order")
    spoof_offset: int = Field(default=10, gt=0, description="ticks a spoofing order sits from the price")
    spoof_cancel_after: PositiveFloat = Field(default=1.0, description="seconds before a spoof is cancelled")
    spoof_from: NonNegativeFloat = Field(
        default=0.0, description="sim time from which the agents spoof (before it they trade genuinely): "
                                 "a coordinated attack once past probation")


class DeceptiveParams(DefectorParams):
    """Competent agents that answer the exam as if honest, then defect."""

    exam_honesty: float = Field(default=1.0, ge=0, le=1,
                                description="honesty the agent shows on the exam")


class SybilParams(DefectorParams):
    """Many identities from few operators: each participant is one identity."""

    competence: tuple[float, float] = Field(default=(0.5, 0.8), description="operator competence range")
    operators: int = Field(default=2, ge=1, description="operators sharing the identities round-robin")


ForgeryMode = Literal["self_signed", "untrusted_evaluator", "tampered", "forged_kid"]
ReplayMode = Literal["credential_only", "identity_and_credential"]


class ForgerParams(AgentParams):
    """Agents presenting fake credentials, one forgery mode per agent (round-robin)."""

    competence: tuple[float, float] = Field(default=(0.2, 0.6), description="latent competence range")
    honesty: tuple[float, float] = Field(default=(0.0, 0.3), description="latent honesty range")
    modes: list[ForgeryMode] = Field(
        default_factory=lambda: list(get_args(ForgeryMode)),
        min_length=1, description="forgeries: self-signed, from an untrusted evaluator, a trusted "
                                  "credential with its score raised, own key under a trusted kid")
    untrusted_evaluator: str = Field(default="eval-shady", min_length=1,
                                     description="simulated evaluator the gate is not meant to trust")
    claimed_score: float = Field(default=0.95, ge=0, le=1, description="score the forgeries claim")


class ReplayerParams(AgentParams):
    """Agents presenting another agent's (leaked) credential, one mode per agent (round-robin)."""

    competence: tuple[float, float] = Field(default=(0.2, 0.6), description="latent competence range")
    honesty: tuple[float, float] = Field(default=(0.0, 0.3), description="latent honesty range")
    modes: list[ReplayMode] = Field(
        default_factory=lambda: list(get_args(ReplayMode)), min_length=1,
        description="credential_only: own key, victim's credential; identity_and_credential: "
                    "the victim's public key and credential, acting as the victim")
    victim_score: float = Field(default=0.95, ge=0, le=1, description="score of the leaked credential")

