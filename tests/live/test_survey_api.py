"""The legitimacy survey over HTTP: a voter casts a ballot, receives the decision, answers the survey.

The emergency vote of tests/live/test_votes_api.py with a ``legitimacy_survey`` beside it: the count
at sim time 250 opens a survey for every convened voter until 250 + 600. The response is an
ordinary action: it is in the verified trial log, a replay reproduces the survey's measures, and
``flagship export-responses`` writes the anonymised CSV and its codebook from the log.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flagship.sandbox._live_cli import _trial_scenario
from flagship.sandbox._replay import commits_from_entries, replay_scenario
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests._cli import flagship
from tests.live._support import fuzz_api, problem
from tests.live.test_votes_api import MONITOR, RESTRICT, VOTE, Clock, bearer, pilot, write_vote_scenario

SURVEY = "legitimacy_survey-survey-1"
ANSWERS = {"pj_voice_express": 4, "pj_neutral_biased": 2, "da_accept_even_if_disagree": 4, "da_comply": 5,
           "da_resist": 1, "da_use_again": True, "it_trust_public_interest": "dont_know",
           "da_comment": "I lost, but it was fair"}


def write_survey_scenario(directory: Path, *, window: float = 600.0, incident_at: float = 100.0,
                          deliberation: float = 50.0, ballot: float = 100.0, sunset: float = 1000.0) -> Path:
    """The vote trial (:func:`write_vote_scenario`'s times) with a legitimacy survey open ``window``
    sim seconds after each decision."""
    path = write_vote_scenario(directory, incident_at=incident_at, deliberation=deliberation, ballot=ballot,
                               sunset=sunset)
    text = path.read_text().replace("[live]", f"""[mechanisms.legitimacy_survey]
window_seconds = {window}

[live]""", 1)
    path.write_text(text)
    return path


def test_a_voter_answers_the_survey_after_the_decision(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "live.db"
    with pilot(f"sqlite:///{db}", tmp_path, clock, write_survey_scenario(tmp_path)) as p:
        voters = [p.register(f"person-{i}", region) for i, region in enumerate(["north", "south", "north"])]
        (alice, alice_token), (bob, bob_token), (_, carol_token) = voters
        assert p.client.get("/v1/surveys/me", headers=bearer(alice_token)).json()["surveys"] == []
        clock.sim(160.0)
        for token, ranking in ((alice_token, MONITOR), (bob_token, RESTRICT), (carol_token, RESTRICT)):
            assert p.ballot(token, ranking).status_code == 201
        problem(p.post(f"/v1/surveys/{SURVEY}/responses", alice_token, {"answers": ANSWERS}), 404,
                "UNKNOWN_SURVEY")  # no decision yet, no survey
        clock.sim(260.0)
        assert p.until_counted()["result"]["winner"] == "restrict"  # alice's first choice lost

        listed = p.client.get("/v1/surveys/me", headers=bearer(alice_token)).json()
        (open_survey,) = listed["surveys"]
        assert open_survey["survey_id"] == SURVEY and open_survey["closes"] == 850.0
        assert open_survey["decision"] == f"emergency_vote:{VOTE}"
        assert {i["id"] for i in open_survey["items"]} >= set(ANSWERS)

        answered = p.post(f"/v1/surveys/{SURVEY}/responses", alice_token, {"answers": ANSWERS})
        assert answered.status_code == 201, answered.text
        assert answered.json() == {"survey_id": SURVEY, "responses": 1}
        problem(p.post(f"/v1/surveys/{SURVEY}/responses", alice_token, {"answers": ANSWERS}), 409,
                "ALREADY_RESPONDED")
        problem(p.post(f"/v1/surveys/{SURVEY}/responses", bob_token, {"answers": {"pj_voice_express": 9}}),
                422, "ANSWER_OFF_SCALE")
        problem(p.post(f"/v1/surveys/{SURVEY}/responses", bob_token, {"answers": {"nope": 1}}), 404,
                "UNKNOWN_ITEM")
        smuggled = p.post(f"/v1/surveys/{SURVEY}/responses", bob_token, {"answers": ANSWERS, "voter": alice})
        problem(smuggled, 422, "INVALID_REQUEST")
        assert p.post(f"/v1/surveys/{SURVEY}/responses", bob_token,
                      {"answers": {"da_accept_even_if_disagree": 5, "da_comply": 5}}).status_code == 201
        assert p.client.get("/v1/surveys/me", headers=bearer(alice_token)).json()["surveys"] == []
        clock.sim(900.0)
        problem(p.post(f"/v1/surveys/{SURVEY}/responses", carol_token, {"answers": ANSWERS}), 409,
                "SURVEY_CLOSED")

        engine = p.live.engine
        for arm, values in engine.measures_now():
            engine.metrics.set_measures(arm, values)
        text, _ = engine.metrics.render("text/plain")
        gauges = {s.labels["measure"]: s.value for f in text_string_to_metric_families(text.decode())
                  if f.name.startswith("flagship_measure_legitimacy") for s in f.samples
                  if s.labels.get("scope") == "legitimacy_survey"}
        assert gauges["response_rate"] == pytest.approx(2 / 3)
        assert "decision_acceptance" in gauges and "winner_loser_gap" in gauges
        for family in text_string_to_metric_families(text.decode()):
            for sample in family.samples:  # no participant in any label
                assert alice not in json.dumps(sample.labels) and bob not in json.dumps(sample.labels)
        trial_id = engine.trial.id

    with Store.open(f"sqlite:///{db}") as store:
        log = TrialLog(store)
        assert log.verify(trial_id).ok
        entries = list(log.entries(trial_id))
        recorded = log.trial(trial_id)
    responses = [e for e in entries if e.kind == "respond"]
    assert [(e.actor, e.accepted) for e in responses] == [  # refusals are logged too, and change nothing
        (alice, False), (alice, True), (alice, False), (bob, False), (bob, False), (bob, True),
        (voters[2][0], False)]
    _, report, telemetry = replay_scenario(_trial_scenario(recorded, []), recorded.seed,
                                           commits_from_entries(entries), check=True, finish=True)
    assert report.exact and telemetry is not None
    replayed = {m.name: m.value for m in telemetry.measures if m.scope == "legitimacy_survey"}
    # alice lost (monitor first; restrict decided) and answered; bob won: the gap is bob's minus alice's.
    alice_acceptance = (0.75 + 1.0 + 1.0 + 1.0) / 4  # 4 of 5, 5 of 5, resist 1 reversed, yes
    assert replayed["losers_acceptance"] == pytest.approx(alice_acceptance)
    assert replayed["winners_acceptance"] == pytest.approx(1.0)
    assert replayed["winner_loser_gap"] == pytest.approx(1.0 - alice_acceptance)
    assert replayed["response_rate"] == pytest.approx(gauges["response_rate"])
    assert replayed["decision_acceptance"] == pytest.approx(gauges["decision_acceptance"])

    out = tmp_path / "export"
    exported = flagship("export-responses", f"sqlite:///{db}", "--trial", trial_id, "--out", str(out),
                        cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    with (out / "legitimacy_survey_responses.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["respondent"], r["group"], r["winner"]) for r in rows] == [
        ("R1", "loser", "0"), ("R2", "winner", "1")]
    assert rows[0]["it_trust_public_interest"] == "DK" and rows[0]["da_use_again"] == "1"
    assert rows[1]["pj_voice_express"] == "" and float(rows[0]["score_decision_acceptance"]) == \
        pytest.approx(alice_acceptance)
    text_out = (out / "legitimacy_survey_responses.csv").read_text(encoding="utf-8")
    assert alice not in text_out and bob not in text_out  # anonymised
    with (out / "legitimacy_survey_codebook.csv").open(encoding="utf-8") as handle:
        book = {r["column"]: r for r in csv.DictReader(handle)}
    assert book["da_resist"]["reverse"] == "yes" and "Gibson" in book["da_resist"]["source"]
    assert set(book) == set(rows[0])


@pytest.mark.slow
def test_fuzzing_the_survey_routes_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    clock = Clock()
    scenario = write_survey_scenario(tmp_path)
    limits = "\n[live.limits]\nrate_per_second = 100000.0\nburst = 100000\n"
    scenario.write_text(scenario.read_text() + limits)
    with pilot(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, clock, scenario) as p:
        _, token = p.register("fuzzer")
        clock.sim(160.0)
        assert p.ballot(token, RESTRICT).status_code == 201
        clock.sim(260.0)
        p.until_counted()  # the survey is open: responses are really taken and refused
        fuzz_api(str(p.client.base_url).rstrip("/"), token, tmp_path / "st", paths="^/v1/surveys", seconds=10)
