"""Engines and sessions.

Sessions come in two kinds, and only two: :func:`tenant_session` (everything an API request or a tenant's job
does) and :func:`system_session` (cross-tenant infrastructure work). Services never commit; the caller that
owns the unit of work does.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from souk.db import scoping  # noqa: F401  (registers the tenant-scoping listeners)
from souk.db.scoping import SYSTEM_KEY, TENANT_KEY

#: execution option marking the engine of read-only sessions
READ_ONLY = "souk_read_only"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, issue BEGIN: savepoints then work, and every transaction can take the write
    # lock up front (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """BEGIN IMMEDIATE: a transaction that reads then writes would otherwise fail at once with "database is locked"
    when another writer holds the lock (SQLite cannot wait while upgrading a read lock); taking the write lock at
    BEGIN makes concurrent writers queue on busy_timeout instead.

    A read-only session (``Database.read_session``: the API's GET requests) begins a plain deferred transaction
    instead, so reading never waits for a writer (WAL readers see the last commit), with ``query_only`` on so that
    a write slipping into a read path fails loudly rather than racing for the lock.
    """
    read_only = bool(conn.get_execution_options().get(READ_ONLY))
    conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for SQLite (WAL, foreign keys on) or PostgreSQL (asyncpg)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """The engine of this process and the two ways to open a session on it."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self._maker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_maker = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def tenant_session(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """A session that sees and writes only ``tenant_id``'s rows. Commits on success."""
        async with self._maker() as session:
            session.info[TENANT_KEY] = tenant_id
            async with session.begin():
                yield session

    @asynccontextmanager
    async def read_session(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """A tenant session that only reads: on SQLite it never waits for the write lock (see ``_sqlite_begin``)."""
        async with self._read_maker() as session:
            session.info[TENANT_KEY] = tenant_id
            async with session.begin():
                yield session

    @asynccontextmanager
    async def system_read_session(self) -> AsyncIterator[AsyncSession]:
        """A cross-tenant session that only reads (resolving an API key or a login cookie on every request)."""
        async with self._read_maker() as session:
            session.info[SYSTEM_KEY] = True
            async with session.begin():
                yield session

    @asynccontextmanager
    async def system_session(self) -> AsyncIterator[AsyncSession]:
        """A cross-tenant session for infrastructure (routing webhooks, sweepers). Commits on success."""
        async with self._maker() as session:
            session.info[SYSTEM_KEY] = True
            async with session.begin():
                yield session

    @asynccontextmanager
    async def bare_session(self) -> AsyncIterator[AsyncSession]:
        """A session with neither tenant nor system rights: only non-tenant tables are reachable."""
        async with self._maker() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
