"""Finding results again: ``flagship runs``, ``sweeps``, ``trials`` and ``--version``."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from tests._cli import flagship

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "posted_price.toml"


def test_runs_and_sweeps_list_what_a_run_stored(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    made = flagship("run", str(SHOP), "--replications", "2", "--db", db, "--set", "duration=60.0",
                    cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    sweeps = json.loads(flagship("sweeps", "--db", db, "--json", cwd=tmp_path).stdout)
    assert [(s["kind"], s["scenario"], s["completed"], s["failed"]) for s in sweeps] == [
        ("run", "posted_price", 4, 0)]  # two arms x two seeds
    runs = json.loads(flagship("runs", "--db", db, "--json", cwd=tmp_path).stdout)
    assert len(runs) == 4 and {r["sweep"] for r in runs} == {sweeps[0]["id"]}
    assert sorted((r["arm"], r["seed"]) for r in runs) == [("discount", 7), ("discount", 8),
                                                           ("list_price", 7), ("list_price", 8)]
    one = flagship("runs", "--db", str(tmp_path / "r.db"), "--sweep", sweeps[0]["id"][:8], "--limit", "1",
                   "--json", cwd=tmp_path)  # a file path, a sweep prefix, the newest one
    assert [r["id"] for r in json.loads(one.stdout)] == [runs[-1]["id"]]
    table = flagship("runs", "--db", db, cwd=tmp_path)
    assert runs[0]["id"] in table.stdout and "posted_price" in table.stdout
    none = json.loads(flagship("runs", "--db", db, "--status", "failed", "--json", cwd=tmp_path).stdout)
    assert none == []


def test_listing_a_missing_store_or_sweep_is_bad_input(tmp_path: Path) -> None:
    missing = flagship("runs", "--db", str(tmp_path / "nowhere.db"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"db: no such file: {tmp_path / 'nowhere.db'}"
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    assert json.loads(flagship("trials", "--db", db, "--json", cwd=tmp_path).stdout) == []
    unknown = flagship("runs", "--db", db, "--sweep", "abc", cwd=tmp_path)
    assert unknown.returncode == 2 and "no sweep with id 'abc'" in unknown.stderr


def test_version(tmp_path: Path) -> None:
    result = flagship("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"flagship {version('flagship-sandbox')}"
