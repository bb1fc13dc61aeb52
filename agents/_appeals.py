"""The gate's appeals: one per sanction, within its window, decided after a review delay.

Lifecycle of an appeal: the sanctioned agent ``appeal``s (:meth:`Appeals.lodge`); the
review runs ``appeal_review_delay`` seconds later (a timer) and is moot if the sanction
ended or was superseded meanwhile. It is *upheld* when the strong-evidence strikes alone
would not reach the threshold of the rule that imposed the sanction: the weak strikes
are struck from the record and the agent is reinstated. Otherwise it is *denied* and the
sanction stands (a denied appeal cannot be made again).
"""

from __future__ import annotations

from flagship.agents._config import GateConfig
from flagship.agents._reasons import DecisionReason, GateReason
from flagship.agents._records import SANCTIONED, AgentRecord
from flagship.agents._sanctions import Sanctions
from flagship.agents._tally import GateTally
from flagship.mechanisms import Context, Outcome

__all__ = ["Appeals"]


class Appeals:
    """Hears appeals of sanctions and decides them on the evidence the gate holds."""

    __slots__ = ("_agents", "_config", "_ctx", "_sanctions", "_tally")

    def __init__(self, config: GateConfig, ctx: Context, agents: dict[str, AgentRecord],
                 sanctions: Sanctions, tally: GateTally) -> None:
        self._config = config
        self._ctx = ctx
        self._agents = agents
        self._sanctions = sanctions
        self._tally = tally

    def lodge(self, actor: str, agent: AgentRecord | None, now: float) -> Outcome:
        """The ``appeal`` action: accepted with the review time, or why it may not be made."""
        if agent is None or agent.sanction is None or agent.status not in SANCTIONED:
            return Outcome.reject(GateReason.APPEAL_NOT_ALLOWED, "no sanction in force")
        sanction = agent.sanction
        if sanction.appealed_at is not None:
            if sanction.appeal_outcome is None:
                return Outcome.reject(GateReason.APPEAL_PENDING)
            return Outcome.reject(GateReason.APPEAL_NOT_ALLOWED, "this sanction was appealed already")
        if now > sanction.at + self._config.appeal_window:
            return Outcome.reject(GateReason.APPEAL_NOT_ALLOWED, "the appeal window has closed")
        sanction.appealed_at = now
        review_at = now + self._config.appeal_review_delay
        self._ctx.call_later(self._config.appeal_review_delay, self._review, actor, sanction.sanction_id)
        return Outcome.accept({"status": "appeal_pending", "sanction_id": sanction.sanction_id,
                               "review_at": review_at})

    def _review(self, actor: str, sanction_id: int) -> None:
        """Decide an appeal on what the gate knows: strikes of weak evidence are voided."""
        agent = self._agents[actor]
        sanction = agent.sanction
        if sanction is None or sanction.sanction_id != sanction_id or agent.status not in SANCTIONED:
            self._ctx.recorder.count("appeals_moot")  # the sanction ended or was superseded
            return
        weak = self._config.weak_evidence_severity
        strong = [s for s in agent.strikes if s.severity >= weak]
        if sanction.reason is DecisionReason.PROBATION_VIOLATION:
            admitted_at = agent.admitted_at if agent.admitted_at is not None else sanction.at
            counted = sum(1 for s in strong if s.time >= admitted_at)
        else:
            counted = len(strong)
        if counted < sanction.threshold:
            sanction.appeal_outcome = "upheld"
            self._tally.appeals_upheld += 1
            agent.strikes = strong
            self._sanctions.reinstate(actor, agent, DecisionReason.APPEAL_UPHELD)
        else:
            sanction.appeal_outcome = "denied"
            self._tally.appeals_denied += 1
            self._tally.decided("appeal_denied", (DecisionReason.APPEAL_DENIED,))
