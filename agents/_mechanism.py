"""The agents-only marketplace gate (``agent_gate``): admission by credentials and exam, monitoring, appeals.

Lifecycle of one agent at the gate, by its agent id (the RFC 7638 thumbprint of its key,
which is also the action's ``actor``):

1. ``apply`` with its public JWK and competence credentials. The gate checks the
   identity, the rate limit and every credential (:mod:`flagship.agents._admissions`,
   :mod:`flagship.agents._screening`); on success it opens an exam
   (:mod:`flagship.agents._examiner`): the outcome carries the drawn questions, an exam
   id and a challenge.
2. ``answer`` with one option per question, signed with the agent's key (proof of
   possession: presenting someone else's public key and credential is not enough).
   The answer is graded; the outcome's ``effects["decision"]`` is ``admitted`` or
   ``refused`` with ``effects["reasons"]``. Admission publishes ``AgentAdmitted``
   and starts a probation period and a recertification clock.
3. While admitted, ``ViolationObserved`` events about it are strikes: enough strikes
   suspend it (``AgentSuspended``, reinstated when the suspension ends) and then
   revoke it (``AgentRevoked``); a strike on probation revokes at once
   (:mod:`flagship.agents._sanctions`).
4. A sanctioned agent may ``appeal`` once per sanction; the review completes after a
   delay and may reinstate it (``AgentReinstated``; :mod:`flagship.agents._appeals`).
5. ``recertify`` with fresh credentials before ``admitted_until``, or the admission
   lapses (``AgentRevoked`` with reason ``ADMISSION_LAPSED``; the agent may apply again).
   A suspended agent lapses only when its suspension ends, never during it.

A rejected action changes nothing. A graded answer is *accepted* even when the exam
is failed: grading closes the exam and consumes an attempt, which is a state change
a rejection may not make; the refusal and its reason (``EXAM_FAILED``) are in the
effects. See docs/agents.md for the policy and the measures.

:class:`AgentGate` holds the per-agent records and wires the parts; regulator threshold
raises are :mod:`flagship.agents._thresholds`, the measures :mod:`flagship.agents._tally`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from flagship.agents._admissions import Admissions
from flagship.agents._appeals import Appeals
from flagship.agents._config import GateConfig
from flagship.agents._examiner import Examiner
from flagship.agents._http import routes
from flagship.agents._identity import PublicIdentity
from flagship.agents._pages import PAGES
from flagship.agents._reasons import MERIT_REFUSALS, REASON_STATUS, GateReason
from flagship.agents._records import AgentRecord, AgentStatus
from flagship.agents._sanctions import Sanctions
from flagship.agents._screening import Screening
from flagship.agents._tally import MEASURES, GateTally
from flagship.agents._thresholds import Thresholds
from flagship.mechanisms import (
    Action,
    CommonReason,
    Context,
    Mechanism,
    Outcome,
    Problem,
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

__all__ = ["AgentGate"]


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
    pages = PAGES
    reasons = GateReason
    reason_status = REASON_STATUS
    publishes = (AgentAdmitted, AgentSuspended, AgentReinstated, AgentRevoked)
    subscribes = (ViolationObserved, DecisionTaken, DecisionLapsed)
    measures = MEASURES

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
        # -- state (in the snapshot): the records, and the parts' counters and raises --
        self._agents: dict[str, AgentRecord] = {}
        self._tally = GateTally(ctx.recorder)  # statistics for measures only, not state
        self._thresholds = Thresholds(config, ctx.recorder)
        self._screening = Screening(config, self._thresholds)
        self._examiner = Examiner(config, ctx.stream("exam"), self._thresholds)
        self._sanctions = Sanctions(config, ctx, self._agents, self._thresholds, self._tally)
        self._appeals = Appeals(config, ctx, self._agents, self._sanctions, self._tally)
        self._admissions = Admissions(config, ctx, self._agents, self._screening, self._examiner,
                                      self._sanctions, self._tally)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.ctx.subscribe(ViolationObserved, self._sanctions.on_violation)
        self.ctx.subscribe(DecisionTaken, self._thresholds.on_decision)
        self.ctx.subscribe(DecisionLapsed, self._thresholds.on_lapsed)

    def handle(self, action: Action) -> Outcome:
        actor = action.actor
        agent = self._agents.get(actor)
        if agent is None or agent.admitted_at is None:  # counted until the first admission
            steps = self._tally.steps
            steps[actor] = steps.get(actor, 0) + 1
        kind = action.kind
        if kind == "apply":
            outcome = self._admissions.apply(action, agent)
        elif kind == "answer":
            outcome = self._admissions.answer(action, agent)
        elif kind == "appeal":
            outcome = self._appeals.lodge(actor, agent, action.time)
        elif kind == "recertify":
            outcome = self._admissions.recertify(action, agent)
        else:
            return Outcome.reject(CommonReason.UNKNOWN_KIND, f"unknown kind {kind!r}")
        if not outcome.accepted:
            self.ctx.recorder.count(f"rejected.{outcome.reason}")
            if outcome.reason in MERIT_REFUSALS:
                self._tally.decided("refused", (str(outcome.reason),))
        return outcome

    def finish(self) -> None:
        self._tally.finish()

    def logs_rejection(self, action: Action, outcome: Outcome) -> bool:
        """A refused first application of an unknown key is not logged live (counted instead).

        Anyone can make a fresh key, so logging each refusal would let one client grow the
        durable log without bound. Such a refusal creates no record and draws nothing (the
        exam's draws come after every check), so a replay without it reaches the same state;
        only the measures' refusal counts (replayed from the log) leave it out. The step counted
        for the unknown key is forgotten too: no replay counts it, and a flood of fresh keys
        would otherwise grow that table by one entry per key.
        """
        if action.kind == "apply" and action.actor not in self._agents:
            self._tally.steps.pop(action.actor, None)
            return False
        return True

    def snapshot(self) -> dict[str, Any]:
        return {
            "agents": {actor: agent.to_json() for actor, agent in self._agents.items()},
            "in_force": self._thresholds.snapshot(),
            "exam_seq": self._examiner.exam_seq,
            "sanction_seq": self._sanctions.sanction_seq,
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
        return None if agent is None else self._screening.key_of(actor, agent)

    def standing(self, actor: str) -> dict[str, Any] | None:
        """Where ``actor`` stands, as JSON for the agent itself (None: never past a rejected apply).

        ``reasons`` explain the status with codes from :class:`DecisionReason`: a sanction's
        own reason (and ``APPEAL_DENIED`` once its appeal failed), else the last decision
        that put the agent where it is. The open exam is shown again (questions and
        challenge) so an agent that lost the application's response can still answer.
        """
        agent = self._agents.get(actor)
        return None if agent is None else agent.standing(self.ctx.now, self.config.appeal_window)

    def operator_digest(self, actor: str) -> str | None:
        """The SHA-256 of the operator token issued with ``actor``'s live admission (None: none)."""
        agent = self._agents.get(actor)
        return None if agent is None else agent.operator_sha256

    def operator_view(self, actor: str) -> dict[str, Any] | None:
        """What ``actor``'s operator page shows: its standing, with the last exam's result."""
        agent = self._agents.get(actor)
        if agent is None:
            return None
        view = agent.standing(self.ctx.now, self.config.appeal_window)
        view["exam_result"] = None if agent.exam_result is None else {
            "score": agent.exam_result[0], "threshold": agent.exam_result[1]}
        return view

    def exam_threshold(self) -> float:
        """The exam threshold in force: the declared one plus every binding regulator raise."""
        return self._thresholds.exam()

    def credential_threshold(self) -> float:
        """The credential threshold in force (declared plus binding regulator raises)."""
        return self._thresholds.credential()
