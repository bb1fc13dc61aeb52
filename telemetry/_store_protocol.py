"""The store seam: what drivers (the CLI, sweeps, the live server) need from a store.

:class:`RunStore` is the protocol; :class:`flagship.telemetry.Store` (SQLAlchemy, on SQLite or
PostgreSQL) implements it and :func:`flagship.telemetry.open_store` opens one from a URL.
Drivers type their stores as :class:`RunStore` and never reach into an engine or a table, so
another backend is one new class, with no change to a driver.

Lifecycle: ``open_store(url)`` connects and migrates; the store is used as a context manager
(``close`` releases connections); every write is one transaction, every read sees only committed
runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flagship.telemetry._recorder import SeriesPoint
from flagship.telemetry._run import ActionRow, RunResult

__all__ = ["DEFAULT_URL", "Registration", "RunStore", "StoredRun", "StoredSweep"]

DEFAULT_URL = "sqlite:///flagship.db"


@dataclass(frozen=True)
class StoredRun:
    """A run as the store has it (without its action log, which is read separately)."""

    id: str
    sweep_id: str
    cell: str
    arm: str
    seed: int
    replication: int
    scenario: str
    status: str
    error: str | None
    manifest: dict[str, Any]
    wall_seconds: float
    sim_time: float
    n_actions: int
    action_log_sha256: str | None
    state_sha256: str | None
    events: dict[str, int]
    counters: dict[str, float]
    created_at: dt.datetime
    measures: dict[str, float | None]


@dataclass(frozen=True)
class StoredSweep:
    """A sweep (or ``flagship run`` batch) as recorded: its kind, scenario name and spec."""

    id: str
    kind: str
    scenario: str
    created_at: dt.datetime
    spec: dict[str, Any]


@dataclass(frozen=True)
class Registration:
    """A preregistered analysis plan: a criteria file's text, its SHA-256 and when it was stored."""

    id: str
    sha256: str
    source: str
    text: str
    created_at: dt.datetime


class RunStore(Protocol):
    """Runs, sweeps, their measures, series and action logs: what a driver reads and writes."""

    @property
    def url(self) -> str:
        """The store's URL with any password hidden (for messages)."""
        ...

    @property
    def private_url(self) -> str:
        """The store's URL with its credentials, for a worker process that opens it again."""
        ...

    def close(self) -> None:
        """Release every connection."""
        ...

    def __enter__(self) -> RunStore:
        ...

    def __exit__(self, *exc: object) -> None:
        ...

    def schema_version(self) -> str | None:
        """The schema revision the store is at."""
        ...

    def create_sweep(self, kind: str, scenario: str, spec: dict[str, Any],
                     sweep_id: str | None = None) -> str:
        """Record a batch of runs (a ``flagship run`` or a sweep); returns its id."""
        ...

    def save_run(self, result: RunResult, sweep_id: str | None = None) -> None:
        """Write a run with everything it recorded, in one transaction (idempotent per key)."""
        ...

    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the one run whose id starts with ``prefix``."""
        ...

    def run(self, run_id: str) -> StoredRun:
        """The run with id (or unique id prefix) ``run_id``."""
        ...

    def runs(self, *, sweep_id: str | None = None, ids: Sequence[str] | None = None,
             status: str | None = None) -> list[StoredRun]:
        """Runs, oldest first, optionally of one sweep, with these ids, or with a status."""
        ...

    def measure_rows(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every measure row (scope, name, area, unit, direction, value) of these runs."""
        ...

    def actions(self, run_id: str) -> Iterator[ActionRow]:
        """A run's action log in order, as stored."""
        ...

    def run_series(self, run_id: str) -> list[SeriesPoint]:
        """A run's series points, ordered by scope, name and time."""
        ...

    def completed_keys(self, sweep_id: str) -> set[tuple[str, str, int]]:
        """The (cell, arm, seed) keys of a sweep's completed runs."""
        ...

    def resolve_sweep_id(self, prefix: str) -> str:
        """The full id of the one sweep whose id starts with ``prefix``."""
        ...

    def sweep(self, sweep_id: str) -> StoredSweep:
        """The sweep with id (or unique id prefix) ``sweep_id``."""
        ...

    def sweep_measures(self, sweep_id: str) -> list[dict[str, Any]]:
        """Every measure of a sweep's completed runs, with the run's cell, arm and seed."""
        ...

    def sweep_series(self, sweep_id: str) -> list[dict[str, Any]]:
        """Every series point of a sweep's completed runs, with the run's cell, arm and seed."""
        ...

    def sweep_summaries(self) -> list[dict[str, Any]]:
        """Every sweep (and run batch), oldest first, with its completed and failed run counts."""
        ...

    def sweep_ids(self) -> list[str]:
        """Every sweep (and run batch) id, oldest first."""
        ...

    def preregister(self, text: str, sha256: str, source: str = "") -> Registration:
        """Store a criteria file's text and hash with the current time (a locked analysis plan)."""
        ...

    def registrations(self, sha256: str) -> list[Registration]:
        """Every registration of the criteria with this hash, oldest first."""
        ...

    def first_run_stored(self, sweep_id: str) -> dt.datetime | None:
        """When the sweep's first run was stored (None: no runs yet)."""
        ...
