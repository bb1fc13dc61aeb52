"""The declared admission policy of an ``agent_gate`` (its Config), and simulated evaluators to trust."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

from flagship.agents._credentials import Evaluator
from flagship.agents._exam import SCENARIOS
from flagship.agents._identity import AgentIdentity, PublicIdentity
from flagship.mechanisms import InputError

__all__ = ["MAX_CREDENTIALS", "MAX_TEXT", "GateConfig", "simulated_evaluator", "simulated_evaluator_identity"]

MAX_CREDENTIALS = 8
"""Credentials per application, at most: bounds verification work; no honest agent needs more."""
MAX_TEXT = 256
"""Longest text field (a battery name, an exam id)."""


def simulated_evaluator_identity(name: str) -> AgentIdentity:
    """SIMULATION ONLY: the evaluator identity whose private key is ``sha256(name)``.

    Anyone who knows the name knows the private key: this exists so that a scenario
    can name evaluators (``trusted_evaluators = ["eval-a"]``) and the populations can
    have them issue credentials the gate verifies, deterministically. Live gates
    configure real public keys (``trusted_evaluator_jwks``) instead.
    """
    return AgentIdentity.from_seed(hashlib.sha256(name.encode("utf-8")).digest())


def simulated_evaluator(name: str) -> Evaluator:
    """SIMULATION ONLY: the :class:`Evaluator` named ``name`` (see :func:`simulated_evaluator_identity`)."""
    return Evaluator(simulated_evaluator_identity(name))


class GateConfig(BaseModel):
    """The declared admission policy of an ``agent_gate``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trusted_evaluators: list[str] = Field(
        default_factory=lambda: ["eval-a", "eval-b"],
        description="SIMULATION ONLY: names of simulated evaluators to trust; each key is "
                    "AgentIdentity.from_seed(sha256(name)), so the name is the private key")
    trusted_evaluator_jwks: list[dict[str, str]] = Field(
        default_factory=list, description="public Ed25519 JWKs of real evaluators to trust (live use)")
    revoked_credentials: list[str] = Field(
        default_factory=list, description="credential ids (jti) the gate refuses")
    credential_battery: str = Field(
        default="agent-competence-v1", max_length=MAX_TEXT,
        description="battery every credential must certify ('' accepts any battery)")
    min_evaluators: int = Field(
        default=1, ge=1, le=MAX_CREDENTIALS,
        description="distinct trusted evaluators an application needs valid credentials from")
    credential_threshold: float = Field(
        default=0.6, ge=0, le=1,
        description="minimum credential score: the mean over evaluators of each one's best score")
    exam_scenarios: list[str] = Field(
        default_factory=lambda: list(SCENARIOS),
        description=f"norms examined, from the battery: {', '.join(SCENARIOS)}")
    exam_questions: int = Field(default=4, ge=1, le=20, description="questions drawn per exam")
    exam_threshold: float = Field(
        default=0.75, ge=0, le=1, description="minimum exam score (mean norm points per question)")
    exam_ttl: PositiveFloat = Field(default=300.0, description="seconds to answer an opened exam")
    max_applications: int = Field(
        default=3, ge=1, description="accepted applications (exams opened) per identity per window")
    application_window: PositiveFloat = Field(
        default=3600.0, description="seconds of the rate-limit window")
    probation: NonNegativeFloat = Field(default=600.0, description="seconds of probation after admission")
    probation_revoke_strikes: int = Field(
        default=1, ge=1, description="strikes since admission that revoke an agent on probation")
    suspend_strikes: int = Field(default=2, ge=1, description="strikes that suspend an admitted agent")
    revoke_strikes: int = Field(default=4, ge=1, description="strikes that revoke an agent")
    suspension: PositiveFloat = Field(default=600.0, description="seconds a suspension lasts")
    appeal_window: PositiveFloat = Field(
        default=3600.0, description="seconds after a sanction during which it may be appealed")
    appeal_review_delay: PositiveFloat = Field(
        default=300.0, description="seconds from an appeal to its decision")
    weak_evidence_severity: float = Field(
        default=0.5, ge=0, description="strikes of lower severity are weak evidence, voided on appeal")
    recertify_interval: PositiveFloat = Field(
        default=3600.0, description="seconds an admission (or a recertification) lasts")
    threshold_measures: list[str] = Field(
        default_factory=lambda: ["raise_gate_threshold"],
        description="regulator decision measures that raise the thresholds until they lapse")
    default_exam_threshold_delta: float = Field(
        default=0.1, description="exam threshold raise of such a decision that names no delta")

    @model_validator(mode="after")
    def _check(self) -> GateConfig:
        if self.revoke_strikes < self.suspend_strikes:
            raise ValueError("revoke_strikes must be >= suspend_strikes")
        unknown = [name for name in self.exam_scenarios if name not in SCENARIOS]
        if unknown or not self.exam_scenarios:
            raise ValueError(f"exam_scenarios: expected a non-empty list from {', '.join(SCENARIOS)}, "
                             f"got unknown {unknown}")
        if len(set(self.trusted_evaluators)) != len(self.trusted_evaluators) or not all(
                self.trusted_evaluators):
            raise ValueError("trusted_evaluators: expected distinct non-empty names")
        for index, jwk in enumerate(self.trusted_evaluator_jwks):
            try:
                PublicIdentity.from_jwk(jwk, field=f"trusted_evaluator_jwks[{index}]")
            except InputError as exc:
                raise ValueError(str(exc)) from None
        return self

    def evaluator_keys(self) -> dict[str, Ed25519PublicKey]:
        """Trusted evaluator id -> public key, from the simulated names and the real JWKs."""
        keys: dict[str, Ed25519PublicKey] = {}
        for name in self.trusted_evaluators:
            public = simulated_evaluator_identity(name).public
            keys[public.agent_id] = public.public_key
        for jwk in self.trusted_evaluator_jwks:
            public = PublicIdentity.from_jwk(jwk)
            keys[public.agent_id] = public.public_key
        return keys
