"""The witness: every signed checkpoint of a trial, also kept where the trial's database cannot reach.

``flagship serve --witness PATH_OR_URL``: after each checkpoint is committed, the server
appends the signed head (trial, size, head hash, time, signature) to a file as one JSON
line (flushed and fsynced), or POSTs that line to an http(s) URL. A witness that cannot
be written is logged and the trial goes on: the witness is evidence, not a part of the
commit. On start, the heads of a witness *file* are checked against the log before the
server serves: a log shorter than a witnessed head (truncated) or with another hash at a
witnessed size (forked) stops the start. ``flagship verify --witness FILE`` does the same
check offline.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx
import orjson

from flagship.mechanisms import InputError, Problem
from flagship.telemetry._receipts import WitnessedHead, load_witness
from flagship.telemetry._trial_log import Checkpoint

__all__ = ["Witness"]

_log = logging.getLogger("flagship.live")


class Witness:
    """Where a trial's signed heads are witnessed: a JSON-lines file, or an http(s) URL."""

    def __init__(self, target: str | Path, *, timeout: float = 5.0) -> None:
        text = str(target)
        if not text:
            raise InputError([Problem("--witness", "expected a file path or an http(s) URL")])
        self.url = text if text.startswith(("http://", "https://")) else None
        self.path = None if self.url is not None else Path(text).expanduser()
        self.timeout = timeout
        if self.path is not None and self.path.exists() and not self.path.is_file():
            raise InputError([Problem("--witness", f"{self.path} is not a file")])

    def __str__(self) -> str:
        return self.url or str(self.path)

    def heads(self, trial_id: str) -> list[WitnessedHead]:
        """The heads of ``trial_id`` the witness file holds (none for a URL, or a new file)."""
        if self.path is None or not self.path.exists():
            return []
        return [head for head in load_witness(self.path) if head.trial == trial_id]

    def record(self, trial_id: str, checkpoint: Checkpoint) -> None:
        """Append the signed head (blocking: call it off the event loop); failures are logged."""
        line = orjson.dumps(WitnessedHead.of(trial_id, checkpoint).to_json()) + b"\n"
        try:
            if self.url is not None:
                httpx.post(self.url, content=line, headers={"Content-Type": "application/json"},
                           timeout=self.timeout).raise_for_status()
            elif self.path is not None:
                with self.path.open("ab") as handle:
                    handle.write(line)
                    handle.flush()
                    os.fsync(handle.fileno())
        except (OSError, httpx.HTTPError) as exc:
            _log.warning("trial %s: the witness %s did not take the head at size %d: %s",
                         trial_id, self, checkpoint.size, exc)
