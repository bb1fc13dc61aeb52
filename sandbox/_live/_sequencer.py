"""The sequencer: the single writer that orders, applies and acknowledges every action of a live trial.

:class:`Engine` owns a :class:`~flagship.sandbox.Host` built from the scenario exactly as the
sandbox builds it, on a clock: ``sim_now = (wall_now - trial epoch) x time factor`` (the
epoch is stored with the trial, so a restart keeps the mapping). One asyncio task is the
only code that touches mechanism state. HTTP handlers hand it actions through the gateway
and await the outcome; the task drains its queue in batches (under steady traffic a batch waits
until its first action is ``commit_delay`` old, so one commit serves more actions: see
:mod:`~flagship.sandbox._live._batching`) and, for each batch, synchronously:

1. runs the environment to ``sim_now`` (deadlines fire, simulated participants act);
2. applies the batch's actions at that time, in arrival order;
3. has :class:`~flagship.sandbox._live._durability.DurableLog` write every new entry of the
   host's log (clients' and simulated participants' actions with their outcomes,
   idempotency records, hash chain, and now and then a signed checkpoint) in ONE
   database transaction;
4. hands the committed batch to the read view (:mod:`~flagship.sandbox._live._read_view`,
   which replays it when next read), then resolves the handlers' futures: acknowledged means
   committed, and an acknowledged action is visible to its client's next read.

Readers never touch the writer's host: it holds the batch between apply and commit (however
long a stalled commit takes), the read view only ever holds committed state, so a GET
never waits on the writer. If the commit fails, every action of the batch is answered 503
and the writer's host is rebuilt from the durable history
(:mod:`~flagship.sandbox._live._recovery`), so its state equals the log again (the read view
never saw the batch); the next batch first checks the database's head, in case the failed
commit had in fact landed.

Lifecycle: ``Engine(...)`` -> :meth:`Engine.recover` (or :meth:`Engine.start` recovers) ->
:meth:`Engine.start` (writer task, measure refresher, frozen heap) -> :meth:`Engine.submit`
per action -> :meth:`Engine.stop` (queued actions finish, a last checkpoint is signed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flagship.mechanisms import (
    Action,
    ContractError,
    Mechanism,
    MechanismFailedError,
    Outcome,
    Problem,
    ShuttingDownError,
    StoreError,
    StoreUnavailableError,
    TrialEndedError,
    UnknownNameError,
)
from flagship.sandbox._cohorts import Cohorts
from flagship.sandbox._gc import FrozenHeap
from flagship.sandbox._host import Host
from flagship.sandbox._live._batching import STOP, Batcher
from flagship.sandbox._live._cohort_metrics import LiveRollout
from flagship.sandbox._live._durability import DurableLog
from flagship.sandbox._live._engine_api import CommitFollower, EngineOptions
from flagship.sandbox._live._guardrails import Guardrail, Guardrails
from flagship.sandbox._live._history import History
from flagship.sandbox._live._read_view import ReadView, replayed_view
from flagship.sandbox._live._recovery import Recovered, rebuild_host, recover_trial
from flagship.sandbox._live._trial_side import TrialSide
from flagship.sandbox._live._witness import Witness
from flagship.sandbox._measure_worker import ArmMeasures, MeasureWorker, measure_arms, refresh_measures
from flagship.sandbox._replay import Commit, Recorded, advance
from flagship.sandbox._scenario import ResolvedScenario
from flagship.sandbox._trial_control import OPERATOR, origin_of
from flagship.telemetry._prometheus import LiveMetrics
from flagship.telemetry._trial_log import CheckpointKey, LogEntry, Trial, TrialLog

__all__ = ["Engine", "EngineOptions"]

_log = logging.getLogger("flagship.live")


@dataclass(slots=True)
class _Pending:
    """A client's action waiting for the writer, with the idempotency key it is stored under."""

    mechanism: str
    kind: str
    payload: Mapping[str, Any]
    actor: str
    key: str | None
    base_key: str | None
    index: int
    request_hash: str | None
    future: asyncio.Future[Outcome]
    enqueued: float


class Engine(TrialSide):
    """The single writer of one trial: owns the host, the queue, the durable log and the key index."""

    def __init__(self, resolved: ResolvedScenario, trial: Trial, log: TrialLog, key: CheckpointKey, *,
                 options: EngineOptions | None = None, metrics: LiveMetrics | None = None,
                 shadow: ResolvedScenario | None = None, clock: Callable[[], float] = time.time,
                 witness: Witness | None = None) -> None:
        super().__init__(resolved, trial, log, key, options=options, metrics=metrics, shadow=shadow,
                         clock=clock)
        self.host: Host | None = None
        """The writer's host: ahead of the log while a batch commits (readers use :attr:`view`)."""
        self.view: ReadView | None = None
        """The committed state every reader answers from (see :mod:`._read_view`)."""
        self.drained = 0
        """Queued actions the last stop let finish before it signed the final checkpoint."""
        self.witness = witness
        self.durable = DurableLog(trial, log, key, self.options, self.metrics, clock,
                                  witness.record if witness is not None else None)
        self._history = History()
        self._stale = False  # memory holds a failed batch; the log must be read to rebuild it
        self.followers: list[CommitFollower] = []
        self._queue: asyncio.Queue[Any] | None = None
        self._batcher = Batcher(max_batch=self.options.max_batch, tick=self.options.tick_seconds,
                                commit_delay=self.options.commit_delay)
        self._task: asyncio.Task[None] | None = None
        self._measures_task: asyncio.Task[None] | None = None
        self._ended = False
        self._heap = FrozenHeap(self.options.freeze_seconds)
        self.guardrails: Guardrails | None = None
        self.rollout: LiveRollout | None = None
        self._closed = False
        self._diverged: ContractError | None = None
        self.metrics.time_factor.set(trial.time_factor)
        self.metrics.bind(sim_time=self.sim_time, log_entries=lambda: float(self.durable.size),
                          queue_depth=lambda: float(self._queue.qsize() if self._queue else 0),
                          ready=lambda: 1.0 if self.ready else 0.0)

    # -- what the rest of the server reads ------------------------------------------------

    @property
    def ready(self) -> bool:
        """Taking actions: recovered, running, no commit stalled, not backing off after a failed one."""
        durable = self.durable
        return self.status == "ready" and not durable.resync and not durable.stalled and \
            durable.backoff_wait() <= 0

    @property
    def size(self) -> int:
        """Entries in the durable log."""
        return self.durable.size

    @property
    def head_hash(self) -> str:
        """Hash of the last durable entry (the genesis hash for an empty log)."""
        return self.durable.head

    @property
    def state_hash(self) -> str:
        """SHA-256 of every mechanism's snapshot in the committed state (the read view's).

        It equals the state after the last commit unless a timer (a deadline, a sunset) has
        changed a mechanism since. Computed on read and kept until the view moves (a snapshot
        costs O(state), so commits carry it only with a checkpoint).
        """
        return "" if self.view is None else self.view.state_hash

    def _clock_host(self) -> Host | None:
        return self.host  # the writer's: it may be ahead of the committed view, never behind it

    def _durable_head(self) -> tuple[int, str, bool]:
        durable = self.durable
        return durable.size, durable.head, durable.resync

    async def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The server's metrics in the format ``accept`` asks for, and its content type."""
        return self.metrics.render(accept)

    def mechanism(self, name: str) -> Mechanism[Any]:
        """The committed state of mechanism ``name``, from the read view (fetch it per request:
        a reload of the log replaces it)."""
        if self.view is None:
            raise UnknownNameError([Problem("mechanism", f"no mechanism {name!r} in this trial")])
        return self.view.mechanism(name)

    # -- recovery ------------------------------------------------------------------------------

    def recover(self) -> None:
        """Verify the trial's chain and rebuild every mechanism by replaying its log."""
        self._install(*self._recovered())

    def _recovered(self) -> tuple[Recovered, ReadView | None, float]:
        """The trial replayed from its verified log: the writer's host and, replayed again, the view.

        Touches nothing the loop reads (it runs in a thread when a landed commit is reloaded).
        """
        started = time.perf_counter()
        witnessed = self.witness.heads(self.trial.id) if self.witness is not None else ()
        recovered = recover_trial(self.resolved, self.trial, self.log, self._heap, witnessed=witnessed,
                                  idempotency_window=self.options.idempotency_window)
        view = replayed_view(self.resolved, self.trial, recovered.history, recovered.state_sha256) \
            if self.options.read_view else None
        return recovered, view, started

    def _install(self, recovered: Recovered, view: ReadView | None, started: float) -> None:
        """Swap in a recovered trial, all at once (on the loop, between two awaits, once serving)."""
        host = recovered.host
        self.host, self.view = host, view
        if view is not None:
            view.on_diverged = self._view_diverged
        self.metrics.declare_measures((m.area.value, m.unit) for declared in host.declared_measures().values()
                                      for m in declared)
        self._history = History(recovered.history, window=self.options.history_window, log=self.log,
                                trial_id=self.trial.id)
        self._stale = False
        self.durable.reset(recovered.size, recovered.head, recovered.last_checkpoint)
        self._index = recovered.index
        self._ended = float(host.env.now) >= self.duration
        self.recovered_entries = recovered.size
        self.recovered_state_hash = recovered.state_sha256
        self.metrics.recovery_duration.set(time.perf_counter() - started)
        for follower in self.followers:
            follower.reloaded()

    def _view_diverged(self, error: ContractError) -> None:
        """The read view's replay of a commit diverged (reads raise it): the writer stops at its next step."""
        self._diverged = error

    def _unlogged(self, mechanism: str, outcome: Outcome) -> None:
        """Count a rejection its mechanism keeps out of the log (see Mechanism.logs_rejection)."""
        self.metrics.unlogged_rejections.labels(mechanism, str(outcome.reason)).inc()

    def _rebuild(self, extra: Commit | None = None) -> Host:
        """A fresh host replayed from the in-memory durable history (plus ``extra``)."""
        started = time.perf_counter()
        self._heap.thaw()  # the host replaced here is frozen: let the collector reclaim it
        host = self.host = rebuild_host(self.resolved, self.trial, self._history.commits(extra))
        self.metrics.recovery_duration.set(time.perf_counter() - started)
        return host

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover if needed, then start the writer task (and the measure refresher)."""
        if self.host is None:
            await asyncio.to_thread(self.recover)
        worker = None
        if self.options.measures_seconds > 0:
            worker = MeasureWorker(self.log.store.private_url,
                                   self.trial.id)
            await worker.start()
        self._queue = asyncio.Queue(maxsize=self.options.max_queue + 1)
        self.status = "ready"
        if self.options.freeze_seconds > 0:
            self._heap.freeze()
        self._task = asyncio.create_task(self._run(), name="flagship-engine")
        if worker is not None:
            self._measures_task = asyncio.create_task(
                refresh_measures(worker, self._arms(), self.trial.seed, lambda: self.durable.size,
                                 self.metrics, self.options.measures_seconds,
                                 on_measures=self._judge_guardrails if self.guardrails or self._staged()
                                 else None),
                name="flagship-measures")

    async def stop(self) -> None:
        """Finish queued actions, sign a last checkpoint, stop."""
        if self.status in ("stopping", "stopped", "new"):
            return
        failed = self.status == "failed"
        self.status = "stopping"
        if self._measures_task is not None:
            self._measures_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._measures_task
        if self._task is not None and self._queue is not None and not failed:
            self.drained = self._queue.qsize()  # queued actions that finish before the stop
            await self._queue.put(STOP)
            await self._task
        if not failed:
            await self._settle_for_final()
            self.durable.sign_final()
        self.durable.close()
        self._heap.thaw()
        self.status = "stopped"
        _log.info("trial %s stopped: %d log entries, %d queued actions drained, the last signed "
                  "checkpoint covers %d entries", self.trial.id, self.durable.size, self.drained,
                  self.durable.checkpointed,
                  extra={"event": "trial_stopped", "trial": self.trial.id, "entries": self.durable.size,
                         "drained": self.drained, "checkpointed": self.durable.checkpointed,
                         "after_failure": failed})

    async def _settle_for_final(self) -> None:
        """Before the last checkpoint: a failed commit's outcome, if no batch has checked it yet.

        A stop during the backoff after a failed commit would otherwise leave the log's tail
        unsigned (the final checkpoint is skipped while memory is unsure of the head), though
        the store is reachable and the tail may hold a landed commit. A commit still in flight
        (stalled) cannot be settled: its fate is unknown until it returns.
        """
        if not self.durable.resync or self.durable.stalled:
            return
        try:
            await self._resync()
        except StoreError as exc:
            _log.warning("trial %s: the log's head could not be checked before the final checkpoint: %s",
                         self.trial.id, exc)

    async def submit(self, mechanism: str, kind: str, payload: Mapping[str, Any], actor: str, *,
                     key: str | None = None, base_key: str | None = None, index: int = 0,
                     request_hash: str | None = None) -> Outcome:
        """Queue an action for the writer (:meth:`enqueue`); returns its outcome once committed."""
        return await self.enqueue(mechanism, kind, payload, actor, key=key, base_key=base_key, index=index,
                                  request_hash=request_hash)

    def enqueue(self, mechanism: str, kind: str, payload: Mapping[str, Any], actor: str, *,
                key: str | None = None, base_key: str | None = None, index: int = 0,
                request_hash: str | None = None) -> asyncio.Future[Outcome]:
        """Queue an action for the writer; the future of its outcome, set once committed.

        Raises :class:`StoreUnavailableError` (503) when it could not be committed
        (nothing happened), :class:`CommitOutcomeUnknownError` (503) when the answer to its
        commit was lost (a retry with the same key tells), :class:`TrialEndedError` past the
        scenario's duration,
        :class:`ShuttingDownError` while stopping.
        """
        if self.status != "ready" or self._queue is None:
            raise ShuttingDownError("the server is not taking actions (starting, stopping or failed)")
        if self._ended:
            raise TrialEndedError(f"the trial ended at sim time {self.duration}")
        wait = self.durable.backoff_wait()
        if wait > 0:
            raise StoreUnavailableError("the store was unavailable; retry shortly", retry_after=wait)
        if self.durable.stalled:
            raise StoreUnavailableError("a commit is stalled in the store; retry shortly",
                                        retry_after=self.durable.stall_after())
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        pending = _Pending(mechanism, kind, payload, actor, key, base_key, index, request_hash,
                           future, time.perf_counter())
        if self._queue.qsize() >= self.options.max_queue:
            raise StoreUnavailableError("the engine queue is full; retry shortly", retry_after=1.0)
        self._queue.put_nowait(pending)
        self._batcher.arrived(pending.enqueued)
        return future

    # -- the writer ---------------------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        if queue is None:  # pragma: no cover - start() sets it first
            return
        while True:
            batch, stop = await self._batcher.gather(queue)
            try:
                await self._step(batch)
            except Exception as exc:  # a bug (a mechanism's timer raised, a replay diverged): stop
                _log.exception("the engine stopped: %s", exc)
                self.status = "failed"
                error = ShuttingDownError(f"the engine stopped after an internal error: {exc}")
                self._fail(batch, error)
                while not queue.empty():
                    item = queue.get_nowait()
                    if isinstance(item, _Pending):
                        self._fail([item], error)
                return
            if stop:
                return
            self._heap.tick()
            await asyncio.sleep(0)  # let the handlers this commit answered respond before the next batch

    @staticmethod
    def _fail(items: Sequence[_Pending], error: BaseException) -> None:
        for item in items:
            if not item.future.done():
                item.future.set_exception(error)

    async def _step(self, batch: list[_Pending]) -> None:
        if self._diverged is not None:
            raise self._diverged
        started = time.perf_counter()
        live = [item for item in batch if not item.future.done()]  # a cancelled caller: skip
        for item in live:
            self.metrics.queue_wait.observe(started - item.enqueued)
        wait = self.durable.backoff_wait()
        if wait > 0:
            self._fail(live, StoreUnavailableError("the store is unavailable; retry shortly",
                                                   retry_after=wait))
            return
        if self.durable.stalled:  # one commit at a time: the next waits for the overrun one's fate
            self._fail(live, StoreUnavailableError("a commit is stalled in the store; retry shortly",
                                                   retry_after=self.durable.stall_after()))
            return
        if self.durable.resync:
            try:
                await self._resync()
            except StoreError as exc:
                await self._commit_failed(live, exc, rebuild=False)
                return
        await self._apply_and_commit(live, self.sim_time())

    async def _resync(self) -> None:
        """After a failed commit: read the log's head and, if memory is not what it holds, reload.

        Raises :class:`StoreError` if the store cannot be read (memory stays unsure)."""
        if self._stale or await self.durable.check_head():
            # The failed commit landed after all: reload the whole log, in a thread so the
            # loop goes on answering (from the read view as it was), then swap host, view,
            # head and key index at once, so a retry finds the landed outcome by its key.
            self._install(*await asyncio.to_thread(self._recovered))
        self.durable.resync = False

    async def _apply_and_commit(self, items: list[_Pending], target: float) -> None:
        host = self.host
        if host is None or host.log is None:  # pragma: no cover - recover() runs before start()
            raise ContractError("the engine has no host")
        log = host.log
        start = host.committed
        cpu = time.thread_time()  # the loop thread's CPU in this batch, less what others use in its await
        advance(host, target)
        now = float(host.env.now)
        ended = now >= self.duration
        results: list[tuple[_Pending, Outcome | BaseException]] = []
        ours: dict[int, _Pending] = {}
        remaining: list[_Pending] = []
        broken = False
        index = self._index
        batched: dict[tuple[str, int], Outcome] = {}  # keyed submits of this batch (a split server's
        for position, item in enumerate(items):        # workers may send one twice at once)
            if ended:
                results.append((item, TrialEndedError(f"the trial ended at sim time {self.duration}")))
                continue
            if item.base_key is not None:
                record = index.lookup(item.base_key, memory_only=True)
                if record is not None and item.index in record.outcomes:  # committed meanwhile
                    results.append((item, record.outcomes[item.index]))
                    continue
                earlier = batched.get((item.base_key, item.index))
                if earlier is not None:
                    results.append((item, earlier))
                    continue
            action = Action(now, item.actor, item.kind, item.payload)
            # Only clients' actions may stay unlogged: simulated participants act again in a replay.
            host.unlogged = self._unlogged
            try:
                outcome = host.submit(item.mechanism, action)
            except Exception as exc:  # a mechanism bug: this action fails, its partial effects go
                _log.exception("mechanism %s raised on %s", item.mechanism, item.kind)
                results.append((item, MechanismFailedError(
                    f"{item.mechanism} raised {type(exc).__name__} handling {item.kind!r}")))
                remaining = items[position + 1:]
                broken = True
                break
            finally:
                host.unlogged = None
            ours[id(action)] = item
            results.append((item, outcome))
            if item.base_key is not None:
                batched[(item.base_key, item.index)] = outcome
        durable = self.durable
        size = durable.size
        recorded = tuple(
            Recorded(size + offset, log.mechanisms[i], log.actions[i], log.outcomes[i],
                     id(log.actions[i]) in ours)
            for offset, i in enumerate(range(start, len(log))))
        if broken:
            # Replaying the history plus what applied cleanly drops the failed action's half-effects.
            host = self._rebuild(Commit(now, recorded, None))
        if recorded:
            # A snapshot costs O(state), so only commits that carry a checkpoint carry one:
            # recovery and replay check the state at each of them.
            due = durable.checkpoint_due(size + len(recorded))
            state_hash = host.state_sha256() if due else None
            entries = durable.entries(recorded, ours, now, state_hash)
            checkpoint = durable.checkpoint_for(entries) if due else None
            spent = time.thread_time() - cpu
            try:
                await durable.append(entries, checkpoint)
            except StoreError as exc:
                await self._commit_failed([item for item, _ in results] + remaining, exc, rebuild=True)
                return
            cpu = time.thread_time() - spent
            host.committed = len(host.log) if host.log is not None else 0  # (host may be rebuilt)
            durable.committed(entries, checkpoint)
            self._committed(recorded, entries, ours, now, state_hash)
        else:  # nothing logged: the timers that fired are no uncommitted state
            if self.view is not None:
                self.view.advance(now)
            for follower in self.followers:
                follower.advanced(now)
        for item, result in results:
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
                self.metrics.observe_ack(item.mechanism, time.perf_counter() - item.enqueued)
        closed = host.control.status == "closed"  # an operator closed it: a restart must not resume it
        if (ended and not self._ended) or (closed and not self._closed):
            self._ended = self._ended or ended
            self._closed = closed
            try:
                self.log.set_status(self.trial.id, "finished")
            except StoreError as exc:
                _log.warning("could not mark trial %s finished: %s", self.trial.id, exc)
        self.metrics.engine_cpu.labels("apply").inc(time.thread_time() - cpu)
        if remaining:
            await self._apply_and_commit(remaining, target)

    def _committed(self, recorded: tuple[Recorded, ...], entries: Sequence[LogEntry],
                   ours: Mapping[int, _Pending], now: float, state_hash: str | None) -> None:
        """What a durable batch changes in memory: history, read view, metrics, key index."""
        commit = Commit(now, recorded, state_hash)
        self._history.append(commit)
        if self.view is not None:
            self.view.follow(commit)
        index = self._index
        for rec, entry in zip(recorded, entries, strict=True):
            outcome = rec.outcome
            self.metrics.count_action(rec.mechanism, origin_of(rec.mechanism, rec.external), outcome.accepted,
                                      "" if outcome.reason is None else str(outcome.reason))
            item = ours.get(id(rec.action)) if rec.external else None
            if item is None or item.base_key is None or item.request_hash is None:
                continue
            index.remember(item.base_key, item.request_hash, item.index, outcome,
                           entry=(entry.seq, entry.hash))
        for follower in self.followers:
            follower.committed(entries)

    async def _commit_failed(self, items: Sequence[_Pending], exc: StoreError, *, rebuild: bool) -> None:
        error = self.durable.failed(exc)
        if rebuild:
            # The writer's host must equal the durable log again: a replay of the history, O(log),
            # in a thread so the loop goes on answering (503 while backing off; reads from the view).
            try:
                await asyncio.to_thread(self._rebuild)
            except StoreError:  # older commits are in the unreachable store: rebuild before the next batch
                self._stale = True
        self._fail(items, error)

    # -- measures and guardrails -------------------------------------------------------------

    def install_guardrails(self, guardrails: Sequence[Guardrail]) -> None:
        """Judge ``guardrails`` after every measure refresh; a crossing pauses the trial (before start)."""
        self.guardrails = Guardrails(guardrails, self.metrics, self._guardrail_pause, self._running)

    def _running(self) -> bool:
        return self.host is not None and self.host.control.status == "running"

    async def _guardrail_pause(self, actor: str, payload: dict[str, Any]) -> Outcome:
        cohorts = self._staged()  # while a treatment serves, a crossing rolls it back instead
        kind = "rollback" if cohorts is not None and cohorts.serving else "pause"
        return await self.submit(OPERATOR, kind, payload, actor)

    def _staged(self) -> Cohorts | None:
        return self.host.cohorts if self.host is not None else None

    async def _judge_guardrails(self, values: ArmMeasures, size: int) -> None:
        live = next((arm_values for arm, arm_values in values if arm == "live"), [])
        if self.guardrails is not None:
            await self.guardrails.judge(live, size)
        if self._staged() is not None:
            if self.rollout is None:
                rails = self.guardrails
                holding = rails.holding if rails is not None else lambda: True
                self.rollout = LiveRollout(self.metrics, self._staged, self._widen, holding, self._running)
            await self.rollout.after_refresh(live, size, self.sim_time())

    async def _widen(self, actor: str, payload: dict[str, Any]) -> Outcome:
        return await self.submit(OPERATOR, "widen", payload, actor)

    def _arms(self) -> list[tuple[str, ResolvedScenario]]:
        arms: list[tuple[str, ResolvedScenario]] = [("live", self.resolved)]
        if self.shadow is not None:
            arms.append(("shadow", self.shadow))
        return arms

    def measures_now(self) -> ArmMeasures:
        """Replay the durable history per arm, in this process, and return each arm's current measures."""
        return measure_arms(self._arms(), self.trial.seed, self._history.commits())
