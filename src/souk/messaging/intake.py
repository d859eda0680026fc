"""Durable intake of webhook deliveries with group commit.

Every request hands its row to one writer task per process; the writer inserts whatever has queued up in one
transaction (``INSERT … ON CONFLICT DO NOTHING``) and wakes each waiting request when that commit returns. A request
is therefore acknowledged only after its row is durable, but the cost of a commit is shared by every request that
arrived meanwhile: this is what lets durable ingest approach the bare HTTP ceiling (see docs/performance.md,
bench/ingest.py and docs/decisions/0012-lean-webhook-ingest.md).

The writer talks to the database through the driver on a connection of its own, with statements built once:

* SQLite: a ``sqlite3`` connection used from one dedicated thread, one thread hop per batch (``BEGIN IMMEDIATE``,
  one INSERT per row, the channel update, ``COMMIT``), so a write lock held elsewhere never blocks the event loop;
* PostgreSQL: one asyncpg connection kept out of the pool, one statement per batch (``INSERT … SELECT FROM
  unnest(…) ON CONFLICT DO NOTHING RETURNING id`` and the channel update in one data-modifying ``WITH``).

Values are encoded with the columns' own SQLAlchemy bind processors, so a row reads back through the ORM exactly as
if the ORM had written it. Any other database falls back to SQLAlchemy Core on the engine. After the commit the new
ids are published on ``work.inbound`` together, up to 64 to a message (``souk.bus.work.enqueue_many``); a failed
publish only delays processing (the sweeper re-publishes rows left ``received``). A channel's
``last_webhook_received_at`` is written at most once a second per process, not by every batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from souk.bus.client import Bus
from souk.bus.work import enqueue_many
from souk.channels.models import Channel
from souk.core import events
from souk.core.observability import log
from souk.db.engine import Database
from souk.db.types import utcnow, uuid7
from souk.messaging.models import InboundEvent, InboundStatus

MAX_BATCH = 512
#: why a delivery for an inactive channel is kept without processing (the worker says the same when a channel
#: was deactivated after the delivery arrived)
IGNORED_REASON = "channel inactive or deleted"
#: seconds between two updates of one channel's ``last_webhook_received_at`` by one process: the channel row is
#: not rewritten by every batch of a busy channel (each rewrite is a new row version to write and vacuum)
TOUCH_EVERY = 1.0
#: how long a SQLite batch waits for the write lock before it fails (its requests answer 500; platforms retry)
LOCK_WAIT = 30.0

#: the columns the writer fills, in statement order
COLUMNS = (
    "id",
    "tenant_id",
    "channel_id",
    "channel_type",
    "event_key",
    "body",
    "headers",
    "status",
    "source",
    "received_at",
    "attempts",
)


@dataclass
class Delivery:
    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    channel_type: str
    event_key: str
    body: bytes
    headers: dict[str, Any]
    status: str = InboundStatus.received
    source: str = "webhook"
    received_at: datetime = field(default_factory=utcnow)
    id: uuid.UUID = field(default_factory=uuid7)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "channel_id": self.channel_id,
            "channel_type": self.channel_type,
            "event_key": self.event_key[:255],
            "body": self.body,
            "headers": self.headers,
            "status": self.status,
            "source": self.source,
            "received_at": self.received_at,
            "attempts": 0,
        }


class Store(Protocol):
    async def write(self, deliveries: list[Delivery], touch: list[uuid.UUID]) -> set[uuid.UUID]:
        """Insert in one transaction, with the ``touch`` channels' ``last_webhook_received_at`` (ids in order);
        return the ids actually inserted (the others were duplicates)."""
        ...

    async def close(self) -> None: ...


def _processors(table: Any, names: tuple[str, ...], dialect: Any) -> list[Callable[[Any], Any] | None]:
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]


def _encode(values: tuple[Any, ...], processors: list[Callable[[Any], Any] | None]) -> tuple[Any, ...]:
    return tuple(v if p is None or v is None else p(v) for v, p in zip(values, processors, strict=True))


def _values(d: Delivery) -> tuple[Any, ...]:
    return (
        d.id,
        d.tenant_id,
        d.channel_id,
        d.channel_type,
        d.event_key[:255],
        d.body,
        d.headers,
        d.status,
        d.source,
        d.received_at,
        0,
    )


class SqliteStore:
    """Batches on one ``sqlite3`` connection owned by one thread: one thread hop per batch, not per statement."""

    def __init__(self, db: Database, path: str) -> None:
        self.path = path
        dialect = db.engine.dialect
        events, channels = InboundEvent.__table__, Channel.__table__
        self._row = _processors(events, COLUMNS, dialect)
        self._touch = _processors(channels, ("last_webhook_received_at", "updated_at", "id"), dialect)
        self._insert = (
            f"INSERT INTO {events.name} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
            "ON CONFLICT (channel_id, event_key) DO NOTHING"
        )
        self._update = f"UPDATE {channels.name} SET last_webhook_received_at = ?, updated_at = ? WHERE id = ?"
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="souk-intake")
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000"):
                conn.execute(f"PRAGMA {pragma}")
            conn.execute("PRAGMA busy_timeout=0")  # _begin waits for the write lock itself
            self._conn = conn
        return self._conn

    @staticmethod
    def _begin(conn: sqlite3.Connection) -> None:
        """Take the write lock, trying again every half millisecond while another connection holds it.

        SQLite's own busy handler sleeps longer and longer between tries (up to 100 ms), and a writer that keeps
        coming back (the worker, several transactions at a time) takes the lock in every gap: under load, webhook
        acknowledgements waited seconds behind it. Trying this often, the batch gets the lock as soon as it is free;
        it holds it for a millisecond or two.
        """
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.0005)

    def _write_sync(self, rows: list[tuple[Any, ...]], touches: list[tuple[Any, ...]]) -> list[bool]:
        conn = self._connect()
        try:
            self._begin(conn)
            inserted = [conn.execute(self._insert, row).rowcount == 1 for row in rows]
            for touch in touches:
                conn.execute(self._update, touch)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return inserted

    async def write(self, deliveries: list[Delivery], touch: list[uuid.UUID]) -> set[uuid.UUID]:
        rows = [_encode(_values(d), self._row) for d in deliveries]
        now = utcnow()
        touches = [_encode((now, now, cid), self._touch) for cid in touch]
        loop = asyncio.get_running_loop()
        inserted = await loop.run_in_executor(self._thread, self._write_sync, rows, touches)
        return {d.id for d, ok in zip(deliveries, inserted, strict=True) if ok}

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_sync)
        self._thread.shutdown(wait=False)


class PostgresStore:
    """One statement per batch on one asyncpg connection held out of the engine's pool (prepared once by asyncpg)."""

    SQL = """
WITH ins AS (
    INSERT INTO {events} ({columns})
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bytea[], $7::text[]::json[],
                         $8::text[], $9::text[], $10::timestamptz[], $11::int[])
    ON CONFLICT (channel_id, event_key) DO NOTHING
    RETURNING id
), touched AS (
    UPDATE {channels} SET last_webhook_received_at = $12, updated_at = $12 WHERE id = ANY($13::uuid[])
)
SELECT id FROM ins
"""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sql = self.SQL.format(
            events=InboundEvent.__table__.name, channels=Channel.__table__.name, columns=", ".join(COLUMNS)
        )
        self._conn: AsyncConnection | None = None
        self._driver: Any = None

    async def _connection(self) -> Any:
        if self._driver is None:
            conn = await self.db.engine.connect()
            raw = await conn.get_raw_connection()
            self._conn, self._driver = conn, raw.driver_connection
        return self._driver

    async def write(self, deliveries: list[Delivery], touch: list[uuid.UUID]) -> set[uuid.UUID]:
        columns: list[list[Any]] = [[] for _ in COLUMNS]
        for d in deliveries:
            for column, value in zip(columns, _values(d), strict=True):
                column.append(value)
        columns[6] = [json.dumps(h) for h in columns[6]]
        # A failure drops the connection and the statement is tried once more on a fresh one: after a database
        # restart (or a failover, or an idle timeout) the held connection is dead, and asyncpg does not always say
        # so (``is_closed()`` can stay false after the server ended the session). Repeating is safe: rows are
        # unique on (channel, event key), so a statement that did commit before the error inserts nothing twice
        # (its rows then read as duplicates and are published by the sweeper). A bad row fails both times.
        for attempt in (1, 2):
            driver = await self._connection()
            try:
                rows = await driver.fetch(self._sql, *columns, utcnow(), touch)
                break
            except Exception:
                await self._drop()
                if attempt == 2:
                    raise
        return {row[0] for row in rows}

    async def _drop(self) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


class EngineStore:
    """SQLAlchemy Core on the engine: for databases the raw stores do not cover (e.g. in-memory SQLite)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        table = InboundEvent.__table__
        self._insert = (
            (sqlite.insert(table) if db.is_sqlite else postgresql.insert(table))
            .on_conflict_do_nothing(index_elements=["channel_id", "event_key"])
            .returning(table.c.id)
        )

    async def write(self, deliveries: list[Delivery], touch: list[uuid.UUID]) -> set[uuid.UUID]:
        async with self.db.engine.begin() as conn:
            result = await conn.execute(self._insert, [d.row() for d in deliveries])
            inserted = {row[0] for row in result.all()}
            if touch:
                now = utcnow()
                await conn.execute(
                    update(Channel.__table__)
                    .where(Channel.__table__.c.id.in_(touch))
                    .values(last_webhook_received_at=now, updated_at=now)
                )
        return inserted

    async def close(self) -> None:
        return None


def make_store(db: Database) -> Store:
    if db.is_sqlite:
        path = make_url(db.url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            return SqliteStore(db, path)
        return EngineStore(db)
    if db.engine.dialect.driver == "asyncpg":
        return PostgresStore(db)
    return EngineStore(db)


class IntakeWriter:
    """Group-commits deliveries; ``await submit(d)`` returns True if stored now, False if it was a duplicate.

    ``submit`` returns only after the transaction holding the row has committed (or raises if it could not be).
    One batch is written at a time; whatever arrives meanwhile forms the next batch.
    """

    def __init__(self, db: Database, bus: Bus | None, *, store: Store | None = None) -> None:
        self.db = db
        self.bus = bus
        self.store = store or make_store(db)
        self._pending: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._touched: dict[uuid.UUID, float] = {}  # channel → when this process last wrote its webhook time
        #: batches written and rows in them, for tests and the bench
        self.batches = 0
        self.rows = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="intake-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(RuntimeError("intake writer stopped"))
        self._pending.clear()
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=5)
        await self.store.close()

    async def submit(self, delivery: Delivery) -> bool:
        if delivery.status == InboundStatus.ignored:
            return await self._store_ignored(delivery)
        if self._task is None:
            self.start()
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((delivery, fut))
        self._wake.set()
        return await fut

    async def _store_ignored(self, delivery: Delivery) -> bool:
        """A delivery for an inactive channel: kept ``ignored`` with its reason and its ``inbound_event.ignored``
        event in one ORM transaction, like every other outcome. It is the rare path (platforms are told to stop
        calling an inactive channel), so it does not go through the group commit."""
        table = InboundEvent.__table__
        now = utcnow()
        stmt = (
            (sqlite.insert(table) if self.db.is_sqlite else postgresql.insert(table))
            .values(**delivery.row(), error=IGNORED_REASON, processed_at=now)
            .on_conflict_do_nothing(index_elements=["channel_id", "event_key"])
            .returning(table.c.id)
        )
        async with self.db.system_session() as session:
            if (await session.execute(stmt)).first() is None:
                return False  # a retry of a delivery kept already
            payload = {"inbound_event_id": str(delivery.id), "channel_id": str(delivery.channel_id)}
            events.emit(session, delivery.tenant_id, "inbound_event.ignored", {**payload, "error": IGNORED_REASON})
        return True

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[Delivery, asyncio.Future[bool]]]) -> None:
        # one row per (channel, event key) per statement: a platform retry racing its original in one batch
        unique: dict[tuple[uuid.UUID, str], Delivery] = {}
        for d, _ in batch:
            unique.setdefault((d.channel_id, d.event_key[:255]), d)
        rows = list(unique.values())
        now = time.monotonic()
        # in id order: API processes updating the same channels lock their rows in one order
        touch = sorted(
            c for c in {d.channel_id for d in rows} if now - self._touched.get(c, -TOUCH_EVERY) >= TOUCH_EVERY
        )
        for channel_id in touch:
            self._touched[channel_id] = now
        try:
            inserted = await self.store.write(rows, touch)
        except asyncio.CancelledError:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(RuntimeError("intake writer stopped"))
            raise
        except Exception as exc:
            for channel_id in touch:
                self._touched.pop(channel_id, None)
            if len(rows) > 1:  # one bad row (say, its channel was just deleted) must not fail its neighbours
                log.warning("intake batch failed; writing its rows one by one", rows=len(rows), error=str(exc))
                for d, fut in batch:
                    await self._commit([(d, fut)])
                return
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.batches += 1
        self.rows += len(rows)
        for d, fut in batch:
            if not fut.done():
                fut.set_result(d.id in inserted)
        fresh = [str(d.id) for d in rows if d.id in inserted and d.status == InboundStatus.received]
        if fresh and self.bus is not None:
            task = asyncio.create_task(self._publish(fresh))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _publish(self, ids: list[str]) -> None:
        assert self.bus is not None
        try:
            failures = await enqueue_many(self.bus, "inbound", ids)
        except Exception as exc:  # not connected: the sweeper will publish them
            failures = [exc]
        if failures:
            log.warning("inbound publish failed; the sweeper will retry", failed=len(failures), error=str(failures[0]))
