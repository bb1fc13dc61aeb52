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

What is per worker rather than per server: the rate-limit buckets, the connection caps and the
signature replay cache (an idempotency key still makes a replayed POST act once, whichever
worker it reaches). The sequencer's writer, its read barrier and the metrics are per server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
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
from pathlib import Path
from typing import Any

from flagship.mechanisms import InputError, Problem
from flagship.sandbox._live._connections import ConnectionLimits
from flagship.sandbox._live._engine_api import EngineOptions
from flagship.sandbox._live._sequencer import Engine
from flagship.sandbox._live._split import WorkerLink

__all__ = ["WORKER_MODULE", "WorkerArgs", "serve_split", "worker_main"]

_log = logging.getLogger("flagship.live")

WORKER_MODULE = "flagship.sandbox._live._worker_main"
"""What a worker process runs (``python -m``)."""
STATE_TICK = 0.25
"""Seconds between checks of the writer's readiness (it changes with time after a failed commit)."""
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
RESTART_PAUSE = 1.0
"""Seconds before a worker that died is started again."""
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
        asyncio.run(_serve(engine, workers, listener, str(Path(folder) / "link"), args))
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)


async def _serve(engine: Engine, count: int, listener: socket.socket, path: str, args: WorkerArgs) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    link = WorkerLink(engine)
    await engine.start()
    await link.serve(path)
    base = {**args, "link": path, "fd": listener.fileno(), "sequencer": os.getpid()}
    processes = [_start(base, number, listener) for number in range(count)]
    try:
        while not stopping.is_set():
            link.publish_state()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), STATE_TICK)
            for number, process in enumerate(processes):
                if process.poll() is not None and not stopping.is_set():
                    _log.error("worker %d exited (%s); starting it again", number, process.returncode)
                    await asyncio.sleep(RESTART_PAUSE)
                    processes[number] = _start(base, number, listener)
    finally:
        await asyncio.to_thread(_stop_all, processes)
        await link.close()
        await engine.stop()


def _start(base: WorkerArgs, number: int, listener: socket.socket) -> subprocess.Popen[bytes]:
    arguments = json.dumps({**base, "number": number})
    command = [sys.executable, "-m", WORKER_MODULE, arguments]
    return subprocess.Popen(command, pass_fds=(listener.fileno(),))


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


def _die_with_sequencer(sequencer: int) -> None:
    """Linux: this process gets SIGKILL when the sequencer dies, so no orphan keeps the port open
    (a restarted server could not bind it). Elsewhere the link's end stops the worker instead."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != sequencer:  # it died before the line above took effect
        raise SystemExit(1)


def worker_main(args: WorkerArgs) -> None:
    """One worker: its replica behind the app, served by uvicorn on the inherited socket."""
    _die_with_sequencer(int(args["sequencer"]))
    import uvicorn  # noqa: PLC0415 - only a server needs it

    from flagship.sandbox._live._app import create_app  # noqa: PLC0415 - the app imports this module's peers
    from flagship.sandbox._live._connections import guarded_protocol  # noqa: PLC0415
    from flagship.sandbox._live._logs import configure_logging  # noqa: PLC0415
    from flagship.sandbox._live._protocol import http_protocol  # noqa: PLC0415
    from flagship.sandbox._live._replica import Replica  # noqa: PLC0415
    from flagship.sandbox._live._scenario import load_live_scenario, shadow_scenario  # noqa: PLC0415
    from flagship.telemetry import Store  # noqa: PLC0415
    from flagship.telemetry._trial_log import CheckpointKey, TrialLog, key_path  # noqa: PLC0415

    configure_logging(args["log_format"])
    live = load_live_scenario(args["scenario"], args["overrides"], arm=args["arm"])
    store = Store.open(args["db"])
    try:
        log = TrialLog(store)
        trial = log.trial(args["trial"])
        key = CheckpointKey.load(key_path(Path(args["key_dir"]), trial.id))
        replica = Replica(live.resolved, trial, log, key, link=args["link"], number=int(args["number"]),
                          options=EngineOptions(idempotency_window=int(args["idempotency_window"])),
                          shadow=shadow_scenario(trial, args["shadow"]) if args["shadow"] else None)
        limits = ConnectionLimits.model_validate(args["connections"])
        level = "info" if args["access_log"] else "warning"
        config = uvicorn.Config(create_app(replica, spec=live.spec), log_level=level,
                                access_log=bool(args["access_log"]), ws="none", lifespan="on",
                                http=guarded_protocol(http_protocol(), limits),
                                h11_max_incomplete_event_size=limits.max_header_bytes + 1,
                                timeout_graceful_shutdown=10, log_config=None)
        listener = socket.socket(fileno=int(args["fd"]))
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        store.close()
