"""Staged cohorts: a seeded, recorded assignment; a rollout that widens while guardrails hold; a rollback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from flagship.mechanisms import Action, ScenarioError
from flagship.sandbox._cohorts import CONTROL, TREATMENT, Cohorts, CohortSpec, draw
from flagship.sandbox._host import Host, build_host
from flagship.sandbox._rehearsal import run_commits
from flagship.sandbox._replay import replay_scenario
from flagship.sandbox._runner import run
from flagship.sandbox._scenario import ResolvedScenario, load_scenario
from flagship.sandbox._trial_control import OPERATOR, OperatorReason
from flagship.telemetry import RunResult

SHOP = """
name = "shop_cohorts"
seed = 3
duration = 600.0

[mechanisms.posted_price]
price = 100
stock = 100000

[populations.shoppers]
model = "shoppers"
count = 200
arrival = {{ process = "poisson", rate = 0.01 }}

[live.cohorts]
mechanism = "posted_price"
treatment = {{ price = {price} }}
{rule}
"""

GUARDRAIL = """
[[live.guardrails]]
name = "turned_away"
measure = "posted_price_treatment.turned_away_ratio"
op = "<="
threshold = {threshold}
min_entries = 20

[live.rehearsal]
interval = 30.0
"""

SCHEDULE = ('share = 0.05\n'
            'schedule = [{ share = 0.25, after_seconds = 60 }, { share = 0.5, after_entries = 100 }]')


def _scenario(tmp_path: Path, *, price: int = 90, rule: str = "share = 0.2",
              extra: str = "") -> ResolvedScenario:
    path = tmp_path / "shop.toml"
    path.write_text(SHOP.format(price=price, rule=rule) + extra)
    return load_scenario(path)


Row = tuple[float, str, str, dict[str, object], dict[str, object]]


def _rows(result: RunResult, mechanism: str) -> list[Row]:
    assert result.actions is not None
    return [(row[1], row[3], row[4], json.loads(row[5]), json.loads(row[8]))
            for row in result.actions if row[2] == mechanism]


def _spec(**fields: object) -> CohortSpec:
    return CohortSpec.model_validate({"mechanism": "posted_price", "treatment": {"price": 90}, **fields})


def test_the_draw_is_a_pure_function_of_the_key_and_the_participant() -> None:
    assert draw(7, "alice") == draw(7, "alice")
    assert draw(7, "alice") != draw(8, "alice") and draw(7, "alice") != draw(7, "bob")
    assert all(0 <= draw(7, f"p{i}") < 1 for i in range(100))
    # the order participants arrive in changes no one's cohort
    forward, backward = Cohorts(_spec(share=0.3), 7), Cohorts(_spec(share=0.3), 7)
    names = [f"p{i}" for i in range(50)]
    placed = {name: forward.place(name)[0] for name in names}
    assert {name: backward.place(name)[0] for name in reversed(names)} == placed


def test_the_share_rule_is_respected_within_a_binomial_interval() -> None:
    n, share = 10_000, 0.25
    cohorts = Cohorts(_spec(share=share), 12345)
    treated = sum(cohorts.place(f"participant-{i}")[0] == TREATMENT for i in range(n))
    half_width = 4 * math.sqrt(n * share * (1 - share))  # a 4-sigma interval: a false alarm 1 in 15,000
    assert abs(treated - n * share) <= half_width, treated


def test_the_list_rule_treats_exactly_the_listed_participants() -> None:
    cohorts = Cohorts(_spec(participants=["alice", "carol"]), 1)
    assert [cohorts.place(name)[0] for name in ("alice", "bob", "carol", "dave")] == \
        [TREATMENT, CONTROL, TREATMENT, CONTROL]


def test_a_run_assigns_each_participant_once_in_the_log_and_reports_each_cohort(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path)
    result, again = run(scenario), run(scenario)
    assert (result.action_log_sha256, result.state_sha256) == (again.action_log_sha256, again.state_sha256)
    assert result.actions is not None
    assigns = _rows(result, "cohorts")
    assert len({actor for _, actor, _, _, _ in assigns}) == len(assigns)  # once per participant
    seen: set[str] = set()
    for row in result.actions:  # each participant's assignment comes just before its first action
        if row[2] == "posted_price" and row[3] not in seen:
            previous = result.actions[row[0] - 1]
            assert (previous[2], previous[3], previous[4]) == ("cohorts", row[3], "assign")
            seen.add(row[3])
    for _, _, _, payload, effects in assigns:
        assert payload["rule"] == "share" and payload["share"] == 0.2
        assert effects["cohort"] == (TREATMENT if float(payload["draw"]) < 0.2 else CONTROL)  # type: ignore[arg-type]
    measures = result.telemetry.measure_map()
    treated = sum(effects["cohort"] == TREATMENT for *_, effects in assigns)
    assert measures["cohorts.treatment_participants"] == treated
    assert measures["cohorts.control_participants"] == len(assigns) - treated
    assert {"posted_price.sell_through", "posted_price_treatment.sell_through"} <= set(measures)
    assert "cohorts" in result.manifest["streams"]


def test_the_treatment_serves_its_cohort_with_its_configuration(tmp_path: Path) -> None:
    result = run(_scenario(tmp_path, price=90))
    assert result.actions is not None
    cohort = {actor: effects["cohort"] for _, actor, _, _, effects in _rows(result, "cohorts")}
    prices = {(cohort[row[3]], json.loads(row[8])["price"]) for row in result.actions
              if row[2] == "posted_price" and row[6]}
    assert prices == {(CONTROL, 100), (TREATMENT, 90)}


def test_the_rollout_widens_only_while_the_guardrails_hold(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, rule=SCHEDULE, extra=GUARDRAIL.format(threshold=1.0))
    result = run(scenario)
    widened = [(time, actor, kind, payload["share"])
               for time, actor, kind, payload, _ in _rows(result, OPERATOR)]
    # at the first judgment (every 30 s) once due: 60 s after the start, then 100 entries later
    assert widened[0] == (60.0, "rollout", "widen", 0.25)
    assert widened[1][1:] == ("rollout", "widen", 0.5) and widened[1][0] % 30 == 0 and widened[1][0] > 60
    assert len(widened) == 2
    entries = [payload["log_entries"] for *_, payload, _ in _rows(result, OPERATOR)]
    assert int(entries[1]) - int(entries[0]) >= 100  # type: ignore[call-overload]
    shares = {payload["share"] for _, _, _, payload, _ in _rows(result, "cohorts")}
    assert shares == {0.05, 0.25, 0.5}  # each participant drawn against the share when first seen
    measures = result.telemetry.measure_map()
    assert measures["cohorts.rollout_steps"] == 2 and measures["cohorts.treatment_share"] == 0.5

    # a guardrail never judged (too few entries) has not shown it holds: no step is taken
    blocked = run(_scenario(tmp_path, rule=SCHEDULE,
                            extra=GUARDRAIL.format(threshold=1.0).replace("min_entries = 20",
                                                                          "min_entries = 100000")))
    assert _rows(blocked, OPERATOR) == []


def test_a_crossed_guardrail_rolls_every_participant_back_to_control(tmp_path: Path) -> None:
    # the treatment's price is above most shoppers' values: its turned-away ratio crosses 0.6
    scenario = _scenario(tmp_path, price=140, rule=SCHEDULE, extra=GUARDRAIL.format(threshold=0.6))
    result = run(scenario)
    operator = _rows(result, OPERATOR)
    rollback = [row for row in operator if row[2] == "rollback"]
    assert len(rollback) == 1
    at, actor, _, payload, effects = rollback[0]
    assert actor == "guardrail:turned_away" and float(payload["value"]) > 0.6  # type: ignore[arg-type]
    assert [row for row in operator if row[2] == "widen" and row[0] > at] == []  # never widens again
    assert result.actions is not None
    cohort = {a: e["cohort"] for _, a, _, _, e in _rows(result, "cohorts")}
    after = [row for row in result.actions if row[2] == "posted_price" and row[1] > at and row[6]]
    assert after and {json.loads(row[8])["price"] for row in after} == {100}  # all served by control
    late = [p for t, _, _, p, _ in _rows(result, "cohorts") if t > at]
    assert late and {p["rule"] for p in late} == {"rolled_back"}
    measures = result.telemetry.measure_map()
    assert measures["cohorts.participants_rolled_back"] == effects["rolled_back"] == \
        sum(c == TREATMENT for t, a, _, _, _ in _rows(result, "cohorts") if t <= at for c in [cohort[a]])
    assert measures["cohorts.treatment_share"] == 0
    assert measures["guardrails.guardrail_pauses"] == 0  # the rollback was the remedy, not a pause


@pytest.mark.parametrize("price", [90, 140])
def test_a_replay_reproduces_every_assignment_and_both_cohorts_states(tmp_path: Path, price: int) -> None:
    scenario = _scenario(tmp_path, price=price, rule=SCHEDULE, extra=GUARDRAIL.format(threshold=0.6))
    result = run(scenario)
    assert result.actions is not None
    host, report, _ = replay_scenario(scenario, scenario.scenario.seed,
                                      run_commits(result.actions, scenario.scenario.duration))
    assert report.exact, [str(d) for d in report.divergences]
    assert report.external == len(_rows(result, OPERATOR)) > 0  # only widen/rollback are fed
    assert report.state_sha256 == result.state_sha256
    assert host.cohorts is not None and host.cohorts.rolled_back == (price == 140)


def test_a_first_action_that_stays_unlogged_assigns_nothing(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, rule='participants = ["alice"]')
    shop = scenario.mechanism_class("posted_price")
    shop.logs_rejection = lambda self, action, outcome: False  # type: ignore[method-assign]
    try:
        host = build_host(scenario, 0)
        host.start()
        host.unlogged = lambda mechanism, outcome: None
        host.submit("posted_price", Action(0.0, "alice", "buy", {"offer": 1}))  # below the price
        assert host.log is not None and len(host.log) == 0 and host.cohorts is not None
        assert host.cohorts.assigned == {}
        host.submit("posted_price", Action(0.0, "alice", "buy", {"offer": 95}))
        assert [(e.mechanism, e.action.kind) for e in host.log] == \
            [("cohorts", "assign"), ("posted_price", "buy")]
    finally:
        del shop.logs_rejection


def test_widen_and_rollback_without_cohorts_are_refused() -> None:
    host = Host(0)
    host.start()
    outcome = host.submit(OPERATOR, Action(0.0, "op", "rollback", {}))
    assert not outcome.accepted and outcome.reason == OperatorReason.NO_COHORTS


def test_a_rollout_step_out_of_order_is_refused(tmp_path: Path) -> None:
    host = build_host(_scenario(tmp_path, rule=SCHEDULE), 0)
    host.start()
    wrong = host.submit(OPERATOR, Action(0.0, "op", "widen", {"step": 1, "share": 0.5, "log_entries": 0}))
    assert not wrong.accepted and wrong.reason == "STEP_OUT_OF_ORDER"
    assert host.cohorts is not None and host.cohorts.share == 0.05


@pytest.mark.parametrize(("rule", "extra", "path"), [
    ('share = 0.2\nparticipants = ["a"]', "", "live.cohorts"),
    ("share = 0.5\nschedule = [{ share = 0.25, after_seconds = 1 }]", "", "live.cohorts"),
    ("share = 0.1\nschedule = [{ share = 0.25 }]", "", "live.cohorts.schedule.0"),
    ("share = 1.5", "", "live.cohorts.share"),
])
def test_a_bad_cohorts_table_is_refused_naming_the_field(tmp_path: Path, rule: str, extra: str,
                                                         path: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        _scenario(tmp_path, rule=rule, extra=extra)
    assert [p.path for p in raised.value.problems] == [path], raised.value.problems


def test_an_invalid_treatment_or_unknown_mechanism_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as raised:
        _scenario(tmp_path, price=-5)
    assert [p.path for p in raised.value.problems] == ["live.cohorts.treatment.price"]
    path = tmp_path / "other.toml"
    path.write_text(SHOP.format(price=90, rule="share = 0.2").replace('mechanism = "posted_price"',
                                                                       'mechanism = "nope"'))
    with pytest.raises(ScenarioError) as unknown:
        load_scenario(path)
    assert [p.path for p in unknown.value.problems] == ["live.cohorts.mechanism"]


def test_the_spec_needs_one_rule() -> None:
    with pytest.raises(ValidationError):
        CohortSpec.model_validate({"mechanism": "m", "treatment": {"x": 1}})


def test_each_cohort_is_reported_with_the_paired_inference_of_the_scorecard(tmp_path: Path) -> None:
    from flagship.sandbox._cohort_report import cohort_contrasts

    scenario = _scenario(tmp_path, price=90, rule="share = 0.3")
    results = [run(scenario, seed) for seed in (1, 2, 3)]
    contrasts = cohort_contrasts(results, "posted_price", arm_label="-")
    assert set(contrasts) == {"sell_through", "buyer_surplus_per_sale", "turned_away_ratio"}
    ratio = contrasts["turned_away_ratio"]["-"]
    differences = [r.measures()["posted_price_treatment.turned_away_ratio"]
                   - r.measures()["posted_price.turned_away_ratio"] for r in results]  # type: ignore[operator]
    assert ratio.n == 3 and ratio.method == "paired-t"
    assert ratio.estimate == pytest.approx(sum(differences) / 3)
    assert ratio.low < ratio.estimate < ratio.high and ratio.low >= -1 and ratio.high <= 1
    assert ratio.estimate < 0  # a lower price turns fewer shoppers away
    assert cohort_contrasts(list(reversed(results)), "posted_price", arm_label="-") == contrasts


def test_flagship_run_reports_the_cohorts_and_validate_names_a_bad_field(tmp_path: Path) -> None:
    from tests._cli import flagship

    path = tmp_path / "shop.toml"
    path.write_text(SHOP.format(price=90, rule="share = 0.3").replace("duration = 600.0", "duration = 200.0"))
    done = flagship("run", str(path), "--db", f"sqlite:///{tmp_path / 'r.db'}", "--workers", "1",
                    "--replications", "2", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    cohorts = json.loads(done.stdout)["cohorts"]
    assert set(cohorts) == {"sell_through", "buyer_surplus_per_sale", "turned_away_ratio"}
    assert {ci["n"] for by_arm in cohorts.values() for ci in by_arm.values()} == {2}
    path.write_text(SHOP.format(price=90, rule='share = 0.3\nparticipants = ["a"]'))
    bad = flagship("validate", str(path), cwd=tmp_path)
    assert bad.returncode == 2 and "live.cohorts" in bad.stderr, bad.stderr


def test_a_sweep_declares_both_cohorts_measures(tmp_path: Path) -> None:
    from flagship.sandbox._sweep import declared_measures

    declared = declared_measures(_scenario(tmp_path, rule=SCHEDULE))
    assert {"posted_price_treatment.turned_away_ratio", "cohorts.participants_rolled_back",
            "cohorts.treatment_share"} <= set(declared)
    assert declared["cohorts.treatment_share"].value_range() == (0.0, 1.0)
    plain = tmp_path / "plain.toml"
    plain.write_text(SHOP.format(price=90, rule="share = 0.1").split("[live.cohorts]")[0])
    assert not {key for key in declared_measures(load_scenario(plain)) if "treatment" in key or
                key.startswith("cohorts.")}
