"""The SQL store on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import math
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from flagship import telemetry
from flagship.mechanisms import InputError, RunNotFoundError, StoreError
from flagship.sandbox import load_scenario, run, run_batch
from flagship.telemetry import RunResult, Store
from flagship.telemetry._sweep_data import stored_bounds

SHOP = """
name = "shop"
seed = 1
duration = 100.0
replications = 2
[mechanisms.posted_price]
stock = 100
[populations.shoppers]
model = "shoppers"
count = 10
arrival = { process = "poisson", rate = 0.5 }
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(SHOP)
    return path


def _script_head() -> str:
    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(telemetry.__file__).parent / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_opening_migrates_to_head(store_url: str) -> None:
    head = _script_head()
    with Store.open(store_url) as store:
        assert store.schema_version() == head
        tables = set(sa.inspect(store.engine).get_table_names())
    assert {"sweeps", "runs", "actions", "measures", "summaries", "series"} <= tables
    with Store.open(store_url) as again:  # idempotent
        assert again.schema_version() == head


def test_the_fast_path_knows_the_newest_migration() -> None:
    """A store at ``SCHEMA_HEAD`` is opened without Alembic: it must be Alembic's head."""
    from flagship.telemetry._store import SCHEMA_HEAD

    assert _script_head() == SCHEMA_HEAD


def test_opening_a_current_store_does_not_load_alembic_and_an_older_one_migrates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    probe = ("import sys\nfrom flagship.telemetry import Store\n"
             f"Store.open({url!r}).close()\nprint('alembic' in sys.modules)")

    def opened_with_alembic() -> bool:
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        return result.stdout.strip() == "True"

    assert opened_with_alembic()  # a new store: created by the migrations
    assert not opened_with_alembic()  # current: only read
    _migrate_to(url, "0007", down=True)
    assert opened_with_alembic()  # behind: migrated again
    with Store.open(url) as store:
        assert store.schema_version() == _script_head()


def test_a_store_from_a_newer_version_is_refused_with_its_revision_named(store_url: str) -> None:
    with Store.open(store_url) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    postgres = store_url.startswith("postgresql")
    tag = f"refused_{uuid.uuid4().hex[:8]}"  # names this test's connections in pg_stat_activity
    url = f"{store_url}&application_name={tag}" if postgres else store_url
    with pytest.raises(StoreError, match=r"not one this version of Flagship knows \(newest known: "
                                         r"0008\).*0099"):
        Store.open(url)
    if postgres:  # the refused open left no connection behind (it would be closed at some later GC)
        admin = sa.create_engine(store_url)
        try:
            with admin.connect() as conn:
                left = conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                            f"'{tag}'").scalar()
        finally:
            admin.dispose()
        assert left == 0


def test_run_round_trips_with_its_action_log(store_url: str, shop: Path) -> None:
    result = run(shop, seed=4)
    with Store.open(store_url) as store:
        store.save_run(result)
        stored = store.run(result.run_id[:10])
        assert stored.id == result.run_id
        assert stored.status == "completed"
        assert stored.measures == result.measures()
        assert stored.manifest == result.manifest
        assert stored.n_actions == result.n_actions
        assert list(store.actions(result.run_id)) == result.actions
        assert stored.action_log_sha256 == result.action_log_sha256


def test_results_are_idempotent_by_sweep_cell_arm_seed(store_url: str, shop: Path) -> None:
    with Store.open(store_url) as store:
        sweep = store.create_sweep("sweep", "shop", {})
        first = run(shop, seed=4)
        first.sweep_id = sweep
        store.save_run(first)
        duplicate = run(shop, seed=4)
        duplicate.sweep_id = sweep
        store.save_run(duplicate)  # same key, completed already: kept once
        assert [r.id for r in store.runs(sweep_id=sweep)] == [first.run_id]


def test_a_failed_result_is_replaced_by_a_completed_one(store_url: str, shop: Path) -> None:
    with Store.open(store_url) as store:
        sweep = store.create_sweep("sweep", "shop", {})
        failed = RunResult(run_id="f" * 32, scenario="shop", arm=None, seed=4, replication=0,
                           status="failed", manifest={}, error="Traceback ...", sweep_id=sweep)
        store.save_run(failed)
        good = run(shop, seed=4)
        good.sweep_id = sweep
        store.save_run(good)
        runs = store.runs(sweep_id=sweep)
        assert [(r.id, r.status) for r in runs] == [(good.run_id, "completed")]


def test_batch_stores_every_replication(store_url: str, shop: Path) -> None:
    with Store.open(store_url) as store:
        batch = run_batch(load_scenario(shop), store=store, workers=1)
        stored = store.runs(sweep_id=batch.sweep_id)
        assert sorted(r.seed for r in stored) == [1, 2]
        rows = store.measure_rows([r.id for r in stored])
        assert {row["area"] for row in rows} == {"legitimacy", "ux", "robustness"}


def test_unknown_run_and_ambiguous_prefix(store_url: str) -> None:
    with Store.open(store_url) as store, pytest.raises(RunNotFoundError):
        store.run("nope")


def test_bad_urls_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="db: expected a SQLAlchemy URL"):
        Store.open("not a url")
    with pytest.raises(InputError, match="does not exist"):
        Store.open(f"sqlite:///{tmp_path}/no/such/dir/x.db")


def test_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open store"):
        Store.open("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")


def _migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(telemetry.__file__).parent / "migrations"))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def test_action_logs_survive_the_move_to_a_clustered_table_and_back(tmp_path: Path, shop: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = run(load_scenario(shop), seed=3)
    with Store.open(url) as store:
        store.save_run(result)

    def actions_table() -> tuple[str, int]:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'actions'").scalar()
            count = conn.exec_driver_sql("SELECT count(*) FROM actions").scalar()
        engine.dispose()
        return str(ddl), int(count or 0)

    ddl, count = actions_table()
    assert count == len(result.actions) > 0 and "WITHOUT ROWID" in ddl
    _migrate_to(url, "0004", down=True)  # back to a rowid table: every row kept
    assert "WITHOUT ROWID" not in actions_table()[0] and actions_table()[1] == len(result.actions)
    with Store.open(url) as store:  # opening migrates to head again: clustered, every row kept
        assert list(store.actions(result.run_id)) == list(result.actions)
    assert "WITHOUT ROWID" in actions_table()[0]


def test_a_new_batch_store_uses_large_pages_a_live_one_small_and_an_existing_one_keeps_its_own(
        tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{old}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")  # written with the default 4 KiB pages
    engine.dispose()
    for path, durable, expected in ((tmp_path / "new.db", False, 65536), (tmp_path / "live.db", True, 4096),
                                    (old, False, 4096)):
        with Store.open(f"sqlite:///{path}", durable=durable) as store, store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == expected
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == (2 if durable else 1)


def _measure_columns(url: str) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT scope, name, low, high FROM measures").all()
    finally:
        engine.dispose()
    return {(scope, name): (low, high) for scope, name, low, high in rows}


def test_each_measure_is_stored_with_its_range_and_older_rows_read_with_their_units(
        store_url: str, tmp_path: Path) -> None:
    full_stack = Path(__file__).resolve().parents[2] / "examples" / "full_stack_pilot.toml"
    result = run(load_scenario(full_stack).with_arm("full_stack"), seed=101)
    assert result.telemetry is not None
    with Store.open(store_url) as store:
        store.save_run(result)
        rows = store.measure_rows([result.run_id])
    stored = {f"{row['scope']}.{row['name']}": stored_bounds(row) for row in rows}
    declared = {f"{m.scope}.{m.name}": m.bounds for m in result.telemetry.measures}
    assert stored == declared
    assert stored["value_market.fill_ratio"] == (0.0, 1.0)  # a share: SHARE
    assert stored["value_market.price_volatility"] == (0.0, math.inf)  # NON_NEGATIVE: NULL above
    assert stored["value_market.allocative_efficiency"] == (-math.inf, math.inf)  # can be negative
    assert stored["value_market.norm_leakage"] == (0.0, math.inf)  # lots: its unit's range
    # A row stored before migration 0007 has neither column: its unit's range, as before.
    assert stored_bounds({"unit": "count", "low": None, "high": None}) == (0.0, math.inf)
    assert stored_bounds({"unit": "ratio"}) == (-math.inf, math.inf)


def test_measure_ranges_survive_a_downgrade_below_0007_and_back(tmp_path: Path, shop: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = run(load_scenario(shop), seed=3)
    with Store.open(url) as store:
        store.save_run(result)
    assert set(_measure_columns(url).values()) == {(0.0, 1.0), (None, None)}  # shares; ticks unbounded
    _migrate_to(url, "0006", down=True)
    with Store.open(url) as store:  # back at head: the old rows have no range, read with their unit's
        assert set(_measure_columns(url).values()) == {(None, None)}
        (run_row,) = store.runs()
        by_name = {f"{r['scope']}.{r['name']}": stored_bounds(r) for r in store.measure_rows([run_row.id])}
    assert by_name["posted_price.sell_through"] == (-math.inf, math.inf)  # a ratio: its unit's range
