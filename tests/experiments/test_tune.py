"""``flagship tune``: an Optuna search whose trials are stored sweep cells on common seeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flagship.telemetry import Store
from tests._cli import flagship

REPO = Path(__file__).resolve().parents[2]
MARKET = str(REPO / "examples" / "value_market.toml")
CRITERIA = str(REPO / "examples" / "value_market_criteria.toml")
MOVE = "mechanisms.value_market.circuit_breaker_move"
HALT = "mechanisms.value_market.circuit_breaker_halt"
OBJECTIVES = ["--objective", "robustness.shock_drawdown", "--objective", "legitimacy.allocative_efficiency"]


def _tune(db: str, cwd: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    done = flagship("tune", MARKET, "--constraints", CRITERIA, *OBJECTIVES, "--db", db, "--json", *args,
                    cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


@pytest.mark.slow
def test_tune_finds_a_circuit_breaker_that_passes_the_market_criteria_and_resumes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 't.db'}"
    search = ["--param", f"{MOVE}=0.02:0.4", "--param", f"{HALT}=5:120", "--trials", "4",
              "--replications", "6"]
    code, result, _ = _tune(db, tmp_path, *search)
    assert code == 0  # a configuration passes every criterion of examples/value_market_criteria.toml
    best = result["best"]
    assert isinstance(best, dict)
    assert best["passes"] is True and best["scorecard"]["verdict"] == "pass"
    assert set(best["configuration"]) == {MOVE, HALT}
    assert 0.02 <= best["configuration"][MOVE] <= 0.4 and 5 <= best["configuration"][HALT] <= 120
    trials = result["trials"]
    assert isinstance(trials, list) and len(trials) == 4
    assert best["trial"] in result["front"]  # the best passing trial is on the front of passing trials
    assert result["front_of"] == "passing"
    assert result["runs"] == {"ran": 4 * 3 * 6, "skipped": 0}
    # every trial runs on the same seeds (common random numbers across configurations and arms)
    with Store.open(db) as store:
        seeds = [{(r.arm, r.seed) for r in store.runs(sweep_id=t["sweep"])} for t in trials]
    assert len(seeds[0]) == 3 * 6 and all(s == seeds[0] for s in seeds)
    # rerunning replays the stored trials: the same configurations, nothing run again
    code_again, again, _ = _tune(db, tmp_path, *search)
    assert code_again == 0 and again["runs"] == {"ran": 0, "skipped": 4 * 3 * 6}
    assert [t["configuration"] for t in again["trials"]] == [t["configuration"] for t in trials]


@pytest.mark.slow
def test_tune_exits_1_when_no_configuration_passes(tmp_path: Path) -> None:
    # a breaker that trips on 2-3% moves and halts for 2-5 minutes keeps the market closed most of the time
    db = f"sqlite:///{tmp_path / 't.db'}"
    code, result, _ = _tune(db, tmp_path, "--param", f"{MOVE}=0.02:0.03", "--param", f"{HALT}=120:300",
                            "--trials", "2", "--replications", "4")
    assert code == 1
    assert result["best"] is None and result["front_of"] == "all"
    assert all(t["criteria"]["trading stays open"] == "fail" for t in result["trials"])


@pytest.mark.parametrize(("args", "named"), [
    (["--param", "mechanisms.posted_price.nope=1:3"], "mechanisms.posted_price.nope: unknown field"),
    (["--param", "mechanisms.posted_price.price=100:50"], "--param: expected path=low:high"),
    (["--param", "mechanisms.posted_price.price=0:50"], "mechanisms.posted_price.price"),
    (["--param", "mechanisms.posted_price.price=50:100", "--objective", "ux.nope"],
     "--objective: unknown measure 'ux.nope'"),
    (["--param", "mechanisms.posted_price.price=50:100", "--objective", "ux.sell_through:up"],
     "--objective: expected MEASURE[@ARM][:max|min]"),
    (["--param", "mechanisms.posted_price.price=50:100", "--objective", "ux.sell_through@nope"],
     "--objective: unknown arm 'nope'"),
    ([], "--param: name at least one"),
])
def test_bad_input_exits_2_with_one_line_naming_the_field(tmp_path: Path, shop: Path, args: list[str],
                                                          named: str) -> None:
    criteria = tmp_path / "c.toml"
    criteria.write_text('[[criteria]]\nmeasure = "ux.sell_through"\nop = ">="\nthreshold = 0.1\n')
    objective = [] if "--objective" in args else ["--objective", "ux.sell_through"]
    done = flagship("tune", str(shop), "--constraints", str(criteria), "--trials", "2", *objective, *args,
                    "--db", f"sqlite:///{tmp_path / 't.db'}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_criterion_on_an_unknown_measure_is_refused_before_anything_runs(tmp_path: Path,
                                                                            shop: Path) -> None:
    criteria = tmp_path / "c.toml"
    criteria.write_text('[[criteria]]\nmeasure = "ux.nope"\nop = ">="\nthreshold = 0.1\n')
    done = flagship("tune", str(shop), "--constraints", str(criteria), "--trials", "2", "--objective",
                    "ux.sell_through", "--param", "mechanisms.posted_price.price=50:100",
                    "--db", f"sqlite:///{tmp_path / 't.db'}", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{criteria}: criteria.0.measure: unknown measure 'ux.nope'" in done.stderr
    assert not (tmp_path / "t.db").exists()  # refused before the store was opened


def test_values_are_searched_as_toml_choices(tmp_path: Path, shop: Path) -> None:
    criteria = tmp_path / "c.toml"
    criteria.write_text('[[criteria]]\nmeasure = "ux.sell_through"\nop = ">="\nthreshold = 0.0\n')
    done = flagship("tune", str(shop), "--constraints", str(criteria), "--trials", "3", "--objective",
                    "ux.sell_through:max", "--param", "mechanisms.posted_price.price=60,80,100",
                    "--param", "populations.shoppers.arrival={ process = \"poisson\", rate = 0.5 }",
                    "--replications", "3", "--workers", "1", "--json",
                    "--db", f"sqlite:///{tmp_path / 't.db'}", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    trials = json.loads(done.stdout)["trials"]
    assert {t["configuration"]["mechanisms.posted_price.price"] for t in trials} <= {60, 80, 100}
    assert all(t["configuration"]["populations.shoppers.arrival"] == {"process": "poisson", "rate": 0.5}
               for t in trials)


def test_common_seeds_give_every_cell_the_scenarios_own_seeds_under_another_sweep_id(shop: Path) -> None:
    from flagship.sandbox import load_scenario
    from flagship.sandbox._sweep import Axis, SweepSpec, plan_sweep

    base = load_scenario(shop)
    grid = (Axis("mechanisms.posted_price.price", (80, 100)),)
    own = plan_sweep(base, SweepSpec(replications=3)).cells[0].seeds  # the scenario's own (empty) cell
    common = plan_sweep(base, SweepSpec(grids=grid, replications=3, common_seeds=True))
    per_cell = plan_sweep(base, SweepSpec(grids=grid, replications=3))
    assert [c.seeds for c in common.cells] == [own, own]
    assert per_cell.cells[0].seeds != per_cell.cells[1].seeds  # without it, seeds follow the cell
    assert common.sweep_id != per_cell.sweep_id  # other seeds, another sweep: never mixed in the store
    assert common.command().endswith("--common-seeds")
    assert "common_seeds" not in per_cell.record()["design"]  # existing sweeps keep their records and ids
