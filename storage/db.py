"""The database: async engine and sessions from `DATABASE_URL`, and migrations at start-up.

`DATABASE_URL` is written the plain way (`sqlite:///tonomo.db`, `postgresql://…`);
`async_url` picks the async driver (aiosqlite, asyncpg). Alembic migrations run on
start-up; on PostgreSQL under an advisory lock, so instances starting together take
turns instead of racing. A database that can't be reached at start-up is one line naming
`DATABASE_URL` (`DatabaseUnreachable`).

The columns that hold secrets sealed with `TOKEN_ENCRYPTION_KEY` are listed here
(`SEALED_COLUMNS`), for the start-up pass that re-seals them after a key rotation.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.models import CalendarConnection, OAuthState

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_ID = 7_351_771_001  # any constant shared by every instance
CONNECT_TIMEOUT = 10
"""Seconds to wait for PostgreSQL to accept a connection (asyncpg's own default is 60)."""


class DatabaseUnreachable(Exception):
    """The database at `DATABASE_URL` could not be reached; the message is one line."""


def async_url(database_url: str) -> str:
    """The SQLAlchemy URL with the async driver for its backend."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database: {backend}")
    return url.render_as_string(hide_password=False)


def create_engine(database_url: str) -> AsyncEngine:
    url = async_url(database_url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args={"timeout": CONNECT_TIMEOUT},
    )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # "WAL mode is always consistent with synchronous=NORMAL" and commits skip an fsync;
    # a power cut may lose the last commits, never the database's consistency
    # (https://www.sqlite.org/pragma.html#pragma_synchronous).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration; `DatabaseUnreachable` when the database
    does not take a connection."""
    try:
        async with engine.connect():
            pass
    except (OSError, SQLAlchemyError) as err:
        await _driver_threads_done()
        raise DatabaseUnreachable(describe_connect_error(engine, err)) from err
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


DRIVER_THREADS_WAIT = 2.0
"""Seconds start-up waits for each of the database driver's threads when it gives up."""


async def _driver_threads_done() -> None:
    """Wait for aiosqlite's connection threads. A connection that failed to open is stopped
    by a job on its own thread that reports back to the event loop; start-up gives up and
    closes the loop right after, and the thread would then print a traceback under the one
    line that says what is wrong. (Its threads are named after their target function.)"""
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, DRIVER_THREADS_WAIT)


def describe_connect_error(engine: AsyncEngine, err: BaseException) -> str:
    """One line: which database (its password hidden) and why it can't be reached."""
    cause: BaseException = err.orig if isinstance(err, DBAPIError) and err.orig else err
    if isinstance(cause, OSError) and cause.strerror:
        reason = cause.strerror
    else:
        reason = str(cause) or type(cause).__name__
    reason = " ".join(reason.split())  # the driver's messages may span lines
    if isinstance(cause, TimeoutError):
        reason = f"no answer within {CONNECT_TIMEOUT} s"
    url = engine.url.set(drivername=engine.url.get_backend_name())
    return (
        f"could not connect to the database at DATABASE_URL "
        f"({url.render_as_string(hide_password=True)}): {reason[:300]}."
    )


# -- sealed secrets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedColumn:
    """A column of secrets sealed with `TOKEN_ENCRYPTION_KEY`, and its row's key."""

    row_key: InstrumentedAttribute[Any]
    sealed: InstrumentedAttribute[bytes]
    holds_tokens: bool
    """Calendar tokens (the rest are short-lived, like a consent link's PKCE verifier)."""


SEALED_COLUMNS = (
    SealedColumn(CalendarConnection.id, CalendarConnection.token_ciphertext, holds_tokens=True),
    SealedColumn(OAuthState.digest, OAuthState.verifier_ciphertext, holds_tokens=False),
)


async def read_sealed(engine: AsyncEngine, column: SealedColumn) -> list[tuple[Any, bytes]]:
    """Every row's key and sealed secret."""
    async with engine.connect() as connection:
        rows = await connection.execute(select(column.row_key, column.sealed))
        return [(row[0], bytes(row[1])) for row in rows]


async def replace_sealed(
    engine: AsyncEngine, column: SealedColumn, row_key: Any, old: bytes, new: bytes
) -> bool:
    """Store `new` in place of `old`, only if the row still holds `old`."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(column.sealed.class_)
            .where(column.row_key == row_key, column.sealed == old)
            .values({column.sealed.key: new})
        )
        return bool(result.rowcount == 1)
