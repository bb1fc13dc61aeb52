"""``flagship evaluate``'s exit codes, the audit, the sequential mode and the locked analysis plan."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from flagship.telemetry import Store
from flagship.telemetry._bootstrap import Verdict
from flagship.telemetry._scorecard import SweepData, evaluate, load_criteria
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
V1_NOT_CONSTANT = {"the panel looks like the electorate", "the regulator decides within ten minutes"}
V1_REMOVED = {"agent_gate.decisions_explained", "value_market.rejections_with_reason"}
"""Measures of the old file that are now invariants checked by tests (conformance), not measures."""
V1_NOW_VARYING = {"honest agents are not sanctioned", "competent honest agents get in"}
"""Vacuous on the pilot the old file was written for; honest agents' block orders and reprices, and
their competence spread from the bar up, now make these measures vary."""


def _v1_on_todays_measures(tmp_path: Path) -> Path:
    """The old criteria file without the criteria on measures that no longer exist."""
    head, *blocks = (FIXTURES / "criteria_v1.toml").read_text().split("[[criteria]]")
    kept = [block for block in blocks if not any(f'"{name}"' in block for name in V1_REMOVED)]
    assert len(kept) == len(blocks) - len(V1_REMOVED)
    path = tmp_path / "criteria_v1_today.toml"
    path.write_text("[[criteria]]".join([head, *kept]))
    return path


def test_the_fixture_is_the_old_criteria_file() -> None:
    criteria = load_criteria(FIXTURES / "criteria_v1.toml")
    assert len(criteria.criteria) == 14
    assert {c.name for c in criteria.criteria} >= V1_VACUOUS | V1_NOT_CONSTANT


@pytest.mark.slow
def test_the_audit_flags_the_old_criteria_that_cannot_fail(tmp_path: Path) -> None:
    """On the pilot at 8 seeds, four of the six criteria issue #13 names were constant: vacuous.

    The other two vary a little at 8 seeds (the panel's TVD 0.05-0.07 against a 0.1
    threshold; decision times 141-243 s against 600 s), so the constant-measure rule does not
    flag them; they need a contrast to be shown unable to fail (see docs/experiments.md).
    """
    db = f"sqlite:///{tmp_path / 'pilot.db'}"
    criteria = _v1_on_todays_measures(tmp_path)
    # The honest agents as they were when the old file was written: 1-lot orders never cancelled
    # quickly, competence far above the bar.
    old_honest = ["--set", "populations.honest.params.block_probability=0",
                  "--set", "populations.honest.params.reprice_probability=0",
                  "--set", "populations.honest.params.competence=[0.8, 1.0]"]
    ran = flagship("run", str(REPO / "examples" / "full_stack_pilot.toml"), "--replications", "8", "--db", db,
                   "--criteria", str(criteria), *old_honest, cwd=tmp_path, timeout=900)
    assert ran.returncode == 0, ran.stderr
    with Store.open(db) as store:
        data = SweepData.load(store, store.sweep_ids()[0])
    evaluation = evaluate(data, load_criteria(criteria))
    vacuous = {c.label for c in evaluation.criteria if evaluation.audit[c.index].vacuous}
    # Two of the four issue #13 named now measure invariants checked by tests instead (dropped above);
    # the other two are vacuous again under the old honest agents, and vary under today's.
    assert vacuous == V1_VACUOUS - {"gate decisions are explained", "market rejections are explained"} \
        == V1_NOW_VARYING
    assert evaluation.verdict is not Verdict.PASS  # flagged criteria never count as passes
    assert "audit: can each criterion fail?" in ran.stdout and " wilson @ " in ran.stdout


def test_the_help_documents_the_exit_codes(tmp_path: Path) -> None:
    shown = flagship("evaluate", "--help", cwd=tmp_path)
    text = " ".join(shown.stdout.split())
    assert "0 every criterion passes" in text and "1 a criterion fails" in text
    assert "3 none fails but some are inconclusive" in text and "2 bad input" in text
    assert "preregister" in flagship("--help", cwd=tmp_path).stdout
