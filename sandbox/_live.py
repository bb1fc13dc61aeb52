"""The live pilot server: one process, one single writer, mechanisms on a wall-clock SimPy world.

:class:`Engine` owns a :class:`~flagship.sandbox.Host` built from the scenario exactly as the
sandbox builds it, on a clock: ``sim_now = (wall_now - trial epoch) x time factor``
(the epoch is stored with the trial, so a restart keeps the mapping). One asyncio
task is the only code that touches mechanism state. HTTP handlers hand it actions
through :class:`LiveGateway` and await the outcome; the task drains its queue in
batches and, for each batch, synchronously:

1. runs the environment to ``sim_now`` (deadlines fire, simulated participants act);
2. applies the batch's actions at that time, in arrival order;
3. writes every new entry of the host's log (clients' and simulated participants'
   actions with their outcomes, idempotency records, hash chain, and now and then a
   signed checkpoint) in ONE database transaction;
4. only then resolves the handlers' futures: acknowledged means committed.

Because the apply-and-commit step never yields to the event loop, a GET handler
(which runs on the same loop) only ever sees committed state. If the commit fails,
every action of the batch is answered 503 and the host is rebuilt from the durable
history, so state always equals the log; the next batch first checks the database's
head, in case the failed commit had in fact landed.

On start the engine verifies the trial's hash chain and rebuilds every mechanism by
replaying the log (:mod:`flagship.sandbox._replay`): clients' actions are fed at their
recorded times; simulated participants act again from the same seeded streams and
must reproduce their recorded actions and each commit's state hash, or the server
refuses to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import time
import tomllib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from flagship.mechanisms import (
    AUTHENTICATOR_GROUP,
    Action,
    ActionRejected,
    Authenticator,
    AuthError,
    ContractError,
    InputError,
    Mechanism,
    MechanismFailedError,
    Outcome,
    Principal,
    Problem,
    ScenarioError,
    ShuttingDownError,
    StoreError,
    StoreUnavailableError,
    TrialEndedError,
    UnknownNameError,
    canonical_bytes,
    canonical_json,
    sha256_hex,
)
from flagship.mechanisms._action import EMPTY
from flagship.sandbox._gc import FrozenHeap
from flagship.sandbox._host import Host
from flagship.sandbox._live_http import (
    PRINCIPAL_SCOPE_KEY,
    IdempotencyRecord,
    Limits,
    LiveHttpContext,
    LiveMiddleware,
    current_idempotency,
    install_openapi,
    install_problem_handlers,
    is_coroutine_route,
    parse_stored_key,
    problem_response,
)
from flagship.sandbox._measure_worker import ArmMeasures, MeasureWorker, measure_arms
from flagship.sandbox._replay import Commit, Recorded, advance, commits_from_entries, replay
from flagship.sandbox._runner import build_host
from flagship.sandbox._scenario import (
    ResolvedScenario,
    apply_overrides,
    parse_override,
    pydantic_problems,
    resolve,
)
from flagship.telemetry._prometheus import LiveMetrics
from flagship.telemetry._trial_log import (
    Checkpoint,
    CheckpointKey,
    LogEntry,
    Trial,
    TrialLog,
    key_path,
    make_entry,
    verify_chain,
)

__all__ = [
    "Engine",
    "EngineOptions",
    "LiveGateway",
    "LiveScenario",
    "LiveSpec",
    "TrialInfo",
    "create_app",
    "default_key_dir",
    "load_authenticators",
    "load_live_scenario",
    "open_trial",
    "run_server",
    "shadow_scenario",
]

_log = logging.getLogger("flagship.live")


# -- the scenario's [live] table ---------------------------------------------------------------


class LiveSpec(BaseModel):
    """``[live]`` in a scenario file: how a live trial of it is served.

    ``authenticators`` names entry points of the group ``flagship.authenticators``,
    tried in order; ``auth.<name>`` is the options table handed to that one's
    factory. ``time_factor`` is the default for new trials (``--time-factor`` wins).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    authenticators: list[str] = Field(default_factory=list, description="authenticator entry points")
    auth: dict[str, dict[str, Any]] = Field(default_factory=dict, description="options per authenticator")
    time_factor: PositiveFloat | None = Field(default=None, description="sim seconds per wall second")
    limits: Limits = Field(default_factory=Limits)


@dataclass(frozen=True)
class LiveScenario:
    """A scenario validated for serving: the sandbox scenario plus its ``[live]`` table."""

    resolved: ResolvedScenario
    spec: LiveSpec


def load_live_scenario(path: str | Path, overrides: Sequence[str] = (), *,
                       arm: str | None = None) -> LiveScenario:
    """Read a scenario file with an optional ``[live]`` table; validate both parts.

    Overrides may target ``live.*`` paths too. A live trial always keeps its action
    log (``keep_actions`` is forced on): the log is the trial.
    """
    path = Path(path)
    source = str(path)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem("", "no such file")], source=source) from None
    except OSError as exc:
        raise ScenarioError([Problem("", f"cannot read: {exc.strerror}")], source=source) from None
    is_json = path.suffix.lower() == ".json"
    try:
        text = content.decode("utf-8")
        raw = json.loads(text) if is_json else tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError([Problem("", f"invalid {'JSON' if is_json else 'TOML'}: {exc}")],
                            source=source) from None
    if not isinstance(raw, dict):
        raise ScenarioError([Problem("", "expected a table of scenario fields")], source=source)
    raw = apply_overrides(raw, [parse_override(o, source=source) for o in overrides], source=source)
    live_raw = raw.pop("live", {})
    try:
        spec = LiveSpec.model_validate(live_raw)
    except ValidationError as exc:
        raise ScenarioError(pydantic_problems(exc, "live", LiveSpec), source=source) from None
    raw["keep_actions"] = True
    resolved = resolve(raw, source=source, source_sha256=hashlib.sha256(content).hexdigest(),
                       overrides=tuple(overrides))
    if arm is not None:
        resolved = resolved.with_arm(arm)
    unsafe = [Problem(f"mechanisms.{name}.{problem.path}".rstrip("."), problem.message)
              for name, config in resolved.mechanism_configs.items()
              for problem in resolved.mechanism_class(name).live_problems(config)]
    if unsafe:
        raise ScenarioError(unsafe, source=source)
    return LiveScenario(resolved, spec)


def shadow_scenario(trial: Trial, overrides: Sequence[str]) -> ResolvedScenario:
    """The trial's scenario with ``path=value`` overrides: a counterfactual arm."""
    data = trial.scenario["scenario"]
    parsed = [parse_override(o, source="--shadow") for o in overrides]
    raw = apply_overrides(data, parsed, source="--shadow", prefix="--shadow")
    return resolve(raw, source="--shadow", overrides=tuple(overrides))


# -- trials and their keys -------------------------------------------------------------------


def default_key_dir(url: str) -> Path:
    """Where checkpoint keys live by default: beside a SQLite file, else the working directory."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return Path(parsed.database).expanduser().resolve().parent
    return Path.cwd()


def open_trial(log: TrialLog, live: LiveScenario, *, key_dir: Path, trial_id: str | None = None,
               new: bool = False, time_factor: float | None = None,
               clock: Callable[[], float] = time.time) -> tuple[Trial, CheckpointKey, bool]:
    """Resume a trial (the given one, else the newest running one of this scenario) or start one.

    Returns (trial, its checkpoint key, resumed?). A new trial gets a fresh Ed25519
    key, written to ``key_dir`` before the trial row; the database keeps the public key.
    """
    data = live.resolved.data
    digest = sha256_hex(data)
    trial: Trial | None = None
    if trial_id is not None:
        trial = log.trial(trial_id)
        if trial.scenario_sha256 != digest:
            raise InputError([Problem("trial", f"trial {trial.id} ran another scenario (or other "
                                               "--set values); serve the same scenario to resume it")])
    elif not new:
        trial = log.find_resumable(digest)
    if trial is not None:
        if time_factor is not None and time_factor != trial.time_factor:
            raise InputError([Problem("--time-factor", f"trial {trial.id} runs at time factor "
                                                       f"{trial.time_factor}; use --new-trial to change it")])
        key = CheckpointKey.load(key_path(key_dir, trial.id))
        if key.public_hex != trial.public_key:
            raise StoreError(f"checkpoint key {key_path(key_dir, trial.id)} is not trial {trial.id}'s key")
        return trial, key, True
    factor = time_factor if time_factor is not None else (live.spec.time_factor or 1.0)
    if not (factor > 0 and math.isfinite(factor)):
        raise InputError([Problem("--time-factor", f"expected a positive number, got {factor!r}")])
    new_id = uuid.uuid4().hex
    key = CheckpointKey.generate()
    key_dir.mkdir(parents=True, exist_ok=True)
    key.save(key_path(key_dir, new_id))
    created = log.create_trial(
        trial_id=new_id, scenario={"scenario": data, "live": live.spec.model_dump(mode="json")},
        scenario_sha256=digest, epoch=clock(), time_factor=factor, seed=live.resolved.scenario.seed,
        public_key=key.public_hex)
    return created, key, False


# -- the engine ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineOptions:
    """Tuning of the single writer (defaults suit a pilot; tests shorten them)."""

    tick_seconds: float = 0.05
    """Wall seconds between clock advances when no action arrives (simulated participants act)."""
    max_batch: int = 256
    """Most client actions applied and committed in one transaction."""
    max_queue: int = 10_000
    """Actions waiting beyond this are refused with 503."""
    checkpoint_every: int = 10_000
    """Sign a checkpoint after this many new entries (a checkpoint commit hashes the whole state,
    O(state) on the writer: 70 ms with 28,000 resting orders, so not every 1,000)..."""
    checkpoint_seconds: float = 10.0
    """...or this many wall seconds, whichever comes first (and at shutdown)."""
    db_timeout: float = 5.0
    """Longest wait for database locks in a commit before it fails (503)."""
    retry_backoff: float = 0.25
    """First pause after a failed commit; doubles per failure up to ``max_backoff``."""
    max_backoff: float = 5.0
    measures_seconds: float = 10.0
    """Wall seconds between measure refreshes (a replay of the log per arm, in a worker
    process; a refresh that took longer than this delays the next by its own duration); 0 disables."""
    freeze_seconds: float = 1.0
    """Wall seconds between collect-and-freeze passes of the cyclic collector (see
    :mod:`flagship.sandbox._gc`); 0 leaves the collector alone."""


@dataclass(slots=True)
class _Pending:
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


_STOP = object()


def _response_json(outcome: Outcome) -> str:
    return canonical_json({"accepted": outcome.accepted,
                           "reason": None if outcome.reason is None else str(outcome.reason),
                           "effects": outcome.effects, "detail": outcome.detail})


def _stored_outcome(response: str) -> Outcome:
    data = orjson.loads(response)
    return Outcome(bool(data["accepted"]), data.get("reason"), data.get("effects") or EMPTY,
                   str(data.get("detail") or ""))


def _check_json(value: Any, path: str) -> None:
    """Refuse what canonical JSON would silently change (NaN, infinities) or cannot encode."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise InputError([Problem(where, "expected a finite number")])
        if isinstance(node, Mapping):
            stack.extend((child, f"{where}.{key}") for key, child in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((child, f"{where}.{i}") for i, child in enumerate(node))


def _normalize(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as the log will store it: a live handler sees exactly what a replay sees."""
    if not isinstance(payload, Mapping):
        raise InputError([Problem("payload", "expected a mapping")])
    _check_json(payload, "payload")
    try:
        normalized = orjson.loads(canonical_bytes(payload))
    except TypeError as exc:
        raise InputError([Problem("payload", f"not JSON-serialisable: {exc}")]) from None
    if not isinstance(normalized, dict):  # pragma: no cover - a Mapping encodes as an object
        raise InputError([Problem("payload", "expected a mapping")])
    return normalized


class Engine:
    """The single writer of one trial: owns the host, the queue, the log head and the key index."""

    def __init__(self, resolved: ResolvedScenario, trial: Trial, log: TrialLog, key: CheckpointKey, *,
                 options: EngineOptions | None = None, metrics: LiveMetrics | None = None,
                 shadow: ResolvedScenario | None = None, clock: Callable[[], float] = time.time) -> None:
        self.resolved = resolved
        self.trial = trial
        self.log = log
        self.key = key
        self.options = options or EngineOptions()
        self.metrics = metrics or LiveMetrics()
        self.shadow = shadow
        self.clock = clock
        self.duration = float(resolved.scenario.duration)
        self.host: Host | None = None
        self.status = "new"
        self.recovered_entries = 0
        self.recovered_state_hash = ""
        self._history: list[Commit] = []
        self._size = 0
        self._head = trial.genesis_hash()
        self._state_hash: tuple[float, str] | None = None  # (sim time, hash) of the last one computed
        self._index: dict[str, IdempotencyRecord] = {}
        self._queue: asyncio.Queue[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._settled: asyncio.Event | None = None
        self._measures_task: asyncio.Task[None] | None = None
        self._measured_size = -1
        self._resync = False
        self._backoff = self.options.retry_backoff
        self._backoff_until = 0.0
        self._last_checkpoint_size = 0
        self._last_checkpoint_time = clock()
        self._ended = False
        self._heap = FrozenHeap(self.options.freeze_seconds)
        self.metrics.time_factor.set(trial.time_factor)
        self.metrics.bind(sim_time=self.sim_time, log_entries=lambda: float(self._size),
                          queue_depth=lambda: float(self._queue.qsize() if self._queue else 0),
                          ready=lambda: 1.0 if self.ready else 0.0)

    # -- what the rest of the server reads ------------------------------------------------

    @property
    def ready(self) -> bool:
        """Taking actions: recovered, running, and not backing off after a failed commit."""
        return self.status == "ready" and not self._resync and time.monotonic() >= self._backoff_until

    @property
    def size(self) -> int:
        """Entries in the durable log."""
        return self._size

    @property
    def head_hash(self) -> str:
        """Hash of the last durable entry (the genesis hash for an empty log)."""
        return self._head

    @property
    def state_hash(self) -> str:
        """SHA-256 of every mechanism's snapshot now: the committed actions, at the trial's clock.

        It equals the state after the last commit unless a timer (a deadline, a sunset) has
        changed a mechanism since. Computed on read and kept until the next commit or clock
        step (a snapshot costs O(state), so commits carry it only with a checkpoint); read it
        when :meth:`settled`, or it may include a batch applied but not yet committed.
        """
        if self.host is None:
            return ""
        now = float(self.host.env.now)
        if self._state_hash is None or self._state_hash[0] != now:
            self._state_hash = (now, self.host.state_sha256())
        return self._state_hash[1]

    def sim_time(self) -> float:
        """The trial's simulated time now: the wall clock mapped, never behind the host, capped."""
        mapped = (self.clock() - self.trial.epoch) * self.trial.time_factor
        now = float(self.host.env.now) if self.host is not None else 0.0
        return min(self.duration, max(now, mapped))

    def lookup(self, base_key: str) -> IdempotencyRecord | None:
        """The committed record of an idempotency key (for the HTTP middleware)."""
        return self._index.get(base_key)

    def mechanism(self, name: str) -> Mechanism[Any]:
        """The live mechanism ``name`` (fetch it per request: a rebuild replaces it)."""
        if self.host is None or name not in self.host.mechanisms:
            raise UnknownNameError([Problem("mechanism", f"no mechanism {name!r} in this trial")])
        return self.host.mechanisms[name]

    # -- recovery ------------------------------------------------------------------------------

    def _new_host(self) -> Host:
        host = build_host(self.resolved, self.trial.seed)
        if host.log is None:
            raise ContractError("a live trial needs keep_actions = true")
        host.start()
        return host

    def recover(self) -> None:
        """Verify the trial's chain and rebuild every mechanism by replaying its log."""
        started = time.perf_counter()
        trial_id = self.trial.id
        entries = list(self.log.entries(trial_id))
        checkpoints = self.log.checkpoints(trial_id)
        verification = verify_chain(self.trial, entries, checkpoints)
        if not verification.ok:
            where = "" if verification.first_bad is None else f" at seq {verification.first_bad}"
            raise StoreError(f"trial {trial_id}: the log fails verification{where}: "
                             f"{verification.problem}")
        commits = commits_from_entries(entries)
        self._heap.thaw()  # the state replaced here may be frozen: let the collector reclaim it
        host = self._new_host()
        report = replay(host, commits, check=True, max_divergences=1)
        if not report.exact:
            raise ContractError(f"trial {trial_id}: replaying the log does not reproduce it "
                                f"({report.divergences[0]}); a mechanism or population is not "
                                "deterministic, or its code changed since the trial started")
        index: dict[str, IdempotencyRecord] = {}
        for entry in entries:
            if entry.idempotency_key is None or entry.request_hash is None or entry.response is None:
                continue
            base, position = parse_stored_key(entry.idempotency_key)
            record = index.get(base)
            if record is None:
                record = index[base] = IdempotencyRecord(entry.request_hash, {})
            record.outcomes[position] = _stored_outcome(entry.response)
        self.host = host
        self._history = commits
        self._size = len(entries)
        self._head = entries[-1].hash if entries else self.trial.genesis_hash()
        self._state_hash = (float(host.env.now), report.state_sha256)
        self._index = index
        self._last_checkpoint_size = checkpoints[-1].size if checkpoints else 0
        self._ended = float(host.env.now) >= self.duration
        self.recovered_entries = len(entries)
        self.recovered_state_hash = report.state_sha256
        self.metrics.recovery_duration.set(time.perf_counter() - started)
        if checkpoints:
            self.metrics.checkpoint_time.set(checkpoints[-1].time)

    def _rebuild(self, extra: Commit | None = None) -> Host:
        """A fresh host replayed from the in-memory durable history (plus ``extra``)."""
        started = time.perf_counter()
        self._heap.thaw()  # the host replaced here is frozen: let the collector reclaim it
        host = self._new_host()
        commits = self._history if extra is None else [*self._history, extra]
        report = replay(host, commits, check=True, max_divergences=1)
        if not report.exact:
            raise ContractError(f"rebuilding trial {self.trial.id} from its log diverges: "
                                f"{report.divergences[0]}")
        self.host = host
        self.metrics.recovery_duration.set(time.perf_counter() - started)
        return host

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover if needed, then start the writer task (and the measure refresher)."""
        if self.host is None:
            await asyncio.to_thread(self.recover)
        worker = None
        if self.options.measures_seconds > 0:
            worker = MeasureWorker(self.log.store.engine.url.render_as_string(hide_password=False),
                                   self.trial.id)
            await worker.start()
        self._queue = asyncio.Queue(maxsize=self.options.max_queue + 1)
        self._settled = asyncio.Event()
        self._settled.set()
        self.status = "ready"
        if self.options.freeze_seconds > 0:
            self._heap.freeze()
        self._task = asyncio.create_task(self._run(), name="flagship-engine")
        if worker is not None:
            self._measures_task = asyncio.create_task(self._measures_loop(worker), name="flagship-measures")

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
            await self._queue.put(_STOP)
            await self._task
        if not failed and not self._resync and self._size > self._last_checkpoint_size:
            try:
                self.log.write_checkpoint(self.trial.id, self._sign(), timeout=self.options.db_timeout)
                self._last_checkpoint_size = self._size
            except StoreError as exc:
                _log.warning("no final checkpoint for trial %s: %s", self.trial.id, exc)
        self._heap.thaw()
        self.status = "stopped"

    async def submit(self, mechanism: str, kind: str, payload: Mapping[str, Any], actor: str, *,
                     key: str | None = None, base_key: str | None = None, index: int = 0,
                     request_hash: str | None = None) -> Outcome:
        """Queue an action for the writer; returns its outcome once committed.

        Raises :class:`StoreUnavailableError` (503) when it could not be committed
        (nothing happened), :class:`TrialEndedError` past the scenario's duration,
        :class:`ShuttingDownError` while stopping.
        """
        if self.status != "ready" or self._queue is None:
            raise ShuttingDownError("the server is not taking actions (starting, stopping or failed)")
        if self._ended:
            raise TrialEndedError(f"the trial ended at sim time {self.duration}")
        wait = self._backoff_until - time.monotonic()
        if wait > 0:
            raise StoreUnavailableError("the store was unavailable; retry shortly", retry_after=wait)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        pending = _Pending(mechanism, kind, payload, actor, key, base_key, index, request_hash,
                           future, time.perf_counter())
        if self._queue.qsize() >= self.options.max_queue:
            raise StoreUnavailableError("the engine queue is full; retry shortly", retry_after=1.0)
        self._queue.put_nowait(pending)
        return await future

    # -- the writer ---------------------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        if queue is None:  # pragma: no cover - start() sets it first
            return
        while True:
            first: Any = None
            try:
                async with asyncio.timeout(self.options.tick_seconds):
                    first = await queue.get()
            except TimeoutError:
                first = None
            batch: list[_Pending] = []
            stop = first is _STOP
            if first is not None and not stop:
                batch.append(first)
            while not stop and len(batch) < self.options.max_batch:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)
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
            await asyncio.sleep(0)  # let readers woken by the commit run before the next batch

    @staticmethod
    def _fail(items: Sequence[_Pending], error: BaseException) -> None:
        for item in items:
            if not item.future.done():
                item.future.set_exception(error)

    async def settled(self) -> None:
        """Wait until no batch is between apply and commit: state read now is committed state."""
        if self._settled is not None:
            await self._settled.wait()

    async def _step(self, batch: list[_Pending]) -> None:
        if self._settled is not None:
            self._settled.clear()
        try:
            await self._step_unsettled(batch)
        finally:
            if self._settled is not None:
                self._settled.set()

    async def _step_unsettled(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        live = [item for item in batch if not item.future.done()]  # a cancelled caller: skip
        for item in live:
            self.metrics.queue_wait.observe(started - item.enqueued)
        wait = self._backoff_until - time.monotonic()
        if wait > 0:
            self._fail(live, StoreUnavailableError("the store is unavailable; retry shortly",
                                                   retry_after=wait))
            return
        if self._resync:
            try:
                await self._check_head()
            except StoreError as exc:
                self._commit_failed(live, exc, rebuild=False)
                return
        await self._apply_and_commit(live, self.sim_time())

    async def _check_head(self) -> None:
        """After a failed commit: did it land after all? If the database moved, reload from it."""
        size, head = await asyncio.to_thread(self.log.head, self.trial.id)
        if size != self._size or (head or self.trial.genesis_hash()) != self._head:
            _log.warning("trial %s: the database holds %d entries, memory %d; reloading from the log",
                         self.trial.id, size, self._size)
            self.recover()
        self._resync = False

    async def _apply_and_commit(self, items: list[_Pending], target: float) -> None:
        host = self.host
        if host is None or host.log is None:  # pragma: no cover - recover() runs before start()
            raise ContractError("the engine has no host")
        log = host.log
        start = host.committed
        advance(host, target)
        now = float(host.env.now)
        ended = now >= self.duration
        results: list[tuple[_Pending, Outcome | BaseException]] = []
        ours: dict[int, _Pending] = {}
        remaining: list[_Pending] = []
        broken = False
        for position, item in enumerate(items):
            if ended:
                results.append((item, TrialEndedError(f"the trial ended at sim time {self.duration}")))
                continue
            if item.base_key is not None:
                record = self._index.get(item.base_key)
                if record is not None and item.index in record.outcomes:  # committed meanwhile
                    results.append((item, record.outcomes[item.index]))
                    continue
            action = Action(now, item.actor, item.kind, item.payload)
            try:
                outcome = host.submit(item.mechanism, action)
            except Exception as exc:  # a mechanism bug: this action fails, its partial effects go
                _log.exception("mechanism %s raised on %s", item.mechanism, item.kind)
                results.append((item, MechanismFailedError(
                    f"{item.mechanism} raised {type(exc).__name__} handling {item.kind!r}")))
                remaining = items[position + 1:]
                broken = True
                break
            ours[id(action)] = item
            results.append((item, outcome))
        recorded = tuple(
            Recorded(self._size + offset, log.mechanisms[i], log.actions[i], log.outcomes[i],
                     id(log.actions[i]) in ours)
            for offset, i in enumerate(range(start, len(log))))
        if broken:
            # Replaying the history plus what applied cleanly drops the failed action's half-effects.
            host = self._rebuild(Commit(now, recorded, None))
        if recorded:
            # A snapshot costs O(state), so only commits that carry a checkpoint carry one:
            # recovery and replay check the state at each of them.
            due = self._checkpoint_due(self._size + len(recorded))
            state_hash = host.state_sha256() if due else None
            entries = self._entries(recorded, ours, now, state_hash)
            checkpoint = self.key.sign(self.trial.id, self._size + len(entries), entries[-1].hash,
                                       self.clock()) if due else None
            commit_started = time.perf_counter()
            try:
                # In a thread, so the loop goes on reading requests meanwhile: they form the next
                # batch (group commit). Readers wait for settled(), so they never see this batch
                # before it is committed.
                await asyncio.to_thread(self.log.append, self.trial.id, entries, checkpoint,
                                        timeout=self.options.db_timeout)
            except StoreError as exc:
                self._commit_failed([item for item, _ in results] + remaining, exc, rebuild=True)
                return
            self.metrics.commit_duration.observe(time.perf_counter() - commit_started)
            host.committed = len(host.log) if host.log is not None else 0  # (host may be rebuilt)
            self._committed(entries, recorded, ours, now, state_hash, checkpoint)
        for item, result in results:
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
                self.metrics.ack_latency.labels(item.mechanism).observe(time.perf_counter() - item.enqueued)
        if ended and not self._ended:
            self._ended = True
            try:
                self.log.set_status(self.trial.id, "finished")
            except StoreError as exc:
                _log.warning("could not mark trial %s finished: %s", self.trial.id, exc)
        if remaining:
            await self._apply_and_commit(remaining, target)

    def _entries(self, recorded: Sequence[Recorded], ours: Mapping[int, _Pending], now: float,
                 state_hash: str | None) -> list[LogEntry]:
        entries: list[LogEntry] = []
        prev = self._head
        last = len(recorded) - 1
        empty = "{}"
        for offset, rec in enumerate(recorded):
            item = ours.get(id(rec.action)) if rec.external else None
            action, outcome = rec.action, rec.outcome
            entry = make_entry(
                self.trial.id, prev, seq=rec.seq, time=action.time, mechanism=rec.mechanism,
                actor=action.actor, kind=action.kind,
                payload=canonical_json(action.payload) if action.payload else empty,
                accepted=outcome.accepted, reason=None if outcome.reason is None else str(outcome.reason),
                effects=canonical_json(outcome.effects) if outcome.effects else empty,
                origin="http" if rec.external else "sim",
                idempotency_key=item.key if item is not None else None,
                request_hash=item.request_hash if item is not None else None,
                response=_response_json(outcome) if item is not None else None,
                clock=now if offset == last else None, state_hash=state_hash if offset == last else None)
            entries.append(entry)
            prev = entry.hash
        return entries

    def _committed(self, entries: Sequence[LogEntry], recorded: tuple[Recorded, ...],
                   ours: Mapping[int, _Pending], now: float, state_hash: str | None,
                   checkpoint: Checkpoint | None) -> None:
        self._size += len(entries)
        self._head = entries[-1].hash
        self._state_hash = None if state_hash is None else (now, state_hash)
        self._history.append(Commit(now, recorded, state_hash))
        self._backoff = self.options.retry_backoff
        for rec in recorded:
            outcome = rec.outcome
            self.metrics.actions.labels(rec.mechanism, "http" if rec.external else "sim",
                                        "accepted" if outcome.accepted else "rejected",
                                        "" if outcome.reason is None else str(outcome.reason)).inc()
            item = ours.get(id(rec.action)) if rec.external else None
            if item is None or item.base_key is None or item.request_hash is None:
                continue
            record = self._index.get(item.base_key)
            if record is None:
                record = self._index[item.base_key] = IdempotencyRecord(item.request_hash, {})
            record.outcomes[item.index] = outcome
        self.metrics.commit_entries.observe(len(entries))
        if checkpoint is not None:
            self._last_checkpoint_size = checkpoint.size
            self._last_checkpoint_time = checkpoint.time
            self.metrics.checkpoint_time.set(checkpoint.time)

    def _commit_failed(self, items: Sequence[_Pending], exc: StoreError, *, rebuild: bool) -> None:
        # str(exc): a kept log record must not keep the failed batch's frame (and the old host) alive.
        _log.warning("trial %s: commit failed, answering 503: %s", self.trial.id, str(exc))
        self.metrics.commit_failures.inc()
        self._backoff_until = time.monotonic() + self._backoff
        error = StoreUnavailableError(f"the action was not committed: {exc}", retry_after=self._backoff)
        self._backoff = min(self.options.max_backoff, self._backoff * 2)
        self._resync = True
        if rebuild:
            self._rebuild()  # memory must equal the durable log again
        self._fail(items, error)

    def _checkpoint_due(self, size: int) -> bool:
        """Whether the commit that brings the log to ``size`` entries carries a checkpoint."""
        grown = size - self._last_checkpoint_size
        return grown > 0 and (grown >= self.options.checkpoint_every or
                              self.clock() - self._last_checkpoint_time >= self.options.checkpoint_seconds)

    def _sign(self) -> Checkpoint:
        return self.key.sign(self.trial.id, self._size, self._head, self.clock())

    # -- measures ---------------------------------------------------------------------------

    def _arms(self) -> list[tuple[str, ResolvedScenario]]:
        arms: list[tuple[str, ResolvedScenario]] = [("live", self.resolved)]
        if self.shadow is not None:
            arms.append(("shadow", self.shadow))
        return arms

    async def _measures_loop(self, worker: MeasureWorker) -> None:
        try:
            while True:
                duration = 0.0
                if self._size != self._measured_size:
                    size = self._size
                    started = time.perf_counter()
                    try:
                        measured = await worker.refresh(self._arms(), self.trial.seed, size)
                    except Exception as exc:  # a measure that cannot be computed must not stop the server
                        _log.warning("measures could not be refreshed: %s", exc)
                    else:
                        for arm, values in measured:
                            self.metrics.set_measures(arm, values)
                        self._measured_size = size
                    duration = time.perf_counter() - started
                    self.metrics.measures_refresh.set(duration)
                # A long trial's replay can outgrow the interval: then refresh at most half the time.
                await asyncio.sleep(max(self.options.measures_seconds, duration))
        finally:
            worker.close()

    def measures_now(self) -> ArmMeasures:
        """Replay the durable history per arm, in this process, and return each arm's current measures."""
        return measure_arms(self._arms(), self.trial.seed, list(self._history))


# -- the gateway: what wings' routes see -------------------------------------------------------


class LiveGateway:
    """The server side of :class:`flagship.mechanisms.Gateway` for wings' routes."""

    def __init__(self, engine: Engine, authenticators: Sequence[Authenticator] = ()) -> None:
        self.engine = engine
        self.authenticators: Sequence[Authenticator] = authenticators

    @property
    def now(self) -> float:
        """Current simulated time of the trial."""
        return self.engine.sim_time()

    async def submit(self, mechanism: str, kind: str, payload: Mapping[str, Any], *,
                     actor: str) -> Outcome:
        """Hand an action to the single writer; its outcome once committed.

        Under an ``Idempotency-Key`` whose action is already committed, returns the
        stored outcome without acting again.
        """
        if self.engine.host is not None and mechanism not in self.engine.host.mechanisms:
            raise UnknownNameError([Problem("mechanism", f"no mechanism {mechanism!r} in this trial")])
        if not isinstance(actor, str) or not actor:
            raise InputError([Problem("actor", "expected a non-empty string")])
        if not isinstance(kind, str) or not kind:
            raise InputError([Problem("kind", "expected a non-empty string")])
        normalized = _normalize(payload)
        context = current_idempotency()
        if context is None:
            return await self.engine.submit(mechanism, kind, normalized, actor)
        index = context.submits
        context.submits += 1
        stored = context.stored.get(index)
        if stored is not None:
            return stored
        return await self.engine.submit(mechanism, kind, normalized, actor, key=context.key_for(index),
                                        base_key=context.base_key, index=index,
                                        request_hash=context.request_hash)

    async def act(self, mechanism: str, kind: str, payload: Mapping[str, Any], *,
                  actor: str) -> Outcome:
        """:meth:`submit`; a rejected outcome is raised as ActionRejected with its declared status."""
        outcome = await self.submit(mechanism, kind, payload, actor=actor)
        if outcome.accepted:
            return outcome
        status = type(self.engine.mechanism(mechanism)).status_of(str(outcome.reason))
        raise ActionRejected(str(outcome.reason), outcome.detail, status=status)

    def mechanism(self, name: str) -> Mechanism[Any]:
        """Read-only access to a live mechanism (fetch it per request; never mutate it)."""
        return self.engine.mechanism(name)

    def secret(self, purpose: str) -> bytes:
        """32 bytes for ``purpose`` derived from the trial's checkpoint key (see Gateway.secret)."""
        if not isinstance(purpose, str) or not purpose:
            raise InputError([Problem("purpose", "expected a non-empty string")])
        return self.engine.key.derive(purpose)

    async def principal(self, request: Request) -> Principal:
        """The authenticated caller, or :class:`AuthError` (401) when nobody could be authenticated.

        A FastAPI dependency (``Depends(gateway.principal)``): the server's middleware has
        authenticated the request already and left the principal in its scope.
        """
        scope = request.scope
        if PRINCIPAL_SCOPE_KEY in scope:
            principal: Principal | None = scope[PRINCIPAL_SCOPE_KEY]
        else:  # the route runs without the middleware (a unit test of a router)
            principal = None
            body = await request.body()
            for authenticator in self.authenticators:
                principal = await authenticator.authenticate(request, body)
                if principal is not None:
                    break
        if principal is None:
            raise AuthError("UNAUTHENTICATED", "no credentials this server accepts were presented")
        return principal


def load_authenticators(spec: LiveSpec, gateway: LiveGateway) -> list[Authenticator]:
    """Build the scenario's authenticators from the ``flagship.authenticators`` entry points.

    Each entry point names a factory called as ``factory(gateway, options)`` where
    ``options`` is the scenario's ``[live.auth.<name>]`` table; it returns an object
    with a ``scheme`` and an ``async authenticate(request, body)``.
    """
    available = {ep.name: ep for ep in entry_points(group=AUTHENTICATOR_GROUP)}
    problems: list[Problem] = []
    built: list[Authenticator] = []
    for position, name in enumerate(spec.authenticators):
        ep = available.get(name)
        if ep is None:
            problems.append(Problem(f"live.authenticators.{position}",
                                    f"unknown authenticator {name!r}; known: "
                                    f"{', '.join(sorted(available)) or 'none'}"))
            continue
        try:
            factory = ep.load()
        except Exception as exc:
            raise ContractError(f"authenticator plug-in {name!r} ({ep.value}) failed to load: "
                                f"{exc}") from exc
        try:
            authenticator = factory(gateway, dict(spec.auth.get(name, {})))
        except InputError as exc:
            problems.extend(Problem(f"live.auth.{name}.{p.path}".rstrip("."), p.message)
                            for p in exc.problems)
            continue
        if not isinstance(getattr(authenticator, "scheme", None), str) or \
                not callable(getattr(authenticator, "authenticate", None)):
            raise ContractError(f"authenticator {name!r} ({ep.value}) returned {authenticator!r}, "
                                "which has no scheme or authenticate()")
        built.append(authenticator)
    for name in spec.auth:
        if name not in spec.authenticators:
            problems.append(Problem(f"live.auth.{name}", "options for an authenticator that "
                                                         "live.authenticators does not name"))
    if problems:
        raise ScenarioError(problems)
    return built


# -- the app -------------------------------------------------------------------------------------


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


def create_app(engine: Engine, *, spec: LiveSpec | None = None,
               authenticators: Sequence[Authenticator] | None = None) -> FastAPI:
    """The FastAPI app serving ``engine``'s trial: core routes plus every mechanism's own.

    Mounts ``Mechanism.http(name, gateway)`` for each mechanism of the scenario that
    has routes. Every route must be ``async def`` (so it runs on the writer's event
    loop and reads committed state only) and live under ``/v1/``; two mechanisms may
    not claim the same path. ``authenticators`` replaces the scenario's (for tests).
    """
    spec = spec or LiveSpec()
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
                  openapi_url="/openapi.json", redoc_url=None)
    schemes = [a.scheme for a in gateway.authenticators]
    install_problem_handlers(app, www_authenticate=lambda: ", ".join(schemes))
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
        body, content_type = engine.metrics.render(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type})

    @app.get("/v1/trial", response_model=TrialInfo, tags=["trial"])
    async def trial() -> TrialInfo:
        """The trial: id, clock, durable log size and head, the state's hash now."""
        await engine.settled()
        return TrialInfo(
            trial_id=engine.trial.id, scenario=engine.resolved.scenario.name,
            status="finished" if engine.sim_time() >= engine.duration else engine.trial.status,
            time_factor=engine.trial.time_factor, epoch=engine.trial.epoch, sim_time=engine.sim_time(),
            duration=engine.duration, log_size=engine.size, head_hash=engine.head_hash,
            state_sha256=engine.state_hash, recovered_entries=engine.recovered_entries,
            recovered_state_sha256=engine.recovered_state_hash,
            mechanisms=list(engine.resolved.mechanism_configs), shadow=shadow)

    core = {getattr(route, "path", "") for route in app.router.routes}
    # The routes the middleware matches requests against (for metric labels and the POST rule),
    # kept here rather than read back from the app, whose inclusion machinery is FastAPI's own.
    table: list[BaseRoute] = [route for route in app.router.routes if hasattr(route, "path")]
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
                                    "engine's loop, which is what makes reads consistent)")
            methods = sorted(getattr(route, "methods", None) or ())
            for method in methods or [""]:
                owner = claimed.get(f"{method} {path}")
                if owner is not None or path in core:
                    raise ContractError(f"{name}.http: {method} {path} is already served "
                                        f"by {owner or 'the server'}")
                claimed[f"{method} {path}"] = name
        app.include_router(router)
        table.extend(router.routes)

    app.add_middleware(LiveMiddleware, context=LiveHttpContext(
        limits=spec.limits, authenticators=gateway.authenticators, index=engine,
        metrics=engine.metrics, routes=lambda: table, settled=engine.settled))

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
               announce: Callable[[str], None] = print) -> None:
    """``flagship serve``: open the store, resume or start the trial, recover, serve until stopped.

    Recovery runs before the socket opens, so a trial whose log fails verification
    or does not replay never serves. Stops gracefully on SIGINT/SIGTERM (queued
    actions finish, a last checkpoint is signed).
    """
    import uvicorn  # noqa: PLC0415 - only the server needs it

    live = load_live_scenario(scenario, overrides, arm=arm)
    url = db or live.resolved.scenario.store
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("flagship").setLevel(logging.INFO)
    from flagship.telemetry import Store  # noqa: PLC0415 - keeps this module's import light for tests

    store = Store.open(url, durable=True)
    try:
        log = TrialLog(store)
        keys = Path(key_dir) if key_dir is not None else default_key_dir(url)
        opened, key, resumed = open_trial(log, live, key_dir=keys,
                                          trial_id=trial, new=new_trial, time_factor=time_factor)
        engine = Engine(live.resolved, opened, log, key, options=options or EngineOptions(),
                        metrics=LiveMetrics(),
                        shadow=shadow_scenario(opened, shadow) if shadow else None)
        engine.recover()
        application = create_app(engine, spec=live.spec)
        announce(f"flagship: trial {opened.id} {'resumed' if resumed else 'started'} "
                 f"({engine.size} log entries, time factor {opened.time_factor}); "
                 f"serving on http://{host}:{port}")
        config = uvicorn.Config(application, host=host, port=port, log_level="warning",
                                access_log=access_log, ws="none", lifespan="on",
                                timeout_graceful_shutdown=10)
        uvicorn.Server(config).run()
    finally:
        store.close()
