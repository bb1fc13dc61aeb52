"""Shared parts of the citizen page tests: a served vote trial and the Debian chromium."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flagship.telemetry import Store
from tests.live._support import flagship_command, require_tool


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
            yield context
            context.close()
        finally:
            browser.close()


def verify(db: Path) -> str:
    """``flagship verify`` on the trial's database, as an operator runs it; its output (exit 0)."""
    done = subprocess.run(flagship_command("verify", str(db)), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def log_actions(url: str, kind: str) -> list[tuple[int, str, str]]:
    """(seq, actor, hash) of every logged action of ``kind``."""
    with Store.open(url) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, actor, hash FROM trial_log WHERE kind = :kind ORDER BY seq"),
                            {"kind": kind}).all()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
