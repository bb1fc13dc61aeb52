"""The app factory: the FastAPI app serving one engine's trial, and ``flagship serve``.

Lifecycle: :func:`run_server` loads the scenario, opens the store, resumes or starts the
trial, recovers the engine (before the socket opens, so a trial whose log fails
verification never serves), then serves :func:`create_app`'s app with uvicorn until
SIGINT/SIGTERM. :func:`create_app` builds the gateway and authenticators, the core routes
(probes, metrics, ``/v1/trial``, the API docs pages), mounts every mechanism's own router, installs the
problem+json handlers, the request pipeline (:mod:`~flagship.sandbox._live._middleware`)
and the OpenAPI document; the app's lifespan starts and stops the engine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from flagship.mechanisms import Authenticator, ContractError
from flagship.sandbox._live._api_docs import install_api_docs
from flagship.sandbox._live._connections import ConnectionLimits, guarded_protocol, reserve_descriptors
from flagship.sandbox._live._gateway import LiveGateway, load_authenticators
from flagship.sandbox._live._idempotency import KEYED_METHODS, IdempotencyRecord
from flagship.sandbox._live._lease import trial_lease
from flagship.sandbox._live._limits import Limits, RateLimiter
from flagship.sandbox._live._logs import LogFormat, configure_logging
from flagship.sandbox._live._middleware import (
    REQUEST_STATE_KEY,
    UNMATCHED,
    AuthenticationMiddleware,
    BodyLimitMiddleware,
    IdempotencyMiddleware,
    RateLimitMiddleware,
    RequestMetricsMiddleware,
    install_route_stacks,
    to_route,
)
from flagship.sandbox._live._operator import operator_router
from flagship.sandbox._live._pages import PageGuardMiddleware, install_page_stacks, mount_pages
from flagship.sandbox._live._problems import (
    PROBLEM_JSON,
    ProblemDoc,
    install_problem_handlers,
    problem_response,
)
from flagship.sandbox._live._scenario import (
    LiveSpec,
    default_key_dir,
    load_live_scenario,
    open_trial,
    shadow_scenario,
)
from flagship.sandbox._live._sequencer import Engine, EngineOptions
from flagship.sandbox._live._served import ServedTrial
from flagship.sandbox._live._witness import Witness
from flagship.sandbox._live._workers import serve_split
from flagship.telemetry._prometheus import LiveMetrics
from flagship.telemetry._receipts import RECEIPT_HEADER
from flagship.telemetry._trial_log import TrialLog

__all__ = ["Health", "TrialInfo", "create_app", "install_openapi", "is_coroutine_route",
           "request_pipeline", "run_server"]


class TrialInfo(BaseModel):
    """``GET /v1/trial``: where the trial stands."""

    trial_id: str
    scenario: str
    status: str
    time_factor: float
    epoch: float = Field(description="wall-clock unix seconds of sim time 0")
    sim_time: float
    duration: float
    log_size: int = Field(description="entries in the durable log")
    head_hash: str = Field(description="hash of the last durable entry")
    state_sha256: str = Field(description="SHA-256 of every mechanism's snapshot now (the committed "
                                          "actions at sim_time; timers may have acted since the last commit)")
    recovered_entries: int = Field(description="entries replayed when this process started")
    recovered_state_sha256: str = Field(description="state hash the replay at start reached (it equals "
                                                    "the one the log recorded, or the server would not run)")
    mechanisms: list[str]
    shadow: list[str] = Field(description="the --shadow overrides of the counterfactual arm")


class Health(BaseModel):
    """A probe's answer."""

    status: str


def _package_version() -> str:
    try:
        return version("flagship-sandbox")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def request_pipeline(limits: Limits, gateway: LiveGateway, *, metrics: LiveMetrics,
                     lookup: Callable[[str], Awaitable[IdempotencyRecord | None]],
                     receipt: Callable[[str], str | None] = lambda _: None) -> ASGIApp:
    """The middlewares every routed request goes through, outermost first, ending at its route."""
    limiter = RateLimiter(limits)
    app: ASGIApp = to_route
    app = IdempotencyMiddleware(app, lookup, gateway.requests, metrics, receipt)
    app = RateLimitMiddleware(app, limiter, metrics)
    app = AuthenticationMiddleware(app, gateway.authenticators, limiter, metrics)
    return BodyLimitMiddleware(app, limits, metrics)


def create_app(engine: ServedTrial, *, spec: LiveSpec | None = None,
               authenticators: Sequence[Authenticator] | None = None) -> FastAPI:
    """The FastAPI app serving ``engine``'s trial: core routes plus every mechanism's own.

    Mounts ``Mechanism.http(name, gateway)`` for each mechanism of the scenario that
    has routes. Every route must be ``async def`` (so it runs on the writer's event
    loop: the read view moves only while a route awaits, never during its reads) and live
    under ``/v1/``; two mechanisms may not claim the same path. ``authenticators`` replaces
    the scenario's (for tests).
    """
    spec = spec or LiveSpec()
    if spec.guardrails:
        engine.install_guardrails(spec.guardrails)
    gateway = LiveGateway(engine)
    gateway.authenticators = (list(authenticators) if authenticators is not None
                              else load_authenticators(spec, gateway))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    app = FastAPI(title="Flagship live pilot", version=_package_version(), lifespan=lifespan,
                  description="A live trial of a Flagship scenario. Errors are application/problem+json "
                              "with a reason code; every POST needs an Idempotency-Key.",
                  openapi_url="/openapi.json", docs_url=None, redoc_url=None)
    install_api_docs(app)  # /docs and /redoc with the package's assets (offline), before the pipeline
    schemes = [a.scheme for a in gateway.authenticators]
    def count_problem(request: Request, reason: str) -> None:
        # a route's refusal (401 without credentials, 422 from validation) under its route's label
        labelled = request.scope.get("state", {}).get(REQUEST_STATE_KEY)
        engine.metrics.problem(labelled.endpoint if labelled is not None else UNMATCHED, reason)

    install_problem_handlers(app, www_authenticate=lambda: ", ".join(schemes), count=count_problem)
    shadow = list(engine.shadow.overrides) if engine.shadow is not None else []

    @app.get("/healthz", response_model=Health, tags=["server"])
    async def healthz() -> Response:
        """Liveness: 200 while the process serves and its engine has not failed."""
        if engine.status == "failed":
            return problem_response(503, "ENGINE_FAILED", "the engine stopped after an internal error")
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", response_model=Health, tags=["server"])
    async def readyz() -> Response:
        """Readiness: 200 when actions are taken (recovered, store reachable), else 503."""
        if not engine.ready:
            return problem_response(503, "NOT_READY", f"engine status: {engine.status}",
                                    headers={"Retry-After": "1"})
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["server"], response_class=Response,
             responses={200: {"content": {"text/plain": {}, "application/openmetrics-text": {}}}})
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (OpenMetrics when accepted, else text format 0.0.4)."""
        body, content_type = await engine.exposition(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type})

    @app.get("/v1/trial", response_model=TrialInfo, tags=["trial"])
    async def trial() -> TrialInfo:
        """The trial: id, clock, durable log size and head, the committed state's hash now."""
        return TrialInfo(
            trial_id=engine.trial.id, scenario=engine.resolved.scenario.name,
            status="finished" if engine.sim_time() >= engine.duration else engine.trial.status,
            time_factor=engine.trial.time_factor, epoch=engine.trial.epoch, sim_time=engine.sim_time(),
            duration=engine.duration, log_size=engine.size, head_hash=engine.head_hash,
            state_sha256=engine.state_hash, recovered_entries=engine.recovered_entries,
            recovered_state_sha256=engine.recovered_state_hash,
            mechanisms=list(engine.resolved.mechanism_configs), shadow=shadow)

    core = {getattr(route, "path", "") for route in app.router.routes}
    served: list[BaseRoute] = list(app.router.routes)
    claimed: dict[str, str] = {}
    for name in engine.resolved.mechanism_configs:
        factory = engine.resolved.mechanism_class(name).http
        if factory is None:
            continue
        router = factory(name, gateway)
        if not isinstance(router, APIRouter):
            raise ContractError(f"{name}.http returned {type(router).__name__}, expected an APIRouter")
        for route in router.routes:
            path = str(getattr(route, "path", ""))
            if not path.startswith("/v1/"):
                raise ContractError(f"{name}.http: route {path!r} must start with /v1/")
            if not is_coroutine_route(route):
                raise ContractError(f"{name}.http: route {path!r} must be async def (it runs on the "
                                    "engine's loop, which is what keeps the read view still while it reads)")
            methods = sorted(getattr(route, "methods", None) or ())
            for method in methods or [""]:
                owner = claimed.get(f"{method} {path}")
                if owner is not None or path in core:
                    raise ContractError(f"{name}.http: {method} {path} is already served "
                                        f"by {owner or 'the server'}")
                claimed[f"{method} {path}"] = name
        app.include_router(router)
        served.extend(router.routes)  # an included router hands requests to these very objects

    # Operator routes stay outside the participants' pipeline: their own signature check, no
    # participant authenticator ever sees an operator's request.
    operators = operator_router(engine, spec.operators, started_at=gateway.started_at)
    for key, owner in claimed.items():
        if key.partition(" ")[2].startswith(operators.prefix):
            raise ContractError(f"{owner}.http: {key} is under {operators.prefix}, reserved for operators")
    app.include_router(operators)
    pages, sign_in_paths = mount_pages(app, engine, gateway)
    pipeline = request_pipeline(spec.limits, gateway, metrics=engine.metrics, lookup=engine.find,
                                receipt=engine.receipt)
    install_route_stacks(app.router, served, pipeline)
    # the pages share the pipeline (and so its rate buckets) behind their session and CSRF guard
    install_page_stacks(pages, PageGuardMiddleware(pipeline, gateway, engine.metrics, sign_in_paths))
    app.add_middleware(RequestMetricsMiddleware, metrics=engine.metrics)

    def security_schemes() -> dict[str, Any]:
        found: dict[str, Any] = {}
        for authenticator in gateway.authenticators:
            declared = getattr(authenticator, "security_scheme", None)
            if isinstance(declared, Mapping):
                found[authenticator.scheme] = dict(declared)
        return found

    install_openapi(app, security_schemes=security_schemes)
    app.state.engine = engine
    app.state.gateway = gateway
    return app


def run_server(scenario: str | Path, *, db: str | None = None, host: str = "127.0.0.1", port: int = 8000,
               time_factor: float | None = None, overrides: Sequence[str] = (),
               shadow: Sequence[str] = (), arm: str | None = None, trial: str | None = None,
               new_trial: bool = False, key_dir: str | Path | None = None,
               options: EngineOptions | None = None, access_log: bool = False,
               log_format: LogFormat = "text", witness: str | None = None,
               connections: ConnectionLimits | None = None, workers: int = 0) -> None:
    """``flagship serve``: open the store, resume or start the trial, recover, serve until stopped.

    Recovery runs before the socket opens, so a trial whose log fails verification
    or does not replay never serves. Stops gracefully on SIGINT/SIGTERM (queued
    actions finish, a last checkpoint is signed). Logs (``log_format``: text or JSON lines)
    a line when the trial starts serving (its id, URL and store) and one when it stopped
    (entries, actions drained, entries covered by the last checkpoint). ``witness`` (a
    file or an http(s) URL) receives every signed head; a witness file's heads are checked
    against the log before serving. ``connections`` caps open connections (in all and per
    client address) and bounds how long a request's head and body may take to arrive. The
    trial's lease (:mod:`._lease`) is taken before recovery: a trial already being served
    is refused (:class:`~._lease.TrialServedError`, exit 1) before anything is written.
    ``workers`` > 0 splits the server: this process sequences, that many workers serve HTTP
    (:mod:`._workers`).
    """
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from flagship.sandbox._live._protocol import http_protocol  # noqa: PLC0415 - it imports uvicorn

    limits = connections or ConnectionLimits()
    reserve_descriptors(limits)  # before the trial opens: a refused cap leaves nothing behind
    live = load_live_scenario(scenario, overrides, arm=arm)
    witnessing = Witness(witness) if witness is not None else None
    url = db or live.resolved.scenario.store
    configure_logging(log_format)
    log_ = logging.getLogger("flagship.live")
    from flagship.telemetry import Store  # noqa: PLC0415 - keeps this module's import light for tests

    store = Store.open(url, durable=True)
    held = contextlib.ExitStack()
    try:
        log = TrialLog(store)
        keys = Path(key_dir) if key_dir is not None else default_key_dir(url)
        opened, key, resumed = open_trial(log, live, key_dir=keys,
                                          trial_id=trial, new=new_trial, time_factor=time_factor)
        # Before recovery: a second server of a served trial stops here, having written nothing.
        lease = trial_lease(store.private_url, opened.id)
        if lease is not None:
            lease.acquire()
            # After the engine's final checkpoint (uvicorn's lifespan); on SIGTERM uvicorn re-raises the
            # signal before this runs, and the process's exit releases the lease all the same.
            held.callback(lease.release)
        options = options or EngineOptions()
        if workers > 0:  # the workers' replicas answer the reads
            options = dataclasses.replace(options, read_view=False)
        engine = Engine(live.resolved, opened, log, key, options=options,
                        metrics=LiveMetrics(),
                        shadow=shadow_scenario(opened, shadow) if shadow else None, witness=witnessing)
        engine.durable.lease = lease
        engine.recover()
        application = create_app(engine, spec=live.spec) if workers == 0 else None
        event = "trial_resumed" if resumed else "trial_started"
        log_.info("trial %s %s (%d log entries, time factor %g); serving on http://%s:%d; store %s",
                  opened.id, event.removeprefix("trial_"), engine.size, opened.time_factor, host, port,
                  store.url, extra={"event": event, "trial": opened.id, "url": f"http://{host}:{port}",
                                    "store": store.url, "entries": engine.size,
                                    "time_factor": opened.time_factor})
        if application is None:
            if live.spec.guardrails:
                engine.install_guardrails(live.spec.guardrails)
            serve_split(engine, workers=workers, host=host, port=port, args={
                "scenario": str(Path(scenario).resolve()), "overrides": list(overrides), "arm": arm,
                "db": store.private_url, "trial": opened.id, "key_dir": str(keys.resolve()),
                "shadow": list(shadow), "idempotency_window": options.idempotency_window,
                "freeze_seconds": options.freeze_seconds, "connections": limits.model_dump(),
                "access_log": access_log, "log_format": log_format})
            return
        # uvicorn logs through our handler (log_config=None); its access lines are INFO
        level = "info" if access_log else "warning"
        config = uvicorn.Config(application, host=host, port=port, log_level=level,
                                access_log=access_log, ws="none", lifespan="on",
                                http=guarded_protocol(http_protocol(), limits),
                                h11_max_incomplete_event_size=limits.max_header_bytes + 1,
                                timeout_graceful_shutdown=10, log_config=None)
        uvicorn.Server(config).run()  # the engine logs its stop (uvicorn re-raises SIGTERM after it)
    finally:
        held.close()
        store.close()


def install_openapi(app: FastAPI, *, security_schemes: Callable[[], Mapping[str, Any]]) -> None:
    """Document the server's conventions in ``/openapi.json``.

    Every POST, PATCH and DELETE gets the required ``Idempotency-Key`` header and its 2xx
    answers the optional ``Flagship-Receipt`` header; every operation gets a
    ``default`` problem+json response and its 422 is documented as problem+json;
    the authenticators' security schemes (``security_scheme`` attribute) are listed.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        problem_schema = ProblemDoc.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in problem_schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas["Problem"] = problem_schema
        problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for item in schema.get("paths", {}).values():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "The request does not validate",
                                        "content": problem_content}
                responses["default"] = {"description": "A problem (RFC 9457)",
                                        "content": problem_content}
                if method.upper() in KEYED_METHODS:
                    for code, response in responses.items():
                        if code.startswith("2"):
                            response.setdefault("headers", {})[RECEIPT_HEADER] = {
                                "description": "when the request committed a log entry: base64url of the "
                                               "receipt's canonical JSON, signed with the trial's key "
                                               "(docs/live.md)",
                                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}}
                    params = operation.setdefault("parameters", [])
                    params.append({
                        "name": "Idempotency-Key", "in": "header", "required": True,
                        "description": "unique per intended action; a retry with the same key and "
                                       "body returns the stored outcome",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                   "pattern": "^[!-~]+$"},
                    })
        schemes = dict(security_schemes())
        if schemes:
            components["securitySchemes"] = schemes
            schema["security"] = [{name: []} for name in schemes] + [{}]
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def is_coroutine_route(route: BaseRoute) -> bool:
    """Whether a route's endpoint is ``async def`` (sync endpoints run in a thread pool)."""
    endpoint = getattr(route, "endpoint", None)
    return endpoint is None or inspect.iscoroutinefunction(endpoint)

