"""A split server's worker-side trial: a replica of the committed state, and the link to the writer.

:class:`Replica` is what a worker's app serves (:class:`~._served.ServedTrial`): reads come from
its own :class:`~._read_view.ReadView`, moved only by the sequencer's frames (:mod:`._link`),
exactly as the one-process server's read view is moved by its own writer; actions go over the
link to the sequencer's single writer, and their outcomes come back once committed and applied
by every serving worker (:mod:`._split`'s read barrier).

Lifecycle: ``Replica(...)`` -> :meth:`Replica.start` (the app's lifespan: connect, say hello;
recover the trial from the store in a thread, read-only and verified, while the sequencer's
frames queue; apply the frames past what the store held, and read the log again if one starts
past it: a commit can land after the store read yet be sent before the sequencer handled the
hello; report ``applied``; only then does uvicorn accept requests) -> :meth:`Replica.submit`
per action -> :meth:`Replica.stop`. When the link breaks (the sequencer stopped or died) the
replica fails: health checks answer 503 and the worker stops itself, since it can no longer take
actions.

Like the sequencer, a worker keeps a growing state (its replica and key index): it collects and
freezes its heap every ``freeze_seconds`` (:class:`~flagship.sandbox._gc.FrozenHeap`), after a
batch's answers, so no full collection rescans the trial while requests wait (a pause that grows
with the trial: see :mod:`flagship.sandbox._gc`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flagship.mechanisms import (
    CommitOutcomeUnknownError,
    ContractError,
    Mechanism,
    Outcome,
    Problem,
    ShuttingDownError,
    UnknownNameError,
)
from flagship.sandbox._gc import FrozenHeap
from flagship.sandbox._host import Host
from flagship.sandbox._live._engine_api import EngineOptions
from flagship.sandbox._live._guardrails import Guardrail
from flagship.sandbox._live._link import FrameProtocol, decode_error, entries_from, outcome_from
from flagship.sandbox._live._read_view import ReadView
from flagship.sandbox._live._recovery import recover_trial
from flagship.sandbox._live._split import worker_families
from flagship.sandbox._live._trial_side import TrialSide
from flagship.sandbox._replay import commits_from_entries
from flagship.sandbox._scenario import ResolvedScenario
from flagship.telemetry._prometheus import LiveMetrics
from flagship.telemetry._trial_log import CheckpointKey, LogEntry, Trial, TrialLog

__all__ = ["Replica"]

_log = logging.getLogger("flagship.live")


class Replica(TrialSide):
    """One worker's view of the trial (see the module docstring)."""

    def __init__(self, resolved: ResolvedScenario, trial: Trial, log: TrialLog, key: CheckpointKey, *,
                 link: str, number: int, options: EngineOptions | None = None,
                 metrics: LiveMetrics | None = None, shadow: ResolvedScenario | None = None,
                 clock: Callable[[], float] = time.time,
                 on_lost: Callable[[], None] | None = None) -> None:
        super().__init__(resolved, trial, log, key, options=options, metrics=metrics, shadow=shadow,
                         clock=clock)
        self.number = number
        self._path = link
        self._on_lost = on_lost if on_lost is not None else _stop_this_process
        self._view: ReadView | None = None
        self._size = 0
        self._head = ""
        self._state: dict[str, Any] = {}
        self._link: FrameProtocol | None = None
        self._queued: list[dict[str, Any]] | None = []  # frames that arrive while bootstrapping
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._joined: asyncio.Future[None] | None = None
        self._heap = FrozenHeap(self.options.freeze_seconds)

    # -- what the app reads (ServedTrial) ---------------------------------------------------

    @property
    def host(self) -> Host | None:
        return None if self._view is None else self._view.host

    @property
    def view(self) -> ReadView | None:
        return self._view

    @property
    def ready(self) -> bool:
        """Bootstrapped, linked, and the writer takes actions."""
        return self.status == "ready" and bool(self._state.get("ready"))

    @property
    def size(self) -> int:
        return self._size

    @property
    def head_hash(self) -> str:
        return self._head

    @property
    def state_hash(self) -> str:
        return "" if self._view is None else self._view.state_hash

    def _clock_host(self) -> Host | None:
        return None if self._view is None else self._view.host

    def _durable_head(self) -> tuple[int, str, bool]:
        return self._size, self._head, bool(self._state.get("resync"))

    def mechanism(self, name: str) -> Mechanism[Any]:
        if self._view is None:
            raise UnknownNameError([Problem("mechanism", f"no mechanism {name!r} in this trial")])
        return self._view.mechanism(name)

    def install_guardrails(self, guardrails: Sequence[Guardrail]) -> None:
        """Nothing here: the sequencer refreshes the measures and judges the guardrails."""

    async def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The whole server's metrics (the sequencer's and every worker's), asked of the sequencer."""
        data = await self._ask({"op": "metrics", "accept": accept})
        return str(data["body"]).encode("utf-8"), str(data["content_type"])

    # -- acting -----------------------------------------------------------------------------

    async def submit(self, mechanism: str, kind: str, payload: Mapping[str, Any], actor: str, *,
                     key: str | None = None, base_key: str | None = None, index: int = 0,
                     request_hash: str | None = None) -> Outcome:
        """The action goes to the sequencer's writer; its outcome once committed and applied here."""
        row = await self._ask({"op": "submit", "mechanism": mechanism, "kind": kind, "payload": payload,
                               "actor": actor, "key": key, "base_key": base_key, "index": index,
                               "request_hash": request_hash})
        if len(row) > 2:  # [id, None, error]
            raise decode_error(row[2])
        return outcome_from(row[1])

    async def _ask(self, message: dict[str, Any]) -> Any:
        link = self._link
        if self.status != "ready" or link is None:
            raise ShuttingDownError("this worker has no link to the sequencer (starting, stopping or failed)")
        number = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        link.send({**message, "id": number})
        try:
            answer = await future
        finally:
            self._pending.pop(number, None)
        return answer

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Link, bootstrap from the store, catch up with the frames that arrived meanwhile."""
        loop = asyncio.get_running_loop()
        _, link = await loop.create_unix_connection(lambda: FrameProtocol(self._receive, self._lost),
                                                    self._path)
        self._link = link
        link.send({"op": "hello", "worker": self.number})
        recovered = await asyncio.to_thread(
            recover_trial, self.resolved, self.trial, self.log, self._heap,
            idempotency_window=self.options.idempotency_window)
        self._view = ReadView(recovered.host, recovered.state_sha256, on_diverged=self._diverged)
        self._index = recovered.index
        self._size, self._head = recovered.size, recovered.head or ""
        queued, self._queued = self._queued or [], None
        for message in queued:
            self._apply(message)
        self._joined = loop.create_future()
        self._freeze()
        self.status = "ready"
        self._report()
        # Serve only once the sequencer counts this replica in its read barrier: every answer it
        # sent without waiting for it was for a commit whose frame precedes "joined" on this link.
        await self._joined

    async def stop(self) -> None:
        """Close the link (a submit still unanswered gets 503 OUTCOME_UNKNOWN: a retry tells)."""
        self.status = "stopped"
        if self._link is not None:
            self._link.close()
        self._fail_pending()
        self._heap.thaw()

    def _freeze(self) -> None:
        """Collect, then freeze what survives (the replica just loaded): the collector skips it."""
        if self.options.freeze_seconds > 0:
            self._heap.freeze()

    def _fail_pending(self) -> None:
        # Sent, unanswered: the writer may have committed them before the link closed.
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CommitOutcomeUnknownError(
                    "the sequencer went away before answering: the action may have been committed; "
                    "retry with the same Idempotency-Key to learn its outcome"))

    def _diverged(self, error: ContractError) -> None:
        """This replica's replay of a commit diverged from the log (a bug): it serves no more."""
        _log.error("worker %d: %s", self.number, error)
        if self._link is not None:
            self._link.close()  # the link's end stops the worker (see _lost)

    def _lost(self) -> None:
        """The link closed: the sequencer stopped or died, or a frame could not be followed (the
        loop logged why: a replay that diverged is a bug, and this replica is done)."""
        if self.status in ("ready", "new"):
            self.status = "failed"
            _log.error("worker %d lost its link to the sequencer; stopping", self.number)
            self._fail_pending()
            if self._joined is not None and not self._joined.done():
                self._joined.set_exception(ShuttingDownError("the link to the sequencer closed"))
            self._on_lost()

    def _receive(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "results":  # one frame per batch: [id, outcome] or [id, None, error] each
            pending = self._pending
            for row in message["answers"]:
                future = pending.get(row[0])
                if future is not None and not future.done():
                    future.set_result(row)
            # after the handlers these answers woke (queued before it): a freeze is off their path
            asyncio.get_running_loop().call_soon(self._heap.tick)
        elif op == "exposition":
            waiting = self._pending.get(int(message["id"]))
            if waiting is not None and not waiting.done():
                waiting.set_result(message)
        elif op == "report":  # an answer to another worker waits for this replica
            self._report()
        elif op == "joined":
            if self._joined is not None and not self._joined.done():
                self._joined.set_result(None)
        elif op == "collect":
            if self._link is not None:
                self._link.send({"op": "collected", "id": message["id"],
                                 "families": worker_families(self.metrics.registry.collect())})
        elif self._queued is not None:
            self._queued.append(message)
        else:
            self._apply(message)
            if op == "reload":
                self._report()
            if op in ("commit", "reload"):
                asyncio.get_running_loop().call_soon(self._heap.tick)  # (a worker nobody submits to)

    def _apply(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "state":
            self._state = message
            self.recovered_entries = int(message["recovered_entries"])
            self.recovered_state_hash = str(message["recovered_state_hash"])
        elif op == "commit":
            self._follow(entries_from(message["entries"]))
        elif op == "advance":
            if self._view is not None:
                self._view.advance(float(message["clock"]))
        elif op == "reload":
            self._reload()
        else:
            raise ContractError(f"unknown link frame {op!r}")

    def _follow(self, entries: list[LogEntry]) -> None:
        view = self._view
        if view is None or not entries or entries[-1].seq < self._size:
            return  # bootstrapping read this batch from the store already
        if entries[0].seq > self._size:
            # A hole: a commit landed after this worker's store read but was sent before the
            # sequencer handled its hello, so neither brought it. The frame's batch is durable:
            # read the log again, which holds the hole and this batch.
            _log.warning("worker %d: a commit frame starts at entry %d, the replica holds %d; "
                         "reading the log again", self.number, entries[0].seq, self._size)
            self._reload()
            return
        for commit in commits_from_entries(entries, trial_id=self.trial.id):
            view.follow(commit)
        self._index.extend(entries, trial_id=self.trial.id)
        self._size, self._head = entries[-1].seq + 1, entries[-1].hash

    def _reload(self) -> None:
        """The writer reloaded the log: so does this replica (on the loop: rare, and reads wait)."""
        recovered = recover_trial(self.resolved, self.trial, self.log, self._heap,  # (thaws it)
                                  idempotency_window=self.options.idempotency_window)
        self._view = ReadView(recovered.host, recovered.state_sha256, on_diverged=self._diverged)
        self._index = recovered.index
        self._size, self._head = recovered.size, recovered.head or ""
        self._freeze()

    def _report(self) -> None:
        if self._link is not None and self.status == "ready":
            self._link.send({"op": "applied", "size": self._size})


def _stop_this_process() -> None:
    """A worker whose sequencer is gone stops (uvicorn shuts down gracefully on SIGTERM)."""
    os.kill(os.getpid(), signal.SIGTERM)
