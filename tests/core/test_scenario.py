"""Scenario validation: every problem named with its file, field path and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from flagship.mechanisms import ScenarioError
from flagship.sandbox import load_scenario, parse_override

BASE = """
name = "shop"
seed = 3
duration = 100.0
replications = 2

[mechanisms.posted_price]
price = 100
stock = 50

[populations.shoppers]
model = "shoppers"
count = 5
arrival = { process = "poisson", rate = 0.5 }
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides or [])
    return info.value.lines()


def test_valid_scenario_resolves_defaults(tmp_path: Path) -> None:
    resolved = load_scenario(write(tmp_path, BASE))
    assert resolved.data["mechanisms"]["posted_price"] == {"price": 100, "stock": 50}
    assert resolved.data["populations"]["shoppers"]["mechanism"] == "posted_price"
    assert resolved.data["populations"]["shoppers"]["params"] == {"min_value": 50,
                                                                  "max_value": 150}
    assert len(resolved.source_sha256) == 64


def test_mechanism_config_error_names_file_path_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("price = 100", "price = -1"))
    assert problems(path) == [
        f"{path}: mechanisms.posted_price.price: expected a positive integer, got -1"]


def test_every_problem_is_reported_once(tmp_path: Path) -> None:
    text = (BASE.replace("price = 100", 'price = "cheap"')
            .replace("count = 5", "count = 5\ncolour = 'red'")
            .replace("duration = 100.0", "duration = 0"))
    lines = problems(write(tmp_path, text))
    assert any("duration: expected a positive number, got 0" in line for line in lines)
    assert any("populations.shoppers.colour: unknown field" in line for line in lines)
    assert len(lines) == 2  # structure errors stop before configs are looked at


def test_unknown_keys_anywhere_are_errors(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, BASE + "\n[telemetry]\nsampling = 1\n"))
    assert lines == [f"{tmp_path / 's.toml'}: telemetry.sampling: unknown field"]
    lines = problems(write(tmp_path, BASE.replace("stock = 50", "stock = 50\nstok = 3")))
    assert lines[0].endswith("mechanisms.posted_price.stok: unknown field (did you mean 'stock'?)")


def test_unknown_mechanism_and_model(tmp_path: Path) -> None:
    text = BASE.replace("[mechanisms.posted_price]", "[mechanisms.posted_prize]").replace(
        'model = "shoppers"', 'model = "shopper"')
    lines = problems(write(tmp_path, text))
    assert any("mechanisms.posted_prize: unknown mechanism 'posted_prize'" in x for x in lines)
    assert any("populations.shoppers.model: unknown population 'shopper'" in x for x in lines)


def test_file_level_errors(tmp_path: Path) -> None:
    assert problems(tmp_path / "missing.toml") == [f"{tmp_path / 'missing.toml'}: no such file"]
    broken = write(tmp_path, "name = \n")
    assert problems(broken)[0].startswith(f"{broken}: invalid TOML:")


def test_overrides_apply_by_dotted_path_and_validate(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    resolved = load_scenario(path, ["mechanisms.posted_price.price=120",
                                    "populations.shoppers.count=9"])
    assert resolved.data["mechanisms"]["posted_price"]["price"] == 120
    assert resolved.scenario.populations["shoppers"].count == 9
    lines = problems(path, ["mechanisms.posted_price.stock=-5"])
    assert lines == [f"{path}: mechanisms.posted_price.stock: expected a non-negative integer, "
                     "got -5"]
    assert problems(path, ["nonsense"]) == [f"{path}: --set: expected path=value, got 'nonsense'"]


def test_override_values_are_read_as_toml() -> None:
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a=[1, 2]") == ("a", [1, 2])
    assert parse_override("a=hello") == ("a", "hello")
    assert parse_override('a="3"') == ("a", "3")


def test_arms_are_validated_before_anything_runs(tmp_path: Path) -> None:
    text = BASE + '\n[arms.cheap]\nset = { "mechanisms.posted_price.price" = 0 }\n'
    lines = problems(write(tmp_path, text))
    assert lines == [f"{tmp_path / 's.toml'}: arms.cheap: mechanisms.posted_price.price: "
                     "expected a positive integer, got 0"]


def test_arm_overrides_apply(tmp_path: Path) -> None:
    text = BASE + '\n[arms.a]\n[arms.b]\nset = { "mechanisms.posted_price.price" = 80 }\n'
    resolved = load_scenario(write(tmp_path, text))
    assert resolved.arm_names() == ["a", "b"]
    assert resolved.with_arm("b").data["mechanisms"]["posted_price"]["price"] == 80
    assert resolved.with_arm("b").data["arm"] == "b"
    assert resolved.with_arm("a").data["mechanisms"]["posted_price"]["price"] == 100


def test_population_target_required_with_several_mechanisms(tmp_path: Path) -> None:
    text = BASE + "\n[mechanisms.faulty]\nfailure_probability = 0.0\n"
    lines = problems(write(tmp_path, text))
    assert lines == [f"{tmp_path / 's.toml'}: populations.shoppers.mechanism: required when "
                     "the scenario has several mechanisms"]


def test_shocks_must_fall_inside_the_run(tmp_path: Path) -> None:
    text = BASE + '\n[[shocks]]\nat = 500.0\nkind = "ai_incident"\n'
    assert problems(write(tmp_path, text)) == [
        f"{tmp_path / 's.toml'}: shocks.0.at: expected a time within the duration (100.0), "
        "got 500.0"]


def test_json_scenarios_load_too(tmp_path: Path) -> None:
    resolved = load_scenario(write(tmp_path, BASE))
    import json

    path = write(tmp_path, json.dumps(resolved.data), "s.json")
    again = load_scenario(path)
    assert again.data == resolved.data


def test_integer_fields_inside_tables_are_described_as_integers(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    assert problems(path, ["populations.shoppers.count=-2"]) == [
        f"{path}: populations.shoppers.count: expected a non-negative integer, got -2"]
    assert problems(path, ["shocks=[{at = -1.0, kind = 'x'}]"]) == [
        f"{path}: shocks.0.at: expected a non-negative number, got -1.0"]


def test_an_arm_can_unset_a_mechanism_and_its_populations(tmp_path: Path) -> None:
    text = (BASE.replace('count = 5', 'count = 5\nmechanism = "posted_price"')
            + "\n[mechanisms.faulty]\nfailure_probability = 0.0\n"
            + '\n[arms.both]\n[arms.alone]\nunset = ["mechanisms.faulty"]\n'
            + '[arms.bare]\nunset = ["mechanisms.faulty", "populations.shoppers",\n'
            + '         "mechanisms.posted_price.stock"]\n'
            + 'set = { "mechanisms.posted_price.price" = 90 }\n')
    resolved = load_scenario(write(tmp_path, text))
    assert set(resolved.with_arm("both").mechanism_configs) == {"posted_price", "faulty"}
    alone = resolved.with_arm("alone")
    assert set(alone.mechanism_configs) == {"posted_price"} and "faulty" not in alone.data["mechanisms"]
    bare = resolved.with_arm("bare")
    assert bare.data["populations"] == {}
    assert bare.data["mechanisms"]["posted_price"] == {"price": 90, "stock": 1_000}  # unset: the default
    assert set(resolved.mechanism_configs) == {"posted_price", "faulty"}  # the base scenario is untouched


def test_unset_problems_are_reported_before_anything_runs(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + '\n[arms.typo]\nunset = ["mechanisms.posted_prize"]\n')
    assert problems(path) == [f"{path}: arms.typo: arms.typo.unset mechanisms.posted_prize: "
                              "mechanisms.posted_prize: no such field to remove"]
    # removing a mechanism a population still acts on is an error of the arm, not a silent drop
    text = (BASE + "\n[mechanisms.faulty]\nfailure_probability = 0.0\n"
            + '\n[arms.orphan]\nunset = ["mechanisms.posted_price"]\n').replace(
        "count = 5", 'count = 5\nmechanism = "posted_price"')
    lines = problems(write(tmp_path, text, "o.toml"))
    assert len(lines) == 1 and "arms.orphan: populations.shoppers.mechanism: expected one of the " \
                               "scenario's mechanisms (faulty), got 'posted_price'" in lines[0]


def test_near_miss_names_get_a_suggestion(tmp_path: Path) -> None:
    """An unknown field or mechanism close to a known one says which was probably meant."""
    path = write(tmp_path, BASE.replace("[mechanisms.posted_price]", "[mechanisms.posted_prize]"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "unknown mechanism 'posted_prize' (did you mean 'posted_price'?); known:" in str(caught.value)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, BASE), ["mechanisms.posted_price.prise=3"])
    assert caught.value.lines()[-1].endswith(
        "mechanisms.posted_price.prise: unknown field (did you mean 'price'?)")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, BASE), ["mechanisms.posted_price.zzz=3"])
    assert caught.value.lines()[-1].endswith("mechanisms.posted_price.zzz: unknown field")  # nothing close
