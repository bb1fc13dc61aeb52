"""A scenario's own cells (``[grid]``): ``flagship run`` runs them as a sweep, ``flagship sweep`` starts
from them, and a scenario without a grid resolves as it always has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flagship.mechanisms import ScenarioError
from flagship.sandbox import load_scenario
from flagship.sandbox._sweep import Axis, SweepSpec, plan_sweep
from tests._cli import flagship
from tests.experiments.conftest import SHOP

GRID = SHOP + '\n[grid]\n"populations.shoppers.count" = [3, 6]\n'


@pytest.fixture
def grid_shop(tmp_path: Path) -> Path:
    path = tmp_path / "grid_shop.toml"
    path.write_text(GRID)
    return path


def test_a_scenario_without_a_grid_resolves_without_one(shop: Path) -> None:
    assert "grid" not in load_scenario(shop).data


def test_a_cell_is_a_plain_scenario(grid_shop: Path) -> None:
    spec = SweepSpec(grids=(Axis("populations.shoppers.count", (3, 6)),), replications=1)
    cells = plan_sweep(load_scenario(grid_shop), spec).cells
    assert [cell.resolved.scenario.populations["shoppers"].count for cell in cells] == [3, 6]
    assert all("grid" not in cell.resolved.data for cell in cells)  # a run's scenario reruns as one run


def test_an_empty_axis_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SHOP + '\n[grid]\n"populations.shoppers.count" = []\n')
    with pytest.raises(ScenarioError,
                       match=r"grid\.populations\.shoppers\.count: expected at least one value"):
        load_scenario(path)


def test_flagship_run_runs_every_cell_and_shows_each(grid_shop: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    shown = flagship("run", str(grid_shop), "--db", db, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "count=3" in shown.stdout and "count=6" in shown.stdout
    assert "stored 8 runs (2 cells x 2 arms x 2 seeds)" in shown.stderr.replace("\n", " ")
    as_json = flagship("run", str(grid_shop), "--db", db, "--json", cwd=tmp_path)
    output = json.loads(as_json.stdout)
    assert len(output["runs"]) == 8 and {r["cell"] for r in output["runs"]} == {
        '{"populations.shoppers.count":3}', '{"populations.shoppers.count":6}'}
    assert [c["cell"] for c in output["cells"]] == [{"populations.shoppers.count": 3},
                                                     {"populations.shoppers.count": 6}]


def test_flagship_sweep_starts_from_the_scenarios_grid(grid_shop: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    own = flagship("sweep", str(grid_shop), "--db", db, "--replications", "1", cwd=tmp_path)
    assert own.returncode == 0, own.stderr
    assert "2 cells x 2 arms x 1 seeds" in own.stderr
    replaced = flagship("sweep", str(grid_shop), "--db", db, "--replications", "1",
                        "--grid", "populations.shoppers.count=2,4,5", cwd=tmp_path)
    assert "3 cells x 2 arms x 1 seeds" in replaced.stderr
