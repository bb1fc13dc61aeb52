"""A bounded idempotency index (``--idempotency-window``): old keys are answered from the store.

The index keeps the newest N keys in memory (issue #17: it grew for the whole trial); a retry
under an older key still gets its committed outcome, and reusing it with another body is
still refused, because the record is read back from the durable log.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from flagship.mechanisms import canonical_json
from flagship.sandbox._live import EngineOptions
from flagship.sandbox._live._idempotency import IdempotencyIndex, store_lookup
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import (
    ServerProcess,
    auth,
    build_live,
    flagship_command,
    problem,
    serving,
    write_scenario,
)

WINDOW = 2


def _options() -> EngineOptions:
    return EngineOptions(measures_seconds=0, tick_seconds=0.02, idempotency_window=WINDOW)


def _buy(client: httpx.Client, key: str, offer: int) -> httpx.Response:
    return client.post("/v1/shop/purchases", json={"offer": offer},
                       headers={**auth(), "Idempotency-Key": key})


def _keyed_entries(store_url: str, trial_id: str) -> list[str]:
    with Store.open(store_url) as store:
        return [e.idempotency_key for e in TrialLog(store).entries(trial_id) if e.idempotency_key is not None]


def test_a_retry_under_a_key_older_than_the_window_gets_its_committed_outcome(
        store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=0.1)
    live = build_live(store_url, scenario, tmp_path, options=_options())
    trial_id = live.engine.trial.id
    keys = [f"k{n}" for n in range(5)]
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        first = {key: _buy(client, key, 100 + n) for n, key in enumerate(keys)}
        assert all(r.status_code == 201 for r in first.values()), [r.text for r in first.values()]
        oldest = _buy(client, "k0", 100)  # evicted from memory three commits ago
        assert oldest.status_code == 201 and oldest.headers["idempotent-replayed"] == "true"
        assert oldest.json() == first["k0"].json()
        assert oldest.headers["flagship-receipt"]
        problem(_buy(client, "k0", 150), 422, "IDEMPOTENCY_KEY_REUSED")  # the stored hash still binds it
        newest = _buy(client, "k4", 104)
        assert newest.headers["idempotent-replayed"] == "true" and newest.json() == first["k4"].json()
    assert len(_keyed_entries(store_url, trial_id)) == len(keys)  # no retry acted again

    # After a restart the index is rebuilt bounded; old keys still answer from the log.
    again = build_live(store_url, scenario, tmp_path, options=_options(), trial_id=trial_id)
    with serving(again) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        retried = _buy(client, "k1", 101)
        assert retried.status_code == 201 and retried.headers["idempotent-replayed"] == "true"
        assert retried.json() == first["k1"].json()
        assert _buy(client, "k5", 105).status_code == 201  # a fresh key still acts
    assert len(_keyed_entries(store_url, trial_id)) == len(keys) + 1


def test_the_index_holds_the_window_and_reads_older_records_from_the_log(
        store_url: str, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=0.1)
    live = build_live(store_url, scenario, tmp_path, options=_options())
    trial_id = live.engine.trial.id
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        for n in range(4):
            assert _buy(client, f"w{n}", 100 + n).status_code == 201
    with Store.open(store_url) as store:
        log = TrialLog(store)
        whole = IdempotencyIndex.from_entries(log.entries(trial_id), trial_id=trial_id)
        bounded = IdempotencyIndex.from_entries(log.entries(trial_id), trial_id=trial_id, window=WINDOW,
                                                older=store_lookup(log, trial_id))
        assert (len(whole), len(bounded)) == (4, WINDOW)
        for n in range(4):
            base = canonical_json(["actor:alice", f"w{n}"])  # the caller's identity and its key
            assert bounded.lookup(base) == whole.lookup(base)
            held = whole.lookup(base) if n >= 4 - WINDOW else None  # the newest keys only
            assert bounded.lookup(base, memory_only=True) == held
        assert bounded.lookup(canonical_json(["actor:alice", "never"])) is None


def test_serve_takes_the_window_options_and_refuses_a_bad_one(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=0.1)
    command = flagship_command("serve", str(scenario), "--db", f"sqlite:///{tmp_path / 'x.db'}",
                               "--idempotency-window", "0")
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert refused.returncode == 2 and "--idempotency-window" in refused.stderr, refused.stderr
    server = ServerProcess(scenario, f"sqlite:///{tmp_path / 'live.db'}", cwd=tmp_path, cli=True,
                           extra_args=("--idempotency-window", "1", "--history-window", "1"))
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            first = _buy(client, "c0", 100)
            assert _buy(client, "c1", 101).status_code == 201
            again = _buy(client, "c0", 100)
            assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    finally:
        assert server.stop(), server.output()
