"""Durability of a live trial: the log's head, group commits, signed checkpoints, backoff after failures.

The single writer (:mod:`flagship.sandbox._live._sequencer`) applies a batch, then hands
its log records here. Lifecycle of one commit:

1. :meth:`DurableLog.entries` chains the batch's records onto the head (clients' actions
   carry their idempotency key, request hash and stored response; the last entry carries
   the clock, and the state hash when the commit carries a checkpoint);
2. :meth:`DurableLog.checkpoint_due` decides whether this commit signs a checkpoint
   (every ``checkpoint_every`` entries or ``checkpoint_seconds``, whichever comes first);
3. :meth:`DurableLog.append` writes entries and checkpoint in ONE transaction, on the writer's
   commit thread (:mod:`._commit_thread`: one thread for the log's life), so the event loop
   keeps reading requests (they form the next batch);
4. :meth:`DurableLog.committed` moves the head; or :meth:`DurableLog.failed` starts a
   backoff (every action of the batch is answered 503: ``STORE_UNAVAILABLE`` if it certainly
   did not commit, ``OUTCOME_UNKNOWN`` if the answer to COMMIT was lost) and marks the head for
   a :meth:`DurableLog.check_head` before the next batch, in case the commit landed after all.

A commit that overruns (a stalled disk, a connection that stops answering without closing:
the database's own timeouts never fire) is given up on after :meth:`DurableLog.stall_after`
seconds: :meth:`DurableLog.append` raises ``OUTCOME_UNKNOWN`` while the write goes on in its
thread. Until that thread returns, :attr:`DurableLog.stalled` holds: no other commit starts
(503 ``STORE_UNAVAILABLE``) and the server is not ready; then the head check tells whether
the overrun commit landed.

Before each commit the trial's lease (:mod:`flagship.sandbox._live._lease`) is confirmed: a
commit is written only under a lease held without a break since the log was last checked
(:meth:`DurableLog.check_head` confirms it, or takes it again, before it reads the head).

At shutdown :meth:`DurableLog.sign_final` signs a last checkpoint and :meth:`DurableLog.close`
lets the commit thread end. Each committed checkpoint
is also handed to the witness, if the server has one (:mod:`flagship.sandbox._live._witness`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from flagship.mechanisms import CommitOutcomeUnknownError, StoreError, StoreUnavailableError, canonical_json
from flagship.sandbox._live._commit_thread import CommitThread
from flagship.sandbox._live._idempotency import response_json
from flagship.sandbox._live._lease import TrialLease
from flagship.sandbox._replay import Recorded
from flagship.sandbox._trial_control import origin_of
from flagship.telemetry._prometheus import LiveMetrics
from flagship.telemetry._trial_log import (
    Checkpoint,
    CheckpointKey,
    LogEntry,
    Trial,
    TrialLog,
    make_entry,
    next_prev_hash,
)

__all__ = ["Answering", "DurabilityOptions", "DurableLog"]

_log = logging.getLogger("flagship.live")


class DurabilityOptions(Protocol):
    """The writer's tuning this module reads (see ``EngineOptions``)."""

    @property
    def checkpoint_every(self) -> int: ...
    @property
    def checkpoint_seconds(self) -> float: ...
    @property
    def db_timeout(self) -> float: ...
    @property
    def retry_backoff(self) -> float: ...
    @property
    def max_backoff(self) -> float: ...


class Answering(Protocol):
    """A client's action as the log records it: the key and request it answers (if keyed)."""

    key: str | None
    request_hash: str | None


class DurableLog:
    """The trial's durable log as the single writer sees it: head, commits, checkpoints, backoff."""

    def __init__(self, trial: Trial, log: TrialLog, key: CheckpointKey, options: DurabilityOptions,
                 metrics: LiveMetrics, clock: Callable[[], float],
                 witness: Callable[[str, Checkpoint], None] | None = None,
                 lease: TrialLease | None = None) -> None:
        self.trial = trial
        self.lease = lease
        """The trial's lease (:mod:`._lease`), confirmed before every commit; None: no other server
        can reach the store (in-memory SQLite, tests that build the engine in process)."""
        self.witness = witness
        """Called (off the event loop) with each checkpoint once it is committed."""
        self.log = log
        self.key = key
        self.options = options
        self.metrics = metrics
        self.clock = clock
        self.size = 0
        """Entries in the durable log."""
        self.head = trial.genesis_hash()
        """Hash of the last durable entry (the genesis hash for an empty log)."""
        self.resync = False
        """A commit failed: the database may hold more than memory; check before the next batch."""
        self.backoff_until = 0.0
        """``time.monotonic()`` before which no action is taken (after a failed commit)."""
        self._backoff = options.retry_backoff
        self._last_checkpoint_size = 0
        self._last_checkpoint_time = clock()
        self._last_checkpoint: Checkpoint | None = None
        self._overrun: asyncio.Future[None] | None = None
        self.thread = CommitThread()
        """Runs every :meth:`append`, one after the other (started by the first, ended by :meth:`close`)."""

    @property
    def stalled(self) -> bool:
        """A commit given up on (it overran :meth:`stall_after`) is still running in its thread."""
        return self._overrun is not None and not self._overrun.done()

    def stall_after(self) -> float:
        """Seconds a commit may take before it is answered ``OUTCOME_UNKNOWN``: the db timeout and
        half again, so the database's own lock timeout (a certain ``STORE_UNAVAILABLE``) fires first."""
        return self.options.db_timeout * 1.5

    def reset(self, size: int, head: str | None, last_checkpoint: Checkpoint | None) -> None:
        """Take the head of a log just verified and replayed (recovery)."""
        self.size = size
        self.head = head or self.trial.genesis_hash()
        self._last_checkpoint_size = last_checkpoint.size if last_checkpoint is not None else 0
        self._last_checkpoint = last_checkpoint
        if last_checkpoint is not None:
            self.metrics.checkpoint_time.set(last_checkpoint.time)

    def backoff_wait(self) -> float:
        """Seconds left of the backoff after a failed commit (<= 0: none)."""
        return self.backoff_until - time.monotonic()

    def checkpoint_due(self, size: int) -> bool:
        """Whether the commit that brings the log to ``size`` entries carries a checkpoint."""
        grown = size - self._last_checkpoint_size
        return grown > 0 and (grown >= self.options.checkpoint_every or
                              self.clock() - self._last_checkpoint_time >= self.options.checkpoint_seconds)

    def entries(self, recorded: Sequence[Recorded], ours: Mapping[int, Answering], now: float,
                state_hash: str | None) -> list[LogEntry]:
        """The batch's log entries, chained onto the head (``ours``: client actions by ``id(action)``)."""
        entries: list[LogEntry] = []
        trial_id = self.trial.id
        # Chain format 2: after a checkpoint, the next entry links over it, not just the head.
        prev = next_prev_hash(self.trial, self.size, self.head, self._last_checkpoint)
        last = len(recorded) - 1
        empty = "{}"
        for offset, rec in enumerate(recorded):
            item = ours.get(id(rec.action)) if rec.external else None
            action, outcome = rec.action, rec.outcome
            entry = make_entry(
                trial_id, prev, seq=rec.seq, time=action.time, mechanism=rec.mechanism,
                actor=action.actor, kind=action.kind,
                payload=canonical_json(action.payload) if action.payload else empty,
                accepted=outcome.accepted, reason=None if outcome.reason is None else str(outcome.reason),
                effects=canonical_json(outcome.effects) if outcome.effects else empty,
                origin=origin_of(rec.mechanism, rec.external),
                idempotency_key=item.key if item is not None else None,
                request_hash=item.request_hash if item is not None else None,
                response=response_json(outcome) if item is not None else None,
                clock=now if offset == last else None, state_hash=state_hash if offset == last else None,
                chain_format=self.trial.chain_format)
            entries.append(entry)
            prev = entry.hash
        return entries

    def checkpoint_for(self, entries: Sequence[LogEntry]) -> Checkpoint:
        """A signed checkpoint of the log once ``entries`` are appended."""
        return self.key.sign(self.trial.id, self.size + len(entries), entries[-1].hash, self.clock(),
                             chain_format=self.trial.chain_format)

    async def append(self, entries: Sequence[LogEntry], checkpoint: Checkpoint | None) -> None:
        """Write ``entries`` (and ``checkpoint``) in one transaction; StoreError if it failed.

        On the commit thread, so the loop goes on reading requests meanwhile: they form the
        next batch (group commit). Readers wait for the writer to settle, so they never see
        this batch before it is committed.
        """
        started = time.perf_counter()
        write = self.thread.run(self._append, entries, checkpoint)
        try:
            async with asyncio.timeout(self.stall_after()):
                await asyncio.shield(write)
        except TimeoutError:
            # A thread cannot be cancelled: leave the write running, remember it, answer now.
            self._overrun = write
            write.add_done_callback(self._overrun_ended)
            raise CommitOutcomeUnknownError(
                f"the commit overran the database timeout ({self.stall_after():g} s) and is still "
                "in flight") from None
        self.metrics.commit_duration.observe(time.perf_counter() - started)

    def _overrun_ended(self, write: asyncio.Future[None]) -> None:
        """The overrun commit returned: the head check before the next batch tells if it landed."""
        error = None if write.cancelled() else write.exception()
        _log.warning("trial %s: the overrun commit returned%s", self.trial.id,
                     "" if error is None else f" with an error: {error}")
        self.resync = True

    def _append(self, entries: Sequence[LogEntry], checkpoint: Checkpoint | None) -> None:
        cpu = time.thread_time()  # this thread's CPU only: the loop's meanwhile is the HTTP side's
        try:
            if self.lease is not None and not self.lease.confirm():
                raise StoreUnavailableError("the trial's lease was lost with its connection and taken "
                                            "again: the log is checked before the next commit")
            self.log.append(self.trial.id, entries, checkpoint, timeout=self.options.db_timeout)
            if checkpoint is not None and self.witness is not None:
                self.witness(self.trial.id, checkpoint)  # committed first: a witnessed head is durable
        finally:
            self.metrics.engine_cpu.labels("commit").inc(time.thread_time() - cpu)

    def committed(self, entries: Sequence[LogEntry], checkpoint: Checkpoint | None) -> None:
        """Move the head past ``entries``, now durable."""
        self.size += len(entries)
        self.head = entries[-1].hash
        self._backoff = self.options.retry_backoff
        self.metrics.commit_entries.observe(len(entries))
        if checkpoint is not None:
            self._last_checkpoint = checkpoint
            self._last_checkpoint_size = checkpoint.size
            self._last_checkpoint_time = checkpoint.time
            self.metrics.checkpoint_time.set(checkpoint.time)

    def failed(self, exc: StoreError) -> StoreUnavailableError | CommitOutcomeUnknownError:
        """A commit failed: back off, check the head before the next batch; the error to answer.

        Either the batch certainly did not commit (503 ``STORE_UNAVAILABLE``: no effect), or
        the answer to its COMMIT was lost or is overdue (503 ``OUTCOME_UNKNOWN``): then only a retry with the
        same idempotency key, once the head check has reloaded the log, tells which.
        """
        # str(exc): a kept log record must not keep the failed batch's frame (and the old host) alive.
        _log.warning("trial %s: commit failed, answering 503: %s", self.trial.id, str(exc))
        self.metrics.commit_failures.inc()
        self.backoff_until = time.monotonic() + self._backoff
        error: StoreUnavailableError | CommitOutcomeUnknownError
        if isinstance(exc, CommitOutcomeUnknownError):
            error = CommitOutcomeUnknownError(
                f"the outcome is unknown (the commit may have landed: {exc}); "
                "retry with the same Idempotency-Key to learn it", retry_after=self._backoff)
        else:
            error = StoreUnavailableError(f"the action was not committed: {exc}", retry_after=self._backoff)
        self._backoff = min(self.options.max_backoff, self._backoff * 2)
        self.resync = True
        return error

    async def check_head(self) -> bool:
        """After a failed commit: whether the database moved (the commit landed after all, or another
        server wrote while the lease was lost). The lease is confirmed (or taken again) first, so the
        head read is the one the next commit builds on."""
        if self.lease is not None:
            await asyncio.to_thread(self.lease.confirm)
        size, head = await asyncio.to_thread(self.log.head, self.trial.id)
        moved = size != self.size or (head or self.trial.genesis_hash()) != self.head
        if moved:
            _log.warning("trial %s: the database holds %d entries, memory %d; reloading from the log",
                         self.trial.id, size, self.size)
        return moved

    @property
    def checkpointed(self) -> int:
        """Log entries covered by the newest signed checkpoint."""
        return self._last_checkpoint_size

    def close(self) -> None:
        """No more commits (the engine stopped): the commit thread ends once it is idle."""
        self.thread.close()

    def sign_final(self) -> None:
        """At shutdown: a last checkpoint, if entries were committed since the previous one."""
        if self.resync or self.size <= self._last_checkpoint_size:
            return
        try:
            checkpoint = self.key.sign(self.trial.id, self.size, self.head, self.clock(),
                                       chain_format=self.trial.chain_format)
            self.log.write_checkpoint(self.trial.id, checkpoint, timeout=self.options.db_timeout)
            self._last_checkpoint = checkpoint
            self._last_checkpoint_size = self.size
            if self.witness is not None:
                self.witness(self.trial.id, checkpoint)
        except StoreError as exc:
            _log.warning("no final checkpoint for trial %s: %s", self.trial.id, exc)
