"""Running sweeps: stored, resumable, idempotent, paired arms; the ``flagship sweep`` command."""

from __future__ import annotations

import json
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from flagship.sandbox import default_executor, load_scenario
from flagship.sandbox._sweep import Axis, SweepSpec, pending_jobs, plan_sweep, run_sweep, stream_results
from flagship.sandbox.cli import main
from flagship.telemetry import Store
from tests._cli import flagship

FAULTY = """
name = "faulty"
seed = 1
duration = 5.0
replications = 6
[mechanisms.faulty]
failure_probability = 0.5
"""


def _keys(store: Store, sweep_id: str) -> list[tuple[str, str, int, str]]:
    return sorted((r.cell, r.arm, r.seed, r.status) for r in store.runs(sweep_id=sweep_id))


def test_a_sweep_stores_every_cell_arm_seed_once_and_resumes(store_url: str, shop: Path) -> None:
    spec = SweepSpec(grids=(Axis("populations.shoppers.count", (3, 6)),), replications=2)
    plan = plan_sweep(load_scenario(shop), spec)
    with Store.open(store_url) as store, ThreadPoolExecutor(2) as pool:
        outcome = run_sweep(plan, store, pool)
        assert (outcome.ran, outcome.skipped, outcome.failed_now) == (8, 0, 0)
        stored = store.runs(sweep_id=plan.sweep_id)
        assert sorted((r.cell, r.arm, r.seed) for r in stored) == sorted(plan.result_keys())
        assert store.sweep(plan.sweep_id[:10]).spec["cells"][1]["assignment"] == {
            "populations.shoppers.count": 6}
        again = run_sweep(plan, store, pool)  # the same command again: nothing left to run
        assert (again.ran, again.skipped) == (0, 8)
        assert len(store.runs(sweep_id=plan.sweep_id)) == 8


def test_an_interrupted_sweep_runs_only_what_is_missing(store_url: str, shop: Path) -> None:
    plan = plan_sweep(load_scenario(shop), SweepSpec(replications=3))
    with Store.open(store_url) as store, ThreadPoolExecutor(1) as pool:
        jobs, _ = pending_jobs(plan, store)
        for result in stream_results(jobs[:2], pool):  # "interrupted" after two runs
            store.save_run(result)
        outcome = run_sweep(plan, store, pool)
        assert (outcome.ran, outcome.skipped) == (4, 2)
        assert len(_keys(store, plan.sweep_id)) == 6


def test_failed_runs_are_rerun_and_replaced_never_duplicated(tmp_path: Path) -> None:
    path = tmp_path / "faulty.toml"
    path.write_text(FAULTY)
    plan = plan_sweep(load_scenario(path), SweepSpec(replications=6))
    with Store.open(f"sqlite:///{tmp_path / 'f.db'}") as store, ThreadPoolExecutor(2) as pool:
        first = run_sweep(plan, store, pool)
        assert 0 < first.failed_now < 6  # the faulty mechanism fails about half its seeds
        before = _keys(store, plan.sweep_id)
        second = run_sweep(plan, store, pool)
        assert second.ran == first.failed_now and second.skipped == 6 - first.failed_now
        assert _keys(store, plan.sweep_id) == before  # failures are deterministic: replaced in place
        assert len(before) == 6


def test_a_job_the_executor_loses_comes_back_failed(shop: Path) -> None:
    class Broken(Executor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            future: Future[Any] = Future()
            future.set_exception(RuntimeError("worker lost"))
            return future

    plan = plan_sweep(load_scenario(shop), SweepSpec(replications=2))
    results = list(stream_results(plan.jobs(), Broken()))
    assert len(results) == 4 and all(not r.ok for r in results)
    assert all("worker lost" in (r.error or "") for r in results)
    assert {(r.cell, r.arm, r.seed) for r in results} == {(j.cell, j.arm, j.seed) for j in plan.jobs()}


def test_window_bounds_jobs_in_flight(shop: Path) -> None:
    plan = plan_sweep(load_scenario(shop), SweepSpec(replications=5))
    in_flight = 0
    peak = 0

    class Counting(ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            return super().submit(fn, *args, **kwargs)

    with Counting(2) as pool:
        for _ in stream_results(plan.jobs(), pool, window=3):
            in_flight -= 1
    assert peak == 3


def test_process_pool_and_threads_store_the_same_results(tmp_path: Path, shop: Path) -> None:
    plan = plan_sweep(load_scenario(shop), SweepSpec(grids=(Axis("duration", (20.0, 30.0)),),
                                                    replications=2))
    hashes = []
    for name, pool in (("threads", ThreadPoolExecutor(2)), ("processes", default_executor(8, 2))):
        with Store.open(f"sqlite:///{tmp_path / name}.db") as store, pool:
            run_sweep(plan, store, pool)
            hashes.append(sorted((r.cell, r.arm, r.seed, r.action_log_sha256, tuple(r.measures.items()))
                                 for r in store.runs(sweep_id=plan.sweep_id)))
    assert hashes[0] == hashes[1] and len(hashes[0]) == 8


# -- the command --------------------------------------------------------------------------


def test_sweep_command_json_is_stable_and_resumes(tmp_path: Path, shop: Path) -> None:
    args = ["sweep", str(shop), "--grid", "populations.shoppers.count=2,4", "--zip", "duration=20.0,40.0",
            "--zip", "mechanisms.posted_price.stock=10,30", "--replications", "2", "--json"]
    first = flagship(*args, "--workers", "2", "--db", f"sqlite:///{tmp_path}/a.db", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    other = flagship(*args, "--workers", "1", "--db", f"sqlite:///{tmp_path}/b.db", cwd=tmp_path)
    assert other.stdout == first.stdout  # two sweeps compare line by line, whatever ran them
    data = json.loads(first.stdout)
    results = data["results"]
    assert len(results) == 2 * 2 * 2 * 2  # grid x zip x arms x seeds
    assert [r["cell"] for r in results[:4]] == [
        {"populations.shoppers.count": 2, "duration": 20.0, "mechanisms.posted_price.stock": 10}] * 4
    assert [r["arm"] for r in results[:4]] == ["list", "list", "sale", "sale"]
    assert results[0]["seed"] == results[2]["seed"] and results[1]["seed"] == results[3]["seed"]
    assert all(r["status"] == "completed" and "posted_price.sell_through" in r["measures"] for r in results)
    resumed = flagship(*args[:-1], "--workers", "1", "--db", f"sqlite:///{tmp_path}/a.db", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "ran 0 now (0 failed), 16 already stored" in resumed.stderr
    assert "sale" in resumed.stdout and "posted_price.sell_through" in resumed.stdout


def test_sweep_command_samples_and_reports_failures(tmp_path: Path, shop: Path) -> None:
    faulty = tmp_path / "faulty.toml"
    faulty.write_text(FAULTY)
    failed = flagship("sweep", str(faulty), "--sample", "3",
                      "--range", "mechanisms.faulty.failure_probability=0.2:0.8",
                      "--replications", "3", "--db", f"sqlite:///{tmp_path}/f.db", "--workers", "1",
                      cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    assert "rerun the same command" in failed.stderr
    with Store.open(f"sqlite:///{tmp_path}/f.db") as store:
        (sweep_id,) = store.sweep_ids()
        spec = store.sweep(sweep_id).spec
        assert len(spec["cells"]) == 3 and spec["design"]["sampler"] == "lhs"
        assert len(store.runs(sweep_id=sweep_id)) == 9


@pytest.mark.parametrize("args", [
    ["--grid", "mechanisms.posted_price.price=90,0"],
    ["--grid", "mechanisms.posted_price.nonsense=1"],
    ["--grid", "populations.shoppers.count=-1"],
    ["--grid", "price"],
    ["--range", "populations.shoppers.count=5"],
    ["--sample", "3", "--range", "populations.shoppers.count=9:1"],
    ["--sample", "3"],
    ["--zip", "duration=1.0,2.0", "--zip", "seed=1"],
    ["--executor", "spark"],
    ["--scheduler", "tcp://127.0.0.1:1"],
    ["--replications", "0"],
])
def test_bad_sweep_input_is_refused_before_anything_runs(tmp_path: Path, shop: Path, args: list[str],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", str(shop), *args, "--db", f"sqlite:///{tmp_path}/x.db"])
    assert exit_info.value.code == 2, args
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() and all(line.strip() for line in err.strip().splitlines())
    assert not (tmp_path / "x.db").exists()  # nothing ran, nothing was stored


def test_bad_input_from_the_real_command_line_exits_2(tmp_path: Path, shop: Path) -> None:
    result = flagship("sweep", str(shop), "--grid", "mechanisms.posted_price.price=90,0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{shop}: mechanisms.posted_price.price: expected a positive integer, got 0"]
