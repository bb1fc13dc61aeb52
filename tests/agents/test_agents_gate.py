"""The agent gate: admission by credentials and exam, strikes, appeals, regulator raises, recertification."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

import jwt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from flagship.agents import (
    CREDENTIAL_TYPE,
    SCENARIOS,
    AgentGate,
    AgentIdentity,
    AgentStatus,
    DecisionReason,
    Evaluator,
    GateConfig,
    GateReason,
    Question,
    choose_answers,
    draw_exam,
    exam_signing_input,
    grade,
    simulated_evaluator,
)
from flagship.agents._identity import b64url_decode, b64url_encode
from flagship.mechanisms import (
    Action,
    CommonReason,
    ContractError,
    Event,
    Outcome,
    canonical_bytes,
    canonical_json,
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
from flagship.mechanisms.testing import check_conformance
from flagship.sandbox._host import Host

GATE = "agent_gate"
BATTERY = "agent-competence-v1"
EVAL_A = simulated_evaluator("eval-a")
EVAL_B = simulated_evaluator("eval-b")
AGENTS = [AgentIdentity.from_seed(bytes([n + 1]) * 32) for n in range(6)]
ALICE, BOB, CAROL = AGENTS[:3]
_JTI = itertools.count()


def credential(agent: AgentIdentity, score: float = 0.9, *, evaluator: Evaluator = EVAL_A,
               subject: str | None = None, issued_at: float = 0.0, valid_until: float = 1e7,
               battery: str = BATTERY, jti: str | None = None) -> str:
    return evaluator.issue(subject or agent.agent_id, battery, score, issued_at=issued_at,
                           valid_until=valid_until, credential_id=jti or f"c{next(_JTI)}")


def best_answers(questions: list[Mapping[str, Any]]) -> dict[str, str]:
    return {q["question_id"]: max(SCENARIOS[q["scenario"]].options, key=lambda o: o.points).option_id
            for q in questions}


def worst_answers(questions: list[Mapping[str, Any]]) -> dict[str, str]:
    return {q["question_id"]: next(o for o in SCENARIOS[q["scenario"]].options if o.tempting).option_id
            for q in questions}


def one_acceptable(questions: list[Mapping[str, Any]]) -> dict[str, str]:
    """Best answers except the first, which is merely acceptable (0.5 points)."""
    answers = best_answers(questions)
    first = questions[0]
    answers[first["question_id"]] = next(o.option_id for o in SCENARIOS[first["scenario"]].options
                                         if o.points == 0.5)
    return answers


class World:
    """One gate in a host, driven by hand; records the script and events it fed, for the kit."""

    def __init__(self, seed: int = 0, **config: Any) -> None:
        self.config = GateConfig(**config)
        self.host = Host(seed, keep_events=True)
        gate = self.host.add_mechanism(GATE, AgentGate, self.config)
        assert isinstance(gate, AgentGate)
        self.gate = gate
        self.host.start()
        self.script: list[Action] = []
        self.published: list[Event] = []

    @property
    def now(self) -> float:
        return float(self.host.env.now)

    def at(self, t: float) -> None:
        if t > self.now:
            self.host.env.run(until=t)

    def submit(self, actor: str, kind: str, payload: Mapping[str, Any], t: float | None = None) -> Outcome:
        if t is not None:
            self.at(t)
        action = Action(self.now, actor, kind, dict(payload))
        self.script.append(action)
        return self.host.submit(GATE, action)

    def apply(self, agent: AgentIdentity, credentials: list[str] | None = None, *,
              t: float | None = None, actor: str | None = None,
              identity: Mapping[str, Any] | None = None) -> Outcome:
        payload = {"identity": dict(identity) if identity is not None else agent.public_jwk(),
                   "credentials": [credential(agent)] if credentials is None else credentials}
        return self.submit(actor or agent.agent_id, "apply", payload, t)

    def answer(self, agent: AgentIdentity, exam: Mapping[str, Any], answers: Mapping[str, str] | None = None,
               *, t: float | None = None, signer: AgentIdentity | None = None,
               actor: str | None = None) -> Outcome:
        chosen = best_answers(exam["questions"]) if answers is None else dict(answers)
        message = exam_signing_input(GATE, exam["exam_id"], exam["challenge"], chosen)
        signature = b64url_encode((signer or agent).sign(message))
        return self.submit(actor or agent.agent_id, "answer",
                           {"exam_id": exam["exam_id"], "answers": chosen, "signature": signature}, t)

    def admit(self, agent: AgentIdentity, *, t: float | None = None) -> Outcome:
        opened = self.apply(agent, t=t)
        assert opened.accepted, opened
        admitted = self.answer(agent, opened.effects)
        assert admitted.effects["decision"] == "admitted", admitted
        return admitted

    def publish(self, event: Event) -> None:
        self.published.append(event)
        self.host.bus.publish(event)

    def violate(self, agent: AgentIdentity, severity: float = 0.9, *, t: float | None = None) -> None:
        if t is not None:
            self.at(t)
        self.publish(ViolationObserved(time=self.now, source="market", actor=agent.agent_id,
                                       kind="spoofing", severity=severity))

    def events(self, agent: AgentIdentity) -> list[tuple[str, str]]:
        log = self.host.bus.log or []
        return [(e.topic, getattr(e, "reason", "")) for e in log
                if getattr(e, "actor", None) == agent.agent_id and e.source == GATE]

    def measures(self) -> dict[str, float | None]:
        return self.host.finish().measure_map()


# -- admission ------------------------------------------------------------------------------


def test_apply_opens_an_exam_and_correct_signed_answers_admit_on_probation() -> None:
    world = World(exam_questions=5, probation=100.0, recertify_interval=1000.0)
    opened = world.apply(ALICE, t=1.0)
    assert opened.accepted
    assert opened.effects["reasons"] == ["CREDENTIALS_ACCEPTED"]
    questions = opened.effects["questions"]
    assert len(questions) == 5
    assert {q["scenario"] for q in questions} == set(SCENARIOS)  # one round covers every norm
    assert world.gate.status(ALICE.agent_id) is AgentStatus.EXAMINING
    admitted = world.answer(ALICE, opened.effects, t=2.0)
    assert admitted.accepted
    assert admitted.effects["decision"] == "admitted"
    assert admitted.effects["reasons"] == ["EXAM_PASSED"]
    assert admitted.effects["exam_score"] == 1.0
    assert (admitted.effects["probation_until"], admitted.effects["admitted_until"]) == (102.0, 1002.0)
    assert world.events(ALICE) == [("AgentAdmitted", "")]
    assert world.apply(ALICE, t=3.0).reason == GateReason.ALREADY_ADMITTED


def test_a_failed_exam_is_a_graded_refusal_that_closes_the_exam() -> None:
    world = World()
    opened = world.apply(ALICE, t=1.0)
    refused = world.answer(ALICE, opened.effects, worst_answers(opened.effects["questions"]), t=2.0)
    assert refused.accepted  # graded: the exam is consumed, so this is not a no-op rejection
    assert refused.effects["decision"] == "refused"
    assert refused.effects["reasons"] == ["EXAM_FAILED"]
    assert refused.effects["exam_score"] == 0.0
    assert world.gate.status(ALICE.agent_id) is AgentStatus.REFUSED
    # No second chance at the same exam with better answers.
    assert world.answer(ALICE, opened.effects, t=3.0).reason == GateReason.NO_EXAM
    assert world.events(ALICE) == []


def test_the_exam_threshold_is_applied_to_the_mean_norm_points() -> None:
    world = World(exam_questions=4, exam_threshold=0.75)
    opened = world.apply(ALICE, t=1.0)
    questions = opened.effects["questions"]
    answers = best_answers(questions)
    # Two "acceptable" answers (0.5 each): 0.75, exactly the threshold: admitted.
    for q in questions[:2]:
        answers[q["question_id"]] = next(o.option_id for o in SCENARIOS[q["scenario"]].options
                                         if o.points == 0.5)
    assert world.answer(ALICE, opened.effects, answers, t=2.0).effects["exam_score"] == 0.75
    assert world.gate.status(ALICE.agent_id) is AgentStatus.ADMITTED


def _self_signed(agent: AgentIdentity) -> str:
    return credential(agent, evaluator=Evaluator(agent))


def _tampered(agent: AgentIdentity) -> str:
    header, payload, signature = credential(agent, score=0.3).split(".")
    claims = json.loads(b64url_decode(payload, "payload"))
    claims["score"] = 0.99
    return ".".join((header, b64url_encode(canonical_bytes(claims)), signature))


def _under_trusted_kid(agent: AgentIdentity) -> str:
    claims = {"iss": EVAL_A.evaluator_id, "sub": agent.agent_id, "jti": "x", "iat": 0, "nbf": 0,
              "exp": 10**7, "battery": BATTERY, "score": 0.99}
    return jwt.encode(claims, agent.private_key, algorithm="EdDSA",
                      headers={"typ": CREDENTIAL_TYPE, "kid": EVAL_A.evaluator_id})


CREDENTIAL_CASES = [
    ("self-signed", lambda a: [_self_signed(a)], GateReason.CREDENTIAL_UNTRUSTED_EVALUATOR),
    ("untrusted evaluator", lambda a: [credential(a, evaluator=simulated_evaluator("eval-shady"))],
     GateReason.CREDENTIAL_UNTRUSTED_EVALUATOR),
    ("tampered score", lambda a: [_tampered(a)], GateReason.CREDENTIAL_BAD_SIGNATURE),
    ("own key under a trusted kid", lambda a: [_under_trusted_kid(a)], GateReason.CREDENTIAL_BAD_SIGNATURE),
    ("another agent's credential", lambda a: [credential(BOB)], GateReason.CREDENTIAL_SUBJECT_MISMATCH),
    ("expired", lambda a: [credential(a, valid_until=5.0)], GateReason.CREDENTIAL_EXPIRED),
    ("not yet valid", lambda a: [credential(a, issued_at=50.0)], GateReason.CREDENTIAL_NOT_YET_VALID),
    ("revoked", lambda a: [credential(a, jti="revoked-1")], GateReason.CREDENTIAL_REVOKED),
    ("garbage", lambda a: ["not.a.jwt"], GateReason.CREDENTIAL_MALFORMED),
    ("wrong battery", lambda a: [credential(a, battery="chess-v1")], GateReason.CREDENTIAL_WRONG_BATTERY),
    ("low score", lambda a: [credential(a, score=0.59)], GateReason.CREDENTIAL_SCORE_LOW),
    ("none", lambda a: [], GateReason.NO_CREDENTIALS),
    ("one good, one forged", lambda a: [credential(a), _self_signed(a)],
     GateReason.CREDENTIAL_UNTRUSTED_EVALUATOR),
]


@pytest.mark.parametrize(("case", "make", "reason"), CREDENTIAL_CASES, ids=[c[0] for c in CREDENTIAL_CASES])
def test_each_bad_credential_has_its_own_reason_and_changes_nothing(case: str, make: Any,
                                                                    reason: GateReason) -> None:
    world = World(revoked_credentials=["revoked-1"])
    world.at(10.0)
    before = canonical_json(world.gate.snapshot())
    outcome = world.apply(ALICE, make(ALICE))
    assert (outcome.accepted, outcome.reason) == (False, reason)
    assert canonical_json(world.gate.snapshot()) == before
    assert world.gate.status(ALICE.agent_id) is None


def test_identity_problems_and_bad_payloads() -> None:
    world = World()
    assert world.apply(ALICE, identity={"kty": "RSA", "n": "x"}, t=1.0).reason == GateReason.BAD_IDENTITY
    assert world.apply(ALICE, identity=BOB.public_jwk()).reason == GateReason.IDENTITY_MISMATCH
    assert world.submit(ALICE.agent_id, "apply", {"identity": "x", "credentials": []}).reason == \
        CommonReason.INVALID_PAYLOAD
    assert world.submit(ALICE.agent_id, "apply", {"identity": ALICE.public_jwk(),
                                                  "credentials": [1]}).reason == CommonReason.INVALID_PAYLOAD
    assert world.submit(ALICE.agent_id, "apply", {"identity": ALICE.public_jwk(),
                                                  "credentials": ["t"] * 9}).reason == \
        CommonReason.INVALID_PAYLOAD
    assert world.submit(ALICE.agent_id, "dance", {}).reason == CommonReason.UNKNOWN_KIND


def test_credential_score_is_the_mean_of_each_evaluators_best_and_min_evaluators_is_enforced() -> None:
    world = World(min_evaluators=2, credential_threshold=0.7)
    one = world.apply(ALICE, [credential(ALICE, 0.9), credential(ALICE, 0.95)], t=1.0)
    assert one.reason == GateReason.INSUFFICIENT_CREDENTIALS
    low = world.apply(ALICE, [credential(ALICE, 0.9), credential(ALICE, 0.4, evaluator=EVAL_B)])
    assert low.reason == GateReason.CREDENTIAL_SCORE_LOW  # mean 0.65 < 0.7
    opened = world.apply(ALICE, [credential(ALICE, 0.5), credential(ALICE, 0.9),
                                 credential(ALICE, 0.6, evaluator=EVAL_B)])
    assert opened.accepted
    assert opened.effects["credential_score"] == pytest.approx(0.75)  # (max(0.5, 0.9) + 0.6) / 2


def test_live_gates_trust_configured_jwks_instead_of_simulated_names() -> None:
    real = Evaluator(AgentIdentity.from_seed(b"R" * 32))
    world = World(trusted_evaluators=[], trusted_evaluator_jwks=[real.public.jwk()])
    assert world.apply(ALICE, [credential(ALICE, evaluator=real)], t=1.0).accepted
    assert world.apply(BOB, [credential(BOB)]).reason == GateReason.CREDENTIAL_UNTRUSTED_EVALUATOR


def test_rate_limit_counts_opened_exams_per_identity_within_the_window() -> None:
    world = World(max_applications=2, application_window=1000.0, exam_ttl=10.0)
    assert world.apply(ALICE, t=1.0).accepted
    assert world.apply(ALICE, t=5.0).reason == GateReason.EXAM_PENDING
    assert world.apply(ALICE, t=20.0).accepted  # the first exam expired unanswered
    limited = world.apply(ALICE, t=40.0)
    assert limited.reason == GateReason.RATE_LIMITED
    assert world.apply(BOB, t=41.0).accepted  # per identity
    assert world.apply(ALICE, t=1002.0).accepted  # the window slid past the first application


def test_answers_need_the_open_exam_in_time_complete_and_signed_by_the_applicant() -> None:
    world = World(exam_ttl=50.0)
    assert world.answer(ALICE, {"exam_id": "exam-1", "challenge": "x", "questions": []},
                        t=1.0).reason == GateReason.NO_EXAM
    opened = world.apply(ALICE, t=2.0).effects
    wrong_exam = {**opened, "exam_id": "exam-9"}
    assert world.answer(ALICE, wrong_exam).reason == GateReason.EXAM_MISMATCH
    partial = dict(list(best_answers(opened["questions"]).items())[:-1])
    assert world.answer(ALICE, opened, partial).reason == CommonReason.INVALID_PAYLOAD
    bogus = {q["question_id"]: "shrug" for q in opened["questions"]}
    assert world.answer(ALICE, opened, bogus).reason == CommonReason.INVALID_PAYLOAD
    assert world.answer(ALICE, opened, signer=BOB).reason == GateReason.BAD_PROOF
    # A valid signature over other answers proves nothing about these.
    good = best_answers(opened["questions"])
    other = exam_signing_input(GATE, opened["exam_id"], opened["challenge"],
                               worst_answers(opened["questions"]))
    forged = world.submit(ALICE.agent_id, "answer", {"exam_id": opened["exam_id"], "answers": good,
                                                     "signature": b64url_encode(ALICE.sign(other))})
    assert forged.reason == GateReason.BAD_PROOF
    assert world.submit(ALICE.agent_id, "answer", {"exam_id": opened["exam_id"], "answers": good,
                                                   "signature": "@@"}).reason == GateReason.BAD_PROOF
    assert world.answer(ALICE, opened, t=52.0).reason == GateReason.EXAM_EXPIRED
    assert world.gate.status(ALICE.agent_id) is AgentStatus.EXAMINING


def test_an_impersonator_with_the_victims_public_key_and_credential_cannot_answer() -> None:
    world = World()
    mallory = AGENTS[5]
    # Mallory acts as Alice with Alice's public JWK and Alice's (leaked) credential.
    opened = world.apply(ALICE, [credential(ALICE)], t=1.0)
    assert opened.accepted  # nothing so far needs Alice's private key
    assert world.answer(ALICE, opened.effects, signer=mallory).reason == GateReason.BAD_PROOF
    assert world.gate.status(ALICE.agent_id) is AgentStatus.EXAMINING
    assert world.events(ALICE) == []


# -- monitoring ------------------------------------------------------------------------------


def test_a_strike_on_probation_revokes_and_a_revoked_agent_cannot_reapply() -> None:
    world = World(probation=100.0)
    world.admit(ALICE, t=1.0)
    world.violate(ALICE, t=50.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.REVOKED
    assert world.events(ALICE) == [("AgentAdmitted", ""), ("AgentRevoked", "PROBATION_VIOLATION")]
    assert world.apply(ALICE, t=60.0).reason == GateReason.REVOKED
    assert world.submit(ALICE.agent_id, "recertify", {"credentials": [credential(ALICE)]}).reason == \
        GateReason.REVOKED
    measures = world.measures()
    assert measures["agent_gate.time_to_revocation"] == 0.0
    assert measures["agent_gate.violations_before_revocation"] == 1.0


def test_strikes_suspend_then_the_suspension_ends_then_more_strikes_revoke() -> None:
    world = World(probation=0.0, suspend_strikes=2, revoke_strikes=3, suspension=100.0)
    world.admit(ALICE, t=1.0)
    world.violate(ALICE, t=10.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.ADMITTED  # one strike: noted only
    world.violate(ALICE, t=20.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.SUSPENDED
    assert world.apply(ALICE, t=21.0).reason == GateReason.SUSPENDED
    world.at(121.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.ADMITTED
    world.violate(ALICE, t=130.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.REVOKED
    assert world.events(ALICE) == [
        ("AgentAdmitted", ""), ("AgentSuspended", "STRIKES_SUSPENSION"),
        ("AgentReinstated", "SUSPENSION_ENDED"), ("AgentRevoked", "STRIKES_REVOCATION")]
    measures = world.measures()
    assert measures["agent_gate.time_to_revocation"] == 120.0  # first violation at 10, revoked at 130
    assert measures["agent_gate.violations_before_revocation"] == 3.0


def test_violations_of_agents_not_admitted_are_ignored() -> None:
    world = World()
    world.apply(ALICE, t=1.0)
    world.violate(ALICE, t=2.0)
    world.violate(BOB, t=3.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.EXAMINING
    assert world.gate.snapshot()["agents"][ALICE.agent_id]["strikes"] == []


def test_a_malformed_violation_event_fails_loudly() -> None:
    world = World()
    world.admit(ALICE, t=1.0)
    with pytest.raises(Exception, match="severity"):
        world.violate(ALICE, severity=float("nan"), t=2.0)


# -- appeals -------------------------------------------------------------------------------


def test_an_appeal_against_weak_evidence_is_upheld_after_the_review_delay() -> None:
    world = World(probation=0.0, suspend_strikes=2, suspension=1000.0, appeal_review_delay=50.0,
                  weak_evidence_severity=0.5)
    world.admit(ALICE, t=1.0)
    world.violate(ALICE, 0.2, t=10.0)
    world.violate(ALICE, 0.9, t=11.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.SUSPENDED
    appealed = world.submit(ALICE.agent_id, "appeal", {}, t=20.0)
    assert appealed.accepted
    assert appealed.effects["review_at"] == 70.0
    assert world.submit(ALICE.agent_id, "appeal", {}, t=30.0).reason == GateReason.APPEAL_PENDING
    world.at(69.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.SUSPENDED  # not before the delay
    world.at(71.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.ADMITTED
    assert world.events(ALICE)[-1] == ("AgentReinstated", "APPEAL_UPHELD")
    # The weak strike is struck from the record; the strong one stays.
    assert [s[2] for s in world.gate.snapshot()["agents"][ALICE.agent_id]["strikes"]] == [0.9]
    assert world.measures()["agent_gate.appeal_overturn_rate"] == 1.0


def test_an_appeal_against_strong_evidence_is_denied_and_cannot_be_repeated() -> None:
    world = World(probation=100.0, appeal_review_delay=50.0, appeal_window=500.0)
    assert world.submit(ALICE.agent_id, "appeal", {}, t=0.5).reason == GateReason.APPEAL_NOT_ALLOWED
    world.admit(ALICE, t=1.0)
    assert world.submit(ALICE.agent_id, "appeal", {}, t=2.0).reason == GateReason.APPEAL_NOT_ALLOWED
    world.violate(ALICE, 0.9, t=10.0)
    assert world.submit(ALICE.agent_id, "appeal", {}, t=20.0).accepted
    world.at(100.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.REVOKED
    assert world.submit(ALICE.agent_id, "appeal", {}).reason == GateReason.APPEAL_NOT_ALLOWED
    world.admit(BOB, t=101.0)
    world.violate(BOB, 0.9, t=102.0)
    assert world.submit(BOB.agent_id, "appeal", {}, t=700.0).reason == GateReason.APPEAL_NOT_ALLOWED
    assert world.measures()["agent_gate.appeal_overturn_rate"] == 0.0


# -- regulator and recertification -----------------------------------------------------------


def _decision(t: float, delta: Mapping[str, Any], measure: str = "raise_gate_threshold",
              decision_id: str = "d1") -> DecisionTaken:
    return DecisionTaken(time=t, source="regulator", decision_id=decision_id, measure=measure,
                         sunset=None, params=dict(delta))


def test_a_regulator_decision_raises_the_thresholds_until_it_lapses() -> None:
    world = World(exam_threshold=0.75, credential_threshold=0.6)
    world.at(1.0)
    world.publish(_decision(1.0, {"exam_threshold_delta": 0.5}, measure="halt_trading", decision_id="d0"))
    assert world.gate.exam_threshold() == 0.75  # another measure: not the gate's business
    world.publish(_decision(1.0, {}))
    assert world.gate.exam_threshold() == pytest.approx(0.85)  # the declared default raise
    world.publish(_decision(1.0, {"exam_threshold_delta": 0.5, "credential_threshold_delta": 0.2},
                            decision_id="d2"))
    assert world.gate.exam_threshold() == 1.0  # capped
    assert world.apply(ALICE, [credential(ALICE, 0.7)], t=2.0).reason == GateReason.CREDENTIAL_SCORE_LOW
    opened = world.apply(ALICE, [credential(ALICE, 0.95)], t=3.0).effects
    refused = world.answer(ALICE, opened, one_acceptable(opened["questions"]), t=4.0)
    assert (refused.effects["decision"], refused.effects["exam_threshold"]) == ("refused", 1.0)
    for decision_id in ("d2", "d1"):
        world.publish(DecisionLapsed(time=4.0, source="regulator", decision_id=decision_id,
                                     measure="raise_gate_threshold"))
    assert world.gate.exam_threshold() == 0.75
    opened = world.apply(ALICE, [credential(ALICE, 0.7)], t=5.0).effects
    admitted = world.answer(ALICE, opened, one_acceptable(opened["questions"]), t=6.0)
    assert (admitted.effects["decision"], admitted.effects["exam_score"]) == ("admitted", 0.875)


def test_a_probation_decision_revokes_admitted_agents_at_their_first_strike_while_it_binds() -> None:
    world = World(probation=0.0, suspend_strikes=2, revoke_strikes=3)
    for agent in (ALICE, BOB, CAROL):
        world.admit(agent, t=1.0)
    world.violate(ALICE, t=10.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.ADMITTED  # past probation: a strike is noted
    world.publish(_decision(20.0, {"probation": True}))
    world.violate(BOB, t=30.0)
    assert world.events(BOB)[-1] == ("AgentRevoked", "PROBATION_VIOLATION")  # back on probation
    world.publish(DecisionLapsed(time=40.0, source="regulator", decision_id="d1",
                                 measure="raise_gate_threshold"))
    world.violate(CAROL, t=50.0)
    assert world.gate.status(CAROL.agent_id) is AgentStatus.ADMITTED  # lapsed: one strike is noted again
    with pytest.raises(ContractError, match="probation must be true or false"):
        world.publish(_decision(60.0, {"probation": "yes"}, decision_id="d2"))


def test_admission_lapses_unless_recertified() -> None:
    world = World(recertify_interval=100.0)
    world.admit(ALICE, t=1.0)
    world.admit(BOB, t=1.0)
    assert world.submit(CAROL.agent_id, "recertify", {"credentials": [credential(CAROL)]},
                        t=2.0).reason == GateReason.NOT_ADMITTED
    assert world.submit(ALICE.agent_id, "recertify", {"credentials": [credential(ALICE, 0.1)]},
                        t=50.0).reason == GateReason.CREDENTIAL_SCORE_LOW
    renewed = world.submit(ALICE.agent_id, "recertify", {"credentials": [credential(ALICE)]}, t=60.0)
    assert renewed.effects == {"decision": "recertified", "reasons": ["RECERTIFIED"],
                               "credential_score": 0.9, "admitted_until": 160.0}
    world.at(102.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.ADMITTED
    assert world.gate.status(BOB.agent_id) is AgentStatus.LAPSED
    assert world.events(BOB)[-1] == ("AgentRevoked", "ADMISSION_LAPSED")
    world.at(161.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.LAPSED
    assert world.apply(BOB, t=170.0).accepted  # a lapse is not a sanction: apply again


def test_a_suspended_agent_cannot_lapse_out_of_its_suspension() -> None:
    world = World(probation=0.0, suspend_strikes=1, suspension=100.0, recertify_interval=50.0)
    world.admit(ALICE, t=1.0)
    world.violate(ALICE, t=10.0)
    world.at(60.0)  # its admission ran out at 51, during the suspension
    assert world.gate.status(ALICE.agent_id) is AgentStatus.SUSPENDED
    assert world.apply(ALICE).reason == GateReason.SUSPENDED
    world.at(111.0)
    assert world.gate.status(ALICE.agent_id) is AgentStatus.LAPSED
    assert world.events(ALICE)[-1] == ("AgentRevoked", "ADMISSION_LAPSED")


# -- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    {"suspend_strikes": 3, "revoke_strikes": 2},
    {"exam_scenarios": ["astrology"]},
    {"exam_scenarios": []},
    {"trusted_evaluators": ["a", "a"]},
    {"trusted_evaluator_jwks": [{"kty": "OKP", "crv": "Ed25519", "x": "short"}]},
    {"exam_threshold": 1.5},
    {"unknown_field": 1},
])
def test_config_rejects_incoherent_policies(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GateConfig(**bad)


# -- exam battery ----------------------------------------------------------------------------


def test_exam_draws_are_seeded_and_grading_follows_the_declared_norms() -> None:
    def draw(seed: int) -> list[Question]:
        return draw_exam(np.random.default_rng(seed), 7, list(SCENARIOS))

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)
    questions = draw(1)
    assert len({q.scenario_id for q in questions[:5]}) == 5  # every norm before any repeats
    shown = [q.to_dict() for q in questions]
    assert grade(questions, best_answers(shown)) == 1.0
    assert grade(questions, worst_answers(shown)) == 0.0


def test_the_simulated_policy_separates_honest_competent_from_dishonest_agents() -> None:
    rng = np.random.default_rng(0)
    questions = draw_exam(rng, 200, list(SCENARIOS))
    shown = [q.to_dict() for q in questions]

    def score(competence: float, honesty: float) -> float:
        return grade(questions, choose_answers(shown, competence=competence, honesty=honesty, rng=rng))

    assert score(1.0, 1.0) == 1.0
    assert score(0.9, 0.95) > 0.8
    assert score(0.9, 0.1) < 0.5
    assert score(0.2, 1.0) < 0.7


# -- conformance -----------------------------------------------------------------------------


CONFORMANCE_CONFIG: dict[str, Any] = {"probation": 20.0, "suspend_strikes": 2, "revoke_strikes": 3,
                                      "suspension": 30.0, "appeal_review_delay": 5.0,
                                      "recertify_interval": 200.0, "max_applications": 2, "exam_ttl": 20.0}


def _conformance_world(seed: int) -> World:
    """Drive a gate through every action kind, accepted and rejected, with strikes and appeals."""
    world = World(seed, **CONFORMANCE_CONFIG)
    world.admit(ALICE, t=1.0)
    world.apply(ALICE, t=2.0)                                   # ALREADY_ADMITTED
    world.submit(ALICE.agent_id, "apply", {"identity": 1}, t=3.0)  # INVALID_PAYLOAD
    world.violate(ALICE, 0.3, t=4.5)                            # on probation: revoked
    world.submit(ALICE.agent_id, "appeal", {}, t=5.0)           # weak evidence: upheld at 10
    world.submit(ALICE.agent_id, "appeal", {}, t=6.0)           # APPEAL_PENDING
    world.apply(ALICE, t=7.0)                                   # REVOKED
    world.apply(BOB, [_self_signed(BOB)], t=11.0)               # CREDENTIAL_UNTRUSTED_EVALUATOR
    opened = world.apply(BOB, t=12.0)
    world.answer(BOB, opened.effects, signer=CAROL, t=13.0)     # BAD_PROOF
    world.answer(BOB, opened.effects, worst_answers(opened.effects["questions"]), t=14.0)  # refused
    world.apply(BOB, t=15.0)
    world.apply(BOB, t=40.0)                                    # RATE_LIMITED
    world.submit(BOB.agent_id, "recertify", {"credentials": [credential(BOB)]}, t=41.0)  # NOT_ADMITTED
    world.violate(ALICE, 0.9, t=45.5)
    world.violate(ALICE, 0.9, t=46.5)                           # suspended
    world.submit(ALICE.agent_id, "recertify", {"credentials": [credential(ALICE)]}, t=47.0)
    world.submit(ALICE.agent_id, "appeal", {}, t=48.0)          # strong evidence: denied
    world.submit(CAROL.agent_id, "dance", {}, t=49.0)           # UNKNOWN_KIND
    return world


def test_the_gate_passes_the_conformance_kit() -> None:
    world = _conformance_world(seed=3)
    report = check_conformance(GATE, CONFORMANCE_CONFIG, world.script, seed=3, events=world.published,
                               until=400.0)
    assert report.n_accepted >= 6
    assert {"ALREADY_ADMITTED", "INVALID_PAYLOAD", "APPEAL_PENDING", "REVOKED", "BAD_PROOF",
            "CREDENTIAL_UNTRUSTED_EVALUATOR", "RATE_LIMITED", "NOT_ADMITTED", "UNKNOWN_KIND"} <= \
        report.reasons_seen
    assert report.measures["agent_gate.appeal_overturn_rate"] == 0.5


# -- invariants ------------------------------------------------------------------------------


CREDENTIALS = {agent.agent_id: credential(agent) for agent in AGENTS[:2]}
FORGED = {agent.agent_id: _self_signed(agent) for agent in AGENTS[:2]}

AGENT = st.integers(0, 1)
step = st.one_of(
    st.tuples(st.just("admit"), AGENT, st.just(None)),
    st.tuples(st.just("apply"), AGENT, st.booleans()),
    st.tuples(st.just("answer"), AGENT, st.sampled_from(["best", "worst", "mixed", "forged"])),
    st.tuples(st.just("violate"), AGENT, st.sampled_from([0.2, 0.9])),
    st.tuples(st.just("appeal"), AGENT, st.just(None)),
    st.tuples(st.just("recertify"), AGENT, st.just(None)),
    st.tuples(st.just("wait"), st.integers(1, 60), st.just(None)),
)


def _do(world: World, exams: dict[str, Mapping[str, Any]], kind: str, agent: AgentIdentity,
        arg: Any) -> Outcome:
    """One scripted step of the invariant test; records opened exams so they can be answered."""
    if kind == "apply":
        tokens = [CREDENTIALS[agent.agent_id] if arg else FORGED[agent.agent_id]]
        outcome = world.apply(agent, tokens)
        if outcome.accepted:
            exams[agent.agent_id] = outcome.effects
        return outcome
    if kind == "answer":
        exam = exams.get(agent.agent_id, {"exam_id": "exam-0", "challenge": "", "questions": []})
        questions = exam["questions"]
        answers = worst_answers(questions) if arg in ("worst", "mixed") else best_answers(questions)
        if arg == "mixed" and questions:
            answers[questions[0]["question_id"]] = best_answers(questions)[questions[0]["question_id"]]
        return world.answer(agent, exam, answers, signer=AGENTS[5] if arg == "forged" else None)
    if kind == "appeal":
        return world.submit(agent.agent_id, "appeal", {})
    return world.submit(agent.agent_id, "recertify", {"credentials": [CREDENTIALS[agent.agent_id]]})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=30), st.integers(0, 3))
def test_every_decision_is_explained_and_revocation_sticks_until_reinstatement(
        steps: list[tuple[str, int, Any]], seed: int) -> None:
    world = World(seed, probation=30.0, suspend_strikes=2, revoke_strikes=3, suspension=40.0,
                  appeal_review_delay=20.0, recertify_interval=150.0, exam_ttl=30.0)
    exams: dict[str, Mapping[str, Any]] = {}
    codes = AgentGate.reason_codes() | frozenset(DecisionReason)
    t = 0.0
    for kind, n, arg in steps:
        t += 1.0
        if kind == "wait":
            t += n
            world.at(t)
            continue
        world.at(t)
        agent = AGENTS[n]
        if kind == "violate":
            world.violate(agent, arg)
            continue
        # "admit" is apply-then-answer at once, so that re-admissions are actually tried.
        sub_steps = [("apply", True), ("answer", "best")] if kind == "admit" else [(kind, arg)]
        for sub_kind, sub_arg in sub_steps:
            before = canonical_json(world.gate.snapshot())
            outcome = _do(world, exams, sub_kind, agent, sub_arg)
            if outcome.accepted:
                assert outcome.reason is None
                assert outcome.effects.get("reasons") or outcome.effects.get("status") == "appeal_pending"
                assert set(outcome.effects.get("reasons", [])) <= codes
            else:
                assert outcome.reason in codes
                assert canonical_json(world.gate.snapshot()) == before
    world.at(t + 500.0)
    # Replay the bus: a strike revocation can only be undone by an upheld appeal.
    revoked: set[str] = set()
    for event in world.host.bus.log or []:
        if isinstance(event, AgentRevoked):
            assert event.reason in codes
            if event.reason != DecisionReason.ADMISSION_LAPSED:
                revoked.add(event.actor)
        elif isinstance(event, AgentAdmitted):
            assert event.actor not in revoked
        elif isinstance(event, AgentReinstated):
            assert event.reason in codes
            if event.actor in revoked:
                assert event.reason == DecisionReason.APPEAL_UPHELD
                revoked.discard(event.actor)
        elif isinstance(event, AgentSuspended):
            assert event.reason in codes
            assert event.actor not in revoked
    for actor in revoked:
        assert world.gate.status(actor) is AgentStatus.REVOKED
