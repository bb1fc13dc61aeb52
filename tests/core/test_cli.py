"""The flagship CLI, run as a real subprocess the way users run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._cli import flagship

SHOP = """
name = "shop"
seed = 2
duration = 100.0
replications = 3
[mechanisms.posted_price]
stock = 40
[populations.shoppers]
model = "shoppers"
count = 10
arrival = { process = "poisson", rate = 0.3 }
[arms.list]
[arms.sale]
set = { "mechanisms.posted_price.price" = 80 }
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(SHOP)
    return path


def test_run_json_is_identical_for_identical_seeds(tmp_path: Path, shop: Path) -> None:
    first = flagship("run", str(shop), "--json", "--db", f"sqlite:///{tmp_path}/a.db",
                     cwd=tmp_path)
    second = flagship("run", str(shop), "--json", "--db", f"sqlite:///{tmp_path}/b.db",
                      cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert [(r["arm"], r["seed"]) for r in data["runs"]] == [
        ("list", 2), ("list", 3), ("list", 4), ("sale", 2), ("sale", 3), ("sale", 4)]
    sell = data["aggregate"]["sale"]["posted_price.sell_through"]
    assert sell["n"] == 3 and sell["ci_low"] <= sell["mean"] <= sell["ci_high"]


def test_run_prints_measures_by_area_and_stores(tmp_path: Path, shop: Path) -> None:
    result = flagship("run", str(shop), "--replications", "2", "--seed", "9",
                      "--set", "populations.shoppers.count=4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for area in ("legitimacy", "ux", "robustness"):
        assert area in result.stdout
    assert "posted_price.sell_through" in result.stdout and "sale" in result.stdout
    assert (tmp_path / "flagship.db").exists()  # the default store, relative to the cwd
    assert "stored 4 runs" in result.stderr


def test_bad_input_is_one_line_exit_2_no_traceback(tmp_path: Path, shop: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SHOP.replace("stock = 40", "stock = -40"))
    for args in (["run", str(bad)], ["validate", str(bad)],
                 ["run", str(shop), "--set", "mechanisms.posted_price.price=0"],
                 ["run", str(shop), "--replications", "0"],
                 ["run", str(shop), "--bogus"],
                 ["run", str(tmp_path / "missing.toml")],
                 ["show", "deadbeef", "--db", f"sqlite:///{tmp_path}/x.db"],
                 ["run", str(shop), "--db", "nonsense"]):
        result = flagship(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
    result = flagship("validate", str(bad), cwd=tmp_path)
    assert result.stderr.strip() == (f"{bad}: mechanisms.posted_price.stock: expected a "
                                     "non-negative integer, got -40")


def test_validate_ok(tmp_path: Path, shop: Path) -> None:
    result = flagship("validate", str(shop), cwd=tmp_path)
    assert result.returncode == 0
    assert "ok (1 mechanisms, 1 populations, arms: list, sale)" in result.stdout


def test_list_shows_plugins_with_their_fields(tmp_path: Path) -> None:
    result = flagship("list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    shop = listing["mechanisms"]["posted_price"]
    assert shop["module"] == "flagship_plugin_example"
    assert {f["name"]: f["default"] for f in shop["fields"]} == {"price": 100, "stock": 1000}
    assert "shoppers" in listing["populations"]


def test_show_prints_the_manifest_and_the_scenario_reruns_exactly(tmp_path: Path,
                                                                   shop: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    first = flagship("run", str(shop), "--json", "--replications", "1", "--db", db, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    from flagship.telemetry import Store

    with Store.open(db) as store:
        run_id = store.runs()[0].id
        original_hash = store.runs()[0].action_log_sha256
    shown = flagship("show", run_id[:8], "--db", db, "--json", cwd=tmp_path)
    record = json.loads(shown.stdout)
    assert record["id"] == run_id and record["manifest"]["seed"] == record["seed"]
    scenario = flagship("show", run_id, "--db", db, "--scenario", cwd=tmp_path)
    (tmp_path / "again.json").write_text(scenario.stdout)
    rerun = flagship("run", "again.json", "--seed", str(record["seed"]), "--replications", "1",
                     "--json", "--db", f"sqlite:///{tmp_path}/t.db", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["runs"][0]["action_log_sha256"] == original_hash


def test_a_failed_replication_exits_1_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "faulty.toml"
    path.write_text('name = "f"\nduration = 5.0\nreplications = 6\n'
                    "[mechanisms.faulty]\nfailure_probability = 0.5\n")
    result = flagship("run", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "failed: RuntimeError: faulty mechanism failed on purpose" in result.stderr
    assert "stored 6 runs" in result.stderr


def test_help_everywhere(tmp_path: Path) -> None:
    for command in ([], ["run"], ["validate"], ["list"], ["show"]):
        result = flagship(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage" in result.stdout
