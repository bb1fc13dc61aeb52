"""Simulated AI agents applying to an ``agent_gate``, honest and adversarial.

Lifecycle of one simulated agent (one participant of a population):

* At ``start()`` its identity is derived from the population's seeded stream
  (``AgentIdentity.from_seed(rng.bytes(32))``) and its latent type is drawn:
  competence and honesty in the declared ranges, a vendor (round-robin), whose
  simulated evaluator certifies it. The type never leaves the population.
* At each arrival (``act``) it takes its next step: apply (with credentials from its
  vendor's evaluator) -> answer the exam (its policy, signed with its key) ->
  once admitted, recertify when due and otherwise trade on the market (if one is
  named); when suspended or revoked, appeal once per sanction. After
  ``max_applications`` refused applications in a row it gives up.
* Status changes come back through the outcomes of its own actions and through
  the gate's bus events (AgentAdmitted / AgentSuspended / AgentReinstated /
  AgentRevoked), filtered to the gate it applies to.
* **Ungated**: when the population's mechanism *is* its market (a scenario, or an
  arm, without a gate), there is nothing to pass: every agent trades from its
  first arrival and is never sanctioned. The gate measures are then undefined.

With a market, the population publishes one ``TraderProfile`` per agent at start
(its group is the population's name; defectors are profiled as manipulators):
simulation ground truth the market uses for its measures only.

Ground truth stays here: each population reports how the gate treated its own
agents (false admission of adversaries, false rejection of honest agents), so the
gate's decisions never depend on anything but what the agents present.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

import jwt
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

from flagship.agents._credentials import CREDENTIAL_TYPE, Evaluator
from flagship.agents._exam import choose_answers
from flagship.agents._gate import DecisionReason, exam_signing_input, simulated_evaluator
from flagship.agents._identity import AgentIdentity, b64url_decode, b64url_encode
from flagship.mechanisms import (
    Action,
    Area,
    ContractError,
    Measure,
    Outcome,
    Population,
    PopulationContext,
    Submit,
    canonical_bytes,
    register,
)
from flagship.mechanisms.events import (
    AgentAdmitted,
    AgentReinstated,
    AgentRevoked,
    AgentSuspended,
    TraderProfile,
)

__all__ = [
    "AgentParams",
    "DeceptiveAgents",
    "DeceptiveParams",
    "ForgerAgents",
    "ForgerParams",
    "HonestAgents",
    "IncompetentAgents",
    "ReplayerAgents",
    "ReplayerParams",
    "SybilAgents",
    "SybilParams",
]

# Agent states, as the population believes them (from outcomes and events).
_NEW, _EXAMINING, _REFUSED, _ADMITTED = "new", "examining", "refused", "admitted"
_SUSPENDED, _REVOKED, _LAPSED, _GAVE_UP = "suspended", "revoked", "lapsed", "gave_up"


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

    @model_validator(mode="after")
    def _check_ranges(self) -> AgentParams:
        _unit_range(self.competence, "competence")
        _unit_range(self.honesty, "honesty")
        if not self.vendors:
            raise ValueError("vendors: expected at least one vendor")
        return self


class IncompetentParams(AgentParams):
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


@dataclass(slots=True)
class _Agent:
    """One simulated agent: its keys and latent type (private), and what it believes of its status."""

    index: int
    identity: AgentIdentity
    vendor: str
    evaluator: str
    competence: float
    honesty: float
    operator: int = 0
    mode: str = ""
    victim: AgentIdentity | None = None
    status: str = _NEW
    applications: int = 0
    exam: Mapping[str, Any] | None = None
    admitted_until: float | None = None
    appealed: bool = False
    issued: int = 0
    orders: int = 0
    open_orders: list[str] = field(default_factory=list)
    # ground-truth bookkeeping for measures
    first_apply: float | None = None
    first_admission: float | None = None
    steps: int = 0
    ever_admitted: bool = False
    sanctioned: bool = False
    revoked_for_strikes: bool = False

    @property
    def actor(self) -> str:
        """The id it acts under: its own, or its victim's when it impersonates one."""
        if self.mode == "identity_and_credential" and self.victim is not None:
            return self.victim.agent_id
        return self.identity.agent_id


def _false_admission() -> Measure:
    return Measure("false_admission_rate", Area.ROBUSTNESS, "ratio", False,
                   "share of this population's applicants admitted at least once (none should be)")


class _AgentPopulation(Population[AgentParams]):
    """Shared machinery; subclasses choose the latent type, the credentials and the market conduct."""

    Params = AgentParams
    publishes = (TraderProfile,)
    subscribes = (AgentAdmitted, AgentSuspended, AgentReinstated, AgentRevoked)
    measures: ClassVar[tuple[Measure, ...]] = (_false_admission(),)
    manipulates: ClassVar[bool] = False
    """Ground truth for the market's measures: whether these agents manipulate the market."""

    def __init__(self, params: AgentParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self._agents: list[_Agent] = []
        self._by_actor: dict[str, _Agent] = {}
        self._evaluators: dict[str, Evaluator] = {}
        self._policy = ctx.stream("policy")
        self._noise = ctx.stream("credentials")
        self._trader: _Trader | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if not self.ctx.mechanism:
            raise ContractError(f"population {self.ctx.name!r} needs the agent gate (or, ungated, its "
                                f"market) as its mechanism")
        self._agents = self._make_agents(self.ctx.stream("identities"), self.ctx.stream("latent"))
        self._by_actor = {agent.actor: agent for agent in self._agents}
        market = self.params.market
        if market and market == self.ctx.mechanism:  # ungated: no gate to pass, nobody to sanction
            for agent in self._agents:
                agent.status = _ADMITTED
        else:
            for event_type in self.subscribes:
                self.ctx.subscribe(event_type, self._on_status)
        if market:
            self._trader = _Trader(self.ctx, self.params, self.ctx.submit_to(market))
            for agent in self._agents:
                self.ctx.publish(TraderProfile(time=self.ctx.now, source=self.ctx.name, market=market,
                                               actor=agent.actor, group=self.ctx.name,
                                               manipulator=self.manipulates))
        super().start()

    def act(self, participant: int) -> None:
        agent = self._agents[participant]
        status = agent.status
        if status in (_NEW, _REFUSED, _LAPSED):
            self._apply(agent)
        elif status == _EXAMINING:
            self._answer(agent)
        elif status == _ADMITTED:
            due = agent.admitted_until is not None and \
                self.ctx.now >= agent.admitted_until - self.params.recertify_margin
            if due:
                self._recertify(agent)
            elif self._trader is not None:
                self._market_step(agent, self._trader)
        elif status in (_SUSPENDED, _REVOKED) and not agent.appealed:
            agent.appealed = True
            if self._policy.random() < self.params.appeal_probability:
                self._submit(agent, "appeal", {})

    # -- what differs between populations ---------------------------------------------------

    def _make_agents(self, identities: np.random.Generator, latent: np.random.Generator) -> list[_Agent]:
        params = self.params
        vendors = sorted(params.vendors)
        agents = []
        for index in range(self.ctx.count):
            vendor = vendors[index % len(vendors)]
            agents.append(_Agent(
                index=index, identity=AgentIdentity.from_seed(identities.bytes(32)), vendor=vendor,
                evaluator=params.vendors[vendor],
                competence=float(latent.uniform(*params.competence)),
                honesty=float(latent.uniform(*params.honesty))))
        return agents

    def _credentials(self, agent: _Agent) -> list[str]:
        """Genuine: its vendor's evaluator measures its competence, with noise."""
        return [self._genuine(agent, agent.identity.agent_id, self._measured(agent.competence))]

    def _identity_jwk(self, agent: _Agent) -> dict[str, str]:
        return agent.identity.public_jwk()

    def _exam_honesty(self, agent: _Agent) -> float:
        return agent.honesty

    def _market_step(self, agent: _Agent, trader: _Trader) -> None:
        trader.genuine_order(agent, self._policy)

    # -- steps ----------------------------------------------------------------------------

    def _apply(self, agent: _Agent) -> None:
        if agent.applications >= self.params.max_applications:
            agent.status = _GAVE_UP
            return
        agent.applications += 1
        if agent.first_apply is None:
            agent.first_apply = self.ctx.now
        outcome = self._submit(agent, "apply", {"identity": self._identity_jwk(agent),
                                                "credentials": self._credentials(agent)})
        if outcome.accepted:
            agent.status = _EXAMINING
            agent.exam = outcome.effects
        else:
            agent.status = _REFUSED

    def _answer(self, agent: _Agent) -> None:
        exam = agent.exam
        if exam is None:  # cannot happen: EXAMINING is set together with the exam
            agent.status = _REFUSED
            return
        answers = choose_answers(exam["questions"], competence=agent.competence,
                                 honesty=self._exam_honesty(agent), rng=self._policy)
        message = exam_signing_input(self.ctx.mechanism, exam["exam_id"], exam["challenge"], answers)
        # Always signed with the agent's own key: an impersonator does not hold its victim's.
        signature = b64url_encode(agent.identity.sign(message))
        outcome = self._submit(agent, "answer", {"exam_id": exam["exam_id"], "answers": answers,
                                                 "signature": signature})
        agent.exam = None
        if outcome.accepted and outcome.effects.get("decision") == "admitted":
            agent.status = _ADMITTED  # the AgentAdmitted event has already said so
            agent.admitted_until = outcome.effects.get("admitted_until")
        else:
            agent.status = _REFUSED

    def _recertify(self, agent: _Agent) -> None:
        outcome = self._submit(agent, "recertify", {"credentials": self._credentials(agent)})
        if outcome.accepted:
            agent.admitted_until = outcome.effects.get("admitted_until")

    def _submit(self, agent: _Agent, kind: str, payload: Mapping[str, Any]) -> Outcome:
        if not agent.ever_admitted:
            agent.steps += 1
        outcome = self.ctx.submit(Action(self.ctx.now, agent.actor, kind, payload))
        if not outcome.accepted:
            self.ctx.recorder.count(f"rejected.{outcome.reason}")
        return outcome

    def _on_status(self, event: AgentAdmitted | AgentSuspended | AgentReinstated | AgentRevoked) -> None:
        agent = self._by_actor.get(event.actor)
        if agent is None or event.source != self.ctx.mechanism:
            return
        if isinstance(event, AgentAdmitted | AgentReinstated):
            if isinstance(event, AgentAdmitted) and not agent.ever_admitted:
                agent.ever_admitted = True
                agent.first_admission = self.ctx.now
            agent.status = _ADMITTED
            agent.applications = 0
        elif isinstance(event, AgentSuspended):
            agent.status, agent.appealed, agent.sanctioned = _SUSPENDED, False, True
        elif event.reason == DecisionReason.ADMISSION_LAPSED:
            agent.status = _LAPSED
        else:
            agent.status, agent.appealed, agent.sanctioned = _REVOKED, False, True
            agent.revoked_for_strikes = True

    # -- credentials ----------------------------------------------------------------------

    def _evaluator(self, name: str) -> Evaluator:
        evaluator = self._evaluators.get(name)
        if evaluator is None:
            evaluator = self._evaluators[name] = simulated_evaluator(name)
        return evaluator

    def _measured(self, competence: float) -> float:
        noisy = competence + float(self._noise.normal(0.0, self.params.credential_noise)) \
            if self.params.credential_noise > 0 else competence
        return min(1.0, max(0.0, noisy))

    def _genuine(self, agent: _Agent, subject: str, score: float, evaluator: str | None = None) -> str:
        agent.issued += 1
        now = self.ctx.now
        return self._evaluator(evaluator or agent.evaluator).issue(
            subject, self.params.battery, round(score, 4), issued_at=now,
            valid_until=now + self.params.credential_validity,
            credential_id=f"{self.ctx.name}-{agent.index}-{agent.issued}")

    # -- measures -------------------------------------------------------------------------

    def _applicants(self) -> list[_Agent]:
        return [agent for agent in self._agents if agent.first_apply is not None]

    def _admitted_share(self, agents: list[_Agent]) -> float | None:
        return sum(agent.ever_admitted for agent in agents) / len(agents) if agents else None

    def finish(self) -> None:
        self.ctx.recorder.measure("false_admission_rate", self._admitted_share(self._applicants()))


@register
class HonestAgents(_AgentPopulation):
    """Competent, honest agents: every one of them should be admitted and never sanctioned."""

    name = "honest_agents"
    measures: ClassVar[tuple[Measure, ...]] = (
        Measure("false_rejection_rate", Area.UX, "ratio", False,
                "share of these competent honest applicants not admitted by the end of the run"),
        Measure("vendor_admission_gap", Area.LEGITIMACY, "ratio", False,
                "max - min over vendors of the admitted share of applicants (same competence "
                "distribution for every vendor)"),
        Measure("time_to_admission", Area.UX, "seconds", False,
                "mean time from an agent's first application to its first admission"),
        Measure("steps_per_admission", Area.UX, "count", False,
                "mean gate actions an agent sent up to its first admission"),
        Measure("wrongful_sanction_rate", Area.LEGITIMACY, "ratio", False,
                "share of admitted agents ever suspended or revoked (none of them breaks a norm)"),
    )

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        applicants = self._applicants()
        admitted_share = self._admitted_share(applicants)
        record("false_rejection_rate", None if admitted_share is None else 1.0 - admitted_share)
        by_vendor: dict[str, list[_Agent]] = {}
        for agent in applicants:
            by_vendor.setdefault(agent.vendor, []).append(agent)
        shares = [share for agents in by_vendor.values()
                  if (share := self._admitted_share(agents)) is not None]
        record("vendor_admission_gap", max(shares) - min(shares) if len(shares) >= 2 else None)
        admitted = [agent for agent in applicants if agent.ever_admitted]
        delays = [agent.first_admission - agent.first_apply for agent in admitted
                  if agent.first_admission is not None and agent.first_apply is not None]
        record("time_to_admission", sum(delays) / len(delays) if delays else None)
        record("steps_per_admission",
               sum(agent.steps for agent in admitted) / len(admitted) if admitted else None)
        record("wrongful_sanction_rate",
               sum(agent.sanctioned for agent in admitted) / len(admitted) if admitted else None)


@register
class IncompetentAgents(_AgentPopulation):
    """Honest agents that lack the competence the marketplace asks for."""

    name = "incompetent_agents"
    Params = IncompetentParams


class _Defectors(_AgentPopulation):
    """Agents that spoof on the market once admitted (from ``spoof_from`` on)."""

    manipulates = True
    measures: ClassVar[tuple[Measure, ...]] = (
        _false_admission(),
        Measure("spoof_orders_accepted", Area.ROBUSTNESS, "count", False,
                "spoofing orders the market accepted from these agents: the damage proxy "
                "(undefined without a market)"),
        Measure("caught_ratio", Area.ROBUSTNESS, "ratio", True,
                "share of the admitted agents revoked by the end of the run"),
    )

    def _market_step(self, agent: _Agent, trader: _Trader) -> None:
        params = self.params
        spoof = isinstance(params, DefectorParams) and self.ctx.now >= params.spoof_from \
            and self._policy.random() < params.spoof_probability
        if spoof:
            trader.spoof(agent)
        else:
            trader.genuine_order(agent, self._policy)

    def finish(self) -> None:
        super().finish()
        record = self.ctx.recorder.measure
        record("spoof_orders_accepted", None if self._trader is None else float(self._trader.spoofs))
        admitted = [agent for agent in self._agents if agent.ever_admitted]
        record("caught_ratio",
               sum(agent.revoked_for_strikes for agent in admitted) / len(admitted) if admitted else None)


@register
class DeceptiveAgents(_Defectors):
    """Competent agents that pass the exam as if honest, then spoof once admitted."""

    name = "deceptive_agents"
    Params = DeceptiveParams

    def _exam_honesty(self, agent: _Agent) -> float:
        params = self.params
        return params.exam_honesty if isinstance(params, DeceptiveParams) else agent.honesty


@register
class SybilAgents(_Defectors):
    """Fresh identities of a few operators: each identity carries its operator's genuine credentials.

    Operators share competence, honesty and vendor across their identities; the
    threat is more tries at the exam than the per-identity rate limit allows, and
    more identities left to spoof with when one is revoked.
    """

    name = "sybil_agents"
    Params = SybilParams
    measures = (
        *_Defectors.measures,
        Measure("operator_admission_rate", Area.ROBUSTNESS, "ratio", False,
                "share of operators with at least one identity admitted"),
    )

    def _make_agents(self, identities: np.random.Generator, latent: np.random.Generator) -> list[_Agent]:
        params = self.params
        operators = params.operators if isinstance(params, SybilParams) else 1
        vendors = sorted(params.vendors)
        types = [(float(latent.uniform(*params.competence)), float(latent.uniform(*params.honesty)))
                 for _ in range(operators)]
        return [
            _Agent(index=index, identity=AgentIdentity.from_seed(identities.bytes(32)),
                   vendor=vendors[(index % operators) % len(vendors)],
                   evaluator=params.vendors[vendors[(index % operators) % len(vendors)]],
                   competence=types[index % operators][0], honesty=types[index % operators][1],
                   operator=index % operators)
            for index in range(self.ctx.count)
        ]

    def finish(self) -> None:
        super().finish()
        params = self.params
        operators = params.operators if isinstance(params, SybilParams) else 1
        applied = {agent.operator for agent in self._applicants()}
        admitted = {agent.operator for agent in self._agents if agent.ever_admitted}
        self.ctx.recorder.measure("operator_admission_rate",
                                  len(admitted) / len(applied) if applied and operators else None)


@register
class ForgerAgents(_AgentPopulation):
    """Agents presenting forged credentials (see :class:`ForgerParams` for the modes)."""

    name = "forger_agents"
    Params = ForgerParams

    def _make_agents(self, identities: np.random.Generator, latent: np.random.Generator) -> list[_Agent]:
        agents = super()._make_agents(identities, latent)
        params = self.params
        modes = params.modes if isinstance(params, ForgerParams) else ["self_signed"]
        for agent in agents:
            agent.mode = modes[agent.index % len(modes)]
        return agents

    def _credentials(self, agent: _Agent) -> list[str]:
        params = self.params
        if not isinstance(params, ForgerParams):  # pragma: no cover - Params is ForgerParams
            raise ContractError("forger_agents: unexpected params")
        subject = agent.identity.agent_id
        claimed = params.claimed_score
        if agent.mode == "self_signed":
            return [self._self_signed(agent, claimed)]
        if agent.mode == "untrusted_evaluator":
            return [self._genuine(agent, subject, claimed, evaluator=params.untrusted_evaluator)]
        if agent.mode == "tampered":
            return [_raise_score(self._genuine(agent, subject, self._measured(agent.competence)), claimed)]
        return [self._under_trusted_kid(agent, claimed)]

    def _self_signed(self, agent: _Agent, score: float) -> str:
        agent.issued += 1
        now = self.ctx.now
        return Evaluator(agent.identity).issue(
            agent.identity.agent_id, self.params.battery, score, issued_at=now,
            valid_until=now + self.params.credential_validity,
            credential_id=f"{self.ctx.name}-{agent.index}-{agent.issued}")

    def _under_trusted_kid(self, agent: _Agent, score: float) -> str:
        """Its own signature under the header and issuer of its vendor's trusted evaluator."""
        agent.issued += 1
        now = self.ctx.now
        trusted = self._evaluator(agent.evaluator).evaluator_id
        claims = {"iss": trusted, "sub": agent.identity.agent_id,
                  "jti": f"{self.ctx.name}-{agent.index}-{agent.issued}", "iat": now, "nbf": now,
                  "exp": now + self.params.credential_validity, "battery": self.params.battery,
                  "score": score}
        return jwt.encode(claims, agent.identity.private_key, algorithm="EdDSA",
                          headers={"typ": CREDENTIAL_TYPE, "kid": trusted})


def _raise_score(token: str, score: float) -> str:
    """The token with its payload's score replaced and the original signature kept (tampering)."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload, "payload"))
    claims["score"] = score
    return ".".join((header, b64url_encode(canonical_bytes(claims)), signature))


@register
class ReplayerAgents(_AgentPopulation):
    """Agents presenting another agent's credential (see :class:`ReplayerParams` for the modes).

    In simulation each replayer holds a victim: an identity with a genuine, fresh,
    high-score credential from a trusted evaluator, as if leaked. The replayer has
    the victim's public key and credential, never its private key.
    """

    name = "replayer_agents"
    Params = ReplayerParams

    def _make_agents(self, identities: np.random.Generator, latent: np.random.Generator) -> list[_Agent]:
        agents = super()._make_agents(identities, latent)
        params = self.params
        modes = params.modes if isinstance(params, ReplayerParams) else ["credential_only"]
        for agent in agents:
            agent.mode = modes[agent.index % len(modes)]
            agent.victim = AgentIdentity.from_seed(identities.bytes(32))
        return agents

    def _credentials(self, agent: _Agent) -> list[str]:
        params = self.params
        score = params.victim_score if isinstance(params, ReplayerParams) else 1.0
        victim = agent.victim if agent.victim is not None else agent.identity
        return [self._genuine(agent, victim.agent_id, score)]

    def _identity_jwk(self, agent: _Agent) -> dict[str, str]:
        if agent.mode == "identity_and_credential" and agent.victim is not None:
            return agent.victim.public_jwk()
        return agent.identity.public_jwk()


class _Trader:
    """The market conduct of admitted agents: genuine limit orders, or spoofs.

    Kept apart from admission on purpose: it only knows the market's ``limit`` and
    ``cancel`` actions with payload ``{"order_id", "side", "price", "qty"}``.
    """

    __slots__ = ("_ctx", "_params", "_submit", "spoofs")

    def __init__(self, ctx: PopulationContext, params: AgentParams, submit: Submit) -> None:
        self._ctx = ctx
        self._params = params
        self._submit = submit
        self.spoofs = 0

    def _order_id(self, agent: _Agent) -> str:
        agent.orders += 1
        return f"{self._ctx.name}-{agent.index}-{agent.orders}"

    def genuine_order(self, agent: _Agent, rng: np.random.Generator) -> None:
        """A small limit order a few ticks from the reference price; cancel the oldest beyond the cap."""
        params = self._params
        side = "buy" if rng.random() < 0.5 else "sell"
        distance = int(rng.integers(1, 4))
        price = params.reference_price - distance if side == "buy" else params.reference_price + distance
        order_id = self._order_id(agent)
        outcome = self._limit(agent, order_id, side, max(1, price), params.order_qty)
        if outcome.accepted:
            agent.open_orders.append(order_id)
        if len(agent.open_orders) > params.max_open_orders:
            self._cancel(agent, agent.open_orders.pop(0))

    def spoof(self, agent: _Agent) -> None:
        """A large buy order well below the price, cancelled ``spoof_cancel_after`` seconds later."""
        params = self._params
        if not isinstance(params, DefectorParams):  # pragma: no cover - only defectors spoof
            return
        order_id = self._order_id(agent)
        price = max(1, params.reference_price - params.spoof_offset)
        if self._limit(agent, order_id, "buy", price, params.spoof_qty).accepted:
            self.spoofs += 1
            self._ctx.env.process(self._cancel_later(agent, order_id, params.spoof_cancel_after))

    def _cancel_later(self, agent: _Agent, order_id: str, delay: float) -> Generator[Any, Any, None]:
        yield self._ctx.env.timeout(delay)
        self._cancel(agent, order_id)

    def _limit(self, agent: _Agent, order_id: str, side: str, price: int, qty: int) -> Outcome:
        outcome = self._submit(Action(self._ctx.now, agent.actor, "limit",
                                      {"order_id": order_id, "side": side, "price": price, "qty": qty}))
        self._ctx.recorder.count("orders_accepted" if outcome.accepted else "orders_rejected")
        return outcome

    def _cancel(self, agent: _Agent, order_id: str) -> None:
        self._submit(Action(self._ctx.now, agent.actor, "cancel", {"order_id": order_id}))
