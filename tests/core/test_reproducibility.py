"""Same scenario and seed, same bytes: across processes, hash seeds, and a stored run's rerun.

Every example runs in two fresh processes under different ``PYTHONHASHSEED`` values and the
``--json`` outputs must be byte-identical (an iteration over a set or a hash-ordered dict that
reaches a result shows up here). A stored run of every example reruns to the same action-log
digest, state digest and measures (``flagship rerun``), and ``show --scenario`` prints a
scenario that runs to the same digest.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (REPO / "examples").glob("*.toml") if "criteria" not in p.name)
FLAGSHIP = [sys.executable, "-m", "flagship.sandbox"]

pytestmark = pytest.mark.slow


def flagship(*args: str, cwd: Path, hash_seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run([*FLAGSHIP, *args], capture_output=True, text=True, check=False, cwd=cwd, env=env)


def test_the_examples_are_found() -> None:
    assert {"full_stack_pilot.toml", "emergency_vote.toml", "value_market.toml", "agents_gate.toml"} <= set(
        EXAMPLES)


def _one_run_id(db: Path, arm_order: str = "DESC") -> str:
    with sqlite3.connect(db) as conn:
        row = conn.execute(f"SELECT id FROM runs ORDER BY arm {arm_order}, seed DESC LIMIT 1").fetchone()
    return str(row[0])


@pytest.mark.parametrize("example", EXAMPLES)
def test_an_example_is_byte_identical_across_hash_seeds_and_a_stored_run_reproduces(
        example: str, tmp_path: Path) -> None:
    """Two processes with different hash seeds print the same bytes; then one run of the first
    store reruns to the same digests, and the scenario ``show --scenario`` prints for it runs to
    the same digest and measures. (One test per example: the two-replication run is the costly
    part, and the rerun needs a stored run, so the first process's store serves both.)"""
    outputs = []
    for hash_seed in ("1", "4242"):
        result = flagship("run", str(REPO / "examples" / example), "--replications", "2", "--json",
                          "--db", f"sqlite:///{tmp_path / f'h{hash_seed}.db'}", cwd=tmp_path,
                          hash_seed=hash_seed)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    made = json.loads(outputs[0])
    assert made["runs"]

    db = tmp_path / "h1.db"
    run_id = _one_run_id(db)  # the last arm and the second seed: neither is the scenario's default
    rerun = flagship("rerun", run_id, "--db", f"sqlite:///{db}", "--json", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert json.loads(rerun.stdout)["reproduced"] is True

    shown = flagship("show", run_id, "--db", f"sqlite:///{db}", "--scenario", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    (tmp_path / "run.json").write_text(shown.stdout)
    again = flagship("run", "run.json", "--json", "--db", f"sqlite:///{tmp_path / 'again.db'}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    [only] = json.loads(again.stdout)["runs"]
    # The same digest and measures as exactly one stored run: the one shown. (A mechanism that
    # takes no actions, like profile_study, has the empty log's digest in every run.)
    stored = {r["seed"]: r for r in made["runs"] if r["action_log_sha256"] == only[
        "action_log_sha256"] and r["measures"] == only["measures"]}
    assert len(stored) == 1
    assert only["measures"] == next(iter(stored.values()))["measures"]


def test_rerun_names_each_difference_and_exits_1(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    made = flagship("run", str(REPO / "examples" / "posted_price.toml"), "--replications", "1",
                    "--db", f"sqlite:///{db}", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    run_id = _one_run_id(db)
    with sqlite3.connect(db) as conn:  # tamper with one stored measure
        conn.execute("UPDATE measures SET value = value + 1 WHERE run_id = ? AND name = 'sell_through'",
                     (run_id,))
    result = flagship("rerun", run_id, "--db", f"sqlite:///{db}", cwd=tmp_path)
    assert result.returncode == 1
    assert "DIFFERS in 1 of" in result.stdout
    assert "measure posted_price.sell_through: stored" in result.stdout
    missing = flagship("rerun", "ffff", "--db", f"sqlite:///{db}", cwd=tmp_path)
    assert missing.returncode == 2 and "no run with id 'ffff'" in missing.stderr


def test_a_dask_sweep_stores_byte_for_byte_what_a_local_sweep_stores(tmp_path: Path) -> None:
    """Dask workers are other processes with other hash seeds: the emergency vote, whose panel
    distance once summed over a set, must still print the same sweep."""
    args = ["sweep", str(REPO / "examples" / "emergency_vote.toml"), "--grid",
            "populations.coalition.count=20,40", "--replications", "2", "--workers", "2", "--json"]
    local = flagship(*args, "--db", f"sqlite:///{tmp_path / 'local.db'}", cwd=tmp_path, hash_seed="7")
    dask = flagship(*args, "--executor", "dask", "--db", f"sqlite:///{tmp_path / 'dask.db'}", cwd=tmp_path,
                    hash_seed="8")
    assert local.returncode == 0, local.stderr
    assert dask.returncode == 0, dask.stderr
    assert dask.stdout == local.stdout
