"""Populations that pass the gate and then spoof on the market: deceptive agents and sybils."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from flagship.agents._identity import AgentIdentity
from flagship.mechanisms import Area, Measure, register

from ._agent import SimulatedAgent, false_admission_measure
from ._base import AgentPopulation
from ._params import DeceptiveParams, DefectorParams, SybilParams
from ._trader import Trader

__all__ = ["DeceptiveAgents", "Defectors", "SybilAgents"]


class Defectors(AgentPopulation):
    """Agents that spoof on the market once admitted (from ``spoof_from`` on)."""

    manipulates = True
    measures: ClassVar[tuple[Measure, ...]] = (
        false_admission_measure(),
        Measure("spoof_orders_accepted", Area.ROBUSTNESS, "count", False,
                "spoofing orders the market accepted from these agents: the damage proxy "
                "(undefined without a market)"),
        Measure("caught_ratio", Area.ROBUSTNESS, "ratio", True,
                "share of the admitted agents revoked by the end of the run"),
    )

    def _market_step(self, agent: SimulatedAgent, trader: Trader) -> None:
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
class DeceptiveAgents(Defectors):
    """Competent agents that pass the exam as if honest, then spoof once admitted."""

    name = "deceptive_agents"
    Params = DeceptiveParams

    def _exam_honesty(self, agent: SimulatedAgent) -> float:
        params = self.params
        return params.exam_honesty if isinstance(params, DeceptiveParams) else agent.honesty


@register
class SybilAgents(Defectors):
    """Fresh identities of a few operators: each identity carries its operator's genuine credentials.

    Operators share competence, honesty and vendor across their identities; the
    threat is more tries at the exam than the per-identity rate limit allows, and
    more identities left to spoof with when one is revoked.
    """

    name = "sybil_agents"
    Params = SybilParams
    measures = (
        *Defectors.measures,
        Measure("operator_admission_rate", Area.ROBUSTNESS, "ratio", False,
                "share of operators with at least one identity admitted"),
    )

    def _make_agents(self, identities: np.random.Generator,
                     latent: np.random.Generator) -> list[SimulatedAgent]:
        params = self.params
        operators = params.operators if isinstance(params, SybilParams) else 1
        vendors = sorted(params.vendors)
        types = [(float(latent.uniform(*params.competence)), float(latent.uniform(*params.honesty)))
                 for _ in range(operators)]
        return [
            SimulatedAgent(index=index, identity=AgentIdentity.from_seed(identities.bytes(32)),
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

