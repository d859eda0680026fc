"""Durable intake of webhook deliveries with group commit.

Every request hands its row to one writer task per process; the writer inserts whatever has queued up in one
transaction (``INSERT … ON CONFLICT DO NOTHING RETURNING``) and wakes each waiting request when that commit returns.
A request is therefore acknowledged only after its row is durable, but the cost of a commit is shared by every
request that arrived meanwhile: this is what lets durable ingest approach the bare HTTP ceiling (see
docs/performance.md and bench/ingest.py). After the commit the new ids are published on ``work.inbound``; a
failed publish only delays processing (the sweeper re-publishes rows left ``received``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from souk.bus.client import Bus
from souk.bus.work import enqueue
from souk.channels.models import Channel
from souk.core.observability import log
from souk.db.engine import Database
from souk.db.types import utcnow
from souk.messaging.models import InboundEvent, InboundStatus

MAX_BATCH = 512


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
    id: uuid.UUID = field(default_factory=uuid.uuid4)

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


class IntakeWriter:
    """Group-commits deliveries; ``await submit(d)`` returns True if stored now, False if it was a duplicate."""

    def __init__(self, db: Database, bus: Bus | None) -> None:
        self.db = db
        self.bus = bus
        self._queue: asyncio.Queue[tuple[Delivery, asyncio.Future[bool]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        table = InboundEvent.__table__
        self._insert = (
            (sqlite.insert(table) if db.is_sqlite else postgresql.insert(table))
            .on_conflict_do_nothing(index_elements=["channel_id", "event_key"])
            .returning(table.c.id)
        )

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="intake-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=5)

    async def submit(self, delivery: Delivery) -> bool:
        self.start()
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put((delivery, fut))
        return await fut

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                inserted = await self._write([d for d, _ in batch])
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for d, fut in batch:
                if not fut.done():
                    fut.set_result(d.id in inserted)
            fresh = [d.id for d, _ in batch if d.id in inserted and d.status == InboundStatus.received]
            if fresh and self.bus is not None:
                task = asyncio.create_task(self._publish(fresh))
                self._publishing.add(task)
                task.add_done_callback(self._publishing.discard)

    async def _write(self, deliveries: list[Delivery]) -> set[uuid.UUID]:
        # one row per (channel, event key) per statement: a platform retry racing its original in one batch
        unique: dict[tuple[uuid.UUID, str], Delivery] = {}
        for d in deliveries:
            unique.setdefault((d.channel_id, d.event_key[:255]), d)
        async with self.db.engine.begin() as conn:
            result = await conn.execute(self._insert, [d.row() for d in unique.values()])
            inserted = {row[0] for row in result.all()}
            channels = {d.channel_id for d in unique.values()}
            await conn.execute(
                update(Channel.__table__)
                .where(Channel.__table__.c.id.in_(channels))
                .values(last_webhook_received_at=utcnow())
            )
        return inserted

    async def _publish(self, ids: list[uuid.UUID]) -> None:
        assert self.bus is not None
        for event_id in ids:
            try:
                await enqueue(self.bus, "inbound", str(event_id))
            except Exception as exc:  # the sweeper will publish it
                log.warning("inbound publish failed; sweeper will retry", id=str(event_id), error=str(exc))
                return
