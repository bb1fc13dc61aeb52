"""The single writer's seams: its tuning (:class:`EngineOptions`) and what follows its commits
(:class:`CommitFollower`: a split server's link to its workers, :mod:`._split`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flagship.sandbox._live._history import DEFAULT_HISTORY_WINDOW
from flagship.sandbox._live._idempotency import DEFAULT_WINDOW

if TYPE_CHECKING:
    from flagship.telemetry._trial_log import LogEntry

__all__ = ["CommitFollower", "EngineOptions"]


@dataclass(frozen=True)
class EngineOptions:
    """Tuning of the single writer (defaults suit a pilot; tests shorten them)."""

    tick_seconds: float = 0.05
    """Wall seconds between clock advances when no action arrives (simulated participants act)."""
    max_batch: int = 256
    """Most client actions applied and committed in one transaction."""
    commit_delay: float = 0.004
    """While actions arrive closer together than this, a batch waits until its first action is
    this many wall seconds old, so one commit (and fsync) serves more of them (see :mod:`._batching`)."""
    max_queue: int = 10_000
    """Actions waiting beyond this are refused with 503."""
    checkpoint_every: int = 10_000
    """Sign a checkpoint after this many new entries (a checkpoint commit hashes the whole state,
    O(state) on the writer: 70 ms with 28,000 resting orders, so not every 1,000)..."""
    checkpoint_seconds: float = 10.0
    """...or this many wall seconds, whichever comes first (and at shutdown)."""
    db_timeout: float = 5.0
    """Longest wait for database locks in a commit before it fails (503)."""
    retry_backoff: float = 0.25
    """First pause after a failed commit; doubles per failure up to ``max_backoff``."""
    max_backoff: float = 5.0
    measures_seconds: float = 10.0
    """Wall seconds between measure refreshes (a replay of the log per arm, in a worker
    process; a refresh that took longer than this delays the next by its own duration); 0 disables."""
    freeze_seconds: float = 1.0
    """Wall seconds between collect-and-freeze passes of the cyclic collector (see
    :mod:`flagship.sandbox._gc`); 0 leaves the collector alone."""
    idempotency_window: int = DEFAULT_WINDOW
    """Idempotency keys whose records stay in memory; older ones are read from the log."""
    history_window: int = DEFAULT_HISTORY_WINDOW
    """Commits of the history kept in memory for replays; older ones are read from the log."""
    read_view: bool = True
    """Keep a read view beside the writer's host. A split server (``flagship serve --workers``)
    turns it off: its workers' replicas answer every read, so the sequencer replays nothing twice."""


class CommitFollower(Protocol):
    """What follows the writer's durable state from outside it: a split server's workers
    (:mod:`._split`). Called on the writer's loop, after the commit and before its callers
    are answered; must not block."""

    def committed(self, entries: Sequence[LogEntry]) -> None:
        """A batch is durable: ``entries``, exactly as the log holds them (the last carries its clock)."""

    def advanced(self, clock: float) -> None:
        """A writer step logged nothing; the committed state's clock is now ``clock``."""

    def reloaded(self) -> None:
        """The writer reloaded the whole log (a failed commit had landed): read it again."""
