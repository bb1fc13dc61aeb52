"""Populations that pass the gate and then spoof on the market: deceptive agents and sybils."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from flagship.agents._identity import AgentIdentity
from flagship.mechanisms import SHARE, Area, Measure, PopulationContext, register
from flagship.mechanisms.events import TradingHalted, TradingResumed

from ._agent import SimulatedAgent, false_admission_measure
from ._base import AgentPopulation
from ._params import AgentParams, DeceptiveParams, DefectorParams, SybilParams
from ._trader import Trader

__all__ = ["DeceptiveAgents", "Defectors", "SybilAgents"]


class Defectors(AgentPopulation):
    """Agents that spoof on the market once admitted (from ``spoof_from`` on).

    They follow their market's own ``TradingHalted`` / ``TradingResumed`` events (public, as any
    trader sees them) to clock the seconds it was open, for ``spoof_orders_per_open_second``.
    """

    manipulates = True
    subscribes = (*AgentPopulation.subscribes, TradingHalted, TradingResumed)
    measures: ClassVar[tuple[Measure, ...]] = (
        false_admission_measure(),
        Measure("spoof_orders_accepted", Area.ROBUSTNESS, "count", False,
                "spoofing orders the market accepted from these agents: the damage proxy "
                "(undefined without a market); halts lower it by closing the market"),
        Measure("spoof_orders_per_open_second", Area.ROBUSTNESS, "orders/s", False,
                "spoof_orders_accepted / seconds their market was open (not halted, as its "
                "TradingHalted / TradingResumed events say) from spoof_from to the run's end: what "
                "halts cannot lower by closing the market (undefined without a market)"),
        Measure("caught_ratio", Area.ROBUSTNESS, "ratio", True,
                "share of the admitted agents revoked by the end of the run", bounds=SHARE),
    )

    def __init__(self, params: AgentParams, ctx: PopulationContext) -> None:
        super().__init__(params, ctx)
        self._halted_since: float | None = None  # while their market is halted: since when
        self._halted_seconds = 0.0  # halted after spoof_from, up to the last resumption

    def start(self) -> None:
        super().start()
        if self.params.market:
            self.ctx.subscribe(TradingHalted, self._on_halted)
            self.ctx.subscribe(TradingResumed, self._on_resumed)

    def _spoof_from(self) -> float:
        params = self.params
        return params.spoof_from if isinstance(params, DefectorParams) else 0.0

    def _halted_until(self, now: float) -> float:
        """Seconds their market was halted between ``spoof_from`` and ``now``."""
        since = self._halted_since
        current = max(0.0, now - max(since, self._spoof_from())) if since is not None else 0.0
        return self._halted_seconds + current

    def _on_halted(self, event: TradingHalted) -> None:
        if event.source == self.params.market and self._halted_since is None:
            self._halted_since = self.ctx.now

    def _on_resumed(self, event: TradingResumed) -> None:
        if event.source == self.params.market and self._halted_since is not None:
            self._halted_seconds = self._halted_until(self.ctx.now)
            self._halted_since = None

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
        now = self.ctx.now
        open_seconds = now - self._spoof_from() - self._halted_until(now)
        record("spoof_orders_per_open_second", None if self._trader is None or open_seconds <= 0
               else self._trader.spoofs / open_seconds)
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
                "share of operators with at least one identity admitted", bounds=SHARE),
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

