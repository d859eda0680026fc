"""Publish the ``domain_events`` outbox to NATS: after commit, in order, at least once.

Every API and worker process runs :func:`publish_pending` in a loop; rows are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so two processes never publish the same batch at once (SQLite has a single
writer anyway). JetStream's ``Nats-Msg-Id`` de-duplication absorbs the rare double publish after a crash.
"""

from __future__ import annotations

import asyncio

import orjson
from sqlalchemy import select, update

from souk.bus.client import Bus
from souk.core.models import DomainEvent
from souk.core.observability import log
from souk.db.engine import Database
from souk.db.types import utcnow


async def publish_pending(db: Database, bus: Bus, *, batch: int = 200) -> int:
    """Publish one batch of unpublished events; returns how many were sent."""
    async with db.system_session() as session:
        stmt = (
            select(DomainEvent).where(DomainEvent.published_at.is_(None)).order_by(DomainEvent.created_at).limit(batch)
        )
        if not db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        events = (await session.scalars(stmt)).all()
        for ev in events:
            body = orjson.dumps(
                {
                    "id": str(ev.id),
                    "type": ev.event_type,
                    "tenant_id": str(ev.tenant_id),
                    "at": ev.created_at.isoformat(),
                    "data": ev.payload,
                }
            )
            await bus.publish(ev.subject, body, msg_id=str(ev.id))
        if events:
            await session.execute(
                update(DomainEvent).where(DomainEvent.id.in_([e.id for e in events])).values(published_at=utcnow())
            )
        return len(events)


async def run_publisher(
    db: Database, bus: Bus, *, wake: asyncio.Event, stopping: asyncio.Event, idle: float = 1.0
) -> None:
    """Drain the outbox until ``stopping``; ``wake`` is set by writers to publish without waiting for the tick."""
    while not stopping.is_set():
        try:
            if not bus.connected:
                await asyncio.sleep(0.2)
                continue
            sent = await publish_pending(db, bus)
            if sent:
                continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("outbox publish failed; will retry", error=str(exc))
        wake.clear()
        await wait_any(wake, stopping, timeout=idle)


async def wait_any(*events: asyncio.Event, timeout: float) -> None:
    """Return when any event is set or after ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
