"""LEXIMIN panel selection (Flanigan et al. 2021) beside the stratified draw: fairness, quotas, sampling."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy.optimize import linprog
from scipy.stats import binomtest

from flagship.democracy import EmergencyVoteConfig
from flagship.democracy._leximin import (
    Quota,
    default_quotas,
    leximin_distribution,
    leximin_draw,
    quotas_for,
    select_panel,
    selection_probabilities,
    types_of,
)
from flagship.democracy._representativeness import selection_report
from flagship.democracy._sortition import stratified_draw, stratified_probabilities
from flagship.democracy.panel_selection import generate_registry, read_registry
from flagship.mechanisms import ContractError
from flagship.mechanisms.events import VoteConvened
from tests.democracy.test_democracy_procedure import SHOCK, World, reg

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "examples" / "citizens_registry.csv"
STRATA = ("region", "age_band")
K = 40


def shipped() -> tuple[dict[str, list[str]], list[tuple[str, ...]]]:
    attributes = read_registry(REGISTRY.read_text(encoding="utf-8"), STRATA)
    n = len(attributes["region"])
    return attributes, [tuple(attributes[key][i] for key in STRATA) for i in range(n)]


def meets(quotas: tuple[Quota, ...], ordered: tuple[tuple[str, ...], ...], seats: Counter[Any]) -> bool:
    by_type = [seats.get(cell, 0) for cell in ordered]
    return all(q.low <= sum(by_type[t] for t in q.types) <= q.high for q in quotas)


# -- the shipped registry: LEXIMIN against the stratified draw ----------------------------------


def test_the_shipped_registry_is_the_generator_output() -> None:
    assert REGISTRY.read_text(encoding="utf-8") == generate_registry(600, 21)


def test_leximin_raises_the_minimum_selection_probability_on_the_shipped_registry() -> None:
    _, cells = shipped()
    stratified = selection_probabilities("stratified", cells, K)
    leximin = selection_probabilities("leximin", cells, K)
    uniform = K / len(cells)
    # The stratified draw's deterministic rounding leaves some cells below k/n (the finding)...
    assert min(stratified) < 0.9 * uniform < uniform * 1.1 < max(stratified)
    # ...LEXIMIN reaches the uniform k/n for everyone under the same proportional quotas.
    assert min(leximin) > min(stratified)
    assert min(leximin) == pytest.approx(uniform, abs=1e-8)
    assert max(leximin) == pytest.approx(uniform, abs=1e-8)
    assert sum(leximin) == pytest.approx(K)  # probabilities add up to the panel size


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_leximin_panel_meets_the_quotas(seed: int) -> None:
    _, cells = shipped()
    ordered, counts, _ = types_of(cells)
    quotas = default_quotas(ordered, counts, K)
    draw = leximin_draw(cells, K, np.random.default_rng(seed))
    assert len(draw.members) == K == len(set(draw.members))
    seats = Counter(cells[i] for i in draw.members)
    assert dict(seats) == draw.seats
    assert meets(quotas, ordered, seats)


def test_a_panel_outside_the_quotas_is_caught_by_the_quota_check() -> None:
    _, cells = shipped()
    ordered, counts, _ = types_of(cells)
    quotas = default_quotas(ordered, counts, K)
    lopsided = Counter({ordered[0]: K})  # the property test's check can fail
    assert not meets(quotas, ordered, lopsided)


# -- sampling agrees with the computed probabilities ----------------------------------------------

SKEWED = {"region": {"north": (2, 2), "south": (15, 20)}}
"""Quotas that force unequal probabilities, so the check compares more than one number."""
DRAWS = 8000


def outside_wilson(selection: str, cells: list[tuple[str, ...]], probabilities: list[float], draws: int,
                   quotas: dict[str, dict[str, tuple[int, int]]] | None = None) -> list[tuple[str, ...]]:
    """Cells whose first registrant's sampled inclusion frequency has a 99% Wilson interval
    (Bonferroni over the cells) that misses the computed probability. One registrant per cell:
    their inclusions are independent Bernoulli trials across draws (a cell's pooled seats are not)."""
    ordered, _, by_cell = types_of(cells)
    rng = np.random.default_rng(7)
    hits: Counter[int] = Counter()
    for _ in range(draws):
        hits.update(select_panel(selection, cells, K, rng, STRATA, quotas).members)
    level = 1 - 0.01 / len(ordered)
    outside = []
    for cell in ordered:
        first = by_cell[cell][0]
        interval = binomtest(hits[first], draws).proportion_ci(level, method="wilson")
        if not interval.low <= probabilities[first] <= interval.high:
            outside.append(cell)
    return outside


@pytest.mark.parametrize("selection,quotas", [("stratified", None), ("leximin", None), ("leximin", SKEWED)])
def test_sampled_frequencies_agree_with_the_computed_probabilities(
    selection: str, quotas: dict[str, dict[str, tuple[int, int]]] | None
) -> None:
    _, cells = shipped()
    probabilities = selection_probabilities(selection, cells, K, STRATA, quotas)
    assert outside_wilson(selection, cells, probabilities, DRAWS, quotas) == []


def test_the_sampling_check_rejects_a_wrong_probability() -> None:
    _, cells = shipped()
    uniform = [K / len(cells)] * len(cells)  # what the stratified draw does NOT give
    assert outside_wilson("stratified", cells, uniform, DRAWS) != []


def test_stratified_probabilities_are_exact_on_a_tie() -> None:
    # 3 cells of 2, one seat: remainders tie three ways, each cell gets the seat a third of the time.
    assert stratified_probabilities({("a",): 2, ("b",): 2, ("c",): 2}, 1) == {
        ("a",): pytest.approx(1 / 6), ("b",): pytest.approx(1 / 6), ("c",): pytest.approx(1 / 6)}
    counts = Counter(next(iter(stratified_draw([("a",)] * 2 + [("b",)] * 2 + [("c",)] * 2, 1,
                                               np.random.default_rng(s)).seats)) for s in range(300))
    assert min(counts.values()) > 60  # the random tie-break the exact formula assumes


# -- differential: against an independent LEXIMIN over every feasible panel -----------------------


def brute_leximin(counts: tuple[int, ...], size: int, quotas: tuple[Quota, ...]) -> list[float]:
    """LEXIMIN by enumeration: every feasible seat vector is a column; types are fixed one LP per type
    (a type is fixed when maximising its own probability cannot beat the current minimum)."""
    panels = [p for p in itertools.product(*(range(c + 1) for c in counts)) if sum(p) == size
              and all(q.low <= sum(p[t] for t in q.types) <= q.high for q in quotas)]
    shares = (np.array(panels, dtype=float) / np.array(counts, dtype=float)).T
    n_types, n_panels = shares.shape
    fixed: dict[int, float] = {}
    while len(fixed) < n_types:
        free = [t for t in range(n_types) if t not in fixed]

        def solve(target: int | None, floor: float) -> Any:
            cost = np.zeros(n_panels + 1)
            cost[-1] = -1.0 if target is None else 0.0
            if target is not None:
                cost[:n_panels] = -shares[target]
            rows, bounds = [], []
            for t in range(n_types):
                row = np.zeros(n_panels + 1)
                row[:n_panels] = -shares[t]
                if t in fixed:
                    rows.append(row)
                    bounds.append(-(fixed[t] - 1e-9))
                elif target is None:
                    row[-1] = 1.0
                    rows.append(row)
                    bounds.append(0.0)
                else:
                    rows.append(row)
                    bounds.append(-(floor - 1e-9))
            eq = np.zeros((1, n_panels + 1))
            eq[0, :n_panels] = 1.0
            return linprog(cost, A_ub=np.array(rows), b_ub=bounds, A_eq=eq, b_eq=[1.0],
                           bounds=[(0, None)] * n_panels + [(0, 1)], method="highs")

        z = float(solve(None, 0.0).x[-1])
        newly = [t for t in free if -solve(t, z).fun <= z + 1e-7]
        for t in newly:
            fixed[t] = z
    return [fixed[t] for t in range(n_types)]


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(1, 5), min_size=2, max_size=4),
       size=st.integers(1, 8),
       bounds=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=3),
       data=st.data())
def test_leximin_matches_an_enumeration_reference(counts: list[int], size: int,
                                                  bounds: list[tuple[int, int]], data: Any) -> None:
    cells = tuple((f"c{t}",) for t in range(len(counts)))
    size = min(size, sum(counts))
    quotas = []
    for i, (a, b) in enumerate(bounds):
        members = data.draw(st.sets(st.integers(0, len(counts) - 1), min_size=1), label=f"quota{i}")
        quotas.append(Quota(f"q{i}", tuple(sorted(members)), min(a, b), max(a, b) + 1))
    try:
        ours = leximin_distribution(cells, tuple(counts), size, tuple(quotas)).type_probabilities()
    except ContractError:  # no panel meets the quotas: the enumeration must find none either
        assert not any(sum(p) == size and all(q.low <= sum(p[t] for t in q.types) <= q.high
                                              for q in quotas)
                       for p in itertools.product(*(range(c + 1) for c in counts)))
        return
    reference = brute_leximin(tuple(counts), size, tuple(quotas))
    assert sorted(ours.values()) == pytest.approx(sorted(reference), abs=1e-6)
    assert [ours[c] for c in cells] == pytest.approx(reference, abs=1e-6)


# -- determinism, configuration and the mechanism -----------------------------------------------

SCRIPT = """
from flagship.democracy.panel_selection import read_registry
from flagship.democracy._leximin import leximin_distribution, quotas_for, types_of
import sys
a = read_registry(open(sys.argv[1]).read(), ["region", "age_band"])
cells = [tuple(a[k][i] for k in ("region", "age_band")) for i in range(len(a["region"]))]
o, c, _ = types_of(cells)
q = {"region": {"north": (11, 13), "south": (11, 13)}, "age_band": {"55+": (15, 17)}}
d = leximin_distribution(o, c, 40, quotas_for(o, c, 40, ["region", "age_band"], q))
print(repr(d.panels), [p.hex() for p in d.probabilities])
"""


def test_the_distribution_is_byte_identical_across_processes() -> None:
    outputs = set()
    for hashseed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        result = subprocess.run([sys.executable, "-c", SCRIPT, str(REGISTRY)], env=env, capture_output=True,
                                text=True, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_configured_quotas_are_met_and_bad_quotas_are_rejected() -> None:
    _, cells = shipped()
    quotas = {"region": {"north": (14, 16)}, "age_band": {"18-34": (6, 8)}}
    for seed in range(20):
        draw = leximin_draw(cells, K, np.random.default_rng(seed), STRATA, quotas)
        regions = Counter(cells[i][0] for i in draw.members)
        ages = Counter(cells[i][1] for i in draw.members)
        assert 14 <= regions["north"] <= 16 and 6 <= ages["18-34"] <= 8
    with pytest.raises(ContractError, match="no panel of 40 meets the quotas"):
        leximin_draw(cells, K, np.random.default_rng(0), STRATA, {"region": {"north": (41, 45)}})
    with pytest.raises(ContractError, match="panel_quotas: 'education' is not a stratum key"):
        leximin_draw(cells, K, np.random.default_rng(0), STRATA, {"education": {"degree": (1, 2)}})
    with pytest.raises(ContractError, match="selection: expected"):
        select_panel("lottery", cells, K, np.random.default_rng(0))


def test_the_config_takes_the_selection_and_checks_quotas() -> None:
    assert EmergencyVoteConfig().selection == "stratified"  # existing results do not change
    EmergencyVoteConfig(selection="leximin", panel_quotas={"region": {"north": (1, 3)}})
    with pytest.raises(ValidationError, match="only the leximin selection"):
        EmergencyVoteConfig(panel_quotas={"region": {"north": (1, 3)}})
    with pytest.raises(ValidationError, match="'income' is not one of strata"):
        EmergencyVoteConfig(selection="leximin", panel_quotas={"income": {"low": (1, 3)}})
    with pytest.raises(ValidationError, match="expected 0 <= low <= high"):
        EmergencyVoteConfig(selection="leximin", panel_quotas={"region": {"north": (3, 1)}})
    with pytest.raises(ValidationError, match="selection"):
        EmergencyVoteConfig(selection="lottery")  # type: ignore[arg-type]


def test_a_leximin_panel_vote_is_verifiable_from_its_draw_seed() -> None:
    world = World(3, panel_size=6, strata=["region"], selection="leximin")
    world.publish_at(SHOCK)
    regions = ["north", "south", "east", "north", "west"]
    world.feed([reg(0.0, f"v{i}", f"p{i}", regions[i % 5]) for i in range(25)], until=20.0)
    convened = world.events(VoteConvened)[0]
    snapshot = world.mechanism.snapshot()
    actors = list(snapshot["voters"])
    cells = [tuple(snapshot["voters"][a][1]) for a in actors]
    draw = select_panel("leximin", cells, 6, np.random.default_rng(convened.draw_seed), ["region"])
    assert tuple(actors[i] for i in draw.members) == convened.members
    ordered, counts, _ = types_of(cells)
    seats = Counter(tuple(snapshot["voters"][a][1]) for a in convened.members)
    assert meets(quotas_for(ordered, counts, 6, ["region"], None), ordered, seats)


@pytest.mark.parametrize("selection", ["stratified", "leximin"])
def test_the_vote_measures_the_least_selected_voters_chance(selection: str) -> None:
    world = World(3, panel_size=6, strata=["region"], selection=selection)
    world.publish_at(SHOCK)
    regions = ["north", "north", "south", "east", "west"]  # 10, 5, 5, 5 voters: 6 seats do not divide
    world.feed([reg(0.0, f"v{i}", f"p{i}", regions[i % 5]) for i in range(25)], until=20.0)
    ratio = world.measures()["panel_min_selection_ratio"]
    if selection == "leximin":
        assert ratio == pytest.approx(1.0, abs=1e-6)
    else:  # quotas 2.4, 1.2, 1.2, 1.2: north's larger remainder takes the 6th seat in every draw
        assert ratio == pytest.approx((1 / 5) / (6 / 25))  # the others: 1 seat of 5, not 0.24


# -- representativeness beyond the quotas --------------------------------------------------------


def test_representativeness_is_measured_on_attributes_that_were_not_quotas() -> None:
    attributes, _ = shipped()
    report = selection_report("leximin", attributes, STRATA, K, 200, 5)
    assert set(report.tvd) == {"region", "age_band", "education", "first_preference"}
    # Quotas hold the strata near the registry's mix; the unconstrained first preference varies more.
    assert report.tvd["region"][0] < 0.03 and report.tvd["age_band"][0] < 0.03
    assert report.tvd["first_preference"][0] > 2 * report.tvd["region"][0]
    # The measure can fail: stratifying on the opinion itself brings its TVD down.
    on_opinion = selection_report("leximin", attributes, ("first_preference",), K, 200, 5)
    assert on_opinion.tvd["first_preference"][0] < report.tvd["first_preference"][0] / 2
