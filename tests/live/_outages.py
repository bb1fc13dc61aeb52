"""Cutting the store under a live server, for real, on either backend; and reading back what it kept.

PostgreSQL is cut at the wire: :func:`proxied` puts a :class:`~tests.live._support.TcpProxy`
between the server and the shared PostgreSQL server (which is never touched) and gives the URL
that connects through it. SQLite is cut by :class:`SqliteLock`: another process's connection
holds the database's exclusive lock. Both cut with ``cut()`` and come back with ``restore()``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.live._support import TcpProxy, auth


@contextlib.contextmanager
def proxied(store_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A TCP proxy in front of the database server of ``store_url``, and the URL through it."""
    parsed = sa.make_url(store_url)
    with TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        yield proxy, parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


class SqliteLock:
    """SQLite's outage: another process's connection holds the database's exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def cut(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()


StoreCut = TcpProxy | SqliteLock
"""What cuts the store of a test that runs on either backend."""


def buy(client: httpx.Client, key: str, offer: int = 150) -> httpx.Response:
    """Alice buys at the shop of :func:`~tests.live._support.write_scenario`, under this key."""
    return client.post("/v1/shop/purchases", json={"offer": offer},
                       headers={**auth(), "Idempotency-Key": key})


def client_key(idempotency_key: str) -> str:
    """The key as the client sent it, from the logged ``["actor:alice","key"]``."""
    return idempotency_key.split('"')[3]
