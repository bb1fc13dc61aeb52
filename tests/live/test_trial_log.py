"""The trial log: hash chain, signed checkpoints, and ``flagship verify`` naming the first bad entry."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from flagship.mechanisms import StoreError
from flagship.sandbox.cli import main
from flagship.telemetry import Store
from flagship.telemetry._schema import trial_checkpoints, trial_log, trials
from flagship.telemetry._trial_log import LOG_COLUMNS, CheckpointKey, Trial, TrialLog, key_path, make_entry

SIZE = 12


def _trial(log: TrialLog, key: CheckpointKey, *, checkpoint_at: tuple[int, ...] = (4, SIZE)) -> Trial:
    """A trial with SIZE entries in three commits and checkpoints after the given sizes."""
    trial = log.create_trial(trial_id=uuid.uuid4().hex, scenario={"scenario": {"name": "x"}, "live": {}},
                             scenario_sha256="0" * 64, epoch=1_700_000_000.0, time_factor=2.0, seed=5,
                             public_key=key.public_hex)
    prev = trial.genesis_hash()
    seq = 0
    for commit in ((0, 4), (4, 9), (9, SIZE)):
        entries = []
        for i in range(*commit):
            last = i == commit[1] - 1
            entry = make_entry(trial.id, prev, seq=seq, time=float(i), mechanism="m", actor=f"a{i}",
                               kind="buy", payload=f'{{"offer":{i}}}', accepted=i % 3 != 0,
                               reason=None if i % 3 else "NOPE", effects="{}",
                               origin="http" if i % 2 else "sim",
                               idempotency_key=f'["actor:a","k{i}"]' if i % 2 else None,
                               request_hash="ab" * 32 if i % 2 else None,
                               response='{"accepted":true}' if i % 2 else None,
                               clock=float(i) if last else None, state_hash="cd" * 32 if last else None)
            entries.append(entry)
            prev = entry.hash
            seq += 1
        checkpoints = [key.sign(trial.id, size, prev, 1.7e9 + size) for size in checkpoint_at
                       if size == seq]
        log.append(trial.id, entries, checkpoints[0] if checkpoints else None)
    return trial


TAMPERING: dict[str, tuple[Callable[[sa.Connection, str], None], int | None, str]] = {
    "altered": (lambda c, t: c.execute(trial_log.update().where(
        trial_log.c.trial_id == t, trial_log.c.seq == 3).values(payload='{"offer":999}')), 3, "altered"),
    "altered outcome": (lambda c, t: c.execute(trial_log.update().where(
        trial_log.c.trial_id == t, trial_log.c.seq == 9).values(accepted=True, reason=None)), 9, "altered"),
    "deleted": (lambda c, t: c.execute(trial_log.delete().where(
        trial_log.c.trial_id == t, trial_log.c.seq == 4)), 4, "missing"),
    "deleted first": (lambda c, t: c.execute(trial_log.delete().where(
        trial_log.c.trial_id == t, trial_log.c.seq == 0)), 0, "missing"),
    "reordered": (lambda c, t: _swap(c, t, 2, 5), 2, ""),
    "truncated": (lambda c, t: c.execute(trial_log.delete().where(
        trial_log.c.trial_id == t, trial_log.c.seq >= 7)), 7, "truncated"),
    "header": (lambda c, t: c.execute(trials.update().where(trials.c.id == t).values(epoch=1.0)), 0, ""),
    "forged checkpoint": (lambda c, t: c.execute(trial_checkpoints.update().where(
        trial_checkpoints.c.trial_id == t).values(head_hash="ee" * 32)), 3, "checkpoint"),
}


def _swap(conn: sa.Connection, trial_id: str, a: int, b: int) -> None:
    """Swap two entries' places: each row takes the other's sequence number."""
    conn.execute(trial_log.update().where(trial_log.c.trial_id == trial_id, trial_log.c.seq == a)
                 .values(seq=-1))
    conn.execute(trial_log.update().where(trial_log.c.trial_id == trial_id, trial_log.c.seq == b)
                 .values(seq=a))
    conn.execute(trial_log.update().where(trial_log.c.trial_id == trial_id, trial_log.c.seq == -1)
                 .values(seq=b))


def test_an_intact_chain_verifies(store_url: str) -> None:
    key = CheckpointKey.generate()
    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial = _trial(log, key)
        result = log.verify(trial.id)
        assert result.ok, result
        assert (result.size, result.checkpoints, result.first_bad) == (SIZE, 2, None)
        assert result.head_hash == log.head(trial.id)[1]
        assert log.verify(trial.id, public_key=key.public_hex).ok
        other = CheckpointKey.generate().public_hex
        pinned = log.verify(trial.id, public_key=other)
        assert not pinned.ok and "pinned" in pinned.problem


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_is_caught_at_the_first_bad_seq(store_url: str, case: str) -> None:
    tamper, first_bad, words = TAMPERING[case]
    key = CheckpointKey.generate()
    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial = _trial(log, key)
        untouched = _trial(log, key)
        with store.engine.begin() as conn:
            tamper(conn, trial.id)
        result = log.verify(trial.id)
        assert not result.ok
        assert result.first_bad == first_bad, result
        assert words in result.problem
        assert log.verify(untouched.id).ok  # the other trial is not affected


def test_a_bad_checkpoint_signature_is_reported(store_url: str) -> None:
    key = CheckpointKey.generate()
    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial = _trial(log, key)
        with store.engine.begin() as conn:
            conn.execute(trial_checkpoints.update().where(trial_checkpoints.c.trial_id == trial.id,
                                                          trial_checkpoints.c.size == SIZE)
                         .values(time=1.0))
        result = log.verify(trial.id)
        assert not result.ok and result.first_bad is None
        assert "bad signature" in result.problem


def test_a_tail_cut_after_the_last_checkpoint_is_not_detectable(store_url: str) -> None:
    """The documented limit: only signed checkpoints reveal truncation."""
    key = CheckpointKey.generate()
    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial = _trial(log, key, checkpoint_at=(9,))
        with store.engine.begin() as conn:
            conn.execute(trial_log.delete().where(trial_log.c.trial_id == trial.id, trial_log.c.seq >= 9))
        assert log.verify(trial.id).ok
        with store.engine.begin() as conn:
            conn.execute(trial_log.delete().where(trial_log.c.trial_id == trial.id, trial_log.c.seq >= 5))
        assert log.verify(trial.id).first_bad == 5


def test_duplicate_idempotency_keys_are_refused_by_the_database(store_url: str) -> None:
    key = CheckpointKey.generate()
    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial = _trial(log, key)
        size, head = log.head(trial.id)
        assert head is not None
        again = make_entry(trial.id, head, seq=size, time=99.0, mechanism="m", actor="a", kind="buy",
                           payload="{}", accepted=True, reason=None, effects="{}", origin="http",
                           idempotency_key='["actor:a","k1"]', request_hash="ab" * 32, response="{}",
                           clock=99.0, state_hash="cd" * 32)
        with pytest.raises(StoreError):
            log.append(trial.id, [again])
        assert log.head(trial.id) == (size, head)  # nothing of the failed commit remains


def test_verify_command_names_the_first_bad_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                  ) -> None:
    db = tmp_path / "trials.db"
    key = CheckpointKey.generate()
    with Store.open(f"sqlite:///{db}") as store:
        trial = _trial(TrialLog(store), key)
    with pytest.raises(SystemExit) as ok:
        main(["verify", str(db)])
    assert ok.value.code == 0
    assert f"trial {trial.id}: ok ({SIZE} entries, 2 signed checkpoints" in capsys.readouterr().out
    with Store.open(f"sqlite:///{db}") as store, store.engine.begin() as conn:
        conn.execute(trial_log.delete().where(trial_log.c.seq == 6))
    with pytest.raises(SystemExit) as bad:
        main(["verify", str(db), "--trial", trial.id[:8]])
    assert bad.value.code == 1
    assert "FAILED: first bad entry: seq 6: entry 6 is missing" in capsys.readouterr().out
    with pytest.raises(SystemExit) as missing:
        main(["verify", str(tmp_path / "nope.db")])
    assert missing.value.code == 2
    assert "no such file" in capsys.readouterr().err


def test_checkpoint_keys_live_in_owner_only_files(tmp_path: Path) -> None:
    key = CheckpointKey.generate()
    path = key_path(tmp_path, "abc")
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert CheckpointKey.load(path).public_hex == key.public_hex
    with pytest.raises(StoreError, match="cannot create"):
        key.save(path)  # never overwritten
    with pytest.raises(StoreError, match="not found"):
        CheckpointKey.load(tmp_path / "missing.key")


def test_entries_read_back_as_written(store_url: str) -> None:
    """SQLite's commits go through the driver's executemany of positional rows (LogEntry.values in
    LOG_COLUMNS order), PostgreSQL's through SQLAlchemy's insert of LogEntry.row: same rows back."""
    key = CheckpointKey.generate()
    with Store.open(store_url) as store:
        log = TrialLog(store)
        trial = _trial(log, key)
        entries = list(log.entries(trial.id))
        assert len(entries) == SIZE
        for entry in entries:
            assert dict(zip(LOG_COLUMNS, entry.values(trial.id), strict=True)) == entry.row(trial.id)
        assert [e.accepted for e in entries] == [i % 3 != 0 for i in range(SIZE)]
        assert entries[-1].clock == float(SIZE - 1) and entries[0].clock is None
        assert log.verify(trial.id).ok
