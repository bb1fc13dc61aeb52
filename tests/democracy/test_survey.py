"""The legitimacy survey mechanism: conformance, every rejection (and that it changes nothing),
measures, and reliability against independent references (pingouin, a direct least-squares fit,
a hand case)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.democracy import LegitimacySurvey, SurveyConfig
from flagship.democracy._survey import SurveyReason, cronbach_alpha, mcdonald_omega, questionnaire
from flagship.democracy._survey._reliability import one_factor_loadings, welch_interval
from flagship.mechanisms import Action, CommonReason, ContractError, Event, canonical_json
from flagship.mechanisms.events import AgentRevoked, BallotClosed, VoteConvened
from flagship.mechanisms.testing import check_conformance
from flagship.sandbox._host import Host

SURVEY = "legitimacy_survey-survey-1"
GOOD = {"pj_voice_express": 4, "da_accept_even_if_disagree": 2, "da_use_again": True,
        "it_trust_public_interest": "dont_know", "da_comment": "fine"}


def vote_events(winner: str | None = "restrict") -> list[Event]:
    convened = VoteConvened(
        time=10.0, source="emergency_vote", vote_id="v1", purpose="incident", incident_ids=("i1",),
        severity=0.9, candidates=("restrict", "monitor"), rule="schulze", tie_break="random",
        mode="panel", members=("a", "b", "c", "d"), strata=(), draw_seed=1, ballot_opens=20.0,
        ballot_closes=30.0, quorum=0.5)
    closed = BallotClosed(
        time=30.0, source="emergency_vote", vote_id="v1", convened=4, counted=3,
        quorum_met=winner is not None, winner=winner, tally_seed=1,
        first_choice_won={} if winner is None else {"a": True, "b": False, "c": True})
    return [convened, closed]


def respond(t: float, actor: str, answers: Any = None, survey: Any = SURVEY) -> Action:
    return Action(t, actor, "respond", {"survey_id": survey, "answers": GOOD if answers is None else answers})


REJECTIONS: list[tuple[Action, str]] = [
    (Action(31.0, "a", "vote", {}), CommonReason.UNKNOWN_KIND),
    (Action(31.0, "a", "respond", {"survey_id": SURVEY}), CommonReason.INVALID_PAYLOAD),
    (respond(31.0, "a", answers=[1, 2]), CommonReason.INVALID_PAYLOAD),
    (respond(31.0, "a", survey="legitimacy_survey-survey-9"), SurveyReason.UNKNOWN_SURVEY),
    (respond(31.0, "zed"), SurveyReason.NOT_AFFECTED),  # the decision did not affect them
    (respond(31.0, "a", answers={"no_such_item": 3}), SurveyReason.UNKNOWN_ITEM),
    (respond(31.0, "a", answers={"pj_voice_express": 6}), SurveyReason.ANSWER_OFF_SCALE),
    (respond(31.0, "a", answers={"pj_voice_express": 0}), SurveyReason.ANSWER_OFF_SCALE),
    (respond(31.0, "a", answers={"pj_voice_express": 3.5}), SurveyReason.ANSWER_OFF_SCALE),
    (respond(31.0, "a", answers={"pj_voice_express": True}), SurveyReason.ANSWER_OFF_SCALE),
    (respond(31.0, "a", answers={"it_trust_public_interest": 8}), SurveyReason.ANSWER_OFF_SCALE),
    (respond(31.0, "a", answers={"da_use_again": 1}), SurveyReason.ANSWER_OFF_SCALE),
    (respond(31.0, "a", answers={"pj_voice_express": "dont_know"}), SurveyReason.ANSWER_OFF_SCALE),
    (respond(31.0, "a", answers={"da_comment": "x" * 501}), SurveyReason.ANSWER_OFF_SCALE),
    (respond(31.0, "a", answers={}), SurveyReason.NO_ANSWERS),
    (respond(31.0, "a", answers={"pj_voice_express": None}), SurveyReason.NO_ANSWERS),
]


def drive(actions: list[Action], *, events: list[Event] | None = None,
          config: SurveyConfig | None = None) -> tuple[LegitimacySurvey, list[Any], dict[str, float | None]]:
    host = Host(3, keep_actions=False)
    survey = host.add_mechanism("legitimacy_survey", LegitimacySurvey, config or SurveyConfig())
    for event in events if events is not None else vote_events():
        host.env.process(_publish(host, event))
    host.start()
    outcomes = host.run_feed((("legitimacy_survey", a) for a in actions), until=4000.0)
    telemetry = host.finish()
    assert isinstance(survey, LegitimacySurvey)
    return survey, outcomes, {m.name: m.value for m in telemetry.measures}


def _publish(host: Host, event: Event) -> Any:
    yield host.env.timeout(event.time - float(host.env.now))
    host.bus.publish(event)


def test_conformance_kit_passes() -> None:
    script = [respond(31.0, "a"), respond(31.0, "b", {"da_accept_even_if_disagree": 1}),
              *(a for a, _ in REJECTIONS), respond(33.0, "a"), respond(3700.0, "c")]
    report = check_conformance(LegitimacySurvey, SurveyConfig(), script, seed=4, events=vote_events())
    assert report.n_accepted == 2
    assert {str(SurveyReason.ALREADY_RESPONDED), str(SurveyReason.SURVEY_CLOSED)} <= report.reasons_seen
    assert report.measures["legitimacy_survey.response_rate"] == pytest.approx(2 / 4)


@pytest.mark.parametrize(("action", "reason"), REJECTIONS, ids=[str(r) + f"-{i}" for i, (_, r) in
                                                                 enumerate(REJECTIONS)])
def test_every_rejection_has_its_code_and_changes_nothing(action: Action, reason: str) -> None:
    before, outcomes, measures = drive([action])
    assert [(o.accepted, o.reason) for o in outcomes] == [(False, reason)]
    untouched, _, clean = drive([])
    assert canonical_json(before.snapshot()) == canonical_json(untouched.snapshot())
    assert before.responses == [] and measures["response_rate"] == clean["response_rate"] == 0.0


def test_second_response_late_response_and_refusals_leave_the_first_response_alone() -> None:
    first = respond(31.0, "a")
    survey, outcomes, _ = drive([first, respond(40.0, "a", {"pj_voice_express": 1}), respond(3630.0, "b")])
    assert [(o.accepted, o.reason) for o in outcomes] == [
        (True, None), (False, SurveyReason.ALREADY_RESPONDED), (False, SurveyReason.SURVEY_CLOSED)]
    alone, _, _ = drive([first])
    assert canonical_json(survey.snapshot()) == canonical_json(alone.snapshot())
    assert survey.responses == alone.responses and survey.responses[0].answers["pj_voice_express"] == 4


def test_before_the_decision_there_is_no_survey() -> None:
    _, outcomes, _ = drive([respond(29.0, "a")])
    assert outcomes[0].reason == SurveyReason.UNKNOWN_SURVEY


def test_groups_come_from_the_count_not_from_answers() -> None:
    survey, _, _ = drive([])
    (opened,) = survey.snapshot()["surveys"]
    assert opened["groups"] == {"a": "winner", "b": "loser", "c": "winner", "d": "no_stake"}
    assert opened["voice"] == ["a", "b", "c", "d"] and opened["procedural"] is True  # deliberated 10..20
    undecided, _, _ = drive([], events=vote_events(winner=None))
    (none,) = undecided.snapshot()["surveys"]
    assert set(none["groups"].values()) == {"no_stake"} and none["procedural"] is False


def test_gate_decisions_survey_the_agent() -> None:
    revoked = AgentRevoked(time=5.0, source="agent_gate", actor="agent-1", reason="strikes")
    answers = {"da_accept_even_if_disagree": 1, "da_comply": 1}
    survey, outcomes, measures = drive([respond(6.0, "agent-1", answers)], events=[revoked],
                                       config=SurveyConfig(follow=["gate"]))
    assert outcomes[0].accepted
    assert survey.snapshot()["surveys"][0]["groups"] == {"agent-1": "loser"}
    assert measures["losers_acceptance"] == 0.0 and measures["response_rate_losers"] == 1.0


def test_measures_score_reverse_items_dont_know_and_missing() -> None:
    answers_a = {"da_accept_even_if_disagree": 5, "da_comply": 5, "da_resist": 1, "da_use_again": True}
    answers_b = {"da_accept_even_if_disagree": 1, "da_comply": 2, "da_resist": "dont_know",
                 "da_use_again": False}
    _, _, m = drive([respond(31.0, "a", answers_a), respond(31.0, "b", answers_b)])
    assert m["winners_acceptance"] == 1.0  # resist=1 on a reverse item scores 1
    assert m["losers_acceptance"] == pytest.approx((0.0 + 0.25 + 0.0) / 3)  # don't know is not scored
    assert m["winner_loser_gap"] == pytest.approx(1.0 - 0.25 / 3)
    assert m["response_rate_winners"] == 0.5 and m["response_rate_losers"] == 1.0
    assert m["procedural_justice"] is None  # nobody answered a procedural-justice item
    _, _, few = drive([respond(31.0, "a", {"da_comply": 5})])  # 1 of 4 items: below half, no score
    assert few["decision_acceptance"] is None and few["response_rate"] == 0.25


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="unknown instrument 'nope'"):
        SurveyConfig(instruments=["nope"])
    with pytest.raises(ValueError, match="follow"):
        SurveyConfig(follow=["market"])  # type: ignore[list-item]
    with pytest.raises(ContractError, match="no shipped instrument"):
        questionnaire(["nope"])


def test_every_item_cites_a_source_and_each_construct_has_a_reverse_item() -> None:
    q = questionnaire(["procedural_justice", "decision_acceptance", "institutional_trust"])
    assert all(item.source.strip() for item in q.items.values())
    for construct in ("procedural_justice", "decision_acceptance", "institutional_trust"):
        items = q.construct_items(construct)
        assert len(items) >= 3 and any(i.reverse for i in items), construct
    assert q.versions == {"procedural_justice": "1.0.0", "decision_acceptance": "1.0.0",
                          "institutional_trust": "1.0.0"}


# -- reliability against independent references ---------------------------------------------------


def test_alpha_hand_case() -> None:
    # Two items, three people: item variances 1 and 1, sum scores 2, 4, 6 (variance 4):
    # alpha = 2/1 * (1 - 2/4) = 1.0; with the second item reversed the sum is constant: undefined.
    assert cronbach_alpha([[1, 1], [2, 2], [3, 3]]) == pytest.approx(1.0)
    assert cronbach_alpha([[1, 3], [2, 2], [3, 1]]) is None
    # k = 3: item variances 1, 1, 13/3 (sum 19/3); sum scores 3, 6, 11 (variance 49/3)
    assert cronbach_alpha([[1, 1, 1], [2, 2, 2], [3, 3, 5]]) == pytest.approx(1.5 * (1 - 19 / 49))


def _simulated(seed: int, n: int = 300, k: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n)
    loadings = np.linspace(0.4, 0.9, k)
    return np.asarray(theta[:, None] * loadings + rng.standard_normal((n, k)) * np.sqrt(1 - loadings**2))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alpha_matches_pingouin(seed: int) -> None:
    pingouin = pytest.importorskip("pingouin")
    import pandas as pd

    data = _simulated(seed)
    expected, _ = pingouin.cronbach_alpha(pd.DataFrame(data))
    assert cronbach_alpha(data) == pytest.approx(expected, abs=1e-12)


def _uls_loadings(corr: np.ndarray) -> np.ndarray:
    """An independent fit of the one-factor model: minimise the squared off-diagonal residuals of
    corr - l l' directly (scipy's L-BFGS-B), the definition of unweighted least squares (minres)."""
    from scipy.optimize import minimize

    k = corr.shape[0]
    mask = ~np.eye(k, dtype=bool)

    def loss(lam: np.ndarray) -> float:
        return float((((corr - np.outer(lam, lam)) * mask) ** 2).sum())

    fit = minimize(loss, np.full(k, 0.5), method="L-BFGS-B", bounds=[(-1, 1)] * k,
                   options={"ftol": 1e-15, "gtol": 1e-12})
    lam: np.ndarray = np.abs(fit.x)
    return lam


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_factor_loadings_and_omega_match_a_direct_least_squares_fit(seed: int) -> None:
    data = _simulated(seed)
    corr = np.corrcoef(data, rowvar=False)
    reference = _uls_loadings(corr)
    assert one_factor_loadings(corr) == pytest.approx(reference, abs=1e-4)
    omega = (reference.sum() ** 2) / (reference.sum() ** 2 + (1 - reference**2).sum())
    result = mcdonald_omega(data)
    assert result is not None and result == pytest.approx(omega, abs=1e-4)
    # the population omega of the simulated loadings, which a sample of 300 recovers roughly
    true = np.linspace(0.4, 0.9, 5)
    assert result == pytest.approx(true.sum() ** 2 / (true.sum() ** 2 + (1 - true**2).sum()), abs=0.05)


def test_reliability_falls_with_noise() -> None:
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(200)
    clean = theta[:, None] + 0.3 * rng.standard_normal((200, 4))
    noisy = theta[:, None] + 3.0 * rng.standard_normal((200, 4))
    for statistic in (cronbach_alpha, mcdonald_omega):
        high, low = statistic(clean), statistic(noisy)
        assert high is not None and low is not None
        assert high > 0.9 and low < 0.5


def test_omega_of_a_singular_correlation_matrix_is_computed_without_a_warning() -> None:
    # Three respondents and four items: the items' correlation matrix has rank 2, and its computed
    # inverse had a zero on the diagonal (a RuntimeWarning, then an infinite start for the fit).
    data = np.array([[4.0, 1.0, 2.0, 4.0], [1.0, 1.0, 1.0, 2.0], [5.0, 5.0, 4.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        omega = mcdonald_omega(data)
    assert omega is not None and 0.0 <= omega <= 1.0


@settings(max_examples=200, deadline=None)
@given(st.integers(3, 8).flatmap(lambda n: st.integers(2, 5).flatmap(
    lambda k: st.lists(st.lists(st.integers(1, 5), min_size=k, max_size=k), min_size=n, max_size=n))),
    st.booleans())
def test_omega_is_a_share_or_undefined_and_never_warns(rows: list[list[int]], duplicate: bool) -> None:
    data = np.array(rows, dtype=float)
    if duplicate:
        data[:, -1] = data[:, 0]  # an item that repeats another: a singular correlation matrix
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        omega = mcdonald_omega(data)
    assert omega is None or 0.0 <= omega <= 1.0 + 1e-12


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=30), st.lists(st.floats(0, 1), min_size=2, max_size=30))
def test_welch_interval_contains_its_estimate(a: list[float], b: list[float]) -> None:
    estimate = welch_interval(a, b)
    assert estimate is not None and estimate.low is not None and estimate.high is not None
    assert estimate.low - 1e-9 <= estimate.estimate <= estimate.high + 1e-9
    assert math.isclose(estimate.estimate, float(np.mean(a)) - float(np.mean(b)), abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.5, 0.9999), st.floats(1.0, 500.0))
def test_t_quantile_is_scipy_stats_t_ppf_bit_for_bit(q: float, df: float) -> None:
    """The survey's intervals take Student's t from ``scipy.special`` (``scipy.stats`` costs two
    seconds of imports); the value must be the very float ``stats.t.ppf`` gives."""
    from scipy import stats

    from flagship.democracy._survey._reliability import _t_quantile

    assert _t_quantile(q, df) == float(stats.t.ppf(q, df))
