"""The survey in a simulated emergency vote: measures with intervals, the null response model, and the
criteria file whose every criterion fails under its contrast."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flagship.democracy import LegitimacySurvey, RespondentParams
from flagship.sandbox._host import build_host
from flagship.sandbox._runner import run
from flagship.sandbox._scenario import load_scenario
from flagship.telemetry._inference import Inference

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "emergency_vote.toml"
CRITERIA = REPO / "examples" / "emergency_vote_criteria.toml"
FAST = ["populations.citizens.params.redraws=0"]  # the flip-rate redraws are not what is tested here
SEEDS = range(1, 13)


def survey_measures(overrides: list[str], seeds: range = SEEDS) -> list[dict[str, float | None]]:
    resolved = load_scenario(EXAMPLE, [*FAST, *overrides])
    return [{m.name: m.value for m in run(resolved, seed).telemetry.measures
             if m.scope == "legitimacy_survey"} for seed in seeds]


def test_the_null_model_gap_interval_contains_zero_and_the_default_one_does_not() -> None:
    inference = Inference()
    null = inference.interval([m["winner_loser_gap"] for m in survey_measures(
        ["populations.respondents.params.null=true"])])
    assert null.low < 0.0 < null.high, null
    default = inference.interval([m["winner_loser_gap"] for m in survey_measures([])])
    assert default.low > 0.0, default  # the default response model has a gap, and the measure sees it


def test_a_simulated_vote_reports_every_measure_and_within_run_intervals() -> None:
    resolved = load_scenario(EXAMPLE, FAST)
    host = build_host(resolved, 21)
    host.start()
    host.env.run(until=resolved.scenario.duration)
    telemetry = host.finish()
    survey = host.mechanisms["legitimacy_survey"]
    assert isinstance(survey, LegitimacySurvey)
    measures = {m.name: m.value for m in telemetry.measures if m.scope == "legitimacy_survey"}
    assert all(v is not None and math.isfinite(v) for v in measures.values()), measures
    summary = survey.summary()
    for construct in ("procedural_justice", "decision_acceptance", "institutional_trust"):
        part = summary["constructs"][construct]
        assert part["mean"]["ci_low"] < part["mean"]["estimate"] < part["mean"]["ci_high"]
        assert part["mean"]["estimate"] == pytest.approx(measures[construct])
        assert 0.6 < part["alpha"] < 1 and 0.6 < part["omega"] < 1
    groups = summary["response_by_group"]
    assert set(groups) == {"winner", "loser", "no_stake"}
    assert all(0 < groups[g]["responded"] < groups[g]["invited"] for g in ("winner", "loser")), groups
    assert groups["no_stake"]["responded"] <= groups["no_stake"]["invited"]
    gap = summary["losers_consent"]["gap"]
    assert gap["method"] == "welch" and gap["ci_low"] < gap["estimate"] < gap["ci_high"]
    assert gap["estimate"] == pytest.approx(measures["winner_loser_gap"])
    assert summary["losers_consent"]["loser"]["estimate"] == pytest.approx(measures["losers_acceptance"])
    # Two surveys (the incident vote, its renewal), each after its count, asking the convened members.
    assert [s["subject"] for s in survey.snapshot()["surveys"]] == [
        "emergency_vote:emergency_vote-vote-1", "emergency_vote:emergency_vote-vote-2"]


def test_respondent_params_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"outcome\.trust"):
        RespondentParams.model_validate({"outcome": {"trust": 1.0}})
    with pytest.raises(ValueError, match="response_rate"):
        RespondentParams.model_validate({"response_rate": 1.5})


@pytest.mark.slow
def test_every_criterion_passes_or_is_inconclusive_and_fails_under_its_contrast(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    flagship = [sys.executable, "-m", "flagship.sandbox"]
    made = subprocess.run([*flagship, "run", str(EXAMPLE), "--json", "--db", db], capture_output=True,
                          text=True, check=True, cwd=tmp_path)
    sweep = re.search(r"as batch ([0-9a-f]+)", made.stderr)
    assert sweep is not None, made.stderr
    judged = subprocess.run([*flagship, "evaluate", "--db", db, "--sweep", sweep[1], "--criteria",
                             str(CRITERIA), "--audit", "--json"], capture_output=True, text=True, check=False,
                            cwd=tmp_path)
    assert judged.returncode in (0, 3), judged.stderr
    criteria: list[dict[str, Any]] = json.loads(judged.stdout)["criteria"]
    verdicts = {c["label"]: (c["verdict"], c["audit"]["contrast_verdict"]) for c in criteria}
    assert verdicts["losers accept the decision"] == ("pass", "fail")
    assert all(v in ("pass", "inconclusive") and contrast == "fail"
               for v, contrast in verdicts.values()), verdicts
