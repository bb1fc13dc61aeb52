"""The runner: determinism, seed streams, failure isolation, manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from flagship.sandbox import execute, jobs_for, load_scenario, resolve, run, run_batch, run_jobs
from flagship.telemetry import Store

SHOP = """
name = "shop"
seed = 11
duration = 200.0
replications = 3

[mechanisms.posted_price]
price = 100
stock = 300

[populations.shoppers]
model = "shoppers"
count = 20
arrival = { process = "poisson", rate = 0.2 }
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(SHOP)
    return path


def test_same_seed_gives_byte_identical_action_log_and_measures(shop: Path) -> None:
    first, second = run(shop, seed=5), run(shop, seed=5)
    assert first.n_actions > 500
    assert first.actions == second.actions
    assert first.action_log_sha256 == second.action_log_sha256
    assert first.measures() == second.measures()
    assert first.state_sha256 == second.state_sha256


def test_other_seed_gives_other_log(shop: Path) -> None:
    assert run(shop, seed=5).action_log_sha256 != run(shop, seed=6).action_log_sha256


def test_adding_a_population_leaves_the_others_draws_alone(tmp_path: Path, shop: Path) -> None:
    crowded = tmp_path / "crowded.toml"
    crowded.write_text(SHOP.replace("stock = 300", "stock = 100000") + """
[populations.latecomers]
model = "shoppers"
count = 7
arrival = { process = "poisson", rate = 1.0 }
""")
    roomy = tmp_path / "roomy.toml"
    roomy.write_text(SHOP.replace("stock = 300", "stock = 100000"))

    def shoppers_actions(path: Path) -> list[tuple[float, str, str]]:
        rows = run(path, seed=3).actions or []
        return [(r[1], r[3], r[5]) for r in rows if r[3].startswith("shoppers-")]

    alone = shoppers_actions(roomy)
    together = shoppers_actions(crowded)
    assert len(alone) > 500
    assert together == alone


def test_manifest_is_enough_to_reproduce_a_run(shop: Path) -> None:
    result = run(load_scenario(shop, ["mechanisms.posted_price.price=90"]), seed=8)
    manifest = result.manifest
    assert manifest["seed"] == 8
    assert manifest["overrides"] == ["mechanisms.posted_price.price=90"]
    assert len(manifest["scenario_sha256"]) == 64
    assert "shoppers/arrivals" in manifest["streams"]
    assert manifest["dependencies"]["simpy"]
    assert manifest["python"].count(".") == 2
    again = run(resolve(manifest["scenario"]), seed=manifest["seed"])
    assert again.action_log_sha256 == result.action_log_sha256


def test_replications_and_arms_share_seeds(tmp_path: Path, shop: Path) -> None:
    path = tmp_path / "arms.toml"
    path.write_text(SHOP + '\n[arms.full]\n[arms.cheap]\nset = { "mechanisms.posted_price.price" = 70 }\n')
    jobs = jobs_for(load_scenario(path))
    assert [(j.arm, j.seed) for j in jobs] == [("full", 11), ("full", 12), ("full", 13),
                                               ("cheap", 11), ("cheap", 12), ("cheap", 13)]


def test_a_failing_replication_is_recorded_and_the_others_survive(tmp_path: Path) -> None:
    path = tmp_path / "faulty.toml"
    path.write_text("""
name = "faulty"
duration = 10.0
replications = 8
[mechanisms.faulty]
failure_probability = 0.5
""")
    store = Store.open(f"sqlite:///{tmp_path / 'f.db'}")
    batch = run_batch(load_scenario(path), store=store, workers=2)  # a real process pool
    failed = [r for r in batch.results if not r.ok]
    assert 0 < len(failed) < 8
    assert all("faulty mechanism failed on purpose" in (r.error or "") for r in failed)
    assert all("Traceback" in (r.error or "") for r in failed)
    stored = store.runs(sweep_id=batch.sweep_id)
    assert sorted(r.status for r in stored) == sorted(r.status for r in batch.results)
    assert {r.seed for r in stored} == set(range(8))
    # a seed that failed fails again: failures are deterministic too
    again = execute(jobs_for(load_scenario(path), seeds=[failed[0].seed])[0])
    assert not again.ok


def test_pool_and_inline_runs_agree(shop: Path) -> None:
    jobs = jobs_for(load_scenario(shop))
    inline = {r.seed: r.action_log_sha256 for r in map(execute, jobs)}
    pooled = {r.seed: r.action_log_sha256 for r in run_jobs(jobs, workers=2)}
    assert inline == pooled
