"""Webhook receivers: ``/webhooks/{channel_type}/{channel_id}``.

A receiver only verifies and stores: it checks the signature over the raw bytes before any parsing, commits the raw
delivery to ``inbound_events`` (group commit, see :mod:`souk.messaging.intake`) and answers 200. Everything else
happens in the worker. A forged or missing signature stores nothing but a counter; a valid delivery for an inactive
channel is kept as ``ignored`` and acknowledged, so the platform stops retrying.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import Counter
from sqlalchemy import select, update

from souk.channels.models import Channel, ChannelStatus
from souk.core.errors import problem
from souk.core.observability import REGISTRY, log
from souk.db.engine import Database
from souk.db.types import utcnow
from souk.messaging.intake import Delivery, IntakeWriter
from souk.messaging.models import InboundStatus
from souk.platforms import registry
from souk.platforms.base import HandshakeError, SignatureError, body_key
from souk.platforms.plugin import Platform

SIGNATURE_FAILURES = Counter(
    "souk_webhook_signature_failures_total",
    "Webhook requests refused for a forged or missing signature",
    ["channel_type", "channel_id"],
    registry=REGISTRY,
)
WEBHOOKS = Counter(
    "souk_webhooks_total",
    "Webhook deliveries by outcome",
    ["channel_type", "outcome"],
    registry=REGISTRY,
)

#: headers kept with a delivery for audit; secrets (Telegram's secret token) are never stored
AUDIT_HEADERS = (
    "content-type",
    "user-agent",
    "x-hub-signature-256",
    "x-webhook-hmac",
    "x-webhook-hmac-algorithm",
    "x-webhook-request-id",
    "x-webhook-timestamp",
    "tiktok-signature",
    "x-request-id",
    "x-forwarded-for",
)
CACHE_TTL = 5.0
ERROR_NOTE_INTERVAL = 60.0


@dataclass(frozen=True)
class ChannelView:
    """What a receiver needs of a channel, cached for a few seconds (secrets decrypted once, not per request)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    channel_type: str
    status: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    platform: Platform


class ChannelCache:
    def __init__(self, db: Database, ttl: float = CACHE_TTL) -> None:
        self.db = db
        self.ttl = ttl
        self._entries: dict[uuid.UUID, tuple[float, ChannelView | None]] = {}

    async def get(self, channel_id: uuid.UUID) -> ChannelView | None:
        now = time.monotonic()
        hit = self._entries.get(channel_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        async with self.db.system_session() as session:
            ch = await session.scalar(select(Channel).where(Channel.id == channel_id, Channel.deleted_at.is_(None)))
            view = None
            if ch is not None:
                view = ChannelView(
                    ch.id,
                    ch.tenant_id,
                    ch.channel_type,
                    ch.status,
                    dict(ch.config or {}),
                    dict(ch.secrets or {}),
                    registry.detect(ch.vendor_name, ch.channel_type),
                )
        self._entries[channel_id] = (now, view)
        return view

    def forget(self, channel_id: uuid.UUID) -> None:
        self._entries.pop(channel_id, None)


class ErrorNotes:
    """Writes "forged signature" onto the channel's last_error at most once a minute, so a flood costs no writes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._last: dict[uuid.UUID, float] = {}

    async def note(self, channel_id: uuid.UUID, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(channel_id, -ERROR_NOTE_INTERVAL) < ERROR_NOTE_INTERVAL:
            return
        self._last[channel_id] = now
        try:
            async with self.db.system_session() as session:
                await session.execute(
                    update(Channel)
                    .where(Channel.id == channel_id)
                    .values(last_error=message, last_error_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        except Exception as exc:
            log.warning("could not record webhook error on channel", error=str(exc))


router = APIRouter(tags=["webhooks"])


def _not_found(detail: str) -> JSONResponse:
    return problem(404, "Not found", detail)


async def _resolve(request: Request, channel_type: str, channel_id: str) -> ChannelView | JSONResponse:
    try:
        cid = uuid.UUID(channel_id)
    except ValueError:
        return _not_found("no such channel")
    view = await request.app.state.channel_cache.get(cid)
    if view is None or view.channel_type != channel_type:
        return _not_found("no such channel")
    return view


@router.get(
    "/webhooks/{channel_type}/{channel_id}",
    summary="Webhook verification handshake (Meta)",
    response_class=PlainTextResponse,
    responses={403: {"description": "Wrong verify token"}, 404: {"description": "Unknown channel"}},
)
async def handshake(channel_type: str, channel_id: str, request: Request) -> Response:
    view = await _resolve(request, channel_type, channel_id)
    if isinstance(view, JSONResponse):
        return view
    if not view.platform.has_handshake:
        return problem(405, "Method not allowed", f"{channel_type} webhooks have no GET handshake")
    try:
        challenge = view.platform.handshake(config=view.config, secrets=view.secrets, query=dict(request.query_params))
    except HandshakeError as exc:
        SIGNATURE_FAILURES.labels(channel_type, channel_id).inc()
        return problem(403, "Forbidden", f"verification refused: {exc}")
    return PlainTextResponse(challenge)


@router.post(
    "/webhooks/{channel_type}/{channel_id}",
    summary="Receive a platform webhook (verified, stored, 200)",
    responses={
        401: {"description": "Forged or missing signature"},
        404: {"description": "Unknown channel"},
        413: {"description": "Body too large"},
    },
)
async def receive(channel_type: str, channel_id: str, request: Request) -> Response:
    view = await _resolve(request, channel_type, channel_id)
    if isinstance(view, JSONResponse):
        return view
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        view.platform.verify(config=view.config, secrets=view.secrets, headers=headers, body=body, now=utcnow())
    except SignatureError as exc:
        SIGNATURE_FAILURES.labels(channel_type, channel_id).inc()
        WEBHOOKS.labels(channel_type, "forged").inc()
        await request.app.state.webhook_errors.note(view.id, f"webhook refused: {exc.reason}")
        return problem(exc.status, "Unauthorized" if exc.status == 401 else "Forbidden", exc.reason)
    return await store(request.app.state.intake, view, body, headers, source="webhook")


async def store(
    intake: IntakeWriter, view: ChannelView, body: bytes, headers: dict[str, str], *, source: str
) -> JSONResponse:
    """Commit the delivery (ignored when the channel is not active) and answer the platform."""
    try:
        key = view.platform.event_key(body, headers)
    except Exception:
        key = body_key(body)
    active = view.status in (
        ChannelStatus.active,
        ChannelStatus.connecting,
        ChannelStatus.disconnected,
        ChannelStatus.error,
    )
    delivery = Delivery(
        tenant_id=view.tenant_id,
        channel_id=view.id,
        channel_type=view.channel_type,
        event_key=key,
        body=body,
        headers={k: v for k, v in headers.items() if k in AUDIT_HEADERS},
        source=source,
        status=InboundStatus.received if active else InboundStatus.ignored,
    )
    stored = await intake.submit(delivery)
    outcome = ("stored" if active else "ignored") if stored else "duplicate"
    WEBHOOKS.labels(view.channel_type, outcome).inc()
    return JSONResponse({"status": outcome})
