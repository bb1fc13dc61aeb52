"""Sweep designs: grids, zips, samples, cell keys and cell seeds, and refusing bad designs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.mechanisms import InputError, ScenarioError
from flagship.sandbox import load_scenario
from flagship.sandbox._sweep import (
    Axis,
    Range,
    SweepSpec,
    cell_key,
    cell_seeds,
    design_cells,
    parse_axis,
    parse_range,
    plan_sweep,
    split_values,
)

values = st.lists(st.integers(-1000, 1000), min_size=1, max_size=4, unique=True)


@given(st.lists(values, min_size=1, max_size=3))
def test_grid_is_the_cartesian_product_each_cell_once(axes: list[list[int]]) -> None:
    spec = SweepSpec(grids=tuple(Axis(f"p{i}", tuple(v)) for i, v in enumerate(axes)))
    cells = design_cells(spec, seed=1)
    expected = [dict(zip([f"p{i}" for i in range(len(axes))], combo, strict=True))
                for combo in itertools.product(*axes)]
    assert cells == expected  # first axis slowest, every combination exactly once
    assert len({cell_key(c) for c in cells}) == len(cells)


@given(st.integers(1, 6), st.integers(1, 3))
def test_zipped_paths_advance_together(length: int, paths: int) -> None:
    zips = tuple(Axis(f"z{j}", tuple(range(j * 100, j * 100 + length))) for j in range(paths))
    cells = design_cells(SweepSpec(zips=zips, grids=(Axis("g", (1, 2)),)), seed=0)
    assert len(cells) == 2 * length
    for cell in cells:
        offsets = {cell[f"z{j}"] - j * 100 for j in range(paths)}
        assert len(offsets) == 1  # the i-th value of every zipped path, together


@settings(max_examples=50)
@given(st.integers(1, 40), st.floats(-1e3, 1e3), st.floats(0.001, 1e3), st.integers(0, 2**32 - 1))
def test_latin_hypercube_puts_one_sample_in_each_stratum(n: int, low: float, width: float,
                                                         seed: int) -> None:
    spec = SweepSpec(ranges=(Range("a", low, low + width, False), Range("b", 0.0, 1.0, False)),
                     samples=n, sampler="lhs")
    cells = design_cells(spec, seed)
    assert cells == design_cells(spec, seed)  # seeded: the same design every time
    for path, lo, hi in (("a", low, low + width), ("b", 0.0, 1.0)):
        strata = sorted(min(n - 1, int((c[path] - lo) / (hi - lo) * n)) for c in cells)
        assert strata == list(range(n))
        assert all(lo <= c[path] <= hi for c in cells)


@given(st.integers(0, 50), st.integers(0, 30), st.integers(1, 8), st.sampled_from(["lhs", "random"]))
def test_integer_ranges_sample_integers_within_bounds(low: int, span: int, n: int, sampler: str) -> None:
    spec = SweepSpec(ranges=(Range("k", low, low + span + 1, True),), samples=n,
                     sampler=sampler)  # type: ignore[arg-type]
    try:
        cells = design_cells(spec, 7)
    except InputError as exc:  # a design that repeats a cell is refused, never run twice
        assert "repeats" in str(exc)
        assert sampler == "random" or n > span + 2  # LHS repeats only when there are too few integers
        return
    assert all(isinstance(c["k"], int) and low <= c["k"] <= low + span + 1 for c in cells)


def test_random_sampling_differs_by_scenario_seed() -> None:
    spec = SweepSpec(ranges=(Range("x", 0.0, 1.0, False),), samples=4, sampler="random")
    assert design_cells(spec, 1) != design_cells(spec, 2)


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), max_size=4),
       st.integers(0, 2**31), st.integers(1, 12))
def test_cell_seeds_are_deterministic_and_extend_as_a_prefix(assignment: dict[str, int], seed: int,
                                                             k: int) -> None:
    seeds = cell_seeds(seed, assignment, k)
    assert seeds == cell_seeds(seed, dict(reversed(list(assignment.items()))), k)  # order-free
    assert cell_seeds(seed, assignment, k + 3)[:k] == seeds
    assert all(isinstance(s, int) and 0 <= s < 2**32 for s in seeds)


def test_cells_get_different_seeds() -> None:
    assert cell_seeds(1, {"a": 1}, 4) != cell_seeds(1, {"a": 2}, 4)
    assert cell_seeds(1, {"a": 1}, 4) != cell_seeds(2, {"a": 1}, 4)


def test_long_cell_keys_become_digests() -> None:
    short = {"mechanisms.posted_price.price": 80}
    assert cell_key(short) == '{"mechanisms.posted_price.price":80}'
    long = {f"populations.shoppers.params.p{i}": 10**12 + i for i in range(10)}
    assert cell_key(long).startswith("sha256:") and len(cell_key(long)) == 71


@pytest.mark.parametrize(("text", "expected"), [
    ("1,2,3", ["1", "2", "3"]),
    ('"a,b",c', ['"a,b"', "c"]),
    ("[1, 2],{ process = \"poisson\", rate = 0.1 }", ["[1, 2]", '{ process = "poisson", rate = 0.1 }']),
    ("'x,y', 2", ["'x,y'", "2"]),
])
def test_values_split_at_top_level_commas(text: str, expected: list[str]) -> None:
    assert split_values(text) == expected


def test_axis_values_are_read_as_toml() -> None:
    axis = parse_axis('populations.shoppers.arrival={ process = "poisson", rate = 0.1 },'
                      '{ process = "none" }')
    assert axis.values == ({"process": "poisson", "rate": 0.1}, {"process": "none"})
    assert parse_axis("a=1,2.5,true,word").values == (1, 2.5, True, "word")


@pytest.mark.parametrize("text", ["novalues", "a=", "=1,2", "a=1,,2", "a=1,1"])
def test_malformed_axes_are_refused(text: str) -> None:
    with pytest.raises(InputError):
        parse_axis(text)


@pytest.mark.parametrize("text", ["a=1", "a=2:1", "a=x:3", "a=1:inf", "=0:1", "a=true:2"])
def test_malformed_ranges_are_refused(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_range(text)
    assert info.value.problems[0].path == "--range"


def test_integer_bounds_give_integer_ranges() -> None:
    assert parse_range("n=1:9") == Range("n", 1.0, 9.0, True)
    assert parse_range("r=0:1.5").integer is False


@pytest.mark.parametrize(("kwargs", "option"), [
    ({"samples": 3}, "--sample"),
    ({"ranges": (Range("a", 0, 1, False),)}, "--range"),
    ({"zips": (Axis("a", (1, 2)), Axis("b", (1,)))}, "--zip"),
    ({"grids": (Axis("a", (1,)),), "zips": (Axis("a", (2,)),)}, "--zip"),
    ({"replications": 0}, "--replications"),
])
def test_inconsistent_designs_are_refused(kwargs: dict[str, object], option: str) -> None:
    with pytest.raises(InputError) as info:
        SweepSpec(**kwargs)  # type: ignore[arg-type]
    assert info.value.problems[0].path == option


def test_every_cell_and_arm_is_validated_before_anything_runs(shop: Path) -> None:
    base = load_scenario(shop)
    with pytest.raises(ScenarioError) as info:
        plan_sweep(base, SweepSpec(grids=(Axis("mechanisms.posted_price.price", (90, 0, -1)),)))
    lines = info.value.lines()
    assert len(lines) == 2 and all("mechanisms.posted_price.price" in line for line in lines)
    assert str(shop) in lines[0]
    with pytest.raises(ScenarioError, match="unknown field"):
        plan_sweep(base, SweepSpec(grids=(Axis("populations.shoppers.params.colour", (1,)),)))
    with pytest.raises(ScenarioError):  # an invalid value inside an arm's scenario is caught too
        plan_sweep(base, SweepSpec(grids=(Axis("arms.sale.set", ({"mechanisms.posted_price.price": 0},)),)))


def test_plan_covers_initial_conditions_and_populations(shop: Path) -> None:
    spec = SweepSpec(grids=(Axis("populations.shoppers.count", (2, 5)),
                            Axis("mechanisms.posted_price.stock", (10, 20))), replications=3)
    plan = plan_sweep(load_scenario(shop), spec)
    assert plan.total == 4 * 2 * 3
    assert len(plan.result_keys()) == len(set(plan.result_keys())) == plan.total
    for cell in plan.cells:
        assert cell.resolved.scenario.populations["shoppers"].count == cell.assignment[
            "populations.shoppers.count"]
        assert cell.resolved.data["mechanisms"]["posted_price"]["stock"] == cell.assignment[
            "mechanisms.posted_price.stock"]
    jobs = plan.jobs()
    by_cell: dict[str | None, dict[str | None, list[int]]] = {}
    for job in jobs:
        by_cell.setdefault(job.cell, {}).setdefault(job.arm, []).append(job.seed)
    for arms in by_cell.values():  # common random numbers: every arm gets the cell's seeds
        assert arms["list"] == arms["sale"] and len(arms["list"]) == 3
    sale = next(j for j in jobs if j.arm == "sale")
    assert sale.data["mechanisms"]["posted_price"]["price"] == 80
    assert json.loads(str(sale.cell)) == plan.cells[0].assignment


def test_sweep_id_depends_on_the_design_not_on_the_run(shop: Path, tmp_path: Path) -> None:
    spec = SweepSpec(grids=(Axis("populations.shoppers.count", (2, 5)),), replications=2)
    first = plan_sweep(load_scenario(shop), spec)
    assert plan_sweep(load_scenario(shop), spec).sweep_id == first.sweep_id
    copy = tmp_path / "copy.toml"
    copy.write_text(shop.read_text())
    assert plan_sweep(load_scenario(copy), spec).sweep_id == first.sweep_id  # content, not path
    assert plan_sweep(load_scenario(shop, ["seed=4"]), spec).sweep_id != first.sweep_id
    assert plan_sweep(load_scenario(shop, ["duration=60"]), spec).sweep_id != first.sweep_id
    other_grid = SweepSpec(grids=(Axis("populations.shoppers.count", (2, 6)),), replications=2)
    assert plan_sweep(load_scenario(shop), other_grid).sweep_id != first.sweep_id
    # more replications extend the same sweep: a resumed or grown sweep keeps its stored runs
    more = SweepSpec(grids=spec.grids, replications=3)
    assert plan_sweep(load_scenario(shop), more).sweep_id == first.sweep_id
    assert "--grid populations.shoppers.count=2,5 --replications 2" in first.command()
