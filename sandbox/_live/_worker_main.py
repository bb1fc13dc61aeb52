"""``python -m flagship.sandbox._live._worker_main N``: worker N of a split server (:mod:`._workers`).

Its arguments come in the environment (:data:`~._workers.ARGS_VARIABLE`, JSON), not on the
command line, which every local user can read.

A module of its own, which the package never imports: it imports the app, and the app imports
:mod:`._workers` (which only names this module), so neither runs twice nor imports the other.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from flagship.sandbox._live._app import create_app
from flagship.sandbox._live._connections import ConnectionLimits, guarded_protocol
from flagship.sandbox._live._engine_api import EngineOptions
from flagship.sandbox._live._logs import configure_logging
from flagship.sandbox._live._protocol import http_protocol
from flagship.sandbox._live._replica import Replica
from flagship.sandbox._live._scenario import load_live_scenario, shadow_scenario
from flagship.sandbox._live._workers import ARGS_VARIABLE, WorkerArgs
from flagship.telemetry import Store
from flagship.telemetry._trial_log import CheckpointKey, TrialLog, key_path

__all__ = ["worker_main"]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


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
    configure_logging(args["log_format"])
    live = load_live_scenario(args["scenario"], args["overrides"], arm=args["arm"])
    store = Store.open(args["db"])
    try:
        log = TrialLog(store)
        trial = log.trial(args["trial"])
        key = CheckpointKey.load(key_path(Path(args["key_dir"]), trial.id))
        replica = Replica(live.resolved, trial, log, key, link=args["link"], number=int(args["number"]),
                          options=EngineOptions(idempotency_window=int(args["idempotency_window"]),
                                                freeze_seconds=float(args.get("freeze_seconds", 1.0))),
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


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    worker_main(json.loads(os.environ.pop(ARGS_VARIABLE)))
