"""What both sides of a served trial share: its settings, its simulated clock, its signed receipts.

:class:`TrialSide` is the common base of :class:`~._sequencer.Engine` (the single writer of a
one-process server or of a split server's sequencer) and :class:`~._replica.Replica` (a split
server's worker). Both answer the same routes (:class:`~._served.ServedTrial`); they differ only
in where the committed log's head comes from (the writer's durable log, or the sequencer's
frames) and which host's clock the trial has reached, which each supplies through
:meth:`TrialSide._durable_head` and :meth:`TrialSide._clock_host`.

Lifecycle: constructed with the trial's settings (status ``"new"``, an empty key index); the
subclass recovers, serves, stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flagship.sandbox._host import Host
from flagship.sandbox._live._engine_api import EngineOptions
from flagship.sandbox._live._idempotency import IdempotencyIndex, IdempotencyRecord
from flagship.sandbox._scenario import ResolvedScenario
from flagship.telemetry._prometheus import LiveMetrics
from flagship.telemetry._receipts import sign_receipt
from flagship.telemetry._trial_log import CheckpointKey, Trial, TrialLog

__all__ = ["TrialSide"]


class TrialSide:
    """The trial's settings, clock, key index and receipts (see the module docstring)."""

    def __init__(self, resolved: ResolvedScenario, trial: Trial, log: TrialLog, key: CheckpointKey, *,
                 options: EngineOptions | None = None, metrics: LiveMetrics | None = None,
                 shadow: ResolvedScenario | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.resolved = resolved
        self.trial = trial
        self.log = log
        self.key = key
        self.options = options or EngineOptions()
        self.metrics = metrics or LiveMetrics()
        self.shadow = shadow
        self.clock = clock
        self.duration = float(resolved.scenario.duration)
        self.status = "new"
        self.recovered_entries = 0
        self.recovered_state_hash = ""
        self._index = IdempotencyIndex()

    def _clock_host(self) -> Host | None:
        """The host whose simulated time the trial has reached (None before recovery)."""
        raise NotImplementedError

    def _durable_head(self) -> tuple[int, str, bool]:
        """The durable log's size and head hash as this side knows them, and whether a failed
        commit's fate is still unknown (resync)."""
        raise NotImplementedError

    def sim_time(self) -> float:
        """The trial's simulated time now: the wall clock mapped, never behind the host, capped."""
        mapped = (self.clock() - self.trial.epoch) * self.trial.time_factor
        host = self._clock_host()
        now = float(host.env.now) if host is not None else 0.0
        return min(self.duration, max(now, mapped))

    def lookup(self, base_key: str) -> IdempotencyRecord | None:
        """The committed record of an idempotency key (for the idempotency middleware)."""
        return self._index.lookup(base_key)

    async def find(self, base_key: str) -> IdempotencyRecord | None:
        """:meth:`lookup` for a request: a key older than the window is read from the log in a thread."""
        return await self._index.find(base_key)

    def receipt(self, base_key: str) -> str | None:
        """A signed receipt (header value) for the committed request under ``base_key``, if any.

        Signed now, with the trial's key, over the request's last committed entry and the durable
        head: only committed entries ever reach the index, so a receipt never vouches for more
        than the database holds.
        """
        record = self._index.lookup(base_key)
        last = None if record is None else record.last_entry
        if last is None:
            return None
        size, head, resync = self._durable_head()
        # While a failed commit's fate is unknown (resync), the database may hold more than the
        # durable head says: vouch for the entry itself then (a head that is certainly consistent).
        if resync:
            size, head = last[0] + 1, last[1]
        return sign_receipt(self.key, self.trial.id, last[0], last[1], size, head, self.clock()).header()
