"""The sender: worker tasks that take outbox rows off ``work.outbound`` and call each platform, exactly once
where the platform lets us, within its rate limits.

One send, step by step (each step its own short transaction; the platform is never called inside one):

1. **claim**: the row must be ``queued``, due, and the oldest unfinished send of its conversation (replies keep
   their order). Send slots are reserved in ``send_rate_limits`` (GCRA, shared by every worker process) and the
   row becomes ``sending`` with a lease. PostgreSQL locks it with ``SELECT … FOR UPDATE SKIP LOCKED``; SQLite
   has one writer, and every state change is a conditional UPDATE on the expected status.
2. **record the attempt**: ``attempt_started_at`` is committed *before* the platform call (in the claim when no
   wait is needed).
3. **call** the platform through its client, with the ``souk:<message id>`` marker where it carries one.
4. **finish**: ``sent`` with the platform's id in the same transaction (``messages_sent`` + 1, once), or back to
   ``queued`` with a back-off (429/5xx/network, honouring Retry-After), or ``failed`` with the platform's code and
   text. The next queued reply of the conversation is then published.

A row still ``sending`` after its lease belongs to a worker that died or a call whose answer was lost; the
sweeper reconciles it per platform (``PlatformRules.reconcile``): resend with the same idempotency key (Chotot),
look in the chat's history (WAHA), wait for the echo/status the inbound pipeline merges by marker (Meta), or
mark it ``failed`` as "outcome unknown" when nothing can tell (Telegram, TikTok). See
docs/decisions/0008-outbound-exactly-once.md.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.bus.client import Bus
from souk.bus.outbox import wait_any
from souk.bus.work import ConsumerSpec, Retry, consume, enqueue
from souk.channels.models import Channel, ChannelStatus
from souk.channels.service import client_for
from souk.core import events
from souk.core.errors import SoukError
from souk.core.observability import log
from souk.db.engine import Database
from souk.db.types import utcnow
from souk.messaging import ingest
from souk.messaging.channel_http import ChannelClients
from souk.messaging.models import DeferredUpdate, Message
from souk.messaging.outbound import Limit, PlatformRules, event_payload, rate_limits, rules_for
from souk.messaging.outbox_models import IdempotencyKey, OutboundMessage, OutboundStatus, SendRateLimit
from souk.platforms.base import DeliveryStatus
from souk.platforms.plugin import PlatformError, SendResult, VendorClient
from souk.worker import WorkerContext, register

KIND = "outbound"
SEND_TIMEOUT = 15.0  # one platform call, uploads included
LEASE = SEND_TIMEOUT + 10.0  # a claim outlives its call; past it the row is reconciled
MAX_INLINE_WAIT = 5.0  # wait for a rate-limit slot in the handler up to this; longer: back to the queue
MAX_ATTEMPTS = 8
BACKOFF_BASE = 2.0
BACKOFF_CAP = 600.0
ECHO_GRACE = 60.0  # how long after an interrupted Meta send its echo/status may still arrive
SWEEP_INTERVAL = 5.0
REENQUEUE_AFTER = 15.0  # a queued row due this long ago lost its bus message
HOUSEKEEPING_INTERVAL = 300.0
IDEMPOTENCY_TTL = timedelta(hours=24)
RATE_IDLE = 3600.0
#: failures after the request may have reached the platform: retrying blindly could send twice
AMBIGUOUS_ERRORS = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)
UNFINISHED = (OutboundStatus.queued, OutboundStatus.sending)


class RateLimited(Exception):
    def __init__(self, retry_in: float) -> None:
        super().__init__(f"rate limited for {retry_in:.2f}s")
        self.retry_in = retry_in


class _Lost(Exception):
    """The row was claimed by someone else between the read and the update."""


_sqlite_writers: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def write_session(db: Database) -> AsyncIterator[AsyncSession]:
    """A system session. SQLite has one writer: the sender's transactions queue on a lock in the process
    instead of colliding and sleeping in SQLite's busy handler (which costs 10–100 ms per collision)."""
    if not db.is_sqlite:
        async with db.system_session() as session:
            yield session
        return
    lock = _sqlite_writers.setdefault(db, asyncio.Lock())
    async with lock, db.system_session() as session:
        yield session


# -- shared rate limits (GCRA cells in the database) ---------------------------------------------------------------


def rate_keys(channel: Channel, request: dict[str, Any]) -> list[tuple[str, Limit]]:
    """The limits one send counts against: its channel, heavy media on the channel, and its recipient."""
    limits = rate_limits(channel)
    cid = str(channel.id)
    keys: list[tuple[str, Limit]] = []
    if limits["channel"]:
        keys.append((f"channel:{cid}", limits["channel"]))
    kind = (request.get("content") or {}).get("type")
    if limits["media"] and kind in ("video", "audio", "voice"):
        keys.append((f"channel:{cid}:media", limits["media"]))
    thread = str(request.get("thread") or "")
    is_group = thread.startswith("-") or thread.endswith("@g.us")
    recipient = limits["group"] if is_group and limits["group"] else limits["recipient"]
    if recipient and thread:
        keys.append((f"recipient:{cid}:{thread}", recipient))
    return sorted(keys)


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def _cells(session: AsyncSession, keys: list[str], *, lock: bool) -> dict[str, float]:
    """The keys' cells (created empty when new), locked on PostgreSQL in key order (no deadlocks)."""
    stmt = select(SendRateLimit.key, SendRateLimit.tat).where(SendRateLimit.key.in_(keys)).order_by(SendRateLimit.key)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    cells = {k: t for k, t in (await session.execute(stmt)).all()}
    missing = [key for key in keys if key not in cells]
    if missing:
        insert = _insert(session)
        for key in missing:
            await session.execute(
                insert(SendRateLimit).values(key=key, tat=0.0).on_conflict_do_nothing(index_elements=["key"])
            )
        cells = {k: t for k, t in (await session.execute(stmt)).all()}
    return cells


async def reserve(session: AsyncSession, keys: list[tuple[str, Limit]], *, now: float, max_wait: float) -> float:
    """Reserve one send on every key, at the earliest moment all allow; returns how long to wait for it.

    Raises :class:`RateLimited` (reserving nothing: the caller rolls back) when that is more than ``max_wait``
    away. Each UPDATE re-checks its cell, so two processes racing for the last slot cannot both get it.
    """
    if not keys:
        return 0.0
    cells = await _cells(session, [k for k, _ in keys], lock=True)
    wait = 0.0
    for key, limit in keys:
        wait = max(wait, max(cells[key], now) - limit.tolerance - now)
    if wait > max_wait:
        raise RateLimited(wait - max_wait)
    at = now + wait
    for key, limit in keys:
        tat = SendRateLimit.tat
        result = await session.execute(
            update(SendRateLimit)
            .where(SendRateLimit.key == key, tat <= at + limit.tolerance)
            .values(tat=case((tat > at, tat), else_=literal(at)) + limit.interval)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise RateLimited(limit.interval)
    return wait


async def penalize(db: Database, keys: list[tuple[str, Limit]], until: float) -> None:
    """The platform said "slow down until ``until``": no worker sends on these keys before then."""
    async with write_session(db) as session:
        await _cells(session, [k for k, _ in keys], lock=True)
        for key, limit in keys:
            floor = until + limit.tolerance
            await session.execute(
                update(SendRateLimit)
                .where(SendRateLimit.key == key, SendRateLimit.tat < floor)
                .values(tat=floor)
                .execution_options(synchronize_session=False)
            )


# -- the send ------------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """A claimed row and what the call needs, carried out of the claim's transaction."""

    row_id: uuid.UUID
    attempts: int
    channel: Channel
    rules: PlatformRules
    platform: str
    request: dict[str, Any]
    keys: list[tuple[str, Limit]]
    wait: float
    upload: tuple[bytes, str, str] | None = None  # (data, filename, mime)
    platform_media_id: str | None = None
    started: bool = False
    notes: dict[str, Any] = field(default_factory=dict)


def backoff(attempts: int, retry_after: float | None) -> float:
    """The platform's Retry-After when it gave one, else exponential with jitter (2 s, 4 s, 8 s … 10 min)."""
    if retry_after:
        return float(retry_after)
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1)) * random.uniform(1.0, 1.25)


def outcome_unknown(exc: BaseException) -> bool:
    """Did the failure happen after the request may have reached the platform (timeout waiting for the answer)?"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, AMBIGUOUS_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


UNKNOWN_TEXT = (
    "the send to {platform} was interrupted after the request left (worker stopped or the answer was lost) and "
    "{platform} offers no way to check it: the customer may or may not have received this message; look at the "
    "chat before resending"
)


class OutboundSender:
    """Sends outbox rows. One per worker task; stateless besides its HTTP clients (one per channel), so any number
    can run."""

    def __init__(self, db: Database, bus: Bus, http: ChannelClients, wake: asyncio.Event) -> None:
        self.db = db
        self.bus = bus
        self.http = http
        self.wake = wake
        self._housekept = 0.0

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return write_session(self.db)

    # -- handler ---------------------------------------------------------------------------------------------------

    async def handle(self, row_id: str) -> None:
        """Handle one ``work.outbound`` id; ids of rows that are not ours to send now are acknowledged and dropped."""
        try:
            oid = uuid.UUID(row_id)
        except ValueError:
            return
        try:
            plan = await self._claim(oid)
        except _Lost:
            return
        except RateLimited as limited:
            await self._defer(oid, limited.retry_in)
            raise Retry("rate limited", delay=limited.retry_in) from None
        if plan is None:
            return
        if plan.wait > 0:
            await asyncio.sleep(plan.wait)
            if not await self._start(plan):
                return
        await self._send(plan)

    async def _claim(self, oid: uuid.UUID) -> Plan | None:
        now = utcnow()
        next_row: uuid.UUID | None = None
        async with self._session() as session:
            stmt = select(OutboundMessage).where(OutboundMessage.id == oid, OutboundMessage.status == "queued")
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            row = await session.scalar(stmt)
            if row is None:
                return None
            early = (row.next_attempt_at - now).total_seconds()
            if early > 0.5:
                raise Retry("not due yet", delay=early)
            earlier_due = await self._earlier_unfinished(session, row)
            if earlier_due is not None:
                # published again when the earlier reply finishes; until then the sweeper leaves it alone
                row.next_attempt_at = max(now, earlier_due)
                return None
            channel = await session.scalar(select(Channel).where(Channel.id == row.channel_id))
            problem = _cannot_send(channel)
            if problem is not None:
                await self._fail(session, row, *problem)
                next_row = await self._next_in_conversation(session, row.conversation_id)
                plan = None
            else:
                assert channel is not None
                rules = rules_for(channel)
                keys = rate_keys(channel, row.request)
                wait = await reserve(session, keys, now=time.time(), max_wait=MAX_INLINE_WAIT)
                claimed = await session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id == oid, OutboundMessage.status == "queued")
                    .values(
                        status=OutboundStatus.sending,
                        attempts=OutboundMessage.attempts + 1,
                        attempt_started_at=now if wait <= 0 else None,
                        lease_until=now + timedelta(seconds=LEASE + wait),
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:
                    raise _Lost()  # another worker claimed it since the read: roll back the reserved slots
                upload = None
                if row.upload_size:
                    data = await session.scalar(select(OutboundMessage.upload_data).where(OutboundMessage.id == oid))
                    upload = (data or b"", row.upload_filename or "file", row.upload_mime or "application/octet-stream")
                plan = Plan(
                    row_id=oid,
                    attempts=row.attempts + 1,
                    channel=channel,
                    rules=rules,
                    platform=channel.channel_type,
                    request=dict(row.request),
                    keys=keys,
                    wait=wait,
                    upload=upload,
                    platform_media_id=row.platform_media_id,
                    started=wait <= 0,
                )
        if plan is None:
            await self._after_commit(next_row)
        return plan

    async def _start(self, plan: Plan) -> bool:
        """Record that the call is about to happen (after a rate-limit wait)."""
        now = utcnow()
        async with self._session() as session:
            result = await session.execute(
                update(OutboundMessage)
                .where(
                    OutboundMessage.id == plan.row_id,
                    OutboundMessage.status == "sending",
                    OutboundMessage.attempts == plan.attempts,
                )
                .values(attempt_started_at=now, lease_until=now + timedelta(seconds=LEASE), updated_at=now)
                .execution_options(synchronize_session=False)
            )
        plan.started = result.rowcount == 1
        return plan.started

    async def _defer(self, oid: uuid.UUID, delay: float) -> None:
        """A rate-limited row is due later: the sweeper must not think its bus message was lost."""
        due = utcnow() + timedelta(seconds=delay)
        async with self._session() as session:
            await session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == oid, OutboundMessage.status == "queued")
                .values(next_attempt_at=due)
                .execution_options(synchronize_session=False)
            )

    async def _send(self, plan: Plan) -> None:
        try:
            client = client_for(plan.channel, self.http.get(plan.channel.id))
            content = dict(plan.request.get("content") or {})
            await self._attach_upload(plan, client, content)
            result = await client.send_message(
                str(plan.request.get("thread") or ""), str(plan.request.get("recipient") or ""), content
            )
        except PlatformError as exc:
            await self._attempt_failed(plan, exc)
            return
        except (KeyError, ValueError, TypeError, NotImplementedError) as exc:  # a content the client cannot build
            log.exception("outbound send could not be built", row=str(plan.row_id))
            await self._attempt_failed(
                plan, PlatformError(f"cannot build the request: {exc!r}", code="invalid_content")
            )
            return
        await self._sent(plan, result)

    async def _attach_upload(self, plan: Plan, client: VendorClient, content: dict[str, Any]) -> None:
        """Put an uploaded file where each platform wants it: a media id (WhatsApp, TikTok), an attachment id
        (Messenger), base64 (WAHA), or a multipart part (Telegram)."""
        if plan.upload is None:
            return
        data, filename, mime = plan.upload
        if plan.platform in ("whatsapp", "tiktok"):
            if not plan.platform_media_id:
                if plan.platform == "whatsapp":
                    plan.platform_media_id = await client.upload_media(data, mime=mime, filename=filename)  # type: ignore[attr-defined]
                else:
                    plan.platform_media_id = await client.upload_media(data, filename, mime)  # type: ignore[attr-defined]
            content["media_id"] = plan.platform_media_id
        elif plan.platform == "messenger":
            if not plan.platform_media_id:
                kind = str(content.get("type") or "file")
                plan.platform_media_id = await client.upload_attachment(data, filename, mime, kind)  # type: ignore[attr-defined]
            content["attachment_id"] = plan.platform_media_id
        elif plan.platform == "waha":
            content.update(data=base64.b64encode(data).decode(), mimetype=mime, filename=filename)
        elif plan.platform == "telegram":
            content["upload"] = {"data": data, "filename": filename, "mime": mime}
        else:
            raise PlatformError(f"{plan.platform} takes media by URL only", code="unsupported_content")

    async def _sent(self, plan: Plan, result: SendResult) -> None:
        external_id = result.external_id
        if external_id is None and plan.rules.reconcile == "history":
            external_id = await self._find_in_history(plan.channel, plan.request, utcnow() - timedelta(seconds=60))
        for attempt in range(3):
            try:
                async with self._session() as session:
                    done = await finalize_sent(
                        session,
                        plan.row_id,
                        external_id,
                        attempts=plan.attempts,
                        media_id=plan.platform_media_id,
                        merge_echo=attempt > 0,
                    )
                    next_row = await self._next_in_conversation(session, done.conversation_id) if done else None
                break
            except DBAPIError:
                # an echo stored with the same platform id before us (merged on the retry), or a deadlock with another
                # write: the platform has the message, so recording it is tried again rather than left to the sweeper
                if attempt == 2:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        await self._after_commit(next_row)

    async def _attempt_failed(self, plan: Plan, exc: PlatformError) -> None:
        now = utcnow()
        if outcome_unknown(exc) and plan.rules.reconcile != "idempotent":
            # the request may have reached the platform: the sweeper reconciles it when the lease ends, as if
            # the worker had died, instead of sending it twice
            async with self._session() as session:
                await session.execute(
                    _owned(plan)
                    .values(
                        last_error=exc.message[:2000],
                        last_error_code=exc.code or "network",
                        platform_media_id=plan.platform_media_id,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
            return
        if exc.retryable and plan.attempts < MAX_ATTEMPTS:
            delay = backoff(plan.attempts, exc.retry_after)
            async with self._session() as session:
                await session.execute(
                    _owned(plan)
                    .values(
                        status=OutboundStatus.queued,
                        next_attempt_at=now + timedelta(seconds=delay),
                        attempt_started_at=None,
                        lease_until=None,
                        last_error=exc.message[:2000],
                        last_error_code=exc.code or (str(exc.status) if exc.status else "network"),
                        platform_media_id=plan.platform_media_id,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
            if exc.retry_after:
                await penalize(self.db, plan.keys, time.time() + float(exc.retry_after))
            log.info("outbound send will be retried", row=str(plan.row_id), delay=round(delay, 2), error=exc.message)
            raise Retry(exc.message, delay=delay)
        code = exc.code or (str(exc.status) if exc.status else "error")
        text = exc.message if not exc.retryable else f"gave up after {plan.attempts} attempts: {exc.message}"
        async with self._session() as session:
            row = await session.scalar(_owned_row(plan))
            if row is None:
                return
            row.platform_media_id = plan.platform_media_id
            await self._fail(session, row, code, text)
            next_row = await self._next_in_conversation(session, row.conversation_id)
        await self._after_commit(next_row)

    # -- shared steps ----------------------------------------------------------------------------------------------

    @staticmethod
    async def _earlier_unfinished(session: AsyncSession, row: OutboundMessage) -> datetime | None:
        """None when no earlier reply of the conversation is unfinished; else when this one may be looked at
        again: the earlier one's due time when it waits for a retry (so the sweeper does not republish this one
        meanwhile), unchanged while it is being sent."""
        earlier = (
            await session.execute(
                select(OutboundMessage.status, OutboundMessage.next_attempt_at, OutboundMessage.lease_until)
                .where(
                    OutboundMessage.conversation_id == row.conversation_id,
                    OutboundMessage.status.in_(UNFINISHED),
                    OutboundMessage.id != row.id,
                    or_(
                        OutboundMessage.queued_at < row.queued_at,
                        and_(OutboundMessage.queued_at == row.queued_at, OutboundMessage.id < row.id),
                    ),
                )
                .order_by(OutboundMessage.queued_at, OutboundMessage.id)
                .limit(1)
            )
        ).first()
        if earlier is None:
            return None
        status, due, _lease = earlier
        return due if status == "queued" else row.next_attempt_at

    @staticmethod
    async def _next_in_conversation(session: AsyncSession, conversation_id: uuid.UUID) -> uuid.UUID | None:
        """The conversation's next queued reply, due now unless it waits for its own retry."""
        next_id = await session.scalar(
            select(OutboundMessage.id)
            .where(OutboundMessage.conversation_id == conversation_id, OutboundMessage.status == "queued")
            .order_by(OutboundMessage.queued_at, OutboundMessage.id)
            .limit(1)
        )
        if next_id is not None:
            now = utcnow()
            await session.execute(
                update(OutboundMessage)
                .where(
                    OutboundMessage.id == next_id,
                    OutboundMessage.attempts == 0,
                    OutboundMessage.next_attempt_at > now,
                )
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
        return next_id

    async def _fail(self, session: AsyncSession, row: OutboundMessage, code: str, text: str) -> None:
        await fail_row(session, row, code, text)

    async def _after_commit(self, next_row: uuid.UUID | None) -> None:
        """Publish domain events now, and the conversation's next reply (a fresh bus message: not deduplicated)."""
        self.wake.set()
        if next_row is not None:
            try:
                await enqueue(self.bus, KIND, str(next_row), dedup=False)
            except Exception as exc:  # the sweeper publishes it later
                log.warning("could not publish the next outbound row", row=str(next_row), error=str(exc))

    # -- sweeper ---------------------------------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Reconcile interrupted attempts, re-publish queued rows whose bus message was lost, tidy old state."""
        now = utcnow()
        async with self._session() as session:
            stuck = (
                await session.scalars(
                    select(OutboundMessage.id)
                    .where(OutboundMessage.status == "sending", OutboundMessage.lease_until < now)
                    .limit(100)
                )
            ).all()
        for oid in stuck:
            try:
                await self.reconcile(oid)
            except Exception:
                log.exception("outbound reconcile failed; will try again", row=str(oid))
        async with self._session() as session:
            lost = (
                await session.scalars(
                    select(OutboundMessage.id)
                    .where(
                        OutboundMessage.status == "queued",
                        OutboundMessage.next_attempt_at < now - timedelta(seconds=REENQUEUE_AFTER),
                    )
                    .limit(500)
                )
            ).all()
            if lost:
                await session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id.in_(lost), OutboundMessage.status == "queued")
                    .values(next_attempt_at=now)
                    .execution_options(synchronize_session=False)
                )
        for oid in lost:
            await enqueue(self.bus, KIND, str(oid), dedup=False)
        if time.monotonic() - self._housekept > HOUSEKEEPING_INTERVAL:
            self._housekept = time.monotonic()
            async with self._session() as session:
                await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_TTL))
                await session.execute(delete(SendRateLimit).where(SendRateLimit.tat < time.time() - RATE_IDLE))

    async def reconcile(self, oid: uuid.UUID) -> None:
        """Decide the fate of an attempt whose worker died or whose answer was lost (see the module docstring)."""
        now = utcnow()
        async with self._session() as session:
            taken = await session.execute(
                update(OutboundMessage)
                .where(
                    OutboundMessage.id == oid,
                    OutboundMessage.status == "sending",
                    OutboundMessage.lease_until < now,
                )
                .values(lease_until=now + timedelta(seconds=LEASE))
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                return
            row = await session.scalar(select(OutboundMessage).where(OutboundMessage.id == oid))
            message = await session.scalar(select(Message).where(Message.id == row.message_id)) if row else None
            channel = await session.scalar(select(Channel).where(Channel.id == row.channel_id)) if row else None
        if row is None or message is None or channel is None:
            return
        started = row.attempt_started_at
        rules = rules_for(channel)
        if message.external_id:  # the inbound pipeline merged the echo/status carrying our marker
            await self._confirm(oid, message.external_id)
        elif started is None or rules.reconcile == "idempotent":
            await self._requeue(row)  # no call was made, or repeating it returns the first message
        elif rules.reconcile == "history":
            try:
                found = await self._find_in_history(channel, row.request, started - timedelta(seconds=60))
            except PlatformError as exc:
                log.warning("cannot check the chat history yet", row=str(oid), error=exc.message)
                return
            await (self._confirm(oid, found) if found else self._requeue(row))
        elif rules.reconcile == "echo" and (parked := await self._parked_status(row, message, started)):
            await self._confirm(oid, parked)  # a WhatsApp receipt carrying our marker names the wamid
        elif rules.reconcile == "echo" and now < started + timedelta(seconds=ECHO_GRACE):
            async with self._session() as session:
                await session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id == oid, OutboundMessage.status == "sending")
                    .values(lease_until=started + timedelta(seconds=ECHO_GRACE))
                    .execution_options(synchronize_session=False)
                )
        else:
            await self._give_up(oid, "outcome_unknown", UNKNOWN_TEXT.format(platform=channel.channel_type))

    async def _confirm(self, oid: uuid.UUID, external_id: str) -> None:
        async with self._session() as session:
            done = await finalize_sent(session, oid, external_id, attempts=None, media_id=None)
            next_row = await self._next_in_conversation(session, done.conversation_id) if done else None
        await self._after_commit(next_row)

    async def _requeue(self, row: OutboundMessage) -> None:
        if row.attempts >= MAX_ATTEMPTS:
            await self._give_up(
                row.id,
                row.last_error_code or "retries_exhausted",
                f"gave up after {row.attempts} attempts: {row.last_error or 'interrupted'}",
            )
            return
        now = utcnow()
        async with self._session() as session:
            result = await session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == row.id, OutboundMessage.status == "sending")
                .values(status=OutboundStatus.queued, next_attempt_at=now, attempt_started_at=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
        if result.rowcount == 1:
            await enqueue(self.bus, KIND, str(row.id), dedup=False)

    async def _give_up(self, oid: uuid.UUID, code: str, text: str) -> None:
        async with self._session() as session:
            row = await session.scalar(
                select(OutboundMessage).where(OutboundMessage.id == oid, OutboundMessage.status == "sending")
            )
            if row is None:
                return
            await fail_row(session, row, code, text)
            next_row = await self._next_in_conversation(session, row.conversation_id)
        await self._after_commit(next_row)

    async def _parked_status(self, row: OutboundMessage, message: Message, started: datetime) -> str | None:
        """A receipt the inbound pipeline parked because it names a platform id no row has yet, and whose
        ``biz_opaque_callback_data`` is our marker (WhatsApp echoes nothing else for API sends)."""
        marker = (message.message_metadata or {}).get("marker")
        if not marker:
            return None
        async with self._session() as session:
            parked = await session.execute(
                select(DeferredUpdate.target_external_id, DeferredUpdate.payload).where(
                    DeferredUpdate.channel_id == row.channel_id,
                    DeferredUpdate.kind == "StatusUpdate",
                    DeferredUpdate.created_at >= started - timedelta(seconds=ECHO_GRACE),
                )
            )
            for target, payload in parked.all():
                raw = (payload or {}).get("raw") if isinstance(payload, dict) else None
                if isinstance(raw, dict) and raw.get("biz_opaque_callback_data") == marker:
                    return str(target)
        return None

    async def _find_in_history(self, channel: Channel, request: dict[str, Any], since: Any) -> str | None:
        """WAHA: our message in the chat's history (from us, same text, after ``since``) not yet owned by a row."""
        from souk.platforms.waha.parse import normalize_id, serialized

        client = client_for(channel, self.http.get(channel.id))
        content = request.get("content") or {}
        expected = content.get("text") or content.get("caption") or None
        items = await client.list_chat_messages(  # type: ignore[attr-defined]
            str(request.get("thread")), 50, 0, since=since
        )
        async with self._session() as session:
            for item in sorted(items, key=lambda m: m.get("timestamp") or 0):
                if not item.get("fromMe") or (item.get("body") or None) != expected:
                    continue
                candidate = normalize_id(serialized(item.get("id")))
                owned = await session.scalar(
                    select(Message.id).where(Message.channel_id == channel.id, Message.external_id == candidate)
                )
                if owned is None:
                    return candidate
        return None


def _owned(plan: Plan) -> Any:
    """An UPDATE of the plan's row only while this attempt still owns it."""
    return update(OutboundMessage).where(
        OutboundMessage.id == plan.row_id,
        OutboundMessage.status == "sending",
        OutboundMessage.attempts == plan.attempts,
    )


def _owned_row(plan: Plan) -> Any:
    return select(OutboundMessage).where(
        OutboundMessage.id == plan.row_id,
        OutboundMessage.status == "sending",
        OutboundMessage.attempts == plan.attempts,
    )


def _cannot_send(channel: Channel | None) -> tuple[str, str] | None:
    if channel is None or channel.deleted_at is not None:
        return "channel_deleted", "the channel was deleted before the message could be sent"
    if channel.status != ChannelStatus.active:
        return "channel_inactive", f"the channel is {channel.status}; activate it and resend"
    try:
        rules_for(channel)
    except SoukError as exc:
        return "unsupported_platform", exc.detail
    return None


# -- finishing a row (also used by reconciliation) -----------------------------------------------------------------


async def finalize_sent(
    session: AsyncSession,
    row_id: uuid.UUID,
    external_id: str | None,
    *,
    attempts: int | None,
    media_id: str | None,
    merge_echo: bool = True,
) -> OutboundMessage | None:
    """Mark the row and its message sent with the platform's id, count it on the channel once, emit the event.

    An echo the inbound pipeline stored as a separate row before our id was known (same channel and platform
    id) is merged into ours: never two rows for one message. Returns None when the row was not ours to finish.
    The sender skips that look-up (``merge_echo=False``) and retries with it when the unique key says so.
    """
    stmt = select(OutboundMessage).where(OutboundMessage.id == row_id, OutboundMessage.status == "sending")
    if attempts is not None:
        stmt = stmt.where(OutboundMessage.attempts == attempts)
    row = await session.scalar(stmt)
    if row is None:
        return None
    message = await session.scalar(select(Message).where(Message.id == row.message_id))
    if message is None:
        return None
    now = utcnow()
    if external_id and message.external_id != external_id:
        await ingest.serialize(session, row.channel_id, external_id)  # an echo of this send waits, or is seen
        twin = None
        if merge_echo:
            twin = await session.scalar(
                select(Message).where(
                    Message.channel_id == row.channel_id, Message.external_id == external_id, Message.id != message.id
                )
            )
        if twin is not None and twin.direction == "outbound":
            if _rank(twin.status) > _rank(message.status):
                message.status = twin.status
            events.emit(
                session,
                twin.tenant_id,
                "message.deleted",
                {
                    "message_id": str(twin.id),
                    "conversation_id": str(twin.conversation_id),
                    "merged_into": str(message.id),
                    "reason": "echo of a Souk send",
                },
            )
            await session.delete(twin)
            await session.flush()
        elif twin is not None:
            log.warning("platform id already used by an inbound message", external_id=external_id, row=str(row_id))
            external_id = None
        if external_id:
            message.external_id = external_id
    if message.status in ("pending", "failed"):
        message.status = "sent"
    message.status_at = now
    message.error_code = message.error_message = None
    await ingest.apply_deferred(session, message)
    row.status = OutboundStatus.sent
    row.sent_at = now
    row.lease_until = None
    row.upload_data = None
    row.last_error = row.last_error_code = None
    if media_id:
        row.platform_media_id = media_id
    await session.execute(
        update(Channel)
        .where(Channel.id == row.channel_id)
        .values(messages_sent=Channel.messages_sent + 1, last_message_at=now)
        .execution_options(synchronize_session=False)
    )
    events.emit(session, message.tenant_id, "message.updated", event_payload(message))
    return row


async def fail_row(session: AsyncSession, row: OutboundMessage, code: str, text: str) -> None:
    """The row and its message end ``failed`` with the platform's code and text; a person can resend it."""
    now = utcnow()
    row.status = OutboundStatus.failed
    row.lease_until = None
    row.last_error = text[:2000]
    row.last_error_code = code[:64]
    message = await session.scalar(select(Message).where(Message.id == row.message_id))
    if message is None:
        return
    message.status = "failed"
    message.error_code = code[:64]
    message.error_message = text[:4000]
    message.status_at = now
    events.emit(session, message.tenant_id, "message.updated", event_payload(message))


def _rank(status: str) -> int:
    try:
        return DeliveryStatus(status).rank if status != "failed" else -1
    except ValueError:
        return -1


# -- worker tasks --------------------------------------------------------------------------------------------------


def _http() -> ChannelClients:
    return ChannelClients(httpx.Timeout(SEND_TIMEOUT, connect=5.0))


@register("sender")
async def run_sender(ctx: WorkerContext) -> None:
    """Consume ``work.outbound``: many sends at once per process, any number of processes."""
    async with _http() as http:
        sender = OutboundSender(ctx.db, ctx.bus, http, ctx.outbox_wake)
        spec = ConsumerSpec(
            kind=KIND,
            durable="sender",
            handler=sender.handle,
            batch=32,
            concurrency=16,
            ack_wait=LEASE + MAX_INLINE_WAIT + 30.0,
        )
        await consume(ctx.bus, spec, ctx.stopping)


@register("sender-sweeper")
async def run_sweeper(ctx: WorkerContext) -> None:
    """Every few seconds: reconcile interrupted sends, re-publish lost ones, drop expired keys."""
    async with _http() as http:
        sender = OutboundSender(ctx.db, ctx.bus, http, ctx.outbox_wake)
        while not ctx.stopping.is_set():
            if ctx.bus.connected:
                try:
                    await sender.sweep()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbound sweep failed; will try again")
            await wait_any(ctx.stopping, timeout=SWEEP_INTERVAL)
