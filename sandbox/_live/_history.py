"""The live writer's durable history: the newest commits in memory, the older ones in the log.

The writer replays its history to rebuild the trial's state (after a mechanism raised, or
a commit failed) and to take measures in-process. Kept whole in memory it grows for the
whole trial, so :class:`History` holds the ``window`` newest commits
(``flagship serve --history-window``) and reads the older ones back from the durable log
when a replay needs them: every commit it drops is already committed, so the log holds it.

Lifecycle: recovery builds one from the commits it replayed (dropping the oldest beyond the
window at once); each durable batch is :meth:`History.append`-ed;
:meth:`History.commits` gives the whole history, in order, for a replay. That read needs the
store when commits were dropped, so it may raise :class:`~flagship.mechanisms.StoreError`.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator

from flagship.mechanisms import ContractError
from flagship.sandbox._replay import Commit, commits_from_entries
from flagship.telemetry._trial_log import LogEntry, TrialLog

__all__ = ["DEFAULT_HISTORY_WINDOW", "History"]

DEFAULT_HISTORY_WINDOW = 100_000
"""Commits kept in memory unless told otherwise (a commit holds a batch of up to 256 actions)."""


class History:
    """The trial's durable commits, the newest ``window`` of them in memory (None: all)."""

    __slots__ = ("_dropped", "_log", "_memory", "_trial_id", "_window")

    def __init__(self, commits: Iterable[Commit] = (), *, window: int | None = None,
                 log: TrialLog | None = None, trial_id: str = "") -> None:
        if window is not None and (window < 1 or log is None):
            raise ContractError("a windowed history holds at least one commit and needs the log "
                                "that holds its older ones")
        self._memory: collections.deque[Commit] = collections.deque()
        self._window = window
        self._log = log
        self._trial_id = trial_id
        self._dropped = 0
        for commit in commits:
            self.append(commit)

    @property
    def dropped(self) -> int:
        """Commits no longer held in memory (the log holds them)."""
        return self._dropped

    def __len__(self) -> int:
        """Commits held in memory."""
        return len(self._memory)

    def __iter__(self) -> Iterator[Commit]:
        """The commits held in memory, oldest first (use :meth:`commits` for the whole history)."""
        return iter(self._memory)

    def append(self, commit: Commit) -> None:
        """Add a durable commit; the oldest held beyond the window is dropped (the log has it)."""
        self._memory.append(commit)
        if self._window is not None and len(self._memory) > self._window:
            self._memory.popleft()
            self._dropped += 1

    def commits(self, extra: Commit | None = None) -> list[Commit]:
        """The whole history, oldest first (plus ``extra``, a batch applied but not committed).

        The dropped commits are read from the log, up to the first entry held in memory:
        StoreError when the store cannot be read.
        """
        held = list(self._memory)
        if extra is not None:
            held.append(extra)
        if self._dropped == 0 or self._log is None:
            return held
        boundary = self._memory[0].entries[0].seq if self._memory else None
        older = commits_from_entries(self._older_entries(self._log, boundary), trial_id=self._trial_id)
        return [*older, *held]

    def _older_entries(self, log: TrialLog, boundary: int | None) -> Iterator[LogEntry]:
        for entry in log.entries(self._trial_id):
            if boundary is not None and entry.seq >= boundary:
                return
            yield entry
