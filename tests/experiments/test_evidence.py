"""``flagship evaluate``'s exit codes, the audit, the sequential mode and the locked analysis plan."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from flagship.telemetry import Store
from flagship.telemetry._bootstrap import Verdict
from flagship.telemetry._scorecard import SweepData, evaluate, load_criteria
from flagship.telemetry._store_protocol import StoredRun, StoredSweep
from flagship.telemetry._sweep_data import MeasureInfo
from tests._cli import flagship

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"

INCONCLUSIVE = """
[[criteria]]
measure = "legitimacy.buyer_surplus_per_sale"
arm = "sale"
op = ">="
threshold = 36.5
cells = "pooled"
"""

NEVER_FAILS = """
[[criteria]]
name = "the sale sells"
measure = "ux.sell_through"
arm = "sale"
op = ">="
threshold = 0.5
contrast = { arm = "list" }   # the list price sells too: this criterion cannot tell them apart
"""

FAILS_UNDER_CONTRAST = """
[[criteria]]
name = "the sale leaves buyers a surplus"
measure = "legitimacy.buyer_surplus_per_sale"
arm = "sale"
op = ">="
threshold = 30
cells = "pooled"
contrast = { arm = "list" }
"""

SET_CONTRAST = """
[[criteria]]
name = "the list price leaves buyers a surplus"
measure = "legitimacy.buyer_surplus_per_sale"
arm = "list"
op = ">="
threshold = 20
cells = "pooled"
contrast = { set = { "mechanisms.posted_price.price" = 118 } }
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_evaluate_exits_3_when_none_fails_but_some_are_undecided_or_flagged(
        tmp_path: Path, stored_sweep: tuple[str, str]) -> None:
    url, sweep_id = stored_sweep
    undecided = flagship("evaluate", url, "--sweep", sweep_id, "--criteria",
                         str(_write(tmp_path, "u.toml", INCONCLUSIVE)), cwd=tmp_path)
    assert undecided.returncode == 3, undecided.stderr
    assert "INCONCLUSIVE: 0 pass, 0 fail, 1 inconclusive of 1 criteria" in undecided.stdout
    assert re.search(r"~\d+ per cell \(estimate\)", undecided.stdout)  # a power estimate, labelled
    flagged = flagship("evaluate", url, "--sweep", sweep_id, "--criteria",
                       str(_write(tmp_path, "n.toml", NEVER_FAILS)), "--json", cwd=tmp_path)
    assert flagged.returncode == 3, flagged.stderr  # it passes, but it passes for the list price too
    report = json.loads(flagged.stdout)
    (criterion,) = report["criteria"]
    assert criterion["verdict"] == "pass" and report["verdict"] == "inconclusive"
    assert criterion["audit"]["status"] == "never fails" and criterion["audit"]["contrast"] == "arm list"
    ok = flagship("evaluate", url, "--sweep", sweep_id, "--criteria",
                  str(_write(tmp_path, "f.toml", FAILS_UNDER_CONTRAST)), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"the sale leaves buyers a surplus\s+│ ok\s+│ varies", ok.stdout)
    bad = flagship("evaluate", url, "--sweep", sweep_id, "--criteria",
                   str(_write(tmp_path, "b.toml", FAILS_UNDER_CONTRAST)), "--correction", "bonferroni",
                   cwd=tmp_path)
    assert bad.returncode == 2 and "--correction: expected none, holm or bh" in bad.stderr
    arm = flagship("evaluate", url, "--sweep", sweep_id, "--criteria", str(_write(
        tmp_path, "a.toml", NEVER_FAILS.replace('arm = "list"', 'arm = "premium"'))), cwd=tmp_path)
    assert arm.returncode == 2 and "criteria.0.contrast.arm: unknown arm 'premium'" in arm.stderr


@pytest.mark.parametrize("correction", ["none", "holm", "bh"])
def test_every_printed_interval_names_its_method_and_level(tmp_path: Path, stored_sweep: tuple[str, str],
                                                           correction: str) -> None:
    url, sweep_id = stored_sweep
    result = flagship("evaluate", url, "--sweep", sweep_id, "--criteria",
                      str(_write(tmp_path, "c.toml", FAILS_UNDER_CONTRAST)), "--correction", correction,
                      cwd=tmp_path)
    assert re.search(r"\] t @ 9\d(\.\d+)?%", result.stdout), result.stdout
    assert {"none": "no correction", "holm": "Holm family-wise correction",
            "bh": "Benjamini-Hochberg false-discovery correction"}[correction] in result.stdout


def test_the_audit_runs_a_set_contrast_as_an_extra_sweep_cell(tmp_path: Path, shop: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    swept = flagship("sweep", str(shop), "--replications", "4", "--db", db, "--workers", "1", cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr
    sweep_id = re.search(r"sweep ([0-9a-f]{32})", swept.stderr).group(1)  # type: ignore[union-attr]
    criteria = _write(tmp_path, "c.toml", SET_CONTRAST)
    stored = flagship("evaluate", db, "--sweep", sweep_id, "--criteria", str(criteria), "--json",
                      cwd=tmp_path)
    assert json.loads(stored.stdout)["criteria"][0]["audit"]["status"] == "contrast not run"
    audited = flagship("evaluate", db, "--sweep", sweep_id, "--criteria", str(criteria), "--audit", "--json",
                       "--workers", "1", cwd=tmp_path)
    audit = json.loads(audited.stdout)["criteria"][0]["audit"]
    assert audit["contrast"] == "set mechanisms.posted_price.price=118"
    assert audit["contrast_verdict"] == "fail" and audit["status"] == "ok", audit
    with Store.open(db) as store:
        assert len(store.sweep_ids()) == 2  # the contrast is a sweep of its own, in the same store


def test_sequential_evaluation_extends_the_same_sweep_until_decided(tmp_path: Path, shop: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    swept = flagship("sweep", str(shop), "--grid", "populations.shoppers.count=4,12", "--replications", "2",
                     "--db", db, "--workers", "1", cwd=tmp_path)
    sweep_id = re.search(r"sweep ([0-9a-f]{32})", swept.stderr).group(1)  # type: ignore[union-attr]
    criteria = _write(tmp_path, "c.toml", FAILS_UNDER_CONTRAST.replace('cells = "pooled"\n', ""))
    fixed = flagship("evaluate", db, "--sweep", sweep_id, "--criteria", str(criteria), cwd=tmp_path)
    assert fixed.returncode == 3  # two seeds per cell decide nothing
    staged = flagship("evaluate", db, "--sweep", sweep_id, "--criteria", str(criteria), "--extend",
                      "--max-replications", "16", "--workers", "1", "--json", cwd=tmp_path)
    assert staged.returncode == 0, staged.stderr
    report = json.loads(staged.stdout)
    assert report["sweep"] == sweep_id and report["criteria"][0]["verdict"] == "pass"
    sequential = report["sequential"]
    assert sequential["stages"] == [2, 4, 8, 16] and 1 < sequential["looks"] <= 4
    assert report["replications"] == sequential["stages"][sequential["looks"] - 1]
    with Store.open(db) as store:
        runs = store.runs(sweep_id=sweep_id)
        assert len(store.sweep_ids()) == 1  # the same sweep, grown
    assert len(runs) == 2 * 2 * report["replications"]
    assert len({(r.cell, r.arm, r.seed) for r in runs}) == len(runs)
    wrong = flagship("evaluate", db, "--sweep", sweep_id, "--criteria", str(criteria), "--extend",
                     cwd=tmp_path)
    assert wrong.returncode == 2 and "--extend: needs --max-replications N" in wrong.stderr


def test_preregistration_is_checked_against_the_first_stored_run(tmp_path: Path, shop: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    criteria = _write(tmp_path, "c.toml", FAILS_UNDER_CONTRAST)
    registered = flagship("preregister", str(criteria), "--db", db, cwd=tmp_path)
    assert registered.returncode == 0, registered.stderr
    assert re.search(r"registered .*c\.toml: sha256 [0-9a-f]{64} at ", registered.stdout)
    swept = flagship("sweep", str(shop), "--replications", "2", "--db", db, "--workers", "1", cwd=tmp_path)
    sweep_id = re.search(r"sweep ([0-9a-f]{32})", swept.stderr).group(1)  # type: ignore[union-attr]
    before = flagship("evaluate", db, "--sweep", sweep_id, "--criteria", str(criteria), cwd=tmp_path)
    assert "before the sweep's first run was stored" in before.stdout
    later = _write(tmp_path, "later.toml", FAILS_UNDER_CONTRAST.replace("30", "29"))
    assert flagship("preregister", str(later), "--db", db, cwd=tmp_path).returncode == 0
    after = flagship("evaluate", db, "--sweep", sweep_id, "--criteria", str(later), "--json", cwd=tmp_path)
    assert json.loads(after.stdout)["registration"]["status"] == "registered after the data"
    shutil.copy(criteria, tmp_path / "unregistered.toml")
    (tmp_path / "unregistered.toml").write_text(FAILS_UNDER_CONTRAST + "\n# edited\n")
    never = flagship("evaluate", db, "--sweep", sweep_id, "--criteria", str(tmp_path / "unregistered.toml"),
                     cwd=tmp_path)
    assert "not preregistered in this store" in never.stdout
    invalid = flagship("preregister", str(_write(tmp_path, "bad.toml", "title = 1\n")), "--db", db,
                       cwd=tmp_path)
    assert invalid.returncode == 2


# -- the audit on the shipped pilot --------------------------------------------------------------

V1_VACUOUS = {"gate decisions are explained", "market rejections are explained",
              "honest agents are not sanctioned", "competent honest agents get in"}
V1_NEVER_REACHED = {"the panel looks like the electorate", "the regulator decides within ten minutes"}


def _pilot_v1() -> SweepData:
    """The pilot's measures as issue #13's review saw them (8 seeds, commit 33d223a)."""
    raw = json.loads((FIXTURES / "pilot_v1_measures.json").read_text())
    sweep = StoredSweep("pilot-v1", "batch", raw["scenario"], dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
                        raw["spec"])
    runs = [StoredRun(f"run-{i}", "pilot-v1", cell, arm, seed, replication, raw["scenario"], status, None,
                      {}, 0.0, 0.0, 0, None, None, {}, {}, sweep.created_at, {})
            for i, (cell, arm, seed, replication, status) in enumerate(raw["runs"])]
    measures = {key: MeasureInfo(key, *info) for key, info in raw["measures"].items()}
    values: dict[str, dict[tuple[str, str, int], float | None]] = {}
    for cell, arm, seed, key, value in raw["values"]:
        values.setdefault(key, {})[(cell, arm, seed)] = value
    return SweepData(sweep, raw["arms"], raw["cells"], measures, values, runs)


def test_the_fixture_is_the_old_criteria_file() -> None:
    criteria = load_criteria(FIXTURES / "criteria_v1.toml")
    assert len(criteria.criteria) == 14
    assert {c.name for c in criteria.criteria} >= V1_VACUOUS | V1_NEVER_REACHED


def test_the_audit_flags_exactly_the_six_old_criteria_that_cannot_fail() -> None:
    """Issue #13's six: four constant measures (vacuous) and two thresholds no run of any arm reaches.

    The panel's TVD is 0.053-0.073 against a 0.1 ceiling and decisions take 141-243 s against
    600 s, in every run of every arm; the file names no contrast, so nothing shows they could
    fail. The other eight reach their thresholds somewhere (an effect above 0 fails with no
    effect; "trading stays open" has a run halted exactly a quarter of the time).
    """
    evaluation = evaluate(_pilot_v1(), load_criteria(FIXTURES / "criteria_v1.toml"))
    findings = {c.label: evaluation.audit[c.index] for c in evaluation.criteria}
    assert {label for label, f in findings.items() if f.blocks_pass} == V1_VACUOUS | V1_NEVER_REACHED
    assert {label for label, f in findings.items() if f.vacuous} == V1_VACUOUS
    never_reached = {label for label, f in findings.items() if f.status == "never reaches threshold"}
    assert never_reached == V1_NEVER_REACHED
    assert "seed 106: 0.25, at or past <= 0.25" in findings["trading stays open"].witness
    assert evaluation.verdict is not Verdict.PASS  # flagged criteria never count as passes


def test_the_help_documents_the_exit_codes(tmp_path: Path) -> None:
    shown = flagship("evaluate", "--help", cwd=tmp_path)
    text = " ".join(shown.stdout.split())
    assert "0 every criterion passes" in text and "1 a criterion fails" in text
    assert "3 none fails but some are inconclusive" in text and "2 bad input" in text
    assert "preregister" in flagship("--help", cwd=tmp_path).stdout
