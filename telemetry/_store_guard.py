"""The trial log's database guard: a connection context that turns database errors into StoreError.

Every read and write of :class:`~flagship.telemetry._trial_log.TrialLog` runs inside a
:class:`Guard`: it opens the connection (or transaction) on entry, sets the commit's lock
timeout, and on exit maps what the database raised to :class:`StoreError` (or, when a
networked database's COMMIT went unanswered, :class:`CommitOutcomeUnknownError`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from flagship.mechanisms._errors import CommitOutcomeUnknownError, StoreError

__all__ = ["Guard", "short"]


def short(exc: SQLAlchemyError) -> str:
    original = exc.orig if isinstance(exc, DBAPIError) else None
    return str(original or exc).strip().splitlines()[0]


_BUSY_TIMEOUT = "flagship.busy_timeout_ms"
"""Key, in a pooled SQLite connection's ``info``, of the ``busy_timeout`` a commit last set on it."""


class Guard:
    """A connection context, opened on entry, that turns database errors into :class:`StoreError`."""

    def __init__(self, open_context: Callable[[], Any], timeout: float | None = None, *,
                 commits: bool = False) -> None:
        self._open = open_context
        self._context: Any = None
        self._timeout = timeout
        self._commits = commits
        self._networked = False

    def __enter__(self) -> Connection:
        try:
            self._context = self._open()
            conn: Connection = self._context.__enter__()
            self._networked = conn.dialect.name != "sqlite"
            if self._timeout is not None:
                millis = max(1, int(self._timeout * 1000))
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {millis}")
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {millis * 2}")
                elif conn.dialect.name == "sqlite" and conn.info.get(_BUSY_TIMEOUT) != millis:
                    # A connection-wide setting: set once per pooled connection, not per commit
                    # (the PRAGMA cost the live writer 70 us of its 370 us per commit).
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {millis}")
                    conn.info[_BUSY_TIMEOUT] = millis
        except SQLAlchemyError as exc:
            # The connection may already be gone; the original error is the one to report.
            if self._context is not None:
                with contextlib.suppress(SQLAlchemyError):
                    self._context.__exit__(type(exc), exc, exc.__traceback__)
            raise StoreError(f"cannot reach the store: {short(exc)}") from exc
        return conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self._context.__exit__(exc_type, exc, tb)
        except SQLAlchemyError as error:
            if exc is None and self._commits and self._networked:
                # COMMIT was sent; its answer was lost: the server may have committed. (SQLite is
                # in-process: a failed COMMIT there did not happen.)
                raise CommitOutcomeUnknownError(f"no answer to COMMIT: {short(error)}") from error
            raise StoreError(f"store write failed: {short(error)}") from error
        if isinstance(exc, SQLAlchemyError):
            raise StoreError(f"store operation failed: {short(exc)}") from exc
