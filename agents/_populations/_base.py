"""The machinery every simulated agent population shares: apply, answer, recertify, appeal, trade.

Subclasses choose the latent type (``_make_agents``), the credentials (``_credentials``), the
identity presented (``_identity_jwk``), the honesty shown on the exam (``_exam_honesty``) and
the market conduct (``_market_step``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from flagship.agents._config import simulated_evaluator
from flagship.agents._credentials import Evaluator
from flagship.agents._exam import choose_answers
from flagship.agents._examiner import exam_signing_input
from flagship.agents._identity import AgentIdentity, b64url_encode
from flagship.agents._reasons import DecisionReason
from flagship.mechanisms import (
    Action,
    ContractError,
    Event,
    Measure,
    Outcome,
    Population,
    PopulationContext,
)
from flagship.mechanisms.events import (
    AgentAdmitted,
    AgentReinstated,
    AgentRevoked,
    AgentSuspended,
    TraderProfile,
)

from ._agent import (
    ADMITTED,
    EXAMINING,
    GAVE_UP,
    LAPSED,
    NEW,
    REFUSED,
    REVOKED,
    SUSPENDED,
    SimulatedAgent,
    false_admission_measure,
)
from ._params import AgentParams
from ._trader import Trader

__all__ = ["AgentPopulation"]

_STATUS_EVENTS = (AgentAdmitted, AgentSuspended, AgentReinstated, AgentRevoked)
"""The gate's events that change what an agent believes of its status."""


class AgentPopulation(Population[AgentParams]):
    """Shared machinery; subclasses choose the latent type, the credentials and the market conduct."""

    Params = AgentParams
    publishes = (TraderProfile,)
    subscribes: ClassVar[tuple[type[Event], ...]] = _STATUS_EVENTS
    measures: ClassVar[tuple[Measure, ...]] = (false_admission_measure(),)
    manipulates: ClassVar[bool] = False
    """Ground truth for the market's measures: whether these agents manipulate the market."""

    def __init__(self, params: AgentParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self._agents: list[SimulatedAgent] = []
        self._by_actor: dict[str, SimulatedAgent] = {}
        self._evaluators: dict[str, Evaluator] = {}
        self._policy = ctx.stream("policy")
        self._noise = ctx.stream("credentials")
        self._trader: Trader | None = None
        # read at every arrival of an admitted agent (plain, see Trader's copies of its params)
        self._recertify_margin = params.recertify_margin

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
                agent.status = ADMITTED
        else:
            for event_type in _STATUS_EVENTS:
                self.ctx.subscribe(event_type, self._on_status)
        if market:
            self._trader = Trader(self.ctx, self.params, self.ctx.submit_to(market))
            for agent in self._agents:
                self.ctx.publish(TraderProfile(market=market, actor=agent.actor, group=self.ctx.name,
                                               manipulator=self.manipulates))
        super().start()

    def act(self, participant: int) -> None:
        agent = self._agents[participant]
        status = agent.status
        if status in (NEW, REFUSED, LAPSED):
            self._apply(agent)
        elif status == EXAMINING:
            self._answer(agent)
        elif status == ADMITTED:
            due = agent.admitted_until is not None and \
                self.ctx.now >= agent.admitted_until - self._recertify_margin
            if due:
                self._recertify(agent)
            elif self._trader is not None:
                self._market_step(agent, self._trader)
        elif status in (SUSPENDED, REVOKED) and not agent.appealed:
            agent.appealed = True
            if self._policy.random() < self.params.appeal_probability:
                self._submit(agent, "appeal", {})

    # -- what differs between populations ---------------------------------------------------

    def _make_agents(self, identities: np.random.Generator,
                     latent: np.random.Generator) -> list[SimulatedAgent]:
        params = self.params
        vendors = sorted(params.vendors)
        agents = []
        for index in range(self.ctx.count):
            vendor = vendors[index % len(vendors)]
            agents.append(SimulatedAgent(
                index=index, identity=AgentIdentity.from_seed(identities.bytes(32)), vendor=vendor,
                evaluator=params.vendors[vendor],
                competence=float(latent.uniform(*params.competence)),
                honesty=float(latent.uniform(*params.honesty))))
        return agents

    def _credentials(self, agent: SimulatedAgent) -> list[str]:
        """Genuine: its vendor's evaluator measures its competence, with noise."""
        return [self._genuine(agent, agent.identity.agent_id, self._measured(agent.competence))]

    def _identity_jwk(self, agent: SimulatedAgent) -> dict[str, str]:
        return agent.identity.public_jwk()

    def _exam_honesty(self, agent: SimulatedAgent) -> float:
        return agent.honesty

    def _market_step(self, agent: SimulatedAgent, trader: Trader) -> None:
        trader.genuine_order(agent, self._policy)

    # -- steps ----------------------------------------------------------------------------

    def _apply(self, agent: SimulatedAgent) -> None:
        if agent.applications >= self.params.max_applications:
            agent.status = GAVE_UP
            return
        agent.applications += 1
        if agent.first_apply is None:
            agent.first_apply = self.ctx.now
        outcome = self._submit(agent, "apply", {"identity": self._identity_jwk(agent),
                                                "credentials": self._credentials(agent)})
        if outcome.accepted:
            agent.status = EXAMINING
            agent.exam = outcome.effects
        else:
            agent.status = REFUSED

    def _answer(self, agent: SimulatedAgent) -> None:
        exam = agent.exam
        if exam is None:  # cannot happen: EXAMINING is set together with the exam
            agent.status = REFUSED
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
            agent.status = ADMITTED  # the AgentAdmitted event has already said so
            agent.admitted_until = outcome.effects.get("admitted_until")
        else:
            agent.status = REFUSED

    def _recertify(self, agent: SimulatedAgent) -> None:
        outcome = self._submit(agent, "recertify", {"credentials": self._credentials(agent)})
        if outcome.accepted:
            agent.admitted_until = outcome.effects.get("admitted_until")

    def _submit(self, agent: SimulatedAgent, kind: str, payload: Mapping[str, Any]) -> Outcome:
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
            agent.status = ADMITTED
            agent.applications = 0
        elif isinstance(event, AgentSuspended):
            agent.status, agent.appealed, agent.sanctioned = SUSPENDED, False, True
        elif event.reason == DecisionReason.ADMISSION_LAPSED:
            agent.status = LAPSED
        else:
            agent.status, agent.appealed, agent.sanctioned = REVOKED, False, True
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

    def _genuine(self, agent: SimulatedAgent, subject: str, score: float,
                 evaluator: str | None = None) -> str:
        agent.issued += 1
        now = self.ctx.now
        return self._evaluator(evaluator or agent.evaluator).issue(
            subject, self.params.battery, round(score, 4), issued_at=now,
            valid_until=now + self.params.credential_validity,
            credential_id=f"{self.ctx.name}-{agent.index}-{agent.issued}")

    # -- measures -------------------------------------------------------------------------

    def _applicants(self) -> list[SimulatedAgent]:
        return [agent for agent in self._agents if agent.first_apply is not None]

    def _admitted_share(self, agents: list[SimulatedAgent]) -> float | None:
        return sum(agent.ever_admitted for agent in agents) / len(agents) if agents else None

    def finish(self) -> None:
        self.ctx.recorder.measure("false_admission_rate", self._admitted_share(self._applicants()))

