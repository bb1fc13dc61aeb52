"""A sweep's results, tidy: ``flagship export`` (CSV, Parquet) and ``sweep_results``/``sweep_frame``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from flagship.telemetry import open_store, sweep_frame, sweep_results
from tests._cli import flagship

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "posted_price.toml"


def _sweep(tmp_path: Path) -> tuple[str, str]:
    db = f"sqlite:///{tmp_path / 's.db'}"
    made = flagship("sweep", str(SHOP), "--grid", "populations.shoppers.count=4,8", "--replications", "2",
                    "--set", "duration=60.0", "--db", db, "--json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    sweeps = json.loads(flagship("sweeps", "--db", db, "--json", cwd=tmp_path).stdout)
    return db, sweeps[0]["id"]


def test_export_writes_one_row_per_run_and_measure_in_csv_and_parquet(tmp_path: Path) -> None:
    db, sweep_id = _sweep(tmp_path)
    csv_out = flagship("export", "--db", db, "--sweep", sweep_id[:10], cwd=tmp_path)
    assert csv_out.returncode == 0, csv_out.stderr
    (tmp_path / "r.csv").write_text(csv_out.stdout)
    table = pd.read_csv(tmp_path / "r.csv")
    # 2 cells x 2 arms x 2 seeds = 8 runs, 3 declared measures each
    assert len(table) == 8 * 3
    assert list(table.columns[:5]) == ["sweep", "run_id", "scenario", "cell", "populations.shoppers.count"]
    assert sorted(set(table["populations.shoppers.count"])) == [4, 8]
    assert sorted(set(table["arm"])) == ["discount", "list_price"]
    for _, cell in table.groupby("cell"):  # two seeds per cell, the same for both arms (paired)
        seeds = {arm: sorted(set(rows["seed"])) for arm, rows in cell.groupby("arm")}
        assert len(seeds["discount"]) == 2 and seeds["discount"] == seeds["list_price"]
    assert set(table["measure"]) == {"sell_through", "buyer_surplus_per_sale", "turned_away_ratio"}
    with open_store(db) as store:
        stored = {(m["run_id"], m["name"]): m["value"] for m in store.sweep_measures(sweep_id)}
    for row in table.itertuples():
        expected = stored[(row.run_id, row.measure)]
        assert (pd.isna(row.value) and expected is None) or row.value == expected

    parquet = flagship("export", "--db", db, "--sweep", sweep_id, "--format", "parquet", "--out", "r.parquet",
                       cwd=tmp_path)
    assert parquet.returncode == 0, parquet.stderr
    assert parquet.stderr.strip() == "export: 24 rows to r.parquet"
    frame = pd.read_parquet(tmp_path / "r.parquet")
    assert list(frame.columns) == list(table.columns)
    assert frame["value"].tolist() == table["value"].tolist()
    again = flagship("export", "--db", db, "--sweep", sweep_id, cwd=tmp_path)
    assert again.stdout == csv_out.stdout  # the same store, the same bytes


def test_the_results_api_gives_rows_and_a_frame(tmp_path: Path) -> None:
    db, sweep_id = _sweep(tmp_path)
    with open_store(db) as store:
        rows = sweep_results(store, sweep_id)
        frame = sweep_frame(store, sweep_id)
    assert len(rows) == len(frame) == 24
    assert frame.to_dict("records")[0] == {key: rows[0][key] for key in frame.columns}
    assert rows[0]["higher_is_better"] in (True, False)
    assert rows[0]["area"] in ("ux", "legitimacy", "robustness")


def test_export_refuses_parquet_to_stdout_and_unknown_sweeps(tmp_path: Path) -> None:
    db, _ = _sweep(tmp_path)
    binary = flagship("export", "--db", db, "--sweep", "x", "--format", "parquet", cwd=tmp_path)
    assert binary.returncode == 2
    assert binary.stderr.strip() == "--out: parquet is binary: name a file to write"
    unknown = flagship("export", "--db", db, "--sweep", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "no sweep with id 'nope'" in unknown.stderr
