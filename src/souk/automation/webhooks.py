"""Outgoing webhooks: per-tenant subscriptions to domain events, signed, delivered at least once with back-off.

A durable consumer of every domain event writes one ``webhook_deliveries`` row per matching subscription (unique on
subscription + event id, so a redelivered event adds nothing). The deliverer claims due rows (a lease: their
``next_attempt_at`` moves past the call's time budget, so another process skips them), POSTs them and records every
attempt with its response code. 2xx → delivered; anything else → retried after ``base × 2^(attempt-1)`` seconds (at
most an hour) until ``webhook_max_attempts``, then failed. A person can redeliver any delivery.

Signature (``Souk-Signature: t=<unix seconds>,v1=<hex>``): HMAC-SHA256 with the subscription's secret over
``"<t>." + body``; receivers check it with :func:`verify` and refuse timestamps older than a few minutes.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import secrets as pysecrets
import time
import uuid
import weakref
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.automation import interest
from souk.automation.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from souk.bus.subscribe import consume_events
from souk.core.observability import log
from souk.db.types import utcnow
from souk.worker import WorkerContext, register

DURABLE = "outgoing-webhooks"
TIMEOUT_SECONDS = 10.0
LEASE = timedelta(seconds=30)
MAX_DELAY = 3600.0
SIGNATURE_HEADER = "Souk-Signature"
_WAKE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event] = weakref.WeakKeyDictionary()


def _wake_event() -> asyncio.Event:
    """The deliverer's wake-up call in this event loop (set when a delivery is written in this process)."""
    loop = asyncio.get_running_loop()
    if loop not in _WAKE:
        _WAKE[loop] = asyncio.Event()
    return _WAKE[loop]


def new_secret() -> str:
    return "whsec_" + pysecrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(*, secret: str, body: bytes, header: str, now: float | None = None, tolerance: float = 300.0) -> bool:
    """What a receiver does: parse the header, refuse old timestamps, compare in constant time."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def matches(patterns: list[str], event_type: str) -> bool:
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


def body_of(delivery: WebhookDelivery) -> bytes:
    return orjson.dumps(
        {
            "id": delivery.event_id,
            "type": delivery.event_type,
            "created_at": delivery.created_at.isoformat(),
            "data": delivery.payload,
        }
    )


async def enqueue(
    session: AsyncSession, subscription: WebhookSubscription, event_id: str, event_type: str, data: dict[str, Any]
) -> WebhookDelivery | None:
    """One delivery of an event to a subscription (None when it exists already)."""
    try:
        async with session.begin_nested():
            delivery = WebhookDelivery(
                subscription_id=subscription.id,
                event_id=event_id,
                event_type=event_type,
                payload=data,
                tenant_id=subscription.tenant_id,
            )
            session.add(delivery)
            await session.flush()
    except IntegrityError:
        return None
    _wake_event().set()
    return delivery


async def fan_out(ctx: WorkerContext, event: dict[str, Any]) -> int:
    tenant, event_type = event.get("tenant_id"), event.get("type")
    if not tenant or not event_type:
        return 0
    if not matches(list(await interest.subscription_patterns(ctx.db, uuid.UUID(tenant))), event_type):
        return 0  # nobody subscribed: no transaction at all
    made = 0
    async with ctx.db.tenant_session(uuid.UUID(tenant)) as session:
        subs = (await session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True)))).all()
        for sub in subs:
            if matches(sub.events or [], event_type):
                made += await enqueue(session, sub, event["id"], event_type, event.get("data") or {}) is not None
    return made


def backoff(base: float, attempts: int) -> float:
    return min(base * (2 ** max(attempts - 1, 0)), MAX_DELAY)


async def _claim(ctx: WorkerContext, batch: int = 20) -> list[uuid.UUID]:
    now = utcnow()
    async with ctx.db.system_session() as session:
        stmt = (
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(batch)
        )
        if not ctx.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list((await session.scalars(stmt)).all())
        if ids:
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(next_attempt_at=now + LEASE)
            )
    return ids


async def attempt(ctx: WorkerContext, http: httpx.AsyncClient, delivery_id: uuid.UUID) -> None:
    async with ctx.db.system_session() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        sub = await session.get(WebhookSubscription, delivery.subscription_id) if delivery else None
        if delivery is None or sub is None or delivery.status != "pending":
            return
        url, secret, body = sub.url, sub.secret, body_of(delivery)
        event_type, attempts = delivery.event_type, delivery.attempts
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Souk-Webhooks/1",
        "Souk-Event": event_type,
        "Souk-Delivery": str(delivery_id),
        "Souk-Timestamp": str(timestamp),
        SIGNATURE_HEADER: sign(secret, body, timestamp),
    }
    started = time.perf_counter()
    code: int | None = None
    error: str | None = None
    try:
        response = await http.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
        code = response.status_code
        if not 200 <= code < 300:
            error = response.text[:500]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    elapsed = int((time.perf_counter() - started) * 1000)
    now = utcnow()
    async with ctx.db.system_session() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                tenant_id=delivery.tenant_id,
                status_code=code,
                error=error,
                duration_ms=elapsed,
            )
        )
        delivery.attempts = attempts + 1
        delivery.last_status_code, delivery.last_error = code, error
        if error is None:
            delivery.status, delivery.delivered_at = "delivered", now
        elif delivery.attempts >= ctx.settings.webhook_max_attempts:
            delivery.status = "failed"
        else:
            delay = backoff(ctx.settings.webhook_retry_base_seconds, delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=delay)


async def next_due(ctx: WorkerContext) -> datetime | None:
    async with ctx.db.system_session() as session:
        return await session.scalar(
            select(WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.status == "pending")
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(1)
        )


async def redeliver(session: AsyncSession, delivery: WebhookDelivery) -> None:
    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    delivery.attempts = 0
    _wake_event().set()


@register("outgoing-webhooks")
async def _fan_out(ctx: WorkerContext) -> None:
    async def handle(event: dict[str, Any]) -> None:
        if await fan_out(ctx, event):
            _wake_event().set()

    await consume_events(ctx.bus, ctx.stopping, durable=DURABLE, subjects=["souk.>"], handler=handle)


@register("webhook-deliverer")
async def _deliver(ctx: WorkerContext) -> None:
    async with httpx.AsyncClient(follow_redirects=False) as http:
        while not ctx.stopping.is_set():
            try:
                ids = await _claim(ctx)
                if ids:
                    await asyncio.gather(*(attempt(ctx, http, i) for i in ids))
                    continue
                due = await next_due(ctx)
            except Exception as exc:
                log.warning("webhook delivery loop failed; will retry", error=str(exc))
                due = None
            # idle: wake when this process writes a delivery, when the next retry is due, or at the next poll
            wait = ctx.settings.automation_poll_seconds
            if due is not None:
                wait = min(max((due - utcnow()).total_seconds(), 0.05), wait)
            _wake_event().clear()
            waiters = [asyncio.ensure_future(_wake_event().wait()), asyncio.ensure_future(ctx.stopping.wait())]
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
