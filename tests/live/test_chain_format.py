"""Chain format 2: RFC 8785 encoding, checkpoints linked into the chain, old trials still verifiable.

A format-1 checkpoint is a row beside the chain: deleting one from the middle of the log
left a chain that verified (the contrast in the first test). In format 2 the entry after
each checkpoint links over it, so the deletion breaks the chain at that entry. Every new
live trial is written in format 2; format-1 trials keep verifying after migration 0008.
The independent verifier shipped in docs/examples (no Flagship import) must agree with
``flagship verify`` on good and tampered logs.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import numpy
import pytest
import rfc8785
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from hypothesis import given, settings
from hypothesis import strategies as st

from flagship.mechanisms import InputError
from flagship.sandbox._live import EngineOptions
from flagship.sandbox.cli import main
from flagship.telemetry import Store
from flagship.telemetry._chain_format import CURRENT_CHAIN_FORMAT, jcs_bytes
from flagship.telemetry._schema import trial_checkpoints, trial_log, trials
from flagship.telemetry._store import _MIGRATIONS
from flagship.telemetry._trial_log import CheckpointKey, TrialLog, make_entry, next_prev_hash
from tests.live._support import drive_session

REPO = Path(__file__).resolve().parents[2]
VERIFIER = REPO / "docs" / "examples" / "verify_chain.py"


def _session(url: str, tmp_path: Path, *, clients: int = 24) -> str:
    """A live trial (checkpoint every 8 entries) driven in-process, stopped cleanly; its id."""
    live = drive_session(tmp_path, clients=clients, shoppers=3, url=url,
                         options=EngineOptions(tick_seconds=0.01, measures_seconds=0, checkpoint_every=8))
    live.store.close()
    return live.engine.trial.id


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(list(args))
    code = done.value.code
    return (code if isinstance(code, int) else 0), capsys.readouterr().out


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    return _cli(capsys, "verify", *args)


def _sizes(url: str, trial_id: str) -> list[int]:
    with Store.open(url) as store:
        return [cp.size for cp in TrialLog(store).checkpoints(trial_id)]


def _delete_checkpoint(url: str, trial_id: str, size: int) -> None:
    with Store.open(url) as store, store.engine.begin() as conn:
        conn.execute(trial_checkpoints.delete().where(trial_checkpoints.c.trial_id == trial_id,
                                                      trial_checkpoints.c.size == size))


def _format1_trial(log: TrialLog, key: CheckpointKey, *, size: int = 12, every: int = 4) -> str:
    """A format-1 trial written as before chain format 2: checkpoints beside the chain."""
    trial = log.create_trial(trial_id=uuid.uuid4().hex, scenario={"scenario": {"name": "x"}, "live": {}},
                             scenario_sha256="0" * 64, epoch=1.7e9, time_factor=2.0, seed=5,
                             public_key=key.public_hex, chain_format=1)
    prev = trial.genesis_hash()
    for start in range(0, size, every):
        entries = []
        for seq in range(start, start + every):
            entries.append(make_entry(trial.id, prev, seq=seq, time=float(seq), mechanism="m", actor="a",
                                      kind="buy", payload=f'{{"offer":{seq}}}', accepted=True, reason=None,
                                      effects="{}", origin="sim",
                                      clock=float(seq) if seq == start + every - 1 else None))
            prev = entries[-1].hash
        log.append(trial.id, entries, key.sign(trial.id, start + every, prev, 1.7e9 + start))
    return trial.id


def test_deleting_a_middle_checkpoint_breaks_a_format_2_chain(store_url: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    trial_id = _session(store_url, tmp_path)
    sizes = _sizes(store_url, trial_id)
    assert len(sizes) >= 3, sizes
    code, out = _verify(capsys, "--db", store_url, "--trial", trial_id)
    assert code == 0, out
    middle = sizes[len(sizes) // 2]
    _delete_checkpoint(store_url, trial_id, middle)
    code, out = _verify(capsys, "--db", store_url, "--trial", trial_id)
    assert code == 1, out
    assert f"first bad entry: seq {middle}:" in out and "checkpoint signed before it" in out, out

    # The contrast: format 1 (checkpoints beside the chain) does not notice the same deletion.
    with Store.open(store_url) as store:
        old = _format1_trial(TrialLog(store), CheckpointKey.generate())
    _delete_checkpoint(store_url, old, 8)
    code, out = _verify(capsys, "--db", store_url, "--trial", old)
    assert code == 0, out


def _old_store(url: str) -> None:
    """A database at revision 0006 (before chain formats), holding one format-1 trial."""
    engine = sa.create_engine(url)
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
    engine.dispose()


def test_format_1_trials_still_verify_after_the_migration(store_url: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _old_store(store_url)
    key = CheckpointKey.generate()
    trial_id = uuid.uuid4().hex
    header = {"id": trial_id, "scenario": {"scenario": {"name": "old"}, "live": {}},
              "scenario_sha256": "0" * 64, "epoch": 1.7e9, "time_factor": 1.5, "seed": 2**62 + 7,
              "public_key": key.public_hex, "status": "running"}
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # the rows a 0006 server wrote: no chain_format column yet
        columns = ", ".join(header) + ", created_at"
        conn.execute(sa.text(f"INSERT INTO trials ({columns}) VALUES "
                             "(:id, :scenario, :scenario_sha256, :epoch, :time_factor, :seed, "
                             ":public_key, :status, CURRENT_TIMESTAMP)"),
                     {**header, "scenario": json.dumps(header["scenario"])})
    engine.dispose()
    with Store.open(store_url) as store:  # migrates to head (0008)
        log = TrialLog(store)
        trial = log.trial(trial_id)
        assert trial.chain_format == 1
        prev = trial.genesis_hash()
        entries = []
        for seq in range(6):
            entries.append(make_entry(trial_id, prev, seq=seq, time=seq / 3, mechanism="m", actor="a",
                                      kind="buy", payload='{"offer":1e16}', accepted=True, reason=None,
                                      effects="{}", origin="sim", clock=seq / 3 if seq == 5 else None))
            prev = entries[-1].hash
        log.append(trial_id, entries, key.sign(trial_id, 6, prev, 1.7e9))
    code, out = _verify(capsys, "--db", store_url, "--trial", trial_id, "--public-key", key.public_hex)
    assert code == 0 and "ok (6 entries, 1 signed checkpoints" in out, out
    with Store.open(store_url) as store, store.engine.begin() as conn:
        conn.execute(trial_log.update().where(trial_log.c.trial_id == trial_id, trial_log.c.seq == 2)
                     .values(payload='{"offer":2}'))
        assert conn.execute(sa.select(trials.c.chain_format).where(trials.c.id == trial_id)).scalar() == 1
    code, out = _verify(capsys, "--db", store_url, "--trial", trial_id)
    assert code == 1 and "first bad entry: seq 2:" in out, out


def _double(bits: int) -> float:
    return float(struct.unpack(">d", bits.to_bytes(8, "big"))[0])


# RFC 8785 Appendix B: IEEE 754 doubles and their canonical text.
NUMBERS = [
    (0x0000000000000000, "0"), (0x8000000000000000, "0"), (0x0000000000000001, "5e-324"),
    (0x8000000000000001, "-5e-324"), (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
    (0x4340000000000000, "9007199254740992"), (0xC340000000000000, "-9007199254740992"),
    (0x4430000000000000, "295147905179352830000"), (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
    (0x44B52D02C7E14AF6, "1e+23"), (0x444B1AE4D6E2EF50, "1e+21"),
    (0x444B1AE4D6E2EF4F, "999999999999999900000"),
    (0x3EB0C6F7A0B5ED8D, "0.000001"), (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
    (0x41B3DE4355555553, "333333333.3333332"), (0x4060000000000000, "128"), (0x3FD3333333333333, "0.3"),
]


@pytest.mark.parametrize(("bits", "text"), NUMBERS, ids=[t for _, t in NUMBERS])
def test_rfc8785_numbers(bits: int, text: str) -> None:
    assert jcs_bytes(_double(bits)) == text.encode()


def test_rfc8785_strings_key_order_and_refusals() -> None:
    # RFC 8785 section 3.2.2 (the sample) and 3.2.3 (sorting by UTF-16 code units).
    sample = json.loads(r'{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
                        r' "string": "\u20ac$\u000F\u000aA\u0027\u0042\u0022\u005c\\\"\/",'
                        r' "literals": [null, true, false]}')
    expected = (r'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                r'"string":"€$\u000f\nA' + "'" + r'B\"\\\\\"/"}')
    assert jcs_bytes(sample) == expected.encode()
    keys = json.loads(r'{"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6, '
                      r'"\u00f6": 7}')
    in_utf16_order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]  # not code point order
    assert list(json.loads(jcs_bytes(keys))) == in_utf16_order
    assert jcs_bytes([56, {"d": True, "10": None, "1": []}]) == b'[56,{"1":[],"10":null,"d":true}]'
    for bad in (2**53, math.nan, math.inf):
        with pytest.raises(ValueError, match="RFC 8785"):
            jcs_bytes(bad)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(JSON)
def test_the_encoder_matches_the_rfc8785_package(value: object) -> None:
    """Chain format 2's encoder (faster than the package: the writer encodes every entry) is byte-equal."""
    try:
        reference = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        with pytest.raises(ValueError, match="RFC 8785"):
            jcs_bytes(value)
        return
    assert jcs_bytes(value) == reference


@settings(max_examples=2000, deadline=None, derandomize=True)
@given(st.floats(allow_nan=False, allow_infinity=False)
       | st.sampled_from([1e-7, 1e-5, 9.999e-5, 1e-4, 0.1, 100.0, 123.456, 9.9e15, 1e16, 1.5e16, 1e20, 1e21,
                          -1e-4, -1e16, 2.0**53, -(2.0**53)]))
def test_numbers_match_the_rfc8785_package_in_and_out_of_pythons_fixed_range(value: float) -> None:
    """Numbers Python's repr writes in fixed notation (1e-4 to 1e16) take a shortcut; all match."""
    assert jcs_bytes(value) == rfc8785.dumps(value)
    assert jcs_bytes({"b": value, "a": [value]}) == rfc8785.dumps({"b": value, "a": [value]})


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_subclass_encodes_as_its_value(value: float) -> None:
    """numpy's float64 is a float whose repr is ``np.float64(...)``: it must encode as the number."""
    assert jcs_bytes(numpy.float64(value)) == rfc8785.dumps(value)


def test_format_2_entries_hash_rfc8785_bytes() -> None:
    """An entry's hash is SHA-256(prev bytes ‖ JCS(body)): what an outside auditor recomputes."""
    entry = make_entry("t" * 32, "ab" * 32, seq=3, time=1e21, mechanism="m", actor="\u00f6\U0001f600",
                       kind="buy", payload='{"offer":1}',
                       accepted=False, reason="NOPE", effects="{}", origin="operator", clock=0.1,
                       chain_format=2)
    body = entry.body("t" * 32)
    assert hashlib.sha256(bytes.fromhex("ab" * 32) + jcs_bytes(body)).hexdigest() == entry.hash
    assert b'"time":1e+21' in jcs_bytes(body) and b'"origin":"operator"' in jcs_bytes(body)


def _independent(db: Path, trial_id: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, str(VERIFIER), str(db), "--trial", trial_id],
                          capture_output=True, text=True, timeout=120, check=False)
    assert not done.stderr, done.stderr
    return done.returncode, done.stdout


def _first_bad(out: str) -> str | None:
    found = re.search(r"(?:first bad entry: seq|FAILED at seq) (\d+)", out)
    return None if found is None else found.group(1)


def _tamper(url: str, trial_id: str, how: str) -> None:
    with Store.open(url) as store:
        log = TrialLog(store)
        trial = log.trial(trial_id)
        entries = list(log.entries(trial_id))
        checkpoints = log.checkpoints(trial_id)
        with store.engine.begin() as conn:
            if how == "altered":
                conn.execute(trial_log.update().where(trial_log.c.trial_id == trial_id, trial_log.c.seq == 5)
                             .values(payload='{"offer":1}'))
            elif how == "checkpoint deleted":
                conn.execute(trial_checkpoints.delete().where(
                    trial_checkpoints.c.trial_id == trial_id,
                    trial_checkpoints.c.size == checkpoints[1].size))
            elif how == "truncated":
                conn.execute(trial_log.delete().where(trial_log.c.trial_id == trial_id,
                                                      trial_log.c.seq >= len(entries) - 3))
            elif how == "appended":  # by a forger who knows the rule, but not the key
                last = entries[-1]
                forged = make_entry(trial_id, next_prev_hash(trial, len(entries), last.hash, checkpoints[-1]),
                                    seq=len(entries), time=last.time, mechanism="posted_price",
                                    actor="mallory",
                                    kind="buy", payload='{"offer":1000}', accepted=True, reason=None,
                                    effects="{}", origin="sim", clock=last.time, chain_format=2)
                conn.execute(trial_log.insert().values(**forged.row(trial_id)))


@pytest.mark.parametrize("how", ["intact", "altered", "checkpoint deleted", "truncated", "appended"])
def test_the_independent_verifier_agrees_with_flagship_verify(how: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "live.db"
    url = f"sqlite:///{db}"
    trial_id = _session(url, tmp_path)
    _tamper(url, trial_id, how)
    code, out = _verify(capsys, "--db", url, "--trial", trial_id)
    theirs, their_out = _independent(db, trial_id)
    expected = {"intact": 0, "appended": 3}.get(how, 1)
    assert (code, theirs) == (expected, expected), (out, their_out)
    assert _first_bad(out) == _first_bad(their_out), (out, their_out)
    if how == "intact":
        assert re.search(rf"trial {trial_id}: ok \(\d+ entries, \d+ signed checkpoints\)", their_out)


def test_a_resumed_format_2_trial_verifies_and_replays(store_url: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A restart links the next entry over the final checkpoint; replay reproduces every state hash."""
    first = _session(store_url, tmp_path, clients=10)
    second = _session(store_url, tmp_path, clients=10)  # resumes the same trial
    assert first == second
    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial = log.trial(first)
        entries = list(log.entries(first))
        by_size = {cp.size: cp for cp in log.checkpoints(first)}
    assert trial.chain_format == CURRENT_CHAIN_FORMAT == 2
    linked = [e.seq for e in entries if e.seq in by_size and e.prev_hash != entries[e.seq - 1].hash]
    assert linked == sorted(s for s in by_size if s < len(entries)) and linked, (linked, sorted(by_size))
    code, out = _verify(capsys, "--db", store_url, "--trial", first)
    assert code == 0, out
    code, out = _cli(capsys, "replay", "--db", store_url, "--trial", first)
    assert code == 0 and "every outcome and state hash reproduced" in out, out


def test_a_header_rfc8785_cannot_encode_is_refused_and_reported(store_url: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Integers beyond 2**53 - 1 are not exact in JCS: refused at creation, a finding if written in later."""
    key = CheckpointKey.generate()
    fields = {"scenario_sha256": "0" * 64, "epoch": 1.7e9, "time_factor": 1.0, "seed": 2**63 - 1,
              "public_key": key.public_hex, "chain_format": 2}
    with Store.open(store_url) as store:
        log = TrialLog(store)
        with pytest.raises(InputError, match="beyond 2\\*\\*53"):
            log.create_trial(trial_id=uuid.uuid4().hex, scenario={"scenario": {"big": 2**60}}, **fields)
        trial = log.create_trial(trial_id=uuid.uuid4().hex, scenario={"scenario": {"big": 7}}, **fields)
        with store.engine.begin() as conn:
            conn.execute(trials.update().where(trials.c.id == trial.id)
                         .values(scenario={"scenario": {"big": 2**60}}))
    code, out = _verify(capsys, "--db", store_url, "--trial", trial.id)
    assert code == 1 and "the trial's header: not encodable as RFC 8785 JSON" in out, out
