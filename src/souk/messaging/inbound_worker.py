"""The inbound worker: turns stored deliveries into customers, conversations and messages.

Consumes ids from ``work.inbound``. Each delivery is processed in one transaction that ends by marking it
``processed``, ``failed`` with the reasons (a malformed event, or a kind no parser knows), or ``ignored`` with why
when nothing in it concerns Souk. A worker killed mid-way leaves it ``received`` and it is simply done again; the
unique keys make the second pass a no-op for what the first one committed. The sweeper re-publishes deliveries left
``received`` (crash between commit and publish, lost bus message).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from functools import partial

from sqlalchemy import and_, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.bus.client import Bus
from souk.bus.work import ConsumerSpec, Retry, consume, enqueue
from souk.channels.models import Channel, ChannelStatus
from souk.core import events
from souk.core.errors import Conflict, NotFound
from souk.core.live import publish_signal
from souk.core.observability import log
from souk.db.engine import Database
from souk.db.scoping import SYSTEM_KEY, TENANT_KEY
from souk.db.types import utcnow
from souk.messaging import ingest
from souk.messaging.intake import IGNORED_REASON
from souk.messaging.models import InboundEvent, InboundStatus
from souk.platforms import registry
from souk.platforms.base import Ignored, ParseError, UnknownKind
from souk.worker import WorkerContext, register

SWEEP_AFTER = timedelta(seconds=30)


async def process_event(ctx: WorkerContext, event_id: str) -> None:
    """Process one delivery; idempotent. Transient database trouble → ``Retry`` (redelivered later)."""
    try:
        applied = await _process(ctx.db, uuid.UUID(event_id))
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, IntegrityError):
            raise
        raise Retry(f"database unavailable: {exc}", delay=2.0) from exc
    await _after_commit(ctx, [applied] if applied is not None else [])


async def process_events(ctx: WorkerContext, event_ids: list[str]) -> None:
    """Process several deliveries in one transaction, in order (docs/decisions/0033); raises on any trouble, and the
    consumer then processes them one by one with :func:`process_event`.

    Each delivery is what :func:`process_event` would make of it on its own: its events apply in savepoints as
    there, its outcome and domain events are written before the next one starts, and the acks follow the commit.
    """
    ids = [uuid.UUID(i) for i in event_ids]
    async with ctx.db.system_session() as session:
        done = []
        for event_id in ids:
            session.info[SYSTEM_KEY] = True  # the next delivery is found across tenants, then walled to its own
            session.info.pop(TENANT_KEY, None)
            applied = await _process_in(session, event_id)
            await session.flush()  # under this delivery's tenant, before the session is opened to the next
            if applied is not None:
                done.append(applied)
        if done:
            await ingest.count_received(session, done)
    await _after_commit(ctx, done)


async def _after_commit(ctx: WorkerContext, done: list[ingest.Applied]) -> None:
    """Media to fetch, live signals and the outbox's wake-up, once the deliveries are committed."""
    if not done:
        return
    for applied in done:
        for media_id in applied.media_ids:
            try:
                await enqueue(ctx.bus, "media", str(media_id))
            except Exception as exc:
                log.warning("media enqueue failed; the media sweeper will pick it up", error=str(exc))
        for tenant_id, kind, payload in applied.signals:  # of the moment: one the bus cannot take now is not kept
            with contextlib.suppress(Exception):
                await publish_signal(ctx.bus, tenant_id, kind, payload)
    ctx.outbox_wake.set()


async def _process(db: Database, event_id: uuid.UUID) -> ingest.Applied | None:
    async with db.system_session() as session:
        applied = await _process_in(session, event_id)
        if applied is not None:
            await ingest.count_received(session, [applied])
        return applied


async def _process_in(session: AsyncSession, event_id: uuid.UUID) -> ingest.Applied | None:
    """One delivery in a system session that this walls to the delivery's tenant; None when there was nothing to
    do or it ended without messages to pass on."""
    # the delivery and its channel in one statement; the channel only if it is the delivery's tenant's
    stmt = (
        select(InboundEvent, Channel)
        .outerjoin(Channel, and_(Channel.id == InboundEvent.channel_id, Channel.tenant_id == InboundEvent.tenant_id))
        .where(InboundEvent.id == event_id)
    )
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True, of=InboundEvent)
    row = (await session.execute(stmt)).first()
    if row is None or row[0].status != InboundStatus.received:
        return None  # done already, or another worker holds it right now
    event, channel = row
    # from here on the session is walled to the event's tenant like any tenant session
    session.info.pop(SYSTEM_KEY, None)
    session.info[TENANT_KEY] = event.tenant_id
    if channel is None or channel.deleted_at is not None or channel.status == ChannelStatus.inactive:
        _finish(session, event, InboundStatus.ignored, IGNORED_REASON)
        return None
    platform = registry.detect(channel.vendor_name, channel.channel_type)
    try:
        parsed = platform.events(event.body, event.headers or {})
    except ParseError as exc:
        _finish(session, event, InboundStatus.failed, f"unreadable payload: {exc}")
        return None
    except Exception as exc:  # a parser bug must not lose the delivery: keep it failed, replayable
        log.exception("parser crashed", channel_type=channel.channel_type)
        _finish(session, event, InboundStatus.failed, f"parser error: {type(exc).__name__}: {exc}")
        return None
    applied = ingest.Applied(count_later=True)
    failures: list[str] = []
    ignored: list[str] = []
    for ev in parsed:
        if not ev.key:  # without its platform id an event cannot be stored exactly once: kept failed, replayable
            failures.append(f"{type(ev).__name__}: the payload has no id for it")
            continue
        if isinstance(ev, UnknownKind):  # not dropped in silence: failed, replayable once a parser knows it
            failures.append(f"{ev.key}: {ev.reason}")
            continue
        if isinstance(ev, Ignored):
            ignored.append(ev.reason)
            continue
        received = applied.inbound_received  # a sub-event rolled back to its savepoint counts nothing
        try:
            async with session.begin_nested():
                await ingest.apply(session, channel, ev, inbound_event_id=event.id, applied=applied)
        except ingest.SubEventFailed as exc:
            applied.inbound_received = received
            failures.append(f"{ev.key}: {exc}")
        except (OperationalError, DBAPIError) as exc:
            applied.inbound_received = received
            if isinstance(exc, IntegrityError):
                failures.append(f"{ev.key}: {exc.orig}")
                continue
            raise
        except Exception as exc:
            applied.inbound_received = received
            log.exception("event failed", key=ev.key)
            failures.append(f"{ev.key}: {type(exc).__name__}: {exc}")
    if failures:
        _finish(session, event, InboundStatus.failed, "; ".join(failures)[:4000])
    elif ignored and len(ignored) == len(parsed):  # nothing in it for Souk: say so, and why
        _finish(session, event, InboundStatus.ignored, "; ".join(dict.fromkeys(ignored))[:4000])
    else:
        _finish(session, event, InboundStatus.processed, None)
    return applied


def _finish(session: AsyncSession, event: InboundEvent, status: InboundStatus, error: str | None) -> None:
    """The delivery's outcome, with this attempt counted (in the same transaction: an attempt that died rolled
    back with everything it did, and is counted by the one that finishes)."""
    event.status, event.error, event.processed_at = status, error, utcnow()
    event.attempts = (event.attempts or 0) + 1
    events.emit(
        session,
        event.tenant_id,
        f"inbound_event.{status}",
        {"inbound_event_id": str(event.id), "channel_id": str(event.channel_id), "error": error},
    )


async def replay_event(db: Database, bus: Bus, tenant_id: uuid.UUID, event_id: uuid.UUID) -> InboundEvent:
    """Put a delivery back to ``received`` and queue it (after a fix, or to re-run an ignored one)."""
    async with db.tenant_session(tenant_id) as session:
        event = await session.get(InboundEvent, event_id)
        if event is None:
            raise NotFound("no such inbound event")
        if event.status == InboundStatus.received:
            raise Conflict("this event is waiting to be processed already")
        event.status, event.error, event.processed_at = InboundStatus.received, None, None
    try:
        await enqueue(bus, "inbound", str(event_id), dedup=False)
    except Exception as exc:  # it is `received` again: the sweeper publishes it once the bus is back
        log.warning("replay publish failed; the sweeper will pick it up", id=str(event_id), error=str(exc))
    return event


async def sweep(db: Database, bus: Bus, *, older_than: timedelta = SWEEP_AFTER, limit: int = 500) -> int:
    """Re-publish deliveries still ``received`` a while after they arrived."""
    async with db.system_session() as session:
        ids = (
            await session.scalars(
                select(InboundEvent.id)
                .where(InboundEvent.status == InboundStatus.received, InboundEvent.received_at < utcnow() - older_than)
                .order_by(InboundEvent.received_at)
                .limit(limit)
            )
        ).all()
    for event_id in ids:
        await enqueue(bus, "inbound", str(event_id), dedup=False)
    return len(ids)


@register("inbound")
async def _consumer(ctx: WorkerContext) -> None:
    spec = ConsumerSpec(
        kind="inbound",
        durable="inbound",
        handler=partial(process_event, ctx),
        batch_handler=partial(process_events, ctx),
        # SQLite's one writer: a short batch lets the intake's group commits in sooner (decision 0033)
        batch_ids=3 if ctx.db.is_sqlite else 32,
        batch=64,
        ack_wait=ctx.settings.inbound_ack_wait_seconds,
        concurrency=8,
    )
    await consume(ctx.bus, spec, ctx.stopping)


@register("inbound-sweeper")
async def _sweeper(ctx: WorkerContext) -> None:
    every = ctx.settings.sweep_interval_seconds
    after = timedelta(seconds=ctx.settings.sweep_after_seconds)
    while not ctx.stopping.is_set():
        try:
            if ctx.bus.connected:
                n = await sweep(ctx.db, ctx.bus, older_than=after)
                if n:
                    log.info("re-published unprocessed inbound events", count=n)
        except Exception as exc:
            log.warning("inbound sweep failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.stopping.wait(), every)
