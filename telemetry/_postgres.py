"""What the store does differently on PostgreSQL: binary COPY and the migration lock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

__all__ = ["copy_rows", "lock_migrations"]

_MIGRATION_LOCK = 0x466C6167  # "Flag": the advisory lock key serialising migrations
_COPY_TYPES = {
    "actions": ["text", "int4", "float8", "text", "text", "text", "text", "bool", "text", "text"],
    "series": ["text", "text", "text", "float8", "float8"],
}


def lock_migrations(conn: Connection) -> None:
    """Hold the migration lock until the transaction ends, so concurrent openers do not race."""
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")


def copy_rows(raw: Any, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """Bulk-load through psycopg 3's ``COPY`` inside the caller's transaction."""
    types = _COPY_TYPES.get(table)
    # Binary COPY with declared types skips per-value type dispatch: ~2x text COPY.
    fmt = " (FORMAT BINARY)" if types else ""
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{fmt}") as copy:
        if types:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)
