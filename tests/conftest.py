"""Shared fixtures: store URLs for SQLite and the real PostgreSQL server.

PostgreSQL: ``FLAGSHIP_TEST_PG_URL`` names the server (CI sets it, and then an
unreachable server fails the tests instead of skipping them). Without it the
local default ``postgresql+psycopg://postgres@127.0.0.1:5432/test`` is tried and
the PostgreSQL cases are skipped if nothing answers. Each test gets its own
schema, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

# Tests stop commands with SIGINT, as Ctrl-C would. A shell that starts pytest in the background
# (`pytest &`, a CI runner's job) ignores SIGINT for it; the ignored disposition passes through
# exec to every command a test starts, and Python then never installs its KeyboardInterrupt
# handler, so the command would shrug off the test's Ctrl-C. A terminal's foreground job has
# SIGINT handled; restore that here, in the main thread, before any test starts a process.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

PG_URL = os.environ.get("FLAGSHIP_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_REQUIRED = "FLAGSHIP_TEST_PG_URL" in os.environ
REPO = Path(__file__).resolve().parent.parent


def _pg_available() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:  # any failure to connect means "not here"
        return str(exc).splitlines()[0]
    return None


_PG_PROBLEM = _pg_available()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    if _PG_PROBLEM is not None:
        if PG_REQUIRED:
            pytest.fail(f"PostgreSQL at {PG_URL} is required but unreachable: {_PG_PROBLEM}")
        pytest.skip(f"no PostgreSQL at {PG_URL}: {_PG_PROBLEM}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flagship.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs on SQLite and on the real PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url
