"""The sequencer's side of a split server: its workers' link, the commit fan-out and the read barrier.

A split server (``flagship serve --workers N``) keeps today's single writer
(:class:`~._sequencer.Engine`) in the sequencer process and moves everything a request needs
besides ordering, applying and committing (HTTP parsing, signature checks, validation,
idempotency lookups, reads, receipts) to N worker processes, each with a replica of the committed
state (:mod:`._replica`). :class:`WorkerLink` is what the sequencer runs for them:

1. it listens on a Unix socket (:mod:`._link` frames) and, per worker, answers ``hello`` with the
   writer's state and from then on sends it every durable batch (``commit``, as the log holds
   it), every step that logged nothing (``advance``) and every reload (it follows the engine as a
   :class:`~._engine_api.CommitFollower`);
2. it hands each ``submit`` to the engine and answers with the outcome **after every serving
   worker has applied the commit** (the read barrier: an acknowledged action is visible to its
   client's next read, whichever worker that read reaches). The worker that asked is not waited
   for: its answer follows the commit frame on its link, so it applies the commit before it reads
   the answer; a one-worker server answers without a round trip. A batch's answers to one worker
   travel in one ``results`` frame, written with the batch's ``commit`` frame;
3. it answers a scrape with one exposition: the sequencer's metrics and every worker's HTTP
   metrics, each with a ``worker`` label (N values).

Lifecycle: ``WorkerLink(engine)`` -> :meth:`WorkerLink.serve` (after recovery, before the
workers start) -> workers connect, bootstrap from the store and report ``applied`` ->
:meth:`WorkerLink.close` (after the workers stopped, before the engine stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Metric

from flagship.mechanisms import ShuttingDownError
from flagship.sandbox._live._link import FrameProtocol, entries_data, error_data, frame, outcome_data
from flagship.sandbox._live._sequencer import Engine
from flagship.telemetry._prometheus import render
from flagship.telemetry._trial_log import LogEntry

__all__ = ["WORKER_FAMILIES", "WorkerLink", "worker_families"]

_log = logging.getLogger("flagship.live")

WORKER_FAMILIES = frozenset({"flagship_http_requests", "flagship_http_request_duration_seconds",
                             "flagship_http_request_size_bytes", "flagship_http_problems",
                             "flagship_idempotent_replays"})
"""The metric families a worker counts (the HTTP side); every other family is the sequencer's."""

COLLECT_TIMEOUT = 2.0
"""Seconds a scrape waits for the workers' samples; a worker that has not answered is left out."""


def worker_families(families: Iterable[Metric]) -> list[list[Any]]:
    """A worker's samples of :data:`WORKER_FAMILIES`, for the link."""
    return [[family.name, [[s.name, s.labels, s.value] for s in family.samples]]
            for family in families if family.name in WORKER_FAMILIES]


class _Worker(FrameProtocol):
    """One worker's link: how much of the log its replica holds (-1: not serving yet), and the
    answers to its submits that are due, sent together as one ``results`` frame."""

    def __init__(self, link: WorkerLink) -> None:
        super().__init__(self._first, lambda: link.left(self))
        self.link = link
        self.number = -1
        self.applied = -1
        self.collected: dict[int, asyncio.Future[list[Any]]] = {}
        self.asked = -1
        """The largest log size it was asked to report (``report``) for an answer that waits on it."""
        self._answers: list[list[Any]] = []

    def answer(self, row: list[Any]) -> None:
        """Send ``row`` (``[id, outcome]`` or ``[id, None, error]``) with the next write."""
        self._answers.append(row)
        self.schedule_flush()

    def _defer(self, flush: Callable[[], None]) -> None:
        # Two turns of the loop, not one: the engine queues a batch's commit frame and then
        # resolves the batch's futures, whose callbacks (the answers) run at the next turn; a
        # flush after them writes the commit and all its answers at once (one wakeup of the worker).
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_soon, flush)

    def _flush(self) -> None:
        if self._answers:  # after every frame queued before: the commits these answers follow
            self._out.append(frame({"op": "results", "answers": self._answers}))
            self._answers = []
        super()._flush()

    def _first(self, message: dict[str, Any]) -> None:
        if message.get("op") != "hello":
            self._abort(f"a worker's first frame is {message.get('op')!r}, not hello")
            return
        self.number = int(message["worker"])
        self.on_message = self.link.received_from(self)
        self.link.greeted(self)


class _Merged:
    """A collector over the sequencer's registry with the workers' samples added (a scrape's view)."""

    def __init__(self, engine: Engine, samples: Sequence[tuple[int, list[Any]]]) -> None:
        self.engine = engine
        self.samples = samples

    def collect(self) -> Iterable[Metric]:
        extra: dict[str, list[tuple[str, dict[str, str], float]]] = {}
        for number, families in self.samples:
            for name, rows in families:
                extra.setdefault(name, []).extend(
                    (sample, {**labels, "worker": str(number)}, value) for sample, labels, value in rows)
        for family in self.engine.metrics.registry.collect():
            for sample, labels, value in extra.get(family.name, ()):
                family.add_sample(sample, labels, value)
            yield family


_Answer = Callable[[], None]
_REPORT = frame({"op": "report"})


class WorkerLink:
    """The sequencer's end of every worker's link (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.workers: list[_Worker] = []
        self._server: asyncio.AbstractServer | None = None
        # answers held by the read barrier: the log size they need, and the worker not waited for
        self._waiting: list[tuple[int, _Worker | None, _Answer]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._state: dict[str, Any] = {}
        self._scrapes = 0
        engine.followers.append(self)

    async def serve(self, path: str) -> None:
        """Listen for workers on the Unix socket ``path``."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _Worker(self), path)

    async def close(self) -> None:
        """Stop listening, close every worker's link, send every answer the barrier held."""
        if self._server is not None:
            self._server.close()
        for worker in list(self.workers):
            worker.close()
        self.workers.clear()
        self._settle()
        for task in list(self._tasks):
            task.cancel()

    def greeted(self, worker: _Worker) -> None:
        """A worker said hello: it gets the writer's state, then every frame (not yet in the barrier)."""
        self.workers.append(worker)
        worker.send(self.state())

    def left(self, worker: _Worker) -> None:
        """``worker``'s link closed: it holds no answer back any more."""
        if worker in self.workers:
            self.workers.remove(worker)
            _log.info("worker %d left the link", worker.number)
        for waiting in worker.collected.values():
            waiting.cancel()
        self._settle()

    # -- the engine's side (CommitFollower) ------------------------------------------------

    def committed(self, entries: Sequence[LogEntry]) -> None:
        self._broadcast(frame({"op": "commit", "entries": entries_data(entries)}))
        self._publish_state()

    def advanced(self, clock: float) -> None:
        self._broadcast(frame({"op": "advance", "clock": clock}))
        self._publish_state()

    def reloaded(self) -> None:
        # a serving worker re-reads the log: answers wait until it reports the size it read
        for worker in self.workers:
            worker.applied = min(worker.applied, 0)
        self._broadcast(frame({"op": "reload"}))

    def state(self) -> dict[str, Any]:
        """What a worker mirrors of the writer (sent on hello and whenever it changes)."""
        engine, durable = self.engine, self.engine.durable
        # Not the log's size or head: a worker follows them from the commit frames, and with them
        # the state would change, and cross the link again, at every commit.
        return {"op": "state", "status": engine.status, "ready": engine.ready, "resync": durable.resync,
                "recovered_entries": engine.recovered_entries,
                "recovered_state_hash": engine.recovered_state_hash}

    def publish_state(self) -> None:
        """Send the writer's state if it changed (the server calls it on a short tick too: readiness
        also changes with time, when a back-off after a failed commit ends)."""
        self._publish_state()

    def _publish_state(self) -> None:
        state = self.state()
        if state != self._state:
            self._state = state
            self._broadcast(frame(state))

    def _broadcast(self, data: bytes) -> None:
        for worker in self.workers:
            worker.send_frame(data)

    # -- the read barrier -------------------------------------------------------------------

    def _floor(self, besides: _Worker | None = None) -> int | None:
        serving = [worker.applied for worker in self.workers if worker.applied >= 0 and worker is not besides]
        return min(serving) if serving else None

    def _settle(self) -> None:
        if not self._waiting:
            return
        floors: dict[_Worker | None, int | None] = {}
        due: list[_Answer] = []
        held: list[tuple[int, _Worker | None, _Answer]] = []
        for waiting in self._waiting:
            size, besides, answer = waiting
            if besides not in floors:
                floors[besides] = self._floor(besides)
            floor = floors[besides]
            if floor is None or size <= floor:
                due.append(answer)
            else:
                held.append(waiting)
        if due:
            self._waiting = held
            for answer in due:
                answer()

    def when_settled(self, size: int, answer: _Answer, besides: _Worker | None = None) -> None:
        """Call ``answer`` once every serving worker's replica holds the log's first ``size`` entries.

        ``besides``: a worker not waited for (the answer goes to it, after the commit frames).
        """
        floor = self._floor(besides)
        if floor is None or size <= floor:
            answer()
            return
        self._waiting.append((size, besides, answer))
        # Workers report what they applied only when asked: a one-worker server's sequencer is
        # then never woken by a report. The request follows the commits on the link, so the
        # size reported covers them.
        for worker in self.workers:
            if worker is not besides and 0 <= worker.applied < size and worker.asked < size:
                worker.asked = size
                worker.send_frame(_REPORT)

    # -- what a worker sends ----------------------------------------------------------------

    def received_from(self, worker: _Worker) -> Callable[[dict[str, Any]], None]:
        def receive(message: dict[str, Any]) -> None:
            op = message["op"]
            if op == "submit":
                self._submit(worker, message)
            elif op == "applied":
                joining = worker.applied < 0
                worker.applied = int(message["size"])
                if joining:  # from here on its answers wait for it; the ones before did not
                    worker.send({"op": "joined"})
                self._settle()
            elif op == "collected":
                waiting = worker.collected.pop(int(message["id"]), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(message["families"])
            elif op == "metrics":
                task = asyncio.create_task(self._scrape(worker, message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        return receive

    def _submit(self, worker: _Worker, message: dict[str, Any]) -> None:
        number = message["id"]
        try:
            future = self.engine.enqueue(
                message["mechanism"], message["kind"], message["payload"], message["actor"],
                key=message["key"], base_key=message["base_key"], index=int(message["index"]),
                request_hash=message["request_hash"])
        except Exception as exc:  # refused before queueing (stopping, ended, backing off)
            worker.answer([number, None, error_data(exc)])
            return

        def done(future: asyncio.Future[Any]) -> None:
            error = ShuttingDownError("the writer stopped") if future.cancelled() else future.exception()
            if error is not None:
                worker.answer([number, None, error_data(error)])
                return
            row = [number, outcome_data(future.result())]
            self.when_settled(self.engine.durable.size, lambda: worker.answer(row), worker)

        future.add_done_callback(done)

    async def _scrape(self, worker: _Worker, message: dict[str, Any]) -> None:
        self._scrapes += 1
        number = self._scrapes
        asked: list[tuple[_Worker, asyncio.Future[list[Any]]]] = []
        for each in self.workers:
            future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            each.collected[number] = future
            each.send({"op": "collect", "id": number})
            asked.append((each, future))
        samples: list[tuple[int, list[Any]]] = []
        for each, future in asked:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                samples.append((each.number, await asyncio.wait_for(future, COLLECT_TIMEOUT)))
            each.collected.pop(number, None)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Merged(self.engine, sorted(samples, key=lambda pair: pair[0])))
        body, content_type = render(registry, message.get("accept"))
        worker.send({"op": "exposition", "id": message["id"], "body": body.decode("utf-8"),
                     "content_type": content_type})
