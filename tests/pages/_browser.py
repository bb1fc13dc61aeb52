"""Shared parts of the browser tests: a trial served by a real ``flagship serve``, and the Debian chromium.

Lifecycle of :func:`served`: the scenario is served by ``flagship serve`` in its own process on a
free loopback port (the command a pilot partner runs, with a SQLite store and a key directory in
the test's folder); the test gets the trial once ``/readyz`` answers, drives it over HTTP and in
the browser, and on leaving the block the server is stopped as an operator stops it (SIGTERM from
a service manager, or SIGINT: Ctrl-C in a terminal): it must drain, sign a last checkpoint covering
every entry and exit cleanly. The test then reads
the trial log from the store and runs ``flagship verify`` with the trial's own public key.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa

from flagship.telemetry import Store
from flagship.telemetry._trial_log import CheckpointKey, key_path
from tests.live._support import ServerProcess, flagship_command, require_tool

T = TypeVar("T")

STARTUP_SECONDS = 120.0
"""How long ``flagship serve`` may take to answer ``/readyz`` (imports and recovery on a busy machine)."""
BROWSER_TIMEOUT_MS = 60_000
"""Playwright's wait for a page, a selector or a navigation: generous, as two cores are shared."""


@dataclass(frozen=True)
class ServedTrial:
    """A trial served by a ``flagship serve`` subprocess, as the test sees it from outside."""

    url: str
    """The server's base URL on loopback (``http://127.0.0.1:PORT``)."""
    trial_id: str
    """The trial's id, as ``GET /v1/trial`` and the server's start log line name it."""
    db: Path
    """The SQLite file of the trial's store."""
    public_key: str
    """Hex of the public half of the trial's checkpoint key, read from ``--key-dir``."""

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db}"

    def client(self) -> httpx.Client:
        """An HTTP client of the server (a registrar's, an agent's, another trader's), to use in ``with``."""
        return httpx.Client(base_url=self.url, timeout=30)

    def sim_time(self) -> float:
        """The trial's sim time now, as the server tells it."""
        return float(self.info()["sim_time"])

    def info(self) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/v1/trial", timeout=30)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body


@contextlib.contextmanager
def served(scenario: Path, folder: Path, *, port: int | None = None, time_factor: float | None = None,
           stop_with: signal.Signals = signal.SIGTERM) -> Iterator[ServedTrial]:
    """Serve ``scenario`` with ``flagship serve`` on loopback for the block (see the module doc).

    ``port`` is for scenarios bound to their address (Web Bot Auth signs ``127.0.0.1:PORT``);
    ``time_factor`` (sim seconds per wall second) is passed as ``--time-factor``; ``stop_with``
    is the signal that stops the server.
    """
    db = folder / "live.db"
    extra = ["--log-format", "json", *(["--time-factor", f"{time_factor:g}"] if time_factor else [])]
    server = ServerProcess(scenario, f"sqlite:///{db}", cwd=folder, cli=True, port=port, extra_args=extra)
    try:
        server.wait_ready(timeout=STARTUP_SECONDS)
        trial_id = str(httpx.get(f"{server.url}/v1/trial", timeout=30).json()["trial_id"])
        key = CheckpointKey.load(key_path(folder, trial_id))  # where --key-dir put it
        yield ServedTrial(server.url, trial_id, db, key.public_hex)
        server.process.send_signal(stop_with)
        code = server.process.wait(timeout=STARTUP_SECONDS)
        # uvicorn re-raises the signal once its graceful shutdown is done: a clean stop ends by it
        # (SIGTERM), or as a Ctrl-C ends a command, with 128 + the signal's number (SIGINT: 130)
        output = server.log_path.read_text(errors="replace")
        assert code in (0, -stop_with, 128 + stop_with), f"flagship serve exited with {code}: {output}"
        stopped = [record for record in _json_records(output) if record.get("event") == "trial_stopped"]
        assert len(stopped) == 1 and "Traceback" not in output, output
        (record,) = stopped
        assert (record["trial"], record["after_failure"]) == (trial_id, False), record
        assert record["checkpointed"] == record["entries"], record  # the last checkpoint signs every entry
    finally:
        server.kill()


def _json_records(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def wait_for(what: str, probe: Callable[[], T | None], *, seconds: float) -> T:
    """Poll ``probe`` until it returns something other than None; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:g} s")
        time.sleep(0.1)


@contextlib.contextmanager
def chromium(*, javascript: bool = True, viewport: tuple[int, int] = (1280, 900)) -> Iterator[Any]:
    """A fresh browser context of the system chromium (Playwright never downloads one here): the
    ``chromium`` on PATH, Debian's /usr/bin/chromium under CI; without one the test skips (fails under CI)."""
    executable = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            context = browser.new_context(java_script_enabled=javascript,
                                          viewport={"width": viewport[0], "height": viewport[1]})
            context.set_default_timeout(BROWSER_TIMEOUT_MS)
            yield context
            context.close()
        finally:
            browser.close()


def verify(db: Path, trial: ServedTrial | None = None) -> str:
    """``flagship verify`` on the trial's database, as an operator runs it; its output (exit 0).

    With ``trial``, only that trial, and its checkpoints must verify under the public key kept
    beside the server (``--public-key``), not merely the one the database stores.
    """
    pinned = ["--trial", trial.trial_id, "--public-key", trial.public_key] if trial is not None else []
    done = subprocess.run(flagship_command("verify", str(db), *pinned), capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def log_actions(url: str, kind: str) -> list[tuple[int, str, str]]:
    """(seq, actor, hash) of every logged action of ``kind``."""
    with Store.open(url) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, actor, hash FROM trial_log WHERE kind = :kind ORDER BY seq"),
                            {"kind": kind}).all()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
