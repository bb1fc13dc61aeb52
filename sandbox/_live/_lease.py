"""The trial's lease: one ``flagship serve`` per trial, held in the store for the server's life.

A second server of a trial that is being served would recover the same log and then race the
first for every sequence number (the store's unique key refuses the loser's commits, which
answered 503 with the raw SQL error). So ``serve`` takes the trial's lease before it recovers
the log, and refuses to start without it (:class:`TrialServedError`: one line naming the trial
and who holds it, exit 1 like every store problem of the CLI). Read-only commands (``verify``,
``replay``, the exports) take no lease and are never blocked.

* PostgreSQL: a session-level advisory lock, ``pg_try_advisory_lock(key)``, on a dedicated
  connection (``application_name`` names the holder's pid and host, so a refused server can read
  it from ``pg_stat_activity``). ``key`` is the first 8 bytes of SHA-256 of the trial id, as a
  signed big-endian 64-bit integer (:func:`lease_key`). PostgreSQL drops the lock when that
  session ends: a server that is SIGKILLed loses it at once, so a restart is never blocked.
* SQLite file: ``fcntl.flock`` on ``<database>.<trial id>.lease`` beside the database, holding
  the holder's pid and host as JSON. The kernel drops the lock when the process dies. The file
  stays after a stop (deleting a lock file races a concurrent opener). Not the ``filelock``
  library: it truncates the file on every attempt, which would wipe the holder's note.
* In-memory SQLite: no lease (no other process can open that database).

The rule while serving (:meth:`TrialLease.confirm`, before every commit): a commit is written
only under a lease held without a break since the log was last checked. On PostgreSQL the lock
connection is pinged; if it was lost (an outage), the lease is re-taken and the commit is refused
with 503 ``STORE_UNAVAILABLE``, so the writer's usual head check runs under the new lease before
the next commit (reloading the log if another server wrote meanwhile). If another server holds
the lease now, every commit is refused the same way and ``/readyz`` answers 503 until it is
ours again. A flock cannot be lost while its file is open.

Lifecycle: :func:`trial_lease` -> :meth:`TrialLease.acquire` (before recovery) ->
:meth:`TrialLease.confirm` (before each commit, in the writer's thread) ->
:meth:`TrialLease.release` (after the graceful stop's final checkpoint).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from flagship.mechanisms import LeaseLostError, StoreError, StoreUnavailableError, TrialServedError

__all__ = ["AdvisoryLease", "FileLease", "TrialLease", "holder_label", "lease_key", "trial_lease"]

_log = logging.getLogger("flagship.live")
_HOLDER_QUERY = sa.text(
    "SELECT a.pid, a.application_name, a.client_addr::text AS address FROM pg_locks AS l "
    "JOIN pg_stat_activity AS a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.classid::bigint = :high AND l.objid::bigint = :low AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")


class TrialLease(Protocol):
    """What the server holds while it serves a trial (see the module docstring)."""

    def acquire(self) -> None:
        """Take the lease; :class:`TrialServedError` if another server holds it."""

    def confirm(self) -> bool:
        """Before a commit: True if held without a break since the last call; False if it had to be
        re-taken (the log must be checked first); :class:`StoreUnavailableError` if it cannot be held."""

    def release(self) -> None:
        """Give the lease up (a graceful stop)."""


def lease_key(trial_id: str) -> int:
    """The advisory lock key of a trial: SHA-256 of its id, first 8 bytes, signed big-endian."""
    return int.from_bytes(hashlib.sha256(trial_id.encode()).digest()[:8], "big", signed=True)


def holder_label() -> str:
    """Who this process is, as a refused server reports it (63 bytes fit PostgreSQL's limit)."""
    return f"flagship serve pid {os.getpid()} on {socket.gethostname()}"[:63]


def trial_lease(url: str, trial_id: str, *, grace: float = 2.0) -> TrialLease | None:
    """The lease of ``trial_id`` in the store at ``url``; None for in-memory SQLite.

    ``grace``: seconds a PostgreSQL lease is retried before refusing, for a holder that was just
    killed (its session ends a moment after the process).
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:" or parsed.query.get("mode") == "memory":
            return None
        return FileLease(Path(parsed.database).expanduser().resolve(), trial_id)
    if parsed.get_backend_name() == "postgresql":
        return AdvisoryLease(url, trial_id, grace=grace)
    raise StoreError(f"no lease for trials in a {parsed.get_backend_name()} store")


class AdvisoryLease:
    """A PostgreSQL session-level advisory lock on a dedicated connection."""

    def __init__(self, url: str, trial_id: str, *, grace: float = 2.0) -> None:
        self.trial_id = trial_id
        self.key = lease_key(trial_id)
        self.grace = grace
        self._engine = sa.create_engine(url, poolclass=NullPool,
                                        connect_args={"application_name": holder_label()})
        self._conn: Connection | None = None
        self._mutex = threading.Lock()

    def acquire(self) -> None:
        deadline = time.monotonic() + self.grace
        while True:
            try:
                taken = self._take()
            except SQLAlchemyError as exc:
                raise StoreError(f"cannot take the lease of trial {self.trial_id}: "
                                 f"{str(exc).splitlines()[0]}") from exc
            if taken:
                return
            if time.monotonic() >= deadline:
                raise TrialServedError(f"trial {self.trial_id} is already being served ({self._holder()}); "
                                       "stop that server first, or serve another trial (--new-trial)")
            time.sleep(0.1)

    def confirm(self) -> bool:
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.exec_driver_sql("SELECT 1")
                    return True
                except SQLAlchemyError:
                    self._drop()  # the session, and with it the lock, is gone
            try:
                taken = self._take()
            except SQLAlchemyError as exc:
                raise StoreUnavailableError(f"the lease of trial {self.trial_id} was lost with its "
                                            f"connection: {str(exc).splitlines()[0]}") from exc
            if not taken:
                raise LeaseLostError(f"trial {self.trial_id} is now served by another server "
                                     f"({self._holder()}); this one commits nothing until it stops")
            _log.warning("trial %s: the lease was lost with its connection and taken again; the log "
                         "is checked before the next commit", self.trial_id)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.exec_driver_sql(f"SELECT pg_advisory_unlock({self.key})")
                except SQLAlchemyError as exc:  # the session is gone: so is its lock
                    _log.warning("trial %s: releasing the lease: %s", self.trial_id,
                                 str(exc).splitlines()[0])
                self._drop()
            self._engine.dispose()

    def _take(self) -> bool:
        """One attempt on a fresh connection, kept if it got the lock."""
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({self.key})").scalar())
        except SQLAlchemyError:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()
            raise
        if taken:
            self._conn = conn
        else:
            conn.close()
        return taken

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()

    def _holder(self) -> str:
        """Who holds the lock, from ``pg_stat_activity`` (best effort: it may have just let go)."""
        high, low = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        try:
            with self._engine.connect() as conn:
                row = conn.execute(_HOLDER_QUERY, {"high": high, "low": low}).first()
        except SQLAlchemyError as exc:
            return f"its holder is unknown: {str(exc).splitlines()[0]}"
        if row is None:
            return "its holder has just let go"
        name = row.application_name or "an unnamed client"
        return f"held by {name}, PostgreSQL backend pid {row.pid}" + (
            f" from {row.address}" if row.address else "")


class FileLease:
    """``fcntl.flock`` on a file beside a SQLite database, with the holder's pid and host inside."""

    def __init__(self, database: Path, trial_id: str) -> None:
        self.trial_id = trial_id
        self.path = database.with_name(f"{database.name}.{trial_id}.lease")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            os.close(fd)
            raise TrialServedError(f"trial {self.trial_id} is already being served ({holder}; lock "
                                   f"{self.path}); stop that server first, or serve another trial "
                                   "(--new-trial)") from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot take the lease of trial {self.trial_id} ({self.path}): {exc}") from exc
        note = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode() + b"\n", 0)
        self._fd = fd

    def confirm(self) -> bool:
        return True  # a flock lasts as long as its open file: nothing can take it meanwhile

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)  # no stale holder in the file once it is free
            os.close(fd)  # closing the file releases the lock

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            note = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except (OSError, ValueError):
            note = {}
        if not isinstance(note, dict) or "pid" not in note:
            return "its holder is unknown"
        return f"held by flagship serve pid {note['pid']} on {note.get('host', '?')} since " \
               f"{note.get('since', '?')}"
