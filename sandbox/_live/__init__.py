"""The live pilot server: one process, one single writer, mechanisms on a wall-clock SimPy world.

A request's life, module by module:

* :mod:`._scenario` -- what is served: the scenario's ``[live]`` table, the trial resumed or
  started with its checkpoint key;
* :mod:`._app` -- the app factory (core routes, each mechanism's router, handlers, OpenAPI)
  and ``flagship serve``;
* :mod:`._middleware` -- the request pipeline: request metrics around the app; after FastAPI's
  router has chosen a route, body limits and JSON, authentication, rate limits,
  idempotency (and the signed receipt on each acknowledgement), one middleware each;
* :mod:`._limits` -- ``[live.limits]``, JSON depth, per-identity token buckets;
* :mod:`._idempotency` -- keys, request hashes, the committed-key index, the active requests;
* :mod:`._problems` -- every error as problem+json with a reason code;
* :mod:`._gateway` -- what wings' routes see: ``act``/``submit``, ``principal``, ``mechanism``,
  ``secret``; the authenticators it is built with;
* :mod:`._sequencer` -- the single writer: batches, applies, acknowledges once committed;
* :mod:`._read_view` -- the committed state every read answers from, moved only by commits;
* :mod:`._durability` -- the trial log's head, group commits, checkpoints, backoff;
* :mod:`._lease` -- one server per trial: an advisory lock (PostgreSQL) or an flock (SQLite)
  taken before recovery and confirmed before every commit;
* :mod:`._witness` -- every signed checkpoint also appended to a file or POSTed to a URL,
  and a witness file's heads checked against the log at start;
* :mod:`._recovery` -- the trial rebuilt from its log at start and after a failed commit.

Lifecycle of the server: :func:`run_server` -> :func:`load_live_scenario` ->
:func:`open_trial` -> ``Engine.recover`` -> :func:`create_app` -> uvicorn (the app's
lifespan runs ``Engine.start`` and ``Engine.stop``).

The names below are loaded on first use (PEP 562): importing one module of this package (the
scenario's ``[live]`` table, the limits) does not pay for FastAPI and the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flagship.telemetry._lazy import lazy_exports

if TYPE_CHECKING:
    from flagship.sandbox._live._app import Health, TrialInfo, create_app, install_openapi, run_server
    from flagship.sandbox._live._connections import ConnectionLimits
    from flagship.sandbox._live._gateway import PRINCIPAL_SCOPE_KEY, LiveGateway, load_authenticators
    from flagship.sandbox._live._limits import Limits
    from flagship.sandbox._live._scenario import (
        LiveScenario,
        LiveSpec,
        default_key_dir,
        load_live_scenario,
        open_trial,
        shadow_scenario,
    )
    from flagship.sandbox._live._sequencer import Engine, EngineOptions

__all__ = [
    "PRINCIPAL_SCOPE_KEY",
    "ConnectionLimits",
    "Engine",
    "EngineOptions",
    "Health",
    "Limits",
    "LiveGateway",
    "LiveScenario",
    "LiveSpec",
    "TrialInfo",
    "create_app",
    "default_key_dir",
    "install_openapi",
    "load_authenticators",
    "load_live_scenario",
    "open_trial",
    "run_server",
    "shadow_scenario",
]

#: Where each public name lives (tests check this agrees with ``__all__``).
_EXPORTS: dict[str, str] = {
    "ConnectionLimits": "_connections",
    "Engine": "_sequencer",
    "EngineOptions": "_sequencer",
    "Health": "_app",
    "Limits": "_limits",
    "LiveGateway": "_gateway",
    "LiveScenario": "_scenario",
    "LiveSpec": "_scenario",
    "PRINCIPAL_SCOPE_KEY": "_gateway",
    "TrialInfo": "_app",
    "create_app": "_app",
    "default_key_dir": "_scenario",
    "install_openapi": "_app",
    "load_authenticators": "_gateway",
    "load_live_scenario": "_scenario",
    "open_trial": "_scenario",
    "run_server": "_app",
    "shadow_scenario": "_scenario",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
