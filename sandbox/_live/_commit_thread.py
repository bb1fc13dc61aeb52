"""The writer's commit thread: one long-lived thread that runs every durable write of a trial, in order.

Why not ``asyncio.to_thread`` per batch: each call copies the context, wraps a
``concurrent.futures`` future and chains it to an asyncio one (two locks, two callbacks) before
the worker thread is even woken; at a few hundred commits a second that bookkeeping was a
measurable part of the sequencer's CPU outside the writer. Here a job is one queue put, and its
answer one ``call_soon_threadsafe``. One thread also states what the design already assumes: the
single writer never has two commits in flight (an overrun one blocks the next, see
:attr:`~._durability.DurableLog.stalled`), so commits cannot overtake each other.

Lifecycle: ``CommitThread()`` (no thread yet) -> :meth:`CommitThread.run` per commit (the first
call starts the thread; it lives until :meth:`CommitThread.close`) -> :meth:`CommitThread.close`
(the engine's stop, after its last commit: the thread ends once its queue is empty; a write
still stuck in the database is not waited for, the thread is a daemon).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["CommitThread"]

_log = logging.getLogger("flagship.live")

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class CommitThread:
    """Runs blocking calls one at a time on a single thread of its own (see the module docstring)."""

    def __init__(self, name: str = "flagship-commit") -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # the running thread's own
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.started = 0
        """Threads started so far (one for the engine's life; a test reads it)."""

    @property
    def ident(self) -> int | None:
        """The running thread's identifier (None before the first job or after :meth:`close`)."""
        thread = self._thread
        return thread.ident if thread is not None and thread.is_alive() else None

    def run(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """``function(*args)`` on the thread, after every job queued before it; its result as a future.

        Cancelling the future does not stop the call (a thread cannot be interrupted): the result
        is then dropped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._thread is None:
                self._jobs = queue.SimpleQueue()  # a closing thread keeps its queue and its stop mark
                self._thread = threading.Thread(target=_work, args=(self._jobs,), name=self.name,
                                                daemon=True)
                self._thread.start()
                self.started += 1
            self._jobs.put((loop, future, function, args))
        return future

    def close(self) -> None:
        """Let the thread end after the jobs queued so far (a later :meth:`run` starts a new one)."""
        with self._lock:
            if self._thread is not None:
                self._jobs.put(None)
                self._thread = None


def _work(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while True:
        job = jobs.get()
        if job is None:
            return
        loop, future, function, args = job
        del job  # while it waits for the next job, the thread must not keep this batch alive
        result: Any = None
        error: BaseException | None = None
        try:
            result = function(*args)
        except BaseException as exc:  # handed to the awaiting coroutine, which decides
            error = exc
        _answer(loop, future, result, error)
        del future, function, args, result, error


def _answer(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
            error: BaseException | None) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, result, error)
    except RuntimeError:  # the loop closed meanwhile: nobody awaits the answer any more
        _log.debug("a commit returned after its event loop closed")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled: the caller stopped waiting
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
