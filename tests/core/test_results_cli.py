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


def test_list_filters_by_kind_and_name_and_includes_measures(tmp_path: Path) -> None:
    everything = json.loads(flagship("list", "--json", cwd=tmp_path).stdout)
    assert list(everything) == ["mechanisms", "populations", "measures"]
    measures = {(m["owner"], m["name"]) for m in everything["measures"]}
    assert ("posted_price", "sell_through") in measures
    assert ("value_market", "allocative_efficiency") in measures
    one = json.loads(flagship("list", "measures", "posted_price", "--json", cwd=tmp_path).stdout)
    assert one == {"measures": [m for m in everything["measures"] if m["owner"] == "posted_price"]}
    assert [m["qualified"] for m in one["measures"]] == [
        "ux.sell_through", "legitimacy.buyer_surplus_per_sale", "robustness.turned_away_ratio"]
    shop = json.loads(flagship("list", "mechanisms", "posted_price", "--json", cwd=tmp_path).stdout)
    assert list(shop) == ["mechanisms"] and list(shop["mechanisms"]) == ["posted_price"]
    typo = flagship("list", "populations", "shopers", cwd=tmp_path)
    assert typo.returncode == 2
    assert typo.stderr.startswith(
        "NAME: no mechanism or population model 'shopers' (did you mean 'shoppers'?)")


def test_help_lists_commands_in_the_workflow_order(tmp_path: Path) -> None:
    shown = flagship("--help", cwd=tmp_path).stdout
    order = ["run", "validate", "sweep", "evaluate", "report", "tune", "serve", "verify", "replay",
             "export-metrics", "export-responses", "runs", "sweeps", "trials", "show", "rerun", "list",
             "events"]
    positions = [shown.index(f"│ {name} ") for name in order]
    assert positions == sorted(positions)


# Typer detects the parent shell for --show-completion; the test must not depend on the shell
# (or the lack of one) that runs pytest, so it names the shell and turns detection off.
_NO_SHELL_DETECTION = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


def _complete(words: str, tmp_path: Path) -> list[str]:
    """What bash completion offers for the last of ``words``, by the protocol the script uses."""
    env = {**_NO_SHELL_DETECTION, "_FLAGSHIP_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}
    done = flagship(cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_shell_completion_and_the_batch_id_on_stderr(tmp_path: Path) -> None:
    completion = flagship("--show-completion", "bash", cwd=tmp_path, env=_NO_SHELL_DETECTION)
    assert completion.returncode == 0 and "_flagship_completion()" in completion.stdout
    assert _complete("flagship sw", tmp_path) == ["sweep", "sweeps"]
    assert _complete("flagship list mea", tmp_path) == ["measures"]
    assert _complete("flagship zz", tmp_path) == []
    db = f"sqlite:///{tmp_path / 'r.db'}"
    made = flagship("run", str(SHOP), "--replications", "1", "--json", "--set", "duration=30.0", "--db", db,
                    cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    json.loads(made.stdout)  # stdout is the JSON alone
    (batch,) = json.loads(flagship("sweeps", "--db", db, "--json", cwd=tmp_path).stdout)
    assert f"stored 2 runs as batch {batch['id']} in {db}" in made.stderr


def test_every_store_command_takes_db_and_the_old_positional_store_still_works(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    made = flagship("run", str(SHOP), "--replications", "2", "--set", "duration=30.0",
                    "--db", f"sqlite:///{db}", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    criteria = str(REPO / "examples" / "posted_price_criteria.toml")
    (sweep,) = json.loads(flagship("sweeps", "--db", str(db), "--json", cwd=tmp_path).stdout)
    judged = ("--sweep", sweep["id"], "--criteria", criteria)
    by_option = flagship("evaluate", "--db", str(db), *judged, cwd=tmp_path)
    by_argument = flagship("evaluate", str(db), *judged, cwd=tmp_path)
    assert by_option.returncode == by_argument.returncode and by_option.returncode in (0, 1, 3)
    assert by_option.stdout == by_argument.stdout
    both = flagship("evaluate", str(db), "--db", "other.db", "--sweep", sweep["id"], "--criteria", criteria,
                    cwd=tmp_path)
    assert both.returncode == 2
    assert both.stderr.strip() == f"--db: name the store once: DB {str(db)!r} or --db 'other.db'"
    assert flagship("verify", "--db", str(db), cwd=tmp_path).stdout.strip() == "no trials in this store"
