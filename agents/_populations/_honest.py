"""Honest populations: competent agents (who should all be admitted) and incompetent ones."""

from __future__ import annotations

from typing import ClassVar

from flagship.mechanisms import SHARE, Area, Measure, register

from ._agent import SimulatedAgent
from ._base import AgentPopulation
from ._params import HonestParams, IncompetentParams

__all__ = ["HonestAgents", "IncompetentAgents"]


@register
class HonestAgents(AgentPopulation):
    """Competent, honest agents: every one of them should be admitted and never sanctioned."""

    name = "honest_agents"
    Params = HonestParams
    measures: ClassVar[tuple[Measure, ...]] = (
        Measure("false_rejection_rate", Area.UX, "ratio", False,
                "share of these competent honest applicants not admitted by the end of the run",
                bounds=SHARE),
        Measure("vendor_admission_gap", Area.LEGITIMACY, "ratio", False,
                "max - min over vendors of the admitted share of applicants (same competence "
                "distribution for every vendor)", bounds=SHARE),
        Measure("time_to_admission", Area.UX, "seconds", False,
                "mean time from an agent's first application to its first admission"),
        Measure("steps_per_admission", Area.UX, "count", False,
                "mean gate actions an agent sent up to its first admission"),
        Measure("wrongful_sanction_rate", Area.LEGITIMACY, "ratio", False,
                "share of admitted agents ever suspended or revoked (none of them breaks a norm)",
                bounds=SHARE),
    )

    def finish(self) -> None:
        record = self.ctx.recorder.measure
        applicants = self._applicants()
        admitted_share = self._admitted_share(applicants)
        record("false_rejection_rate", None if admitted_share is None else 1.0 - admitted_share)
        by_vendor: dict[str, list[SimulatedAgent]] = {}
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
class IncompetentAgents(AgentPopulation):
    """Honest agents that lack the competence the marketplace asks for."""

    name = "incompetent_agents"
    Params = IncompetentParams

