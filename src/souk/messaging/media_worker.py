"""The media worker: fetches queued attachments into the media store, and a sweeper for lost queue messages.

``media`` consumes ``work.media`` (media row ids). Each delivery *claims* one attempt on the row (a conditional
update of ``attempts``, so two deliveries of the same id cannot both download), fetches the bytes outside any
transaction, stores them, and marks the row ``stored`` with a ``message.updated`` event. A failure that may pass
(5xx, 429, network, timeout) leaves the row ``pending`` with the reason in ``error`` and is redelivered after a
doubling back-off; a permanent one (404, oversize) or an exhausted budget marks it ``failed``.

``media-sweeper`` re-queues pending rows whose next attempt is overdue: their queue message was lost (a crash
between commit and publish, a broker that lost its data). The row is the truth; the queue only says "look at it".
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from souk import __version__
from souk.bus import work
from souk.bus.client import Bus
from souk.bus.outbox import wait_any
from souk.channels.models import Channel
from souk.channels.service import client_for, platform_of
from souk.core import events
from souk.core.observability import log
from souk.db.engine import Database
from souk.db.types import utcnow
from souk.messaging.media import (
    Fetched,
    MediaConfig,
    MediaError,
    MediaSource,
    MediaStore,
    download,
    event_payload,
    media_id_or_none,
    storage_key,
    store_for,
)
from souk.messaging.models import Conversation, MediaStatus, Message, MessageMedia
from souk.platforms.plugin import PlatformError
from souk.worker import WorkerContext, register

KIND = "media"


@dataclass
class Claim:
    """One attempt at one row, with everything the download needs once the claiming transaction is over."""

    media_id: uuid.UUID
    tenant_id: uuid.UUID
    attempt: int
    key: str
    channel: Channel
    source: MediaSource


async def _finish_failed(session: AsyncSession, media: MessageMedia, error: str) -> None:
    media.status = MediaStatus.failed
    media.error = error[:4000]
    message = await session.get(Message, media.message_id)
    events.emit(session, media.tenant_id, "message.updated", event_payload(media, message))


async def claim(db: Database, media_id: uuid.UUID, config: MediaConfig) -> Claim | None:
    """Take the next attempt on a pending row, or None when there is nothing to do (stored, failed, gone, taken)."""
    async with db.system_session() as session:
        media = await session.get(MessageMedia, media_id)
        if media is None or media.status != MediaStatus.pending:
            return None
        if media.attempts >= config.max_attempts:  # the last attempt died with its process
            await _finish_failed(session, media, f"gave up after {media.attempts} attempts: {media.error or '?'}")
            return None
        taken = await session.execute(
            update(MessageMedia)
            .where(
                MessageMedia.id == media.id,
                MessageMedia.status == MediaStatus.pending,
                MessageMedia.attempts == media.attempts,
            )
            .values(attempts=media.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            return None
        channel = await session.get(Channel, media.channel_id)
        message = await session.get(Message, media.message_id)
        if channel is None or message is None:
            await _finish_failed(session, media, "its message or channel no longer exists")
            return None
        conversation = await session.get(Conversation, message.conversation_id)
        source = MediaSource(
            channel_type=platform_of(channel).channel_type,
            kind=media.kind,
            platform_media_id=media.platform_media_id,
            url=media.url,
            mime=media.mime,
            size=media.size,
            filename=media.filename,
            message_external_id=message.external_id,
            thread_id=conversation.external_thread_id if conversation else None,
        )
        return Claim(media.id, media.tenant_id, media.attempts + 1, storage_key(media), channel, source)


async def fetch_and_store(job: Claim, http: httpx.AsyncClient, store: MediaStore, config: MediaConfig) -> Fetched:
    """Download within the time budget and put the bytes in the store; every failure is a :class:`MediaError`."""
    limit = config.limit_for(job.source.channel_type, job.source.kind)
    try:
        client = client_for(job.channel, http)
    except (PlatformError, KeyError, ValueError) as exc:
        raise MediaError(f"the channel's configuration cannot download media: {exc}") from None
    try:
        async with asyncio.timeout(config.download_timeout_seconds):
            fetched = await download(client, job.source, http, limit=limit)
    except TimeoutError:
        raise MediaError(
            f"the download took longer than {config.download_timeout_seconds:g} s", retryable=True
        ) from None
    try:
        await store.put(job.key, fetched.data, fetched.mime)
    except (OSError, httpx.HTTPError, MediaError) as exc:
        raise MediaError(f"the media store did not take the file: {exc}", retryable=True) from None
    return fetched


async def mark_stored(db: Database, job: Claim, fetched: Fetched) -> bool:
    """Record the stored file and tell the inbox; False when the row is gone (its message was deleted)."""
    async with db.tenant_session(job.tenant_id) as session:
        media = await session.scalar(select(MessageMedia).where(MessageMedia.id == job.media_id))
        if media is None:
            return False
        if media.status != MediaStatus.pending:  # a duplicate delivery got there first: same key, same bytes
            return True
        media.status = MediaStatus.stored
        media.storage_key = job.key
        media.size = len(fetched.data)
        media.mime = fetched.mime
        media.sha256 = hashlib.sha256(fetched.data).hexdigest()
        media.stored_at = utcnow()
        media.error = None
        message = await session.get(Message, media.message_id)
        events.emit(session, job.tenant_id, "message.updated", event_payload(media, message))
        return True


async def mark_failure(db: Database, job: Claim, error: str, *, final: bool) -> None:
    """Keep the reason on the row: ``failed`` when final, else still ``pending`` until the next attempt."""
    async with db.tenant_session(job.tenant_id) as session:
        media = await session.scalar(select(MessageMedia).where(MessageMedia.id == job.media_id))
        if media is None or media.status != MediaStatus.pending:
            return
        if final:
            await _finish_failed(session, media, error)
        else:
            media.error = error[:4000]


async def process(
    ctx: WorkerContext,
    http: httpx.AsyncClient,
    store: MediaStore,
    config: MediaConfig,
    in_flight: set[uuid.UUID],
    raw_id: str,
) -> None:
    """Handle one ``work.media`` delivery; raises :class:`~souk.bus.work.Retry` to be redelivered later.

    A second delivery of a row this process is already downloading is dropped: the first one decides the row's
    fate (stored, failed, or its own redelivery).
    """
    media_id = media_id_or_none(raw_id)
    if media_id is None:
        log.warning("media work item is not a media id; dropped", id=raw_id)
        return
    if media_id in in_flight:
        return
    in_flight.add(media_id)
    try:
        await attempt(ctx, http, store, config, media_id)
    finally:
        in_flight.discard(media_id)


async def attempt(
    ctx: WorkerContext, http: httpx.AsyncClient, store: MediaStore, config: MediaConfig, media_id: uuid.UUID
) -> None:
    """One attempt at one row: claim, fetch, store, record."""
    job = await claim(ctx.db, media_id, config)
    ctx.outbox_wake.set()  # a claim may have given up on a row and emitted its event
    if job is None:
        return
    try:
        fetched = await fetch_and_store(job, http, store, config)
    except MediaError as exc:
        exhausted = exc.retryable and job.attempt >= config.max_attempts
        final = exhausted or not exc.retryable
        error = f"gave up after {job.attempt} attempts: {exc.reason}" if exhausted else exc.reason
        await mark_failure(ctx.db, job, error, final=final)
        ctx.outbox_wake.set()
        log.info("media download failed", media_id=str(job.media_id), attempt=job.attempt, final=final, error=error)
        if final:
            return
        delay = min(config.retry_max_seconds, max(config.backoff(job.attempt), exc.retry_after or 0.0))
        raise work.Retry(exc.reason, delay=delay) from None
    if not await mark_stored(ctx.db, job, fetched):
        await store.delete(job.key)  # the message (and its media row) went away while we downloaded
    ctx.outbox_wake.set()


@register(KIND)
async def media_consumer(ctx: WorkerContext) -> None:
    """Consume ``work.media`` until the worker stops, with an HTTP client of its own for the platforms."""
    config = MediaConfig.from_settings(ctx.settings)
    timeout = httpx.Timeout(30.0, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout, headers={"User-Agent": f"Souk/{__version__}"}) as http:
        store = store_for(config, http)
        spec = work.ConsumerSpec(
            kind=KIND,
            durable=KIND,
            handler=partial(process, ctx, http, store, config, set()),
            batch=8,
            # a delivery must not be handed to another worker while its download may still be running
            ack_wait=config.download_timeout_seconds + 60.0,
            concurrency=4,  # each download holds up to its size limit in memory
        )
        await work.consume(ctx.bus, spec, ctx.stopping)


# -- the sweeper ------------------------------------------------------------------------------------------------


def next_attempt_due(created_at: datetime, attempts: int, config: MediaConfig) -> datetime:
    """When a pending row is overdue: its queue message should have come back by then.

    The row keeps no last-attempt time, so the schedule is counted from ``created_at``: the stale margin plus the
    back-off of every attempt made so far.
    """
    waited = config.stale_after_seconds + sum(config.backoff(n) for n in range(1, attempts + 1))
    return created_at + timedelta(seconds=waited)


async def sweep(db: Database, bus: Bus, config: MediaConfig, *, now: datetime, batch: int = 500) -> int:
    """Re-queue every overdue pending row (oldest first); returns how many were queued."""
    cutoff = now - timedelta(seconds=config.stale_after_seconds)
    async with db.system_session() as session:
        rows = (
            await session.execute(
                select(MessageMedia.id, MessageMedia.created_at, MessageMedia.attempts)
                .where(MessageMedia.status == MediaStatus.pending, MessageMedia.created_at <= cutoff)
                .order_by(MessageMedia.created_at)
                .limit(batch)
            )
        ).all()
    due = [media_id for media_id, created_at, attempts in rows if next_attempt_due(created_at, attempts, config) <= now]
    for media_id in due:
        await work.enqueue(bus, KIND, str(media_id), dedup=False)
    if due:
        log.info("media sweeper re-queued downloads", count=len(due))
    return len(due)


@register("media-sweeper")
async def media_sweeper(ctx: WorkerContext) -> None:
    config = MediaConfig.from_settings(ctx.settings)
    while not ctx.stopping.is_set():
        if ctx.bus.connected:
            try:
                await sweep(ctx.db, ctx.bus, config, now=utcnow())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("media sweep failed; will try again", error=str(exc))
        await wait_any(ctx.stopping, timeout=config.sweep_interval_seconds)
