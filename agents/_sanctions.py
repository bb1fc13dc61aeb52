"""The gate's sanctions: strikes, suspension, revocation, probation, reinstatement and lapse.

Lifecycle of an admitted agent here:

* Every ``ViolationObserved`` about an admitted or suspended agent is a strike. On
  probation (its own, after admission, or everybody's, while a binding regulator
  decision says so) ``probation_revoke_strikes`` strikes since admission revoke it;
  otherwise ``revoke_strikes`` strikes revoke it and ``suspend_strikes`` suspend it.
* A suspension ends by itself after ``suspension`` seconds (a timer): the agent is
  reinstated, or its admission lapses if it ran out meanwhile. A revocation stands until
  an appeal is upheld (:mod:`flagship.agents._appeals`).
* An admission lapses at ``admitted_until`` (a timer set at admission, recertification and
  reinstatement) unless it was extended since; a suspended agent lapses only when its
  suspension ends, so lapsing cannot let it walk out of its sanction.

Each decision is counted in the tally and announced on the bus (``AgentSuspended``,
``AgentRevoked``, ``AgentReinstated``).
"""

from __future__ import annotations

from flagship.agents._checks import finite_or_none
from flagship.agents._config import GateConfig
from flagship.agents._reasons import DecisionReason
from flagship.agents._records import AgentRecord, AgentStatus, Sanction, Strike
from flagship.agents._tally import GateTally
from flagship.agents._thresholds import Thresholds
from flagship.mechanisms import Context, ContractError
from flagship.mechanisms.events import AgentReinstated, AgentRevoked, AgentSuspended, ViolationObserved

__all__ = ["Sanctions"]


class Sanctions:
    """Turns observed violations into sanctions and runs the timers that end them."""

    __slots__ = ("_agents", "_config", "_ctx", "_tally", "_thresholds", "sanction_seq")

    def __init__(self, config: GateConfig, ctx: Context, agents: dict[str, AgentRecord],
                 thresholds: Thresholds, tally: GateTally) -> None:
        self._config = config
        self._ctx = ctx
        self._agents = agents
        self._thresholds = thresholds
        self._tally = tally
        self.sanction_seq = 0
        """Sanctions imposed so far (in the snapshot: the next sanction's id depends on it)."""

    def on_violation(self, event: ViolationObserved) -> None:
        """A strike against an admitted or suspended agent, and the sanction it may bring."""
        severity = finite_or_none(event.severity)
        if severity is None or severity < 0:
            raise ContractError(f"{event.source}: ViolationObserved.severity must be a finite "
                                f"number >= 0, got {event.severity!r}")
        actor = event.actor
        agent = self._agents.get(actor)
        if agent is None or agent.status not in (AgentStatus.ADMITTED, AgentStatus.SUSPENDED):
            self._ctx.recorder.count("violations_ignored")  # not admitted: nothing to sanction
            return
        now = self._ctx.now
        agent.strikes.append(Strike(now, str(event.kind), severity, event.source))
        tally = self._tally
        tally.first_violation.setdefault(actor, now)
        if agent.status is AgentStatus.ADMITTED:
            tally.violations_admitted[actor] = tally.violations_admitted.get(actor, 0) + 1
        config = self._config
        admitted_at = agent.admitted_at if agent.admitted_at is not None else now
        since_admission = sum(1 for s in agent.strikes if s.time >= admitted_at)
        # A binding decision may put every admitted agent back on probation while it is in force.
        on_probation = (agent.probation_until is not None and now < agent.probation_until) \
            or self._thresholds.probation_for_all()
        if on_probation and since_admission >= config.probation_revoke_strikes:
            self._revoke(actor, agent, DecisionReason.PROBATION_VIOLATION, config.probation_revoke_strikes)
        elif len(agent.strikes) >= config.revoke_strikes:
            self._revoke(actor, agent, DecisionReason.STRIKES_REVOCATION, config.revoke_strikes)
        elif agent.status is AgentStatus.ADMITTED and len(agent.strikes) >= config.suspend_strikes:
            self._suspend(actor, agent)

    def reinstate(self, actor: str, agent: AgentRecord, reason: DecisionReason) -> None:
        """Admit a sanctioned agent again (its suspension ended, or its appeal was upheld)."""
        now = self._ctx.now
        agent.status = AgentStatus.ADMITTED
        agent.admitted_reason = reason
        agent.sanction = None
        if agent.admitted_until is None or agent.admitted_until <= now:
            # Its admission ran out while sanctioned, when it could not recertify: a new period.
            agent.admitted_until = now + self._config.recertify_interval
            self.schedule_lapse(actor, agent.admitted_until)
        self._tally.decided("reinstated", (reason,))
        self._ctx.publish(AgentReinstated(actor=actor, reason=str(reason)))

    def schedule_lapse(self, actor: str, at: float) -> None:
        """Lapse ``actor``'s admission at ``at`` unless it is extended (or ended) before."""
        self._ctx.call_at(at, self._lapse, actor, at)

    def _suspend(self, actor: str, agent: AgentRecord) -> None:
        ctx = self._ctx
        now = ctx.now
        until = now + self._config.suspension
        agent.status = AgentStatus.SUSPENDED
        agent.sanction = self._new_sanction("suspension", DecisionReason.STRIKES_SUSPENSION, now,
                                            self._config.suspend_strikes, until)
        ctx.call_later(self._config.suspension, self._end_suspension, actor, agent.sanction.sanction_id)
        self._tally.decided("suspended", (DecisionReason.STRIKES_SUSPENSION,))
        ctx.publish(AgentSuspended(actor=actor, reason=str(DecisionReason.STRIKES_SUSPENSION), until=until))

    def _revoke(self, actor: str, agent: AgentRecord, reason: DecisionReason, threshold: int) -> None:
        now = self._ctx.now
        agent.status = AgentStatus.REVOKED
        agent.sanction = self._new_sanction("revocation", reason, now, threshold, None)
        self._tally.revoked(actor, now)
        self._tally.decided("revoked", (reason,))
        self._ctx.publish(AgentRevoked(actor=actor, reason=str(reason)))

    def _new_sanction(self, kind: str, reason: DecisionReason, at: float, threshold: int,
                      until: float | None) -> Sanction:
        self.sanction_seq += 1
        return Sanction(self.sanction_seq, kind, reason, at, threshold, until)

    def _end_suspension(self, actor: str, sanction_id: int) -> None:
        agent = self._agents[actor]
        if agent.status is not AgentStatus.SUSPENDED or agent.sanction is None \
                or agent.sanction.sanction_id != sanction_id:
            return  # superseded (revoked, or reinstated on appeal)
        if agent.admitted_until is not None and agent.admitted_until <= self._ctx.now:
            self._end_admission(actor, agent)  # not recertified while suspended: it lapsed meanwhile
        else:
            self.reinstate(actor, agent, DecisionReason.SUSPENSION_ENDED)

    def _lapse(self, actor: str, at: float) -> None:
        agent = self._agents[actor]
        # A suspended agent lapses only when its suspension ends: lapsing earlier would
        # let it apply afresh and walk out of its sanction.
        if agent.status is not AgentStatus.ADMITTED or agent.admitted_until != at:
            return  # recertified since, sanctioned, or no longer admitted
        self._end_admission(actor, agent)

    def _end_admission(self, actor: str, agent: AgentRecord) -> None:
        agent.status = AgentStatus.LAPSED
        agent.sanction = None
        self._tally.decided("lapsed", (DecisionReason.ADMISSION_LAPSED,))
        self._ctx.publish(AgentRevoked(actor=actor, reason=str(DecisionReason.ADMISSION_LAPSED)))
