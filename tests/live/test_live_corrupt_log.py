"""A chain-consistent log holding text that is not JSON: a one-line error naming trial and seq, exit 1.

The hash chain proves the log was not altered after it was written, not that what was
written is readable: a writer bug (or someone who re-chains and re-signs) can leave
garbage that verifies. ``flagship replay`` and ``flagship serve`` must then say where,
not die with a decoder's traceback.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from flagship.sandbox.cli import main
from flagship.telemetry import Store
from flagship.telemetry._schema import trial_checkpoints, trial_log
from flagship.telemetry._trial_log import (
    Checkpoint,
    CheckpointKey,
    TrialLog,
    chain_hash,
    key_path,
    next_prev_hash,
)
from tests.live._support import drive_session, flagship_command, free_port


def _corrupt(db: Path, key_dir: Path, trial_id: str, column: str) -> int:
    """Write invalid JSON into one client entry's ``column``, re-chain every later entry and
    re-sign every checkpoint, so that the log verifies; the corrupted seq."""
    url = f"sqlite:///{db}"
    with Store.open(url) as store:
        log = TrialLog(store)
        trial = log.trial(trial_id)
        entries = list(log.entries(trial_id))
        victim = next(e for e in entries if e.origin == "http" and e.seq > 5)
        key = CheckpointKey.load(key_path(key_dir, trial_id))
        old = {checkpoint.size: checkpoint for checkpoint in log.checkpoints(trial_id)}
        resigned: dict[int, Checkpoint] = {}
        prev = trial.genesis_hash()
        fmt = trial.chain_format
        with store.engine.begin() as conn:
            for entry in entries:
                # Chain format 2 links each checkpoint into the chain: re-sign it before going on.
                link = next_prev_hash(trial, entry.seq, prev, resigned.get(entry.seq))
                values: dict[str, object] = {"prev_hash": link}
                if entry.seq == victim.seq:
                    values[column] = '{"offer": 7'
                changed = dataclasses.replace(entry, **values)
                prev = chain_hash(link, trial_id, changed, chain_format=fmt)
                values["hash"] = prev
                if entry.seq + 1 in old:
                    resigned[entry.seq + 1] = key.sign(trial_id, entry.seq + 1, prev,
                                                       old[entry.seq + 1].time, chain_format=fmt)
                conn.execute(trial_log.update().where(trial_log.c.trial_id == trial_id,
                                                      trial_log.c.seq == entry.seq).values(**values))
            for signed in resigned.values():
                conn.execute(trial_checkpoints.update().where(
                    trial_checkpoints.c.trial_id == trial_id, trial_checkpoints.c.size == signed.size)
                    .values(head_hash=signed.head_hash, signature=signed.signature))
        assert log.verify(trial_id).ok  # the chain and every signature hold over the garbage
    return int(victim.seq)


@pytest.mark.parametrize("column", ["payload", "effects"])
def test_replay_names_the_trial_and_seq_of_invalid_json(tmp_path: Path, column: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    live = drive_session(tmp_path, clients=12)
    trial_id = live.engine.trial.id
    live.store.close()
    db = tmp_path / "live.db"
    seq = _corrupt(db, tmp_path, trial_id, column)
    with pytest.raises(SystemExit) as exited:
        main(["replay", "--db", str(db), "--trial", trial_id])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert trial_id in err and f"seq {seq}" in err and "invalid JSON" in err and "Traceback" not in err


def test_serve_refuses_a_log_holding_invalid_json_in_one_line(tmp_path: Path) -> None:
    live = drive_session(tmp_path, clients=12)
    trial_id = live.engine.trial.id
    live.store.close()
    db = tmp_path / "live.db"
    seq = _corrupt(db, tmp_path, trial_id, "payload")
    result = subprocess.run(
        flagship_command("serve", str(tmp_path / "shop.toml"), "--db", f"sqlite:///{db}", "--trial", trial_id,
                         "--port", str(free_port()), "--key-dir", str(tmp_path), "--measures-interval", "0"),
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "JSONDecodeError" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if f"seq {seq}" in line]
    assert len(errors) == 1 and trial_id in errors[0] and "invalid JSON" in errors[0], result.stderr
