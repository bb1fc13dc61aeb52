"""The agents-only marketplace gate: admission by credentials and exam, monitoring, appeals.

Lifecycle of one agent at the gate (``agent_gate``), by its agent id (the RFC 7638
thumbprint of its key, which is also the action's ``actor``):

1. ``apply`` with its public JWK and competence credentials. The gate checks the
   identity, the rate limit and every credential; on success it opens an exam:
   the outcome carries the drawn questions, an exam id and a challenge.
2. ``answer`` with one option per question, signed with the agent's key (proof of
   possession: presenting someone else's public key and credential is not enough).
   The answer is graded; the outcome's ``effects["decision"]`` is ``admitted`` or
   ``refused`` with ``effects["reasons"]``. Admission publishes ``AgentAdmitted``
   and starts a probation period and a recertification clock.
3. While admitted, ``ViolationObserved`` events about it are strikes: enough strikes
   suspend it (``AgentSuspended``, reinstated when the suspension ends) and then
   revoke it (``AgentRevoked``); a strike on probation revokes at once.
4. A sanctioned agent may ``appeal`` once per sanction; the review completes after a
   delay and may reinstate it (``AgentReinstated``).
5. ``recertify`` with fresh credentials before ``admitted_until``, or the admission
   lapses (``AgentRevoked`` with reason ``ADMISSION_LAPSED``; the agent may apply again).
   A suspended agent lapses only when its suspension ends, never during it.

A rejected action changes nothing. A graded answer is *accepted* even when the exam
is failed: grading closes the exam and consumes an attempt, which is a state change
a rejection may not make; the refusal and its reason (``EXAM_FAILED``) are in the
effects. See docs/agents.md for the policy and the measures.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

from flagship.agents._credentials import (
    CredentialRejected,
    CredentialRejectReason,
    CredentialVerifier,
    Evaluator,
)
from flagship.agents._exam import SCENARIOS, Question, draw_exam, grade
from flagship.agents._http import routes
from flagship.agents._identity import AgentIdentity, PublicIdentity, b64url_decode, b64url_encode
from flagship.mechanisms import (
    Action,
    Area,
    CommonReason,
    Context,
    ContractError,
    InputError,
    Measure,
    Mechanism,
    Outcome,
    Problem,
    canonical_bytes,
    register,
)
from flagship.mechanisms.events import (
    AgentAdmitted,
    AgentReinstated,
    AgentRevoked,
    AgentSuspended,
    DecisionLapsed,
    DecisionTaken,
    ViolationObserved,
)

__all__ = [
    "EXAM_SIGNATURE_DOMAIN",
    "AgentGate",
    "AgentStatus",
    "DecisionReason",
    "GateConfig",
    "GateReason",
    "exam_signing_input",
    "simulated_evaluator",
    "simulated_evaluator_identity",
]

EXAM_SIGNATURE_DOMAIN = "flagship-agent-gate/exam-answers/v1"
"""Domain tag of the signed answer message, so the signature means nothing elsewhere."""

_MAX_CREDENTIALS = 8  # bounds verification work per application; no honest agent needs more
_MAX_TEXT = 256
_SIGNATURE_BYTES = 64


class GateReason(StrEnum):
    """Why the gate rejected an action (``Outcome.reason``): a closed set, one code per cause."""

    BAD_IDENTITY = "BAD_IDENTITY"
    """``identity`` is not an Ed25519 public JWK."""
    IDENTITY_MISMATCH = "IDENTITY_MISMATCH"
    """The JWK's thumbprint is not the acting agent id."""
    NO_CREDENTIALS = "NO_CREDENTIALS"
    """No credential presented."""
    INSUFFICIENT_CREDENTIALS = "INSUFFICIENT_CREDENTIALS"
    """Valid credentials from fewer distinct trusted evaluators than the policy requires."""
    CREDENTIAL_MALFORMED = "CREDENTIAL_MALFORMED"
    """A credential is not a well-formed competence JWT."""
    CREDENTIAL_BAD_SIGNATURE = "CREDENTIAL_BAD_SIGNATURE"
    """A credential's signature does not verify under the named evaluator's key (forged, tampered)."""
    CREDENTIAL_UNTRUSTED_EVALUATOR = "CREDENTIAL_UNTRUSTED_EVALUATOR"
    """A credential comes from an evaluator the gate does not trust (or is self-signed)."""
    CREDENTIAL_EXPIRED = "CREDENTIAL_EXPIRED"
    """A credential is past its expiry."""
    CREDENTIAL_NOT_YET_VALID = "CREDENTIAL_NOT_YET_VALID"
    """A credential is not valid yet."""
    CREDENTIAL_REVOKED = "CREDENTIAL_REVOKED"
    """A credential's id is on the gate's revocation list."""
    CREDENTIAL_SUBJECT_MISMATCH = "CREDENTIAL_SUBJECT_MISMATCH"
    """A credential is about another agent (a replayed credential)."""
    CREDENTIAL_WRONG_BATTERY = "CREDENTIAL_WRONG_BATTERY"
    """A credential certifies another battery than the one the gate requires."""
    CREDENTIAL_SCORE_LOW = "CREDENTIAL_SCORE_LOW"
    """The credential score is below the (possibly raised) threshold."""
    RATE_LIMITED = "RATE_LIMITED"
    """Too many applications by this identity within the window."""
    ALREADY_ADMITTED = "ALREADY_ADMITTED"
    """The agent is admitted already."""
    EXAM_PENDING = "EXAM_PENDING"
    """The agent has an open exam; answer it (or let it expire) first."""
    NO_EXAM = "NO_EXAM"
    """No open exam to answer."""
    EXAM_MISMATCH = "EXAM_MISMATCH"
    """The answer names another exam than the open one."""
    EXAM_EXPIRED = "EXAM_EXPIRED"
    """The exam's answer deadline has passed."""
    BAD_PROOF = "BAD_PROOF"
    """The answer's signature does not verify under the applicant's key (no proof of possession)."""
    NOT_ADMITTED = "NOT_ADMITTED"
    """Recertification asked by an agent that is not admitted."""
    SUSPENDED = "SUSPENDED"
    """The agent is suspended."""
    REVOKED = "REVOKED"
    """The agent's admission is revoked (only an upheld appeal reinstates it)."""
    APPEAL_NOT_ALLOWED = "APPEAL_NOT_ALLOWED"
    """No sanction to appeal, this sanction was appealed already, or its appeal window closed."""
    APPEAL_PENDING = "APPEAL_PENDING"
    """An appeal of this sanction is under review."""


class DecisionReason(StrEnum):
    """Why a decision went the way it did (``effects["reasons"]`` and event ``reason``)."""

    CREDENTIALS_ACCEPTED = "CREDENTIALS_ACCEPTED"
    """Identity and credentials passed: an exam is opened."""
    EXAM_PASSED = "EXAM_PASSED"
    """The exam score reached the (possibly raised) threshold: admitted, on probation."""
    EXAM_FAILED = "EXAM_FAILED"
    """The exam score is below the threshold: refused (the agent may apply again)."""
    RECERTIFIED = "RECERTIFIED"
    """Fresh credentials passed: the admission is extended."""
    STRIKES_SUSPENSION = "STRIKES_SUSPENSION"
    """Strikes reached the suspension threshold."""
    STRIKES_REVOCATION = "STRIKES_REVOCATION"
    """Strikes reached the revocation threshold."""
    PROBATION_VIOLATION = "PROBATION_VIOLATION"
    """Strikes during probation reached the probation threshold: revoked."""
    SUSPENSION_ENDED = "SUSPENSION_ENDED"
    """The suspension period is over: reinstated."""
    APPEAL_UPHELD = "APPEAL_UPHELD"
    """Without the weak-evidence strikes the sanction's threshold is not reached: reinstated."""
    APPEAL_DENIED = "APPEAL_DENIED"
    """Enough strong-evidence strikes remain: the sanction stands."""
    ADMISSION_LAPSED = "ADMISSION_LAPSED"
    """Not recertified in time: the admission lapses (the agent may apply again)."""


class AgentStatus(StrEnum):
    """Where an agent stands at the gate."""

    EXAMINING = "examining"
    REFUSED = "refused"
    ADMITTED = "admitted"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    LAPSED = "lapsed"


_CREDENTIAL_REASON: Mapping[CredentialRejectReason, GateReason] = {
    CredentialRejectReason.MALFORMED: GateReason.CREDENTIAL_MALFORMED,
    CredentialRejectReason.BAD_SIGNATURE: GateReason.CREDENTIAL_BAD_SIGNATURE,
    CredentialRejectReason.UNTRUSTED_EVALUATOR: GateReason.CREDENTIAL_UNTRUSTED_EVALUATOR,
    CredentialRejectReason.EXPIRED: GateReason.CREDENTIAL_EXPIRED,
    CredentialRejectReason.NOT_YET_VALID: GateReason.CREDENTIAL_NOT_YET_VALID,
    CredentialRejectReason.REVOKED: GateReason.CREDENTIAL_REVOKED,
    CredentialRejectReason.SUBJECT_MISMATCH: GateReason.CREDENTIAL_SUBJECT_MISMATCH,
}

# Refusals on the merits (who the applicant is and what it presents): these are
# admission decisions. Other rejections (rate limit, bad payload...) are not.
_MERIT_REFUSALS = frozenset({
    GateReason.BAD_IDENTITY, GateReason.IDENTITY_MISMATCH, GateReason.NO_CREDENTIALS,
    GateReason.INSUFFICIENT_CREDENTIALS, GateReason.CREDENTIAL_WRONG_BATTERY,
    GateReason.CREDENTIAL_SCORE_LOW, *_CREDENTIAL_REASON.values(),
})
_ALL_CODES = frozenset(GateReason) | frozenset(DecisionReason)


# -- simulation helpers -------------------------------------------------------------------


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


def exam_signing_input(gate: str, exam_id: str, challenge: str, answers: Mapping[str, str]) -> bytes:
    """The bytes an applicant signs with its key to answer exam ``exam_id`` of gate ``gate``.

    Canonical JSON of the domain tag, the gate's name, the exam id, the gate's
    random challenge and the answers: the signature proves possession of the key
    and binds these answers to this one exam, so it can be neither replayed nor
    moved to other answers.
    """
    return canonical_bytes({"domain": EXAM_SIGNATURE_DOMAIN, "gate": gate, "exam_id": exam_id,
                            "challenge": challenge, "answers": dict(answers)})


# -- config -------------------------------------------------------------------------------


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
        default="agent-competence-v1", max_length=_MAX_TEXT,
        description="battery every credential must certify ('' accepts any battery)")
    min_evaluators: int = Field(
        default=1, ge=1, le=_MAX_CREDENTIALS,
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


# -- state --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Exam:
    exam_id: str
    challenge: str
    questions: list[Question]
    deadline: float
    credential_score: float

    def to_json(self) -> dict[str, Any]:
        return {"exam_id": self.exam_id, "challenge": self.challenge, "deadline": self.deadline,
                "credential_score": self.credential_score,
                "questions": [[q.question_id, q.scenario_id, q.variant] for q in self.questions]}


@dataclass(slots=True)
class _Strike:
    time: float
    kind: str
    severity: float
    source: str


@dataclass(slots=True)
class _Sanction:
    sanction_id: int
    kind: str  # "suspension" | "revocation"
    reason: DecisionReason
    at: float
    threshold: int  # the strike count the rule that fired requires (judged again on appeal)
    until: float | None = None
    appealed_at: float | None = None
    appeal_outcome: str | None = None  # None while pending or not appealed


@dataclass(slots=True)
class _Agent:
    jwk_x: str
    status: AgentStatus
    applications: list[float] = field(default_factory=list)
    exam: _Exam | None = None
    admitted_at: float | None = None
    probation_until: float | None = None
    admitted_until: float | None = None
    strikes: list[_Strike] = field(default_factory=list)
    sanction: _Sanction | None = None
    # Why it is admitted (EXAM_PASSED, RECERTIFIED, SUSPENSION_ENDED, APPEAL_UPHELD): the other
    # statuses have one reason each, or their sanction's, but an admission has several origins.
    admitted_reason: DecisionReason | None = None

    def to_json(self) -> dict[str, Any]:
        sanction = self.sanction
        return {
            "jwk_x": self.jwk_x, "status": str(self.status), "applications": list(self.applications),
            "admitted_reason": None if self.admitted_reason is None else str(self.admitted_reason),
            "exam": None if self.exam is None else self.exam.to_json(),
            "admitted_at": self.admitted_at, "probation_until": self.probation_until,
            "admitted_until": self.admitted_until,
            "strikes": [[s.time, s.kind, s.severity, s.source] for s in self.strikes],
            "sanction": None if sanction is None else {
                "id": sanction.sanction_id, "kind": sanction.kind, "reason": str(sanction.reason),
                "at": sanction.at, "threshold": sanction.threshold, "until": sanction.until,
                "appealed_at": sanction.appealed_at, "appeal_outcome": sanction.appeal_outcome},
        }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= _MAX_TEXT else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


# -- the mechanism ------------------------------------------------------------------------


@register
class AgentGate(Mechanism[GateConfig]):
    """Admits AI agents by credentials and a normative exam, monitors them, hears appeals.

    Action kinds and payloads (plain dicts, checked by hand):

    * ``apply``: ``{"identity": <Ed25519 public JWK>, "credentials": [<JWT>, ...]}``;
      accepted effects: ``exam_id``, ``challenge``, ``questions``, ``answer_by``.
    * ``answer``: ``{"exam_id": str, "answers": {question_id: option_id}, "signature":
      <base64url Ed25519 signature of exam_signing_input(...)>}``; accepted effects:
      ``decision`` (``admitted``/``refused``), ``reasons``, ``exam_score``, ``exam_threshold``.
    * ``appeal``: ``{}``; accepted effects: ``sanction_id``, ``review_at``.
    * ``recertify``: ``{"credentials": [<JWT>, ...]}``; accepted effects: ``admitted_until``.

    In a live trial the same actions are served at ``/v1/gate`` (:mod:`flagship.agents._http`), and
    :meth:`standing` and :meth:`public_identity` answer the routes and the authenticator.
    """

    name = "agent_gate"
    Config = GateConfig
    http = routes
    reasons = GateReason
    publishes = (AgentAdmitted, AgentSuspended, AgentReinstated, AgentRevoked)
    subscribes = (ViolationObserved, DecisionTaken, DecisionLapsed)
    measures = (
        Measure("decisions_explained", Area.LEGITIMACY, "ratio", True,
                "share of the gate's decisions (credentials accepted, admit, refuse, recertify, suspend, "
                "revoke, reinstate, lapse, appeal) carrying reason codes, all from its closed sets"),
        Measure("appeal_overturn_rate", Area.LEGITIMACY, "ratio", False,
                "appeals upheld / appeals decided (appeals made moot by the sanction ending excluded)"),
        Measure("time_to_admission", Area.UX, "seconds", False,
                "mean time from an identity's first accepted application to its first admission"),
        Measure("steps_per_admission", Area.UX, "count", False,
                "mean gate actions (accepted or rejected) an identity sent up to its first admission"),
        Measure("time_to_revocation", Area.ROBUSTNESS, "seconds", False,
                "mean time from an agent's first observed violation to its revocation by strikes"),
        Measure("violations_before_revocation", Area.ROBUSTNESS, "count", False,
                "mean violations observed while admitted (trading, not yet sanctioned) per agent with any"),
    )

    @classmethod
    def live_problems(cls, config: BaseModel) -> list[Problem]:
        """A live gate must not trust simulated evaluators: their private keys derive from their names."""
        if isinstance(config, GateConfig) and config.trusted_evaluators:
            return [Problem("trusted_evaluators",
                            f"trusts simulated evaluators {config.trusted_evaluators}, whose signing keys "
                            "anyone can derive from their names; a live gate lists its evaluators' "
                            "public keys in trusted_evaluator_jwks and sets trusted_evaluators = []")]
        return []

    def __init__(self, config: GateConfig, ctx: Context) -> None:
        super().__init__(config, ctx)
        self._verifier = CredentialVerifier(config.evaluator_keys(),
                                            revoked=config.revoked_credentials)
        self._exam_rng = ctx.stream("exam")
        # -- state (in the snapshot) --
        self._agents: dict[str, _Agent] = {}
        # decision id -> (exam delta, credential delta, every admitted agent back on probation?)
        self._in_force: dict[str, tuple[float, float, bool]] = {}
        self._exam_seq = 0
        self._sanction_seq = 0
        # -- derived from the state (each key from its agent's jwk_x), a cache --
        self._keys: dict[str, PublicIdentity] = {}
        # -- statistics for measures only (may change on rejected actions) --
        self._decisions = 0
        self._explained = 0
        self._appeals_upheld = 0
        self._appeals_denied = 0
        self._steps: dict[str, int] = {}
        self._first_apply: dict[str, float] = {}
        self._admission_delays: list[float] = []
        self._admission_steps: list[int] = []
        self._admitted_once: set[str] = set()
        self._first_violation: dict[str, float] = {}
        self._revocation_delays: list[float] = []
        self._revoked_once: set[str] = set()
        self._violations_admitted: dict[str, int] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.ctx.subscribe(ViolationObserved, self._on_violation)
        self.ctx.subscribe(DecisionTaken, self._on_decision)
        self.ctx.subscribe(DecisionLapsed, self._on_lapsed)

    def handle(self, action: Action) -> Outcome:
        actor = action.actor
        agent = self._agents.get(actor)
        if agent is None or agent.admitted_at is None:  # counted until the first admission
            self._steps[actor] = self._steps.get(actor, 0) + 1
        kind = action.kind
        if kind == "apply":
            outcome = self._apply(action, agent)
        elif kind == "answer":
            outcome = self._answer(action, agent)
        elif kind == "appeal":
            outcome = self._appeal(action, agent)
        elif kind == "recertify":
            outcome = self._recertify(action, agent)
        else:
            return Outcome.reject(CommonReason.UNKNOWN_KIND, f"unknown kind {kind!r}")
        if not outcome.accepted:
            self.ctx.recorder.count(f"rejected.{outcome.reason}")
            if outcome.reason in _MERIT_REFUSALS:
                self._decided("refused", (str(outcome.reason),))
        return outcome

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        record("decisions_explained", self._explained / self._decisions if self._decisions else None)
        appeals = self._appeals_upheld + self._appeals_denied
        record("appeal_overturn_rate", self._appeals_upheld / appeals if appeals else None)
        record("time_to_admission", _mean(self._admission_delays))
        record("steps_per_admission", _mean([float(n) for n in self._admission_steps]))
        record("time_to_revocation", _mean(self._revocation_delays))
        record("violations_before_revocation",
               _mean([float(n) for n in self._violations_admitted.values()]))

    def snapshot(self) -> dict[str, Any]:
        return {
            "agents": {actor: agent.to_json() for actor, agent in self._agents.items()},
            "in_force": {decision: list(deltas) for decision, deltas in self._in_force.items()},
            "exam_seq": self._exam_seq,
            "sanction_seq": self._sanction_seq,
        }

    # -- queries --------------------------------------------------------------------------

    def status(self, actor: str) -> AgentStatus | None:
        """Where ``actor`` stands (None: never got past a rejected application)."""
        agent = self._agents.get(actor)
        return None if agent is None else agent.status

    def public_identity(self, actor: str) -> PublicIdentity | None:
        """The key of ``actor`` if an application of it was accepted (None otherwise).

        The live authenticator resolves signatures' key ids with it: once the gate
        holds an agent's key, the agent signs requests without sending its JWK again.
        """
        agent = self._agents.get(actor)
        if agent is None:
            return None
        key = self._keys.get(actor)
        if key is None:  # rebuilt from the state, never from a payload
            key = self._keys[actor] = PublicIdentity.from_jwk(
                {"kty": "OKP", "crv": "Ed25519", "x": agent.jwk_x})
        return key

    def standing(self, actor: str) -> dict[str, Any] | None:
        """Where ``actor`` stands, as JSON for the agent itself (None: never past a rejected apply).

        ``reasons`` explain the status with codes from :class:`DecisionReason`: a sanction's
        own reason (and ``APPEAL_DENIED`` once its appeal failed), else the last decision
        that put the agent where it is. The open exam is shown again (questions and
        challenge) so an agent that lost the application's response can still answer.
        """
        agent = self._agents.get(actor)
        if agent is None:
            return None
        now = self.ctx.now
        status = agent.status
        sanction = agent.sanction
        reasons: list[str]
        if sanction is not None and status in _SANCTIONED:
            reasons = [str(sanction.reason)]
            if sanction.appeal_outcome == "denied":
                reasons.append(str(DecisionReason.APPEAL_DENIED))
        elif status is AgentStatus.ADMITTED:
            reasons = [str(agent.admitted_reason or DecisionReason.EXAM_PASSED)]
        else:
            reasons = [str(_STATUS_REASON[status])]
        exam = agent.exam if status is AgentStatus.EXAMINING else None
        return {
            "status": str(status),
            "reasons": reasons,
            "on_probation": status is AgentStatus.ADMITTED and agent.probation_until is not None
            and now < agent.probation_until,
            "admitted_at": agent.admitted_at,
            "probation_until": agent.probation_until,
            "admitted_until": agent.admitted_until,
            "strikes": len(agent.strikes),
            "exam": None if exam is None else {
                "exam_id": exam.exam_id, "challenge": exam.challenge, "answer_by": exam.deadline,
                "questions": [q.to_dict() for q in exam.questions]},
            "sanction": None if sanction is None or status not in _SANCTIONED else {
                "sanction_id": sanction.sanction_id, "kind": sanction.kind, "reason": str(sanction.reason),
                "at": sanction.at, "until": sanction.until,
                "appeal": "none" if sanction.appealed_at is None else sanction.appeal_outcome or "pending",
                "appeal_by": sanction.at + self.config.appeal_window},
        }

    def exam_threshold(self) -> float:
        """The exam threshold in force: the declared one plus every binding regulator raise."""
        raise_by = sum(exam for exam, _, _ in self._in_force.values())
        return min(1.0, max(0.0, self.config.exam_threshold + raise_by))

    def credential_threshold(self) -> float:
        """The credential threshold in force (declared plus binding regulator raises)."""
        raise_by = sum(credential for _, credential, _ in self._in_force.values())
        return min(1.0, max(0.0, self.config.credential_threshold + raise_by))

    # -- actions --------------------------------------------------------------------------

    def _apply(self, action: Action, agent: _Agent | None) -> Outcome:
        payload = action.payload
        jwk = payload.get("identity")
        tokens = _tokens(payload.get("credentials"))
        if not isinstance(jwk, Mapping):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, "identity: expected a JWK object")
        if tokens is None:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  f"credentials: expected a list of at most {_MAX_CREDENTIALS} strings")
        try:
            identity = PublicIdentity.from_jwk(jwk, field="identity")
        except InputError as exc:
            return Outcome.reject(GateReason.BAD_IDENTITY, str(exc))
        actor = action.actor
        if identity.agent_id != actor:
            return Outcome.reject(GateReason.IDENTITY_MISMATCH, "identity thumbprint is not the actor")
        now = action.time
        if agent is not None:
            blocked = _STATUS_BLOCKS_APPLY.get(agent.status)
            if blocked is not None:
                return Outcome.reject(blocked)
            if agent.status is AgentStatus.EXAMINING and agent.exam is not None \
                    and now < agent.exam.deadline:
                return Outcome.reject(GateReason.EXAM_PENDING, f"answer {agent.exam.exam_id} first")
            window_start = now - self.config.application_window
            recent = sum(1 for t in agent.applications if t > window_start)
            if recent >= self.config.max_applications:
                return Outcome.reject(GateReason.RATE_LIMITED,
                                      f"{recent} applications in the last {self.config.application_window}s")
        checked = self._credential_score(tokens, actor, now)
        if isinstance(checked, tuple):
            return Outcome.reject(checked[0], checked[1])
        # Accepted: every draw from the gate's streams happens only past this point.
        self._exam_seq += 1
        exam_id = f"exam-{self._exam_seq}"
        challenge = b64url_encode(self._exam_rng.bytes(16))
        questions = draw_exam(self._exam_rng, self.config.exam_questions, self.config.exam_scenarios)
        exam = _Exam(exam_id, challenge, questions, now + self.config.exam_ttl, checked)
        if agent is None:
            agent = self._agents[actor] = _Agent(jwk_x=identity.jwk()["x"], status=AgentStatus.EXAMINING)
            self._keys[actor] = identity
        window_start = now - self.config.application_window
        agent.applications = [t for t in agent.applications if t > window_start] + [now]
        agent.status = AgentStatus.EXAMINING
        agent.exam = exam
        self._first_apply.setdefault(actor, now)
        self._decided("credentials_accepted", (DecisionReason.CREDENTIALS_ACCEPTED,))
        return Outcome.accept({
            "status": str(AgentStatus.EXAMINING), "reasons": [str(DecisionReason.CREDENTIALS_ACCEPTED)],
            "exam_id": exam_id, "challenge": challenge, "answer_by": exam.deadline,
            "credential_score": checked, "questions": [q.to_dict() for q in questions],
        })

    def _answer(self, action: Action, agent: _Agent | None) -> Outcome:
        payload = action.payload
        exam_id = _text(payload.get("exam_id"))
        answers = payload.get("answers")
        signature = payload.get("signature")
        if exam_id is None or not isinstance(answers, Mapping) or not isinstance(signature, str):
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  "expected exam_id (text), answers (object) and signature (text)")
        if agent is None or agent.status is not AgentStatus.EXAMINING or agent.exam is None:
            return Outcome.reject(GateReason.NO_EXAM)
        exam = agent.exam
        if exam_id != exam.exam_id:
            return Outcome.reject(GateReason.EXAM_MISMATCH, f"the open exam is {exam.exam_id}")
        now = action.time
        if now >= exam.deadline:
            return Outcome.reject(GateReason.EXAM_EXPIRED, f"answers were due by {exam.deadline}")
        problem = _answers_problem(exam.questions, answers)
        if problem:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD, problem)
        message = exam_signing_input(self.ctx.name, exam.exam_id, exam.challenge, answers)
        if not self._proves_possession(action.actor, signature, message):
            return Outcome.reject(GateReason.BAD_PROOF, "signature does not verify under the identity")
        score = grade(exam.questions, answers)
        threshold = self.exam_threshold()
        agent.exam = None
        if score < threshold:
            agent.status = AgentStatus.REFUSED
            self._decided("refused", (DecisionReason.EXAM_FAILED,))
            return Outcome.accept({"decision": "refused", "reasons": [str(DecisionReason.EXAM_FAILED)],
                                   "exam_score": score, "exam_threshold": threshold})
        agent.status = AgentStatus.ADMITTED
        agent.admitted_reason = DecisionReason.EXAM_PASSED
        agent.admitted_at = now
        agent.probation_until = now + self.config.probation
        agent.admitted_until = now + self.config.recertify_interval
        self._schedule_lapse(action.actor, agent.admitted_until)
        self._record_admission(action.actor, now)
        self._decided("admitted", (DecisionReason.EXAM_PASSED,))
        self.ctx.publish(AgentAdmitted(time=now, source=self.ctx.name, actor=action.actor,
                                       probation_until=agent.probation_until))
        return Outcome.accept({"decision": "admitted", "reasons": [str(DecisionReason.EXAM_PASSED)],
                               "exam_score": score, "exam_threshold": threshold,
                               "probation_until": agent.probation_until,
                               "admitted_until": agent.admitted_until})

    def _appeal(self, action: Action, agent: _Agent | None) -> Outcome:
        if agent is None or agent.sanction is None or agent.status not in _SANCTIONED:
            return Outcome.reject(GateReason.APPEAL_NOT_ALLOWED, "no sanction in force")
        sanction = agent.sanction
        if sanction.appealed_at is not None:
            if sanction.appeal_outcome is None:
                return Outcome.reject(GateReason.APPEAL_PENDING)
            return Outcome.reject(GateReason.APPEAL_NOT_ALLOWED, "this sanction was appealed already")
        now = action.time
        if now > sanction.at + self.config.appeal_window:
            return Outcome.reject(GateReason.APPEAL_NOT_ALLOWED, "the appeal window has closed")
        sanction.appealed_at = now
        review_at = now + self.config.appeal_review_delay
        self.ctx.env.process(self._later(self.config.appeal_review_delay, self._review,
                                         action.actor, sanction.sanction_id))
        return Outcome.accept({"status": "appeal_pending", "sanction_id": sanction.sanction_id,
                               "review_at": review_at})

    def _recertify(self, action: Action, agent: _Agent | None) -> Outcome:
        tokens = _tokens(action.payload.get("credentials"))
        if tokens is None:
            return Outcome.reject(CommonReason.INVALID_PAYLOAD,
                                  f"credentials: expected a list of at most {_MAX_CREDENTIALS} strings")
        if agent is None or agent.status not in (AgentStatus.ADMITTED, AgentStatus.SUSPENDED):
            if agent is not None and agent.status is AgentStatus.REVOKED:
                return Outcome.reject(GateReason.REVOKED)
            return Outcome.reject(GateReason.NOT_ADMITTED)
        now = action.time
        checked = self._credential_score(tokens, action.actor, now)
        if isinstance(checked, tuple):
            return Outcome.reject(checked[0], checked[1])
        agent.admitted_until = now + self.config.recertify_interval
        if agent.status is AgentStatus.ADMITTED:
            agent.admitted_reason = DecisionReason.RECERTIFIED
        self._schedule_lapse(action.actor, agent.admitted_until)
        self._decided("recertified", (DecisionReason.RECERTIFIED,))
        return Outcome.accept({"decision": "recertified", "reasons": [str(DecisionReason.RECERTIFIED)],
                               "credential_score": checked, "admitted_until": agent.admitted_until})

    # -- checks ---------------------------------------------------------------------------

    def _credential_score(self, tokens: Sequence[str], subject: str,
                          now: float) -> float | tuple[GateReason, str]:
        """The credential score, or the first reason to refuse with a detail.

        One bad credential spoils the application: presenting a forged, replayed or
        expired token is itself a reason to refuse, whatever else is presented.
        """
        if not tokens:
            return GateReason.NO_CREDENTIALS, ""
        battery = self.config.credential_battery
        best: dict[str, float] = {}
        for index, token in enumerate(tokens):
            result = self._verifier.verify(token, now=now, subject=subject)
            if isinstance(result, CredentialRejected):
                return _CREDENTIAL_REASON[result.reason], f"credentials[{index}]: {result.detail}"
            if battery and result.battery != battery:
                return GateReason.CREDENTIAL_WRONG_BATTERY, f"credentials[{index}]: {result.battery!r}"
            previous = best.get(result.evaluator_id)
            best[result.evaluator_id] = result.score if previous is None else max(previous, result.score)
        if len(best) < self.config.min_evaluators:
            return (GateReason.INSUFFICIENT_CREDENTIALS,
                    f"{len(best)} evaluators, {self.config.min_evaluators} required")
        score = sum(best.values()) / len(best)
        threshold = self.credential_threshold()
        if score < threshold:
            return GateReason.CREDENTIAL_SCORE_LOW, f"score {score:.3f} < {threshold:.3f}"
        return score

    def _proves_possession(self, actor: str, signature: str, message: bytes) -> bool:
        try:
            raw = b64url_decode(signature, "signature")
        except InputError:
            return False
        if len(raw) != _SIGNATURE_BYTES:
            return False
        key = self.public_identity(actor)
        return key is not None and key.verify(raw, message)

    # -- monitoring -----------------------------------------------------------------------

    def _on_violation(self, event: ViolationObserved) -> None:
        severity = _number(event.severity)
        if severity is None or severity < 0:
            raise ContractError(f"{event.source}: ViolationObserved.severity must be a finite "
                                f"number >= 0, got {event.severity!r}")
        actor = event.actor
        agent = self._agents.get(actor)
        if agent is None or agent.status not in (AgentStatus.ADMITTED, AgentStatus.SUSPENDED):
            self.ctx.recorder.count("violations_ignored")  # not admitted: nothing to sanction
            return
        now = self.ctx.now
        agent.strikes.append(_Strike(now, str(event.kind), severity, event.source))
        self._first_violation.setdefault(actor, now)
        if agent.status is AgentStatus.ADMITTED:
            self._violations_admitted[actor] = self._violations_admitted.get(actor, 0) + 1
        config = self.config
        admitted_at = agent.admitted_at if agent.admitted_at is not None else now
        since_admission = sum(1 for s in agent.strikes if s.time >= admitted_at)
        # A binding decision may put every admitted agent back on probation while it is in force.
        on_probation = (agent.probation_until is not None and now < agent.probation_until) or any(
            probation for _, _, probation in self._in_force.values())
        if on_probation and since_admission >= config.probation_revoke_strikes:
            self._revoke(actor, agent, DecisionReason.PROBATION_VIOLATION, config.probation_revoke_strikes)
        elif len(agent.strikes) >= config.revoke_strikes:
            self._revoke(actor, agent, DecisionReason.STRIKES_REVOCATION, config.revoke_strikes)
        elif agent.status is AgentStatus.ADMITTED and len(agent.strikes) >= config.suspend_strikes:
            self._suspend(actor, agent)

    def _suspend(self, actor: str, agent: _Agent) -> None:
        now = self.ctx.now
        until = now + self.config.suspension
        agent.status = AgentStatus.SUSPENDED
        agent.sanction = self._new_sanction("suspension", DecisionReason.STRIKES_SUSPENSION, now,
                                            self.config.suspend_strikes, until)
        self.ctx.env.process(self._later(self.config.suspension, self._end_suspension, actor,
                                         agent.sanction.sanction_id))
        self._decided("suspended", (DecisionReason.STRIKES_SUSPENSION,))
        self.ctx.publish(AgentSuspended(time=now, source=self.ctx.name, actor=actor,
                                        reason=str(DecisionReason.STRIKES_SUSPENSION), until=until))

    def _revoke(self, actor: str, agent: _Agent, reason: DecisionReason, threshold: int) -> None:
        now = self.ctx.now
        agent.status = AgentStatus.REVOKED
        agent.sanction = self._new_sanction("revocation", reason, now, threshold, None)
        if actor not in self._revoked_once:
            self._revoked_once.add(actor)
            self._revocation_delays.append(now - self._first_violation.get(actor, now))
        self._decided("revoked", (reason,))
        self.ctx.publish(AgentRevoked(time=now, source=self.ctx.name, actor=actor, reason=str(reason)))

    def _new_sanction(self, kind: str, reason: DecisionReason, at: float, threshold: int,
                      until: float | None) -> _Sanction:
        self._sanction_seq += 1
        return _Sanction(self._sanction_seq, kind, reason, at, threshold, until)

    def _end_suspension(self, actor: str, sanction_id: int) -> None:
        agent = self._agents[actor]
        if agent.status is not AgentStatus.SUSPENDED or agent.sanction is None \
                or agent.sanction.sanction_id != sanction_id:
            return  # superseded (revoked, or reinstated on appeal)
        if agent.admitted_until is not None and agent.admitted_until <= self.ctx.now:
            self._end_admission(actor, agent)  # not recertified while suspended: it lapsed meanwhile
        else:
            self._reinstate(actor, agent, DecisionReason.SUSPENSION_ENDED)

    def _review(self, actor: str, sanction_id: int) -> None:
        """Decide an appeal on what the gate knows: strikes of weak evidence are voided.

        The appeal is upheld when the strong-evidence strikes alone would not reach
        the threshold of the rule that imposed the sanction; then the weak strikes are
        struck from the record and the agent is reinstated.
        """
        agent = self._agents[actor]
        sanction = agent.sanction
        if sanction is None or sanction.sanction_id != sanction_id or agent.status not in _SANCTIONED:
            self.ctx.recorder.count("appeals_moot")  # the sanction ended or was superseded
            return
        weak = self.config.weak_evidence_severity
        strong = [s for s in agent.strikes if s.severity >= weak]
        if sanction.reason is DecisionReason.PROBATION_VIOLATION:
            admitted_at = agent.admitted_at if agent.admitted_at is not None else sanction.at
            counted = sum(1 for s in strong if s.time >= admitted_at)
        else:
            counted = len(strong)
        if counted < sanction.threshold:
            sanction.appeal_outcome = "upheld"
            self._appeals_upheld += 1
            agent.strikes = strong
            self._reinstate(actor, agent, DecisionReason.APPEAL_UPHELD)
        else:
            sanction.appeal_outcome = "denied"
            self._appeals_denied += 1
            self._decided("appeal_denied", (DecisionReason.APPEAL_DENIED,))

    def _reinstate(self, actor: str, agent: _Agent, reason: DecisionReason) -> None:
        now = self.ctx.now
        agent.status = AgentStatus.ADMITTED
        agent.admitted_reason = reason
        agent.sanction = None
        if agent.admitted_until is None or agent.admitted_until <= now:
            # Its admission ran out while sanctioned, when it could not recertify: a new period.
            agent.admitted_until = now + self.config.recertify_interval
            self._schedule_lapse(actor, agent.admitted_until)
        self._decided("reinstated", (reason,))
        self.ctx.publish(AgentReinstated(time=now, source=self.ctx.name, actor=actor, reason=str(reason)))

    def _schedule_lapse(self, actor: str, at: float) -> None:
        self.ctx.env.process(self._later(at - self.ctx.now, self._lapse, actor, at))

    def _lapse(self, actor: str, at: float) -> None:
        agent = self._agents[actor]
        # A suspended agent lapses only when its suspension ends: lapsing earlier would
        # let it apply afresh and walk out of its sanction.
        if agent.status is not AgentStatus.ADMITTED or agent.admitted_until != at:
            return  # recertified since, sanctioned, or no longer admitted
        self._end_admission(actor, agent)

    def _end_admission(self, actor: str, agent: _Agent) -> None:
        agent.status = AgentStatus.LAPSED
        agent.sanction = None
        self._decided("lapsed", (DecisionReason.ADMISSION_LAPSED,))
        self.ctx.publish(AgentRevoked(time=self.ctx.now, source=self.ctx.name, actor=actor,
                                      reason=str(DecisionReason.ADMISSION_LAPSED)))

    # -- regulator ------------------------------------------------------------------------

    def _on_decision(self, event: DecisionTaken) -> None:
        if event.measure not in self.config.threshold_measures:
            return
        params = event.params
        exam = params.get("exam_threshold_delta")
        credential = params.get("credential_threshold_delta", 0.0)
        if exam is None and "credential_threshold_delta" not in params:
            exam = self.config.default_exam_threshold_delta
        exam_delta, credential_delta = _number(0.0 if exam is None else exam), _number(credential)
        if exam_delta is None or credential_delta is None:
            raise ContractError(f"{event.source}: {event.measure} params: threshold deltas must be "
                                f"finite numbers, got {dict(params)!r}")
        probation = params.get("probation", False)
        if not isinstance(probation, bool):
            raise ContractError(f"{event.source}: {event.measure} params: probation must be true or "
                                f"false, got {probation!r}")
        self._in_force[event.decision_id] = (exam_delta, credential_delta, probation)
        self.ctx.recorder.gauge("exam_threshold", self.exam_threshold())

    def _on_lapsed(self, event: DecisionLapsed) -> None:
        if self._in_force.pop(event.decision_id, None) is not None:
            self.ctx.recorder.gauge("exam_threshold", self.exam_threshold())

    # -- bookkeeping ----------------------------------------------------------------------

    def _later(self, delay: float, callback: Any, *args: Any) -> Generator[Any, Any, None]:
        yield self.ctx.env.timeout(delay)
        callback(*args)

    def _decided(self, decision: str, reasons: Sequence[str]) -> None:
        """Count a decision; it is explained when it has reasons, all from the closed sets."""
        self._decisions += 1
        if reasons and all(reason in _ALL_CODES for reason in reasons):
            self._explained += 1
        self.ctx.recorder.count(f"decision.{decision}")

    def _record_admission(self, actor: str, now: float) -> None:
        if actor not in self._admitted_once:
            self._admitted_once.add(actor)
            self._admission_delays.append(now - self._first_apply.get(actor, now))
            self._admission_steps.append(self._steps.get(actor, 0))


_STATUS_BLOCKS_APPLY: Mapping[AgentStatus, GateReason] = {
    AgentStatus.ADMITTED: GateReason.ALREADY_ADMITTED,
    AgentStatus.SUSPENDED: GateReason.SUSPENDED,
    AgentStatus.REVOKED: GateReason.REVOKED,
}
_SANCTIONED = (AgentStatus.SUSPENDED, AgentStatus.REVOKED)
# The reason each status has by itself (see AgentGate.standing): the only one for examining,
# refused and lapsed agents; a fallback for the others, whose reasons are recorded.
_STATUS_REASON: Mapping[AgentStatus, DecisionReason] = {
    AgentStatus.EXAMINING: DecisionReason.CREDENTIALS_ACCEPTED,
    AgentStatus.REFUSED: DecisionReason.EXAM_FAILED,
    AgentStatus.LAPSED: DecisionReason.ADMISSION_LAPSED,
    AgentStatus.ADMITTED: DecisionReason.EXAM_PASSED,
    AgentStatus.SUSPENDED: DecisionReason.STRIKES_SUSPENSION,
    AgentStatus.REVOKED: DecisionReason.STRIKES_REVOCATION,
}


def _tokens(value: object) -> list[str] | None:
    """``value`` as a list of credential strings, or None if it is not a short list of strings."""
    if not isinstance(value, list | tuple) or len(value) > _MAX_CREDENTIALS:
        return None
    tokens = [token for token in value if isinstance(token, str)]
    return tokens if len(tokens) == len(value) else None


def _answers_problem(questions: Sequence[Question], answers: Mapping[Any, Any]) -> str:
    """'' if ``answers`` gives exactly one valid option per question, else what is wrong."""
    expected = {q.question_id for q in questions}
    if set(answers) != expected:
        return f"answers: expected exactly the questions {sorted(expected)}"
    for question in questions:
        chosen = answers[question.question_id]
        if not isinstance(chosen, str) or question.scenario.option(chosen) is None:
            return f"answers.{question.question_id}: expected one of its options"
    return ""
