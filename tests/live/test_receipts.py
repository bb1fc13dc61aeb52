"""Tamper evidence kept outside the store: signed receipts, the unsigned tail, the witness.

Each attack here is one a red team ran against ``flagship verify`` when it trusted whatever
checkpoint rows the database held: cut the tail, rewrite an entry and re-chain the rest
(deleting the checkpoints that would contradict it), append a forged entry. Every one of
them verified ok before; now the receipts a client kept, or the heads a witness holds,
name the seq where the log disagrees, and the exit code is non-zero.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa

from flagship.sandbox import ReceiptKeeper
from flagship.sandbox._live._witness import Witness
from flagship.sandbox.cli import main
from flagship.telemetry import Store
from flagship.telemetry._receipts import RECEIPT_HEADER, Receipt, WitnessedHead, load_receipts, load_witness
from flagship.telemetry._schema import trial_checkpoints, trial_log
from flagship.telemetry._trial_log import CheckpointKey, LogEntry, TrialLog, make_entry, next_prev_hash
from tests.live._support import (
    ServerProcess,
    auth,
    build_live,
    free_port,
    serving,
    write_scenario,
)
from tests.live.test_trial_log import _trial

PURCHASES = 6


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(["verify", *args])
    code = done.value.code
    return (code if isinstance(code, int) else 0), capsys.readouterr().out


def _session(url: str, tmp_path: Path, receipts: Path) -> str:
    """A short trial over real HTTP whose client keeps its receipts; stopped cleanly. Its id."""
    scenario = write_scenario(tmp_path, shoppers=2, rate=0.5, time_factor=10.0)
    live = build_live(url, scenario, tmp_path)
    keeper = ReceiptKeeper(receipts)
    with serving(live) as server, httpx.Client(base_url=server.url, headers=auth(), timeout=10,
                                               event_hooks={"response": [keeper]}) as client:
        seqs = []
        for i in range(PURCHASES):
            bought = client.post("/v1/shop/purchases", json={"offer": 120},
                                 headers={"Idempotency-Key": f"k{i}"})
            assert bought.status_code == 201, bought.text
            seqs.append(Receipt.from_header(bought.headers[RECEIPT_HEADER]).seq)
        again = client.post("/v1/shop/purchases", json={"offer": 120}, headers={"Idempotency-Key": "k0"})
        assert again.headers["idempotent-replayed"] == "true"
        replayed = Receipt.from_header(again.headers[RECEIPT_HEADER])
        assert replayed.seq == seqs[0] and replayed.size >= seqs[-1] + 1  # the same entry, a later head
        refused = client.post("/v1/shop/purchases", json={"offer": 5}, headers={"Idempotency-Key": "low"})
        assert refused.status_code == 409 and RECEIPT_HEADER not in refused.headers  # no 2xx, no receipt
        assert RECEIPT_HEADER not in client.get("/v1/shop").headers  # a read acknowledges nothing
    assert len(set(seqs)) == PURCHASES
    return live.engine.trial.id


def test_receipts_verify_against_the_log_after_a_normal_run(store_url: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    receipts = tmp_path / "receipts"
    trial_id = _session(store_url, tmp_path, receipts)
    kept = load_receipts(receipts)
    assert len(kept) == PURCHASES and {r.trial for r in kept} == {trial_id}
    code, out = _verify(capsys, "--db", store_url, "--trial", trial_id, "--receipts", str(receipts))
    assert code == 0, out
    assert f"trial {trial_id}: ok (" in out and f"{PURCHASES} receipts" in out

    # a receipt signed by another key is refused, naming its seq
    forged = kept[0]
    other = CheckpointKey.generate().sign_message(forged.message())
    (receipts / "forged.json").write_bytes(orjson.dumps({**forged.to_json(), "signature": other}))
    code, out = _verify(capsys, "--db", store_url, "--trial", trial_id, "--receipts", str(receipts))
    assert code == 1 and f"receipt seq {forged.seq}: bad signature" in out, out


def _entries(url: str, trial_id: str) -> list[LogEntry]:
    with Store.open(url) as store:
        return list(TrialLog(store).entries(trial_id))


def _rechain(conn: sa.Connection, url: str, trial_id: str, entries: list[LogEntry], start: int,
             change: Callable[[LogEntry], dict[str, object]]) -> None:
    """A forger who knows the chain's rule: change entry ``start``, then recompute every hash after it."""
    with Store.open(url) as store:
        trial = TrialLog(store).trial(trial_id)
    prev = entries[start - 1].hash if start else trial.genesis_hash()
    for entry in entries[start:]:
        fields = entry.body(trial_id)
        if entry.seq == start:
            fields.update(change(entry))
        fields.pop("trial_id")
        forged = make_entry(trial_id, prev, **fields, chain_format=trial.chain_format)
        conn.execute(trial_log.update().where(trial_log.c.trial_id == trial_id, trial_log.c.seq == entry.seq)
                     .values(prev_hash=forged.prev_hash, hash=forged.hash, **fields))
        prev = forged.hash


def _append_forged(conn: sa.Connection, url: str, trial_id: str, entries: list[LogEntry]) -> None:
    """A forger who knows the chain's rule (in format 2, the link over the last checkpoint too)."""
    with Store.open(url) as store:
        log = TrialLog(store)
        trial = log.trial(trial_id)
        last_checkpoint = log.checkpoints(trial_id)[-1]
    last = entries[-1]
    prev = next_prev_hash(trial, last.seq + 1, last.hash, last_checkpoint)
    forged = make_entry(trial_id, prev, seq=last.seq + 1, time=last.time, mechanism="posted_price",
                        actor="mallory", kind="buy", payload='{"offer":1000}', accepted=True, reason=None,
                        effects="{}", origin="sim", clock=last.time, chain_format=trial.chain_format)
    conn.execute(trial_log.insert().values(**forged.row(trial_id)))


ATTACKS = {
    # delete the acknowledged tail and the checkpoints that covered it
    "tail cut": (1, "is missing"),
    # rewrite an acknowledged purchase, re-chain everything after it, drop every checkpoint row
    "rewritten and re-chained": (1, "has another hash"),
    # append an entry after the last checkpoint (the chain rule is public; only the key signs)
    "forged entry appended": (3, "unsigned"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_kept_receipts_expose_tampering(attack: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    receipts = tmp_path / "receipts"
    trial_id = _session(url, tmp_path, receipts)
    kept = sorted(load_receipts(receipts), key=lambda r: r.seq)
    entries = _entries(url, trial_id)
    target = kept[len(kept) // 2].seq
    with Store.open(url) as store, store.engine.begin() as conn:
        if attack == "tail cut":
            conn.execute(trial_log.delete().where(trial_log.c.trial_id == trial_id,
                                                  trial_log.c.seq >= target))
            conn.execute(trial_checkpoints.delete().where(trial_checkpoints.c.size > target))
        elif attack == "rewritten and re-chained":
            _rechain(conn, url, trial_id, entries, target, lambda e: {"payload": '{"offer":999}'})
            conn.execute(trial_checkpoints.delete())
        else:
            _append_forged(conn, url, trial_id, entries)
    code, out = _verify(capsys, "--db", url, "--trial", trial_id, "--receipts", str(receipts))
    expected_code, says = ATTACKS[attack]
    assert code == expected_code, out
    assert says in out, out
    if attack == "tail cut":  # every cut receipt is named, one line each
        for receipt in kept:
            if receipt.seq >= target:
                assert f"receipt seq {receipt.seq}: entry {receipt.seq} is missing" in out, out
    elif attack == "rewritten and re-chained":
        assert f"receipt seq {target}: entry {target} has another hash" in out, out
        # without the receipts the re-chained log is intact but nothing signs it any more
        code, out = _verify(capsys, "--db", url, "--trial", trial_id)
        size = len(entries)
        assert code == 3 and f"the last {size} entries (seq 0 to {size - 1}) are unsigned" in out, out
    else:
        assert f"the last 1 entries (seq {len(entries)} to {len(entries)}) are unsigned" in out, out


def test_an_unsigned_tail_is_a_warning_with_its_own_exit_code(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "trials.db"
    with Store.open(f"sqlite:///{db}") as store:
        signed = _trial(TrialLog(store), CheckpointKey.generate())  # checkpoints at 4 and 12: all signed
        crashed = _trial(TrialLog(store), CheckpointKey.generate(), checkpoint_at=(4,))  # 8 after the last
    code, out = _verify(capsys, str(db), "--trial", signed.id)
    assert code == 0 and "unsigned" not in out
    code, out = _verify(capsys, str(db), "--trial", crashed.id)
    assert code == 3, out
    assert f"trial {crashed.id}: ok (12 entries, 1 signed checkpoints" in out
    assert "warning: the last 8 entries (seq 4 to 11) are unsigned" in out
    code, out = _verify(capsys, str(db), "--json")
    assert code == 3 and sorted(r["unsigned"] for r in orjson.loads(out)) == [0, 8]


def test_the_witness_catches_a_cut_or_forked_log_and_the_server_refuses_to_serve_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    scenario = write_scenario(tmp_path, shoppers=2, rate=0.5, time_factor=10.0)
    witness = tmp_path / "witness.jsonl"
    server = ServerProcess(scenario, url, cwd=tmp_path, witness=witness)
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, headers=auth(), timeout=10) as client:
            for i in range(4):
                assert client.post("/v1/shop/purchases", json={"offer": 120},
                                   headers={"Idempotency-Key": f"w{i}"}).status_code == 201
            trial_id = client.get("/v1/trial").json()["trial_id"]
        assert server.stop(), server.output()
    finally:
        server.kill()
    entries = _entries(url, trial_id)
    heads = load_witness(witness)
    assert heads[-1].size == len(entries) and heads[-1].head == entries[-1].hash  # the clean stop's head
    code, out = _verify(capsys, "--db", url, "--trial", trial_id, "--witness", str(witness))
    assert code == 0 and f"{len(heads)} witnessed heads" in out, out

    pristine = tmp_path / "pristine.db"
    shutil.copy(tmp_path / "live.db", pristine)
    cut = len(entries) - 3
    with Store.open(url) as store, store.engine.begin() as conn:  # cut the tail and the evidence in the DB
        conn.execute(trial_log.delete().where(trial_log.c.trial_id == trial_id, trial_log.c.seq >= cut))
        conn.execute(trial_checkpoints.delete().where(trial_checkpoints.c.size > cut))
    code, out = _verify(capsys, "--db", url, "--trial", trial_id, "--witness", str(witness))
    assert code == 1 and f"witnessed head at size {len(entries)}: log truncated: it has {cut} entries" in out

    refused = ServerProcess(scenario, url, cwd=tmp_path, witness=witness, cli=True)
    try:
        with pytest.raises(RuntimeError, match=r"the server exited \(1\)"):
            refused.wait_ready()  # returns (and the test fails) if it serves the cut log
        output = refused.output()
    finally:
        refused.kill()
    assert "the log contradicts its witness" in output and "Traceback" not in output, output
    assert len([line for line in output.splitlines() if line.strip()]) == 1, output

    forked = tmp_path / "forked.db"
    shutil.copy(pristine, forked)
    forked_url = f"sqlite:///{forked}"
    with Store.open(forked_url) as store, store.engine.begin() as conn:
        _rechain(conn, forked_url, trial_id, entries, 2, lambda e: {"actor": "mallory"})
        conn.execute(trial_checkpoints.delete())
    code, out = _verify(capsys, "--db", forked_url, "--trial", trial_id, "--witness", str(witness))
    assert code == 1 and f"witnessed head at size {len(entries)}: fork: entry {len(entries) - 1}" in out, out


def test_a_url_witness_gets_each_head_posted_and_a_dead_one_only_warns(
        caplog: pytest.LogCaptureFixture) -> None:
    received: list[bytes] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    key = CheckpointKey.generate()
    checkpoint = key.sign("t" * 32, 7, "ab" * 32, 1.7e9)
    with ThreadingHTTPServer(("127.0.0.1", 0), Sink) as sink:
        thread = threading.Thread(target=sink.serve_forever, daemon=True)
        thread.start()
        Witness(f"http://127.0.0.1:{sink.server_address[1]}/heads").record("t" * 32, checkpoint)
        sink.shutdown()
    assert [orjson.loads(line) for line in received] == [WitnessedHead.of("t" * 32, checkpoint).to_json()]

    with caplog.at_level(logging.WARNING, logger="flagship.live"):
        Witness(f"http://127.0.0.1:{free_port()}/heads").record("t" * 32, checkpoint)  # nobody listens
    assert "did not take the head at size 7" in caplog.text
