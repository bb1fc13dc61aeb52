"""The SQL store: runs, their action logs and their measures, in SQLite or PostgreSQL.

Opening a store applies any pending Alembic migration (shipped in
``telemetry/migrations``), under an advisory lock on PostgreSQL so concurrent
openers do not race. A store already at :data:`SCHEMA_HEAD` is only read, and Alembic is
not even imported: most commands open a store that is current, and loading Alembic and its
migration scripts cost each of them about 80 ms (the import and open of a current store, medians
of 20 alternating runs: 461 ms before, 379 ms after).

Each run is written in one transaction. Action logs are bulk-loaded: through the driver's
``executemany`` on SQLite and through ``COPY`` on PostgreSQL (psycopg 3), both far faster than
row-by-row ORM inserts.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from flagship.mechanisms._errors import InputError, Problem, RunNotFoundError, StoreError, UnknownNameError
from flagship.telemetry import _postgres, _sqlite
from flagship.telemetry._recorder import SeriesPoint
from flagship.telemetry._run import ActionRow, RunResult
from flagship.telemetry._schema import actions, measures, registrations, runs, series, summaries, sweeps
from flagship.telemetry._store_protocol import DEFAULT_URL, Registration, RunStore, StoredRun, StoredSweep

__all__ = ["SCHEMA_HEAD", "Store", "open_store"]
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA_HEAD = "0008"
"""The newest revision in ``migrations/versions`` (a test checks it is Alembic's head)."""
_ACTION_COLUMNS = ("run_id", "seq", "time", "mechanism", "actor", "kind", "payload", "accepted",
                   "reason", "effects")
_BATCH = 10_000


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes: every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _finite_or_null(bound: float) -> float | None:
    """A measure's bound as stored: an infinite side is NULL (SQL has no portable infinity)."""
    return bound if math.isfinite(bound) else None


def open_store(url: str = DEFAULT_URL, *, durable: bool = False) -> RunStore:
    """The store at ``url``, connected and migrated (see :meth:`Store.open`)."""
    return Store.open(url, durable=durable)


class Store:
    """A Flagship store at a SQLAlchemy URL (``sqlite:///…`` or ``postgresql+psycopg://…``).

    Implements :class:`~flagship.telemetry.RunStore`; what differs between SQLite and
    PostgreSQL (connection pragmas, bulk loading, the migration lock) lives in
    :mod:`~flagship.telemetry._sqlite` and :mod:`~flagship.telemetry._postgres`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)

    @property
    def private_url(self) -> str:
        """The URL with its credentials, for a worker process that opens the store again."""
        return self.engine.url.render_as_string(hide_password=False)

    @classmethod
    def open(cls, url: str = DEFAULT_URL, *, durable: bool = False) -> Store:
        """Connect and migrate to the newest schema.

        ``durable`` makes SQLite fsync every commit (``synchronous=FULL``), which the
        live pilot needs; batch runs use WAL with ``synchronous=NORMAL``, safe against
        process crashes though not power loss.
        """
        try:
            parsed = sa.make_url(url)
        except ArgumentError:
            raise InputError([Problem("db", f"expected a SQLAlchemy URL such as {DEFAULT_URL}, "
                                            f"got {url!r}")]) from None
        try:
            engine = sa.create_engine(parsed)
        except (NoSuchModuleError, ArgumentError, ImportError) as exc:
            raise InputError([Problem("db", f"unsupported database URL {url!r}: {exc}")]) from None
        if engine.dialect.name == "sqlite":
            _sqlite.configure(engine, parsed.database, durable=durable)
        store = cls(engine)
        try:
            store._migrate()
        except BaseException:
            engine.dispose()  # a store that could not be opened keeps no connection open
            raise
        return store

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        try:
            if self._at_head():
                return
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open store {self.url}: {_short(exc)}") from exc
        from alembic import command  # noqa: PLC0415 - only a store behind the code pays for Alembic
        from alembic.config import Config as AlembicConfig  # noqa: PLC0415
        from alembic.util import CommandError  # noqa: PLC0415

        config = AlembicConfig()
        config.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    _postgres.lock_migrations(conn)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open store {self.url}: {_short(exc)}") from exc
        except CommandError as exc:  # a revision this code does not know: a newer Flagship wrote it
            raise StoreError(f"cannot open store {self.url}: its schema is not one this version of "
                             f"Flagship knows (newest known: {SCHEMA_HEAD}): {exc}") from exc

    def _at_head(self) -> bool:
        """Whether the database records :data:`SCHEMA_HEAD` as its one revision (read only: an
        opener that finds it behind, or ahead, migrates under the lock, and Alembic decides)."""
        return self._revisions() == [SCHEMA_HEAD]

    def schema_version(self) -> str | None:
        """The Alembic revision the database is at (None before the first migration)."""
        revisions = self._revisions()
        return revisions[0] if revisions else None

    def _revisions(self) -> list[str]:
        """The revisions ``alembic_version`` records (none when the table is missing)."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return []
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        return [str(row[0]) for row in rows]

    # -- writing ------------------------------------------------------------------------

    def create_sweep(self, kind: str, scenario: str, spec: dict[str, Any],
                     sweep_id: str | None = None) -> str:
        """Record a batch of runs (a ``flagship run`` or a sweep); returns its id.

        Recording an existing id again keeps its record, unless the new spec asks for more
        replications: a resumed sweep with more seeds then records the larger design.
        """
        sweep_id = sweep_id or uuid.uuid4().hex
        with self._begin() as conn:
            exists = conn.execute(sa.select(sweeps.c.id, sweeps.c.spec)
                                  .where(sweeps.c.id == sweep_id)).first()
            if exists is None:
                conn.execute(sweeps.insert().values(id=sweep_id, kind=kind, scenario=scenario,
                                                    created_at=_now(), spec=spec))
            elif _replications(spec) > _replications(exists.spec):
                conn.execute(sweeps.update().where(sweeps.c.id == sweep_id).values(spec=spec))
        return sweep_id

    def save_run(self, result: RunResult, sweep_id: str | None = None) -> None:
        """Write a run, its measures, summaries, series and action log in one transaction.

        Idempotent by (sweep, cell, arm, seed): a completed run with that key is kept
        and the new one dropped; a failed one is replaced.
        """
        sweep_id = sweep_id or result.sweep_id
        if sweep_id is None:
            sweep_id = self.create_sweep("run", result.scenario, {"scenario": result.manifest.get(
                "scenario_file", "")})
        key = (sweep_id, result.cell or "", result.arm or "", result.seed)
        telemetry = result.telemetry
        with self._begin() as conn:
            existing = conn.execute(
                sa.select(runs.c.id, runs.c.status).where(
                    runs.c.sweep_id == key[0], runs.c.cell == key[1], runs.c.arm == key[2],
                    runs.c.seed == key[3])
            ).first()
            if existing is not None:
                if existing.status == "completed":
                    return
                conn.execute(runs.delete().where(runs.c.id == existing.id))
                for table in (actions, measures, summaries, series):
                    conn.execute(table.delete().where(table.c.run_id == existing.id))
            conn.execute(runs.insert().values(
                id=result.run_id, sweep_id=key[0], cell=key[1], arm=key[2], seed=result.seed,
                replication=result.replication, scenario=result.scenario, status=result.status,
                error=result.error, manifest=result.manifest, wall_seconds=result.wall_seconds,
                sim_time=result.sim_time, n_actions=result.n_actions,
                action_log_sha256=result.action_log_sha256, state_sha256=result.state_sha256,
                events=result.events, counters=telemetry.counters if telemetry else {},
                created_at=_now(),
            ))
            if telemetry is not None:
                if telemetry.measures:
                    conn.execute(measures.insert(), [
                        {"run_id": result.run_id, "scope": m.scope, "name": m.name, "area": m.area,
                         "unit": m.unit, "higher_is_better": m.higher_is_better, "value": m.value,
                         "low": _finite_or_null(m.bounds[0]), "high": _finite_or_null(m.bounds[1])}
                        for m in telemetry.measures])
                if telemetry.summaries:
                    conn.execute(summaries.insert(), [
                        {"run_id": result.run_id, "scope": s.scope, "name": s.name,
                         "count": s.count, "mean": s.mean, "min": s.min, "p50": s.p50,
                         "p90": s.p90, "p99": s.p99, "max": s.max}
                        for s in telemetry.summaries])
                if telemetry.series:
                    self._bulk(conn, "series", ("run_id", "scope", "name", "time", "value"),
                               ((result.run_id, p.scope, p.name, p.time, p.value)
                                for p in telemetry.series))
            if result.actions:
                self.write_actions(conn, result.run_id, result.actions)

    def write_actions(self, conn: Connection, run_id: str, rows: Iterable[ActionRow]) -> None:
        """Bulk-load an action log inside the caller's transaction."""
        self._bulk(conn, "actions", _ACTION_COLUMNS, ((run_id, *row) for row in rows))

    def _bulk(self, conn: Connection, table: str, columns: Sequence[str],
              rows: Iterable[tuple[Any, ...]]) -> None:
        dialect = conn.dialect.name
        raw: Any = conn.connection.dbapi_connection  # the driver's own connection: COPY lives there
        if raw is None:  # pragma: no cover - a live Connection always has one
            raise StoreError("the database connection is closed")
        if dialect == "postgresql" and conn.dialect.driver == "psycopg":
            _postgres.copy_rows(raw, table, columns, rows)
        elif dialect == "sqlite":
            _sqlite.insert_rows(raw, table, columns, rows)
        else:
            target = sa.table(table, *(sa.column(c) for c in columns))
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(dict(zip(columns, row, strict=True)))
                if len(batch) >= _BATCH:
                    conn.execute(target.insert(), batch)
                    batch = []
            if batch:
                conn.execute(target.insert(), batch)

    def _begin(self) -> Any:
        return _Transaction(self.engine)

    # -- reading ------------------------------------------------------------------------

    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the one run whose id starts with ``prefix``."""
        with self.engine.connect() as conn:
            ids = conn.execute(sa.select(runs.c.id).where(runs.c.id.startswith(prefix, autoescape=True))
                               .limit(2)).scalars().all()
        if len(ids) == 1:
            return str(ids[0])
        if not ids:
            raise RunNotFoundError(prefix)
        raise InputError([Problem("run", f"{prefix!r} matches several runs; give more characters")])

    def run(self, run_id: str) -> StoredRun:
        """The run with id (or unique id prefix) ``run_id``."""
        full = self.resolve_run_id(run_id)
        found = self.runs(ids=[full])
        return found[0]

    def runs(self, *, sweep_id: str | None = None, ids: Sequence[str] | None = None,
             status: str | None = None) -> list[StoredRun]:
        """Runs, oldest first, optionally of one sweep, with these ids, or with a status."""
        query = sa.select(runs).order_by(runs.c.created_at, runs.c.arm, runs.c.replication)
        if sweep_id is not None:
            query = query.where(runs.c.sweep_id == sweep_id)
        if ids is not None:
            query = query.where(runs.c.id.in_(list(ids)))
        if status is not None:
            query = query.where(runs.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            run_ids = [row["id"] for row in rows]
            values: dict[str, dict[str, float | None]] = {run_id: {} for run_id in run_ids}
            if run_ids:
                for m in conn.execute(sa.select(measures).where(measures.c.run_id.in_(run_ids))
                                      .order_by(measures.c.scope, measures.c.name)).mappings():
                    values[m["run_id"]][f"{m['scope']}.{m['name']}"] = m["value"]
        return [StoredRun(measures=values[row["id"]],
                          **{k: v for k, v in row.items()}) for row in rows]

    def measure_rows(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every measure row (scope, name, area, unit, direction, value) of these runs."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(measures).where(measures.c.run_id.in_(list(run_ids)))
                                .order_by(measures.c.scope, measures.c.name)).mappings().all()
        return [dict(row) for row in rows]

    def actions(self, run_id: str) -> Iterator[ActionRow]:
        """A run's action log in order, as stored."""
        query = (sa.select(*(actions.c[c] for c in _ACTION_COLUMNS[1:]))
                 .where(actions.c.run_id == run_id).order_by(actions.c.seq))
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                seq, time, mechanism, actor, kind, payload, accepted, reason, effects = row
                yield (seq, time, mechanism, actor, kind, payload, bool(accepted), reason, effects)

    def run_series(self, run_id: str) -> list[SeriesPoint]:
        """A run's series points, ordered by scope, name and time."""
        query = sa.select(series).where(series.c.run_id == run_id).order_by(
            series.c.scope, series.c.name, series.c.time)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read series of run {run_id}: {_short(exc)}") from exc
        return [SeriesPoint(str(r["scope"]), str(r["name"]), float(r["time"]), float(r["value"]))
                for r in rows]

    def completed_keys(self, sweep_id: str) -> set[tuple[str, str, int]]:
        """The (cell, arm, seed) keys of a sweep's completed runs: what a resumed sweep skips."""
        query = sa.select(runs.c.cell, runs.c.arm, runs.c.seed).where(
            runs.c.sweep_id == sweep_id, runs.c.status == "completed")
        with self.engine.connect() as conn:
            return {(str(cell), str(arm), int(seed)) for cell, arm, seed in conn.execute(query)}

    def resolve_sweep_id(self, prefix: str) -> str:
        """The full id of the one sweep whose id starts with ``prefix``."""
        with self.engine.connect() as conn:
            ids = conn.execute(sa.select(sweeps.c.id).where(
                sweeps.c.id.startswith(prefix, autoescape=True)).limit(2)).scalars().all()
        if len(ids) == 1:
            return str(ids[0])
        if not ids:
            raise UnknownNameError([Problem("sweep", f"no sweep with id {prefix!r} in the store")])
        raise InputError([Problem("sweep", f"{prefix!r} matches several sweeps; give more characters")])

    def sweep(self, sweep_id: str) -> StoredSweep:
        """The sweep with id (or unique id prefix) ``sweep_id``."""
        full = self.resolve_sweep_id(sweep_id)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sweeps).where(sweeps.c.id == full)).mappings().one()
        return StoredSweep(id=row["id"], kind=row["kind"], scenario=row["scenario"],
                           created_at=row["created_at"], spec=dict(row["spec"] or {}))

    def sweep_measures(self, sweep_id: str) -> list[dict[str, Any]]:
        """Every measure of a sweep's completed runs, with the run's cell, arm and seed.

        Keys: run_id, cell, arm, seed, replication, scope, name, area, unit,
        higher_is_better, value, low, high (the measure's range; NULL is unbounded on that
        side, both NULL on runs stored before migration 0007); ordered by cell, arm, seed,
        scope, name.
        """
        query = (sa.select(runs.c.cell, runs.c.arm, runs.c.seed, runs.c.replication, measures)
                 .join(runs, runs.c.id == measures.c.run_id)
                 .where(runs.c.sweep_id == sweep_id, runs.c.status == "completed")
                 .order_by(runs.c.cell, runs.c.arm, runs.c.seed, measures.c.scope, measures.c.name))
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def sweep_series(self, sweep_id: str) -> list[dict[str, Any]]:
        """Every series point of a sweep's completed runs, with the run's cell, arm and seed.

        Keys: run_id, cell, arm, seed, scope, name, time, value; ordered by scope, name,
        arm, cell, seed, time.
        """
        query = (sa.select(runs.c.cell, runs.c.arm, runs.c.seed, series)
                 .join(runs, runs.c.id == series.c.run_id)
                 .where(runs.c.sweep_id == sweep_id, runs.c.status == "completed")
                 .order_by(series.c.scope, series.c.name, runs.c.arm, runs.c.cell, runs.c.seed,
                           series.c.time))
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def sweep_summaries(self) -> list[dict[str, Any]]:
        """Every sweep (and run batch), oldest first: id, kind, scenario, created_at, and its runs
        by status (``completed``, ``failed``)."""
        counts = (sa.select(runs.c.sweep_id, runs.c.status, sa.func.count().label("n"))
                  .group_by(runs.c.sweep_id, runs.c.status))
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(sweeps.c.id, sweeps.c.kind, sweeps.c.scenario, sweeps.c.created_at)
                                 .order_by(sweeps.c.created_at, sweeps.c.id)).mappings().all()
            by_status: dict[str, dict[str, int]] = {}
            for sweep_id, status, n in conn.execute(counts):
                by_status.setdefault(str(sweep_id), {})[str(status)] = int(n)
        return [{**dict(row), "completed": by_status.get(row["id"], {}).get("completed", 0),
                 "failed": sum(n for s, n in by_status.get(row["id"], {}).items() if s != "completed")}
                for row in found]

    def sweep_ids(self) -> list[str]:
        """Every sweep (and run batch) id, oldest first."""
        with self.engine.connect() as conn:
            return [str(v) for v in conn.execute(
                sa.select(sweeps.c.id).order_by(sweeps.c.created_at)).scalars()]



    # -- locked analysis plans ---------------------------------------------------------------

    def preregister(self, text: str, sha256: str, source: str = "") -> Registration:
        """Store a criteria file's text and hash with the current time (a locked analysis plan)."""
        registration = Registration(uuid.uuid4().hex, sha256, source[:500], text, _now())
        with self._begin() as conn:
            conn.execute(registrations.insert().values(
                id=registration.id, sha256=sha256, source=registration.source, text=text,
                created_at=registration.created_at))
        return registration

    def registrations(self, sha256: str) -> list[Registration]:
        """Every registration of the criteria with this hash, oldest first."""
        query = (sa.select(registrations).where(registrations.c.sha256 == sha256)
                 .order_by(registrations.c.created_at, registrations.c.id))
        with self.engine.connect() as conn:
            return [Registration(row["id"], row["sha256"], row["source"], row["text"],
                                 _aware(row["created_at"]))
                    for row in conn.execute(query).mappings()]

    def first_run_stored(self, sweep_id: str) -> dt.datetime | None:
        """When the sweep's first run was stored (None: no runs yet)."""
        with self.engine.connect() as conn:
            first = conn.execute(sa.select(sa.func.min(runs.c.created_at))
                                 .where(runs.c.sweep_id == sweep_id)).scalar()
        return None if first is None else _aware(first)


class _Transaction:
    """``engine.begin()`` that turns database errors into :class:`StoreError`."""

    def __init__(self, engine: Engine) -> None:
        self._context = engine.begin()

    def __enter__(self) -> Connection:
        try:
            return self._context.__enter__()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot reach the store: {_short(exc)}") from exc

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self._context.__exit__(exc_type, exc, tb)
        except SQLAlchemyError as error:
            raise StoreError(f"store write failed: {_short(error)}") from error
        if isinstance(exc, SQLAlchemyError):
            raise StoreError(f"store write failed: {_short(exc)}") from exc


def _short(exc: SQLAlchemyError) -> str:
    original = exc.orig if isinstance(exc, DBAPIError) else None
    return str(original or exc).strip().splitlines()[0]


def _replications(spec: Any) -> int:
    value = spec.get("replications") if isinstance(spec, dict) else None
    return value if isinstance(value, int) else 0
