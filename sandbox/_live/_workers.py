"""``flagship serve --workers N``: one sequencer process and N worker processes on one port.

Why: in a one-process server every request's HTTP parsing, signature check, validation and
answer run on the core that also orders, applies and commits, so one core bounds the trial's
throughput. Split, only the ordering, applying and committing stay serial (the sequencer:
:class:`~._sequencer.Engine` and its :class:`~._split.WorkerLink`); the rest runs in N workers
(:class:`~._replica.Replica` behind the same app), as many as the machine has cores to spare.

Lifecycle (:func:`serve_split`, called by ``run_server`` after the trial is opened, leased and
recovered):

1. bind the public socket (before any worker exists: a port in use fails here, with nothing
   started), make the link's Unix socket in a fresh directory only this user can enter;
2. start the engine and the link, then the workers (``python -m flagship.sandbox._live._worker_main``
   with the socket passed as a descriptor); each bootstraps its replica from the store, then
   accepts on the shared socket;
3. serve until SIGINT or SIGTERM, restarting a worker that dies (the others go on serving; its
   connections are lost, as with any crashed process, and nothing acknowledged is);
4. stop: the workers first (each drains its requests, whose actions the writer still takes),
   then the link, then the engine (queued actions finish, a last checkpoint is signed).

The sequencer's event loop is uvloop's where uvloop is installed (a dependency except on
Windows), as in the workers and in a one-process server (uvicorn picks it there): every frame of
the link, every timer of the batcher and every commit's hand-back crosses this loop. On asyncio's
own loop the sequencer spent a fifth more CPU per order outside its writer (medians of five
alternated runs of ``benchmarks/bench_live_signed.py --workers 2``, docs/live.md).

What is per worker rather than per server: the rate-limit buckets, the connection caps and the
signature replay cache (an idempotency key still makes a replayed POST act once, whichever
worker it reaches). The sequencer's writer, its read barrier and the metrics are per server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flagship.mechanisms import InputError, Problem
from flagship.sandbox._live._sequencer import Engine
from flagship.sandbox._live._split import WorkerLink

__all__ = ["ARGS_VARIABLE", "WORKER_MODULE", "WorkerArgs", "serve_split"]

_log = logging.getLogger("flagship.live")

WORKER_MODULE = "flagship.sandbox._live._worker_main"
"""What a worker process runs (``python -m``, with its number as the argument)."""
ARGS_VARIABLE = "FLAGSHIP_WORKER_ARGS"
"""The environment variable that carries a worker's :data:`WorkerArgs` as JSON."""
STATE_TICK = 0.25
"""Seconds between checks of the writer's readiness (it changes with time after a failed commit)."""
RESTART_PAUSE = 1.0
"""Seconds before a worker that died is started again (doubling, up to :data:`MAX_RESTART_PAUSE`,
while it dies within :data:`QUICK_EXIT` seconds of its start)."""
MAX_RESTART_PAUSE = 30.0
QUICK_EXIT = 10.0
STOP_TIMEOUT = 20.0
"""Seconds the workers have to drain before they are killed."""

WorkerArgs = dict[str, Any]
"""What a worker is started with (JSON on its command line): the scenario as ``serve`` got it,
the store, the trial, the key directory, the link, its number and the listening descriptor."""


def serve_split(engine: Engine, *, workers: int, host: str, port: int, args: WorkerArgs) -> None:
    """Serve ``engine``'s trial with ``workers`` worker processes until SIGINT or SIGTERM."""
    try:
        listener = socket.create_server((host, port), backlog=4096)
    except OSError as exc:
        raise InputError([Problem("--port", f"cannot listen on {host}:{port}: {exc.strerror}")]) from None
    listener.set_inheritable(True)
    folder = tempfile.mkdtemp(prefix="flagship-link-")  # mode 0700: only this user reaches the link
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_serve(engine, workers, listener, str(Path(folder) / "link"), args))
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory if uvloop is installed, else None (asyncio's own loop)."""
    try:
        import uvloop  # noqa: PLC0415  (optional: not on Windows)
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _serve(engine: Engine, count: int, listener: socket.socket, path: str, args: WorkerArgs) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    _log.info("sequencer: %d workers, on the %s event loop", count, type(loop).__module__.partition(".")[0])
    link = WorkerLink(engine)
    await engine.start()
    await link.serve(path)
    base = {**args, "link": path, "fd": listener.fileno(), "sequencer": os.getpid()}
    processes = [_start(base, number, listener) for number in range(count)]
    started = [time.monotonic()] * count
    pauses = [RESTART_PAUSE / 2] * count
    try:
        while not stopping.is_set():
            link.publish_state()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), STATE_TICK)
            for number, process in enumerate(processes):
                if process.poll() is not None and not stopping.is_set():
                    # one that keeps dying at once (a broken store, a bad key) is retried ever less often
                    quick = time.monotonic() - started[number] < QUICK_EXIT
                    pauses[number] = min(MAX_RESTART_PAUSE, pauses[number] * 2) if quick else RESTART_PAUSE
                    _log.error("worker %d exited (%s); starting it again in %g s", number,
                               process.returncode, pauses[number])
                    await asyncio.sleep(pauses[number])
                    processes[number] = _start(base, number, listener)
                    started[number] = time.monotonic()
    finally:
        await asyncio.to_thread(_stop_all, processes)
        await link.close()
        await engine.stop()


def _start(base: WorkerArgs, number: int, listener: socket.socket) -> subprocess.Popen[bytes]:
    # In the environment, not on the command line: the store's URL may hold a password, and any
    # local user can read a process's command line (its environment only its owner).
    environment = {**os.environ, ARGS_VARIABLE: json.dumps({**base, "number": number})}
    command = [sys.executable, "-m", WORKER_MODULE, str(number)]
    return subprocess.Popen(command, pass_fds=(listener.fileno(),), env=environment)


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
