"""Resuming a sweep honestly: by what decides its results, and after Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from flagship.telemetry import Store
from tests._cli import FLAGSHIP, flagship

REPO = Path(__file__).resolve().parents[2]
GRID = ["--grid", "populations.shoppers.count=3,6"]


def _stored(db: Path) -> int:
    with Store.open(f"sqlite:///{db}") as store:
        return sum(len(store.runs(sweep_id=s)) for s in store.sweep_ids())


def test_a_comment_or_a_reordered_grid_resumes_the_same_sweep(tmp_path: Path, shop: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    first = flagship("sweep", str(shop), *GRID, "--replications", "2", "--workers", "1", "--db", db,
                     cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "ran 8 now (0 failed), 0 already stored" in first.stderr
    shop.write_text("# a comment changes no result\n" + shop.read_text().replace(
        'name = "shop"', 'name = "shop"   # still the shop'))
    reordered = flagship("sweep", str(shop), "--grid", "populations.shoppers.count=6,3",
                         "--replications", "2", "--workers", "1", "--db", db, cwd=tmp_path)
    assert reordered.returncode == 0, reordered.stderr
    assert "ran 0 now (0 failed), 8 already stored" in reordered.stderr
    changed = flagship("sweep", str(shop), "--grid", "populations.shoppers.count=6,4",
                       "--replications", "2", "--workers", "1", "--db", db, cwd=tmp_path)
    assert "ran 8 now (0 failed), 0 already stored" in changed.stderr  # a new cell set is a new sweep
    with Store.open(db) as store:
        assert len(store.sweep_ids()) == 2


def test_more_replications_add_only_the_new_seeds_to_the_same_sweep(tmp_path: Path, shop: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    flagship("sweep", str(shop), *GRID, "--replications", "2", "--workers", "1", "--db", db, cwd=tmp_path)
    more = flagship("sweep", str(shop), *GRID, "--replications", "3", "--workers", "1", "--db", db,
                    cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "ran 4 now (0 failed), 8 already stored" in more.stderr  # 2 cells x 2 arms x 1 new seed
    with Store.open(db) as store:
        (sweep_id,) = store.sweep_ids()
        spec = store.sweep(sweep_id).spec
        assert spec["replications"] == 3 and all(len(c["seeds"]) == 3 for c in spec["cells"])
        assert len(store.runs(sweep_id=sweep_id)) == 12
    fewer = flagship("sweep", str(shop), *GRID, "--replications", "2", "--workers", "1", "--db", db,
                     cwd=tmp_path)
    assert "ran 0 now (0 failed), 8 already stored" in fewer.stderr


def _session_processes(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the command and everything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # field 6 of stat: the session id
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_workers_keeps_what_finished_and_prints_the_resume_command(
        tmp_path: Path, signum: int, code: int) -> None:
    db = tmp_path / "pilot.db"
    scenario = REPO / "examples" / "full_stack_pilot.toml"
    # long runs (a few seconds each), so a worker left running would still be there
    command = [*FLAGSHIP, "sweep", str(scenario), "--set", "duration=12000", "--replications", "2",
               "--workers", "2", "--db", f"sqlite:///{db}"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:  # plain reads: opening a Store would race the command's own migration
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                if conn.execute("SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()[0]:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.2)
    assert process.poll() is None, "the sweep ended before it could be interrupted"
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # Ctrl-C reaches the terminal's whole process group
    else:
        process.send_signal(signum)  # a service manager signals the command only
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # stop it here: a process left running fails a later test instead
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        pytest.fail(f"the sweep did not stop within 60 s of {signal.Signals(signum).name}: {stderr[-2000:]}")
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    line = next(line for line in stderr.splitlines() if line.startswith("interrupted by"))
    assert signal.Signals(signum).name in line
    deadline = time.monotonic() + 2  # the forkserver notices its driver is gone
    while _session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _session_processes(process.pid) == []  # no worker left behind
    kept = _stored(db)
    assert 1 <= kept < 8 and f"{kept} of 8 runs are stored" in line
    if signum == signal.SIGINT:
        return  # the resume command is the same after either signal: run it once
    resume = re.search(r"resume with: (.*)$", line)
    assert resume is not None
    args = shlex.split(resume.group(1))
    assert args[:2] == ["flagship", "sweep"] and "--replications" in args
    resumed = flagship(*args[1:], "--workers", "2", cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"ran {8 - kept} now (0 failed), {kept} already stored" in resumed.stderr
