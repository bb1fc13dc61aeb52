"""Where replications run: a local process pool, or Dask distributed.

The runner needs nothing but ``concurrent.futures.Executor``. :func:`open_executor`
hands out one for ``--executor local`` (the forkserver process pool of
:func:`flagship.sandbox._runner.default_executor`) or ``--executor dask``: a client of an
existing scheduler (``--scheduler tcp://host:8786``) or, without one, of a
``LocalCluster`` of ``--workers`` single-threaded worker processes on loopback.

Each replication is a pure function of (resolved scenario, seed), so Dask may
recompute one whose worker died; its result travels back to the driver, which is
the only writer of the store.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from flagship.mechanisms import FlagshipError, InputError, Problem
from flagship.sandbox._runner import default_executor

__all__ = [
    "DaskExecutor",
    "ExecutorKind",
    "InlineExecutor",
    "check_executor_options",
    "dask_executor",
    "open_executor",
    "window_for",
]

ExecutorKind = Literal["local", "dask"]
_T = TypeVar("_T")
_INSTALL_HINT = "Dask is not installed: pip install 'flagship-sandbox[distributed]'"


class InlineExecutor(Executor):
    """Runs each job in the calling thread when it is submitted (``--workers 1``)."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # handed over through the future, as a pool would (Ctrl-C is not)
            future.set_exception(exc)
        return future


def window_for(executor: Executor) -> int:
    """How many jobs to keep in flight: one when jobs run inline (so results stream), else 256."""
    return 1 if isinstance(executor, InlineExecutor) else 256


class DaskExecutor(Executor):
    """A ``concurrent.futures.Executor`` over a Dask ``Client`` (and the cluster it may own).

    ``client`` is exposed for tests and tools (e.g. to list worker processes).
    Shutting it down closes the client and, if this executor started it, the cluster.
    """

    def __init__(self, client: Any, cluster: Any = None) -> None:
        self.client = client
        self.cluster = cluster
        # pure=False: every job carries a fresh run id, so hashing its (large) data for a
        # content key would only cost time; Dask still recomputes lost tasks by key.
        self._inner: Executor = client.get_executor(pure=False)

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        return self._inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            self._inner.shutdown(wait=wait and not cancel_futures)
        finally:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def dask_executor(scheduler: str | None = None, workers: int | None = None, *,
                  timeout: float = 30.0) -> DaskExecutor:
    """Connect to ``scheduler``, or start a ``LocalCluster`` of ``workers`` processes on loopback."""
    try:
        # an optional dependency (the `distributed` extra): imported only when asked for
        import distributed  # noqa: PLC0415
    except ImportError:
        raise InputError([Problem("--executor", _INSTALL_HINT)]) from None
    client_class: Any = distributed.Client  # distributed has no type hints
    cluster_class: Any = distributed.LocalCluster
    if scheduler is not None:
        try:
            client = client_class(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise FlagshipError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from exc
        return DaskExecutor(client)
    cluster = cluster_class(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, host="127.0.0.1",
                           dashboard_address=None)  # no dashboard: nothing listens on a fixed port
    try:
        client = client_class(cluster)
    except BaseException:
        cluster.close()
        raise
    return DaskExecutor(client, cluster)


def check_executor_options(kind: str, *, workers: int | None = None,
                           scheduler: str | None = None) -> None:
    """Refuse inconsistent executor options (an :class:`InputError`, before anything runs)."""
    problems = []
    if kind not in ("local", "dask"):
        problems.append(Problem("--executor", f"expected local or dask, got {kind!r}"))
    if scheduler is not None and kind != "dask":
        problems.append(Problem("--scheduler", "only applies with --executor dask"))
    if scheduler is not None and workers is not None:
        problems.append(Problem("--workers", "does not apply with --scheduler (the cluster has its own "
                                             "workers)"))
    if kind == "dask" and importlib.util.find_spec("distributed") is None:
        problems.append(Problem("--executor", _INSTALL_HINT))
    if problems:
        raise InputError(problems)


@contextmanager
def open_executor(kind: str, *, workers: int | None = None, scheduler: str | None = None,
                  n_jobs: int = 1) -> Iterator[Executor]:
    """The executor for ``--executor KIND``, shut down on exit (pending jobs cancelled on error).

    ``local``: a process pool of ``workers`` processes (default: all cores, never more than
    ``n_jobs``); with one worker (or one job) jobs run in this process. ``dask``: see
    :func:`dask_executor`. ``--scheduler`` only goes with dask,
    and ``--workers`` only without a scheduler (an existing cluster has its own workers).
    """
    check_executor_options(kind, workers=workers, scheduler=scheduler)
    executor: Executor
    if kind == "local" and (workers == 1 or n_jobs == 1):
        executor = InlineExecutor()  # one worker: no process to start, no pickling
    elif kind == "local":
        executor = default_executor(n_jobs, workers)
    else:
        executor = dask_executor(scheduler, workers)
    clean = False
    try:
        yield executor
        clean = True
    finally:
        if clean:
            executor.shutdown(wait=True)
        elif isinstance(executor, ProcessPoolExecutor):
            _stop_workers(executor)
        else:
            executor.shutdown(wait=False, cancel_futures=True)


def _stop_workers(executor: ProcessPoolExecutor) -> None:
    """Terminate and join a process pool's workers: a job in flight is abandoned, not orphaned.

    ``shutdown(cancel_futures=True)`` cancels only queued jobs; running ones would go on after
    the driver exits. Python 3.14 has ``terminate_workers``; before it, the pool's process table
    is the only handle. The pool then fails every pending job as broken (so nothing may cancel
    them first: see :func:`flagship.sandbox._runner.stream_results`).

    A worker killed while it was writing a result (a run's result is larger than a pipe holds,
    so it goes in several writes) leaves half a message in the result pipe. The pool's manager
    thread then waits for the rest for ever, since this process holds a write end of that pipe
    too, and ``shutdown`` would wait for that thread: the command hung instead of exiting (one
    SIGTERM in a few dozen, tests/experiments/test_sweep_resume.py). Once every worker is dead
    nothing writes to the pipe, so this process closes its own write end: the manager thread
    reads the end of the pipe, finds the pool broken and stops.
    """
    processes = list((getattr(executor, "_processes", None) or {}).values())
    results = getattr(executor, "_result_queue", None)  # before any shutdown, which drops it
    terminate = getattr(executor, "terminate_workers", None)
    if callable(terminate):
        terminate()
    else:
        for process in processes:
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():  # a worker that did not stop on SIGTERM
            process.kill()
            process.join()
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()
    executor.shutdown(wait=True)
