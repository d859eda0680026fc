"""Webhook receivers: ``/webhooks/{channel_type}/{channel_id}``.

A receiver only verifies and stores: it checks the signature over the raw bytes before any parsing, commits the raw
delivery to ``inbound_events`` (group commit, see :mod:`souk.messaging.intake`) and answers 200. Everything else
happens in the worker. A forged or missing signature stores nothing but a counter; a valid delivery for an inactive
channel is kept as ``ignored`` and acknowledged, so the platform stops retrying.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import Counter
from sqlalchemy import select, update
from starlette.types import Receive, Scope, Send

from souk.channels.models import Channel, ChannelStatus
from souk.core.errors import PROBLEM, TYPE_BASE
from souk.core.observability import HTTP_LATENCY, HTTP_REQUESTS, REGISTRY, log
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
    """Channels by id for a few seconds, with single-flight refresh: one query per channel at a time, and every
    request that needs the same channel meanwhile waits for that query instead of issuing its own."""

    def __init__(self, db: Database, ttl: float = CACHE_TTL) -> None:
        self.db = db
        self.ttl = ttl
        self._entries: dict[uuid.UUID, tuple[float, ChannelView | None]] = {}
        self._loading: dict[uuid.UUID, asyncio.Task[ChannelView | None]] = {}
        #: queries issued, for tests
        self.loads = 0

    async def get(self, channel_id: uuid.UUID) -> ChannelView | None:
        hit = self._entries.get(channel_id)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        task = self._loading.get(channel_id)
        if task is None:
            task = asyncio.ensure_future(self._load(channel_id))
            self._loading[channel_id] = task
            task.add_done_callback(lambda t: self._loaded(channel_id, t))
        # shielded: a waiter that is cancelled (client gone) must not cancel the query the others wait for
        return await asyncio.shield(task)

    def _loaded(self, channel_id: uuid.UUID, task: asyncio.Task[ChannelView | None]) -> None:
        if self._loading.get(channel_id) is task:
            del self._loading[channel_id]
        if not task.cancelled():
            task.exception()  # retrieved, so a failure with no waiter left is not reported as never retrieved

    async def _load(self, channel_id: uuid.UUID) -> ChannelView | None:
        started = time.monotonic()
        me = asyncio.current_task()
        self.loads += 1
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
        if self._loading.get(channel_id) is me:  # not forgotten meanwhile: what we read is still current
            self._entries[channel_id] = (started, view)
        return view

    def forget(self, channel_id: uuid.UUID) -> None:
        self._entries.pop(channel_id, None)
        self._loading.pop(channel_id, None)  # a query already running may have read the old row: do not cache it


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


@dataclass(frozen=True, slots=True)
class Reply:
    """A receiver's answer, independent of the web framework that sends it."""

    status: int
    body: bytes
    media_type: str = "application/json"


def _json(data: dict[str, Any]) -> bytes:
    # rendered exactly as Starlette's JSONResponse renders
    return json.dumps(data, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def problem_reply(status: int, title: str, detail: str, slug: str | None = None) -> Reply:
    """The same RFC 9457 body as :func:`souk.core.errors.problem`."""
    body = {"type": TYPE_BASE + (slug or title.lower().replace(" ", "-")), "title": title, "status": status}
    body["detail"] = detail
    return Reply(status, _json(body), PROBLEM)


NOT_FOUND = problem_reply(404, "Not found", "no such channel")
OUTCOMES = {outcome: Reply(200, _json({"status": outcome})) for outcome in ("stored", "ignored", "duplicate")}
ACTIVE_STATUSES = frozenset(
    (ChannelStatus.active, ChannelStatus.connecting, ChannelStatus.disconnected, ChannelStatus.error)
)


class WebhookState(Protocol):
    """What the receivers need from the application (its ``app.state``)."""

    channel_cache: ChannelCache
    webhook_errors: ErrorNotes
    intake: IntakeWriter


async def _resolve(state: WebhookState, channel_type: str, channel_id: str) -> ChannelView | None:
    try:
        cid = uuid.UUID(channel_id)
    except ValueError:
        return None
    view = await state.channel_cache.get(cid)
    if view is None or view.channel_type != channel_type:
        return None
    return view


async def handle_handshake(state: WebhookState, channel_type: str, channel_id: str, query: dict[str, str]) -> Reply:
    view = await _resolve(state, channel_type, channel_id)
    if view is None:
        return NOT_FOUND
    if not view.platform.has_handshake:
        return problem_reply(405, "Method not allowed", f"{channel_type} webhooks have no GET handshake")
    try:
        challenge = view.platform.handshake(config=view.config, secrets=view.secrets, query=query)
    except HandshakeError as exc:
        SIGNATURE_FAILURES.labels(channel_type, channel_id).inc()
        return problem_reply(403, "Forbidden", f"verification refused: {exc}")
    return Reply(200, challenge.encode(), "text/plain; charset=utf-8")


async def handle_delivery(
    state: WebhookState, channel_type: str, channel_id: str, headers: dict[str, str], body: bytes
) -> Reply:
    """Verify the signature over the raw bytes, commit the delivery, answer. ``headers`` have lower-case names."""
    view = await _resolve(state, channel_type, channel_id)
    if view is None:
        return NOT_FOUND
    try:
        view.platform.verify(config=view.config, secrets=view.secrets, headers=headers, body=body, now=utcnow())
    except SignatureError as exc:
        SIGNATURE_FAILURES.labels(channel_type, channel_id).inc()
        _count(channel_type, "forged")
        await state.webhook_errors.note(view.id, f"webhook refused: {exc.reason}")
        return problem_reply(exc.status, "Unauthorized" if exc.status == 401 else "Forbidden", exc.reason)
    return OUTCOMES[await store(state.intake, view, body, headers, source="webhook")]


_COUNTERS: dict[tuple[str, str], Any] = {}


def _count(channel_type: str, outcome: str) -> None:
    child = _COUNTERS.get((channel_type, outcome))
    if child is None:
        child = _COUNTERS[(channel_type, outcome)] = WEBHOOKS.labels(channel_type, outcome)
    child.inc()


async def store(intake: IntakeWriter, view: ChannelView, body: bytes, headers: dict[str, str], *, source: str) -> str:
    """Commit the delivery (ignored when the channel is not active); returns stored, ignored or duplicate."""
    try:
        key = view.platform.event_key(body, headers)
    except Exception:
        key = body_key(body)
    active = view.status in ACTIVE_STATUSES
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
    _count(view.channel_type, outcome)
    return outcome


# -- FastAPI routes: what /docs shows. In the application the lean path (WebhookIngress) answers these requests
# before FastAPI's router sees them, with the same handle_* functions.

router = APIRouter(tags=["webhooks"])


def _response(reply: Reply) -> Response:
    return Response(reply.body, reply.status, media_type=reply.media_type)


@router.get(
    "/webhooks/{channel_type}/{channel_id}",
    summary="Webhook verification handshake (Meta)",
    response_class=PlainTextResponse,
    responses={403: {"description": "Wrong verify token"}, 404: {"description": "Unknown channel"}},
)
async def handshake(channel_type: str, channel_id: str, request: Request) -> Response:
    return _response(await handle_handshake(request.app.state, channel_type, channel_id, dict(request.query_params)))


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
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = await request.body()
    return _response(await handle_delivery(request.app.state, channel_type, channel_id, headers, body))


# -- the lean path ------------------------------------------------------------------------------------------------

ROUTE = "/webhooks/{channel_type}/{channel_id}"
_HTTP_CHILDREN: dict[tuple[str, int], tuple[Any, Any]] = {}


def _http_metrics(method: str, status: int) -> tuple[Any, Any]:
    children = _HTTP_CHILDREN.get((method, status))
    if children is None:
        children = _HTTP_CHILDREN[(method, status)] = (
            HTTP_REQUESTS.labels(method, ROUTE, str(status)),
            HTTP_LATENCY.labels(method, ROUTE),
        )
    return children


class WebhookIngress:
    """Serves ``POST`` and ``GET /webhooks/{channel_type}/{channel_id}`` straight from ASGI.

    The application hands these requests here before FastAPI's middleware stack and router (see
    docs/decisions/0012-lean-webhook-ingest.md): no route scan, no dependency resolution, no per-request
    ``Request`` object. What the general middlewares do for every request is done here too: the body limit (413,
    counted as it arrives), ``X-Request-ID`` in and out, the HTTP metrics under the route template, an error log
    line for a 5xx, and problem+json for every error.
    """

    def __init__(self, state: WebhookState, max_bytes: int) -> None:
        self.state = state
        self.max_bytes = max_bytes
        self._too_large = problem_reply(
            413, "Payload too large", f"the body is larger than {max_bytes} bytes", "too-large"
        )

    @staticmethod
    def match(scope: Scope) -> tuple[str, str] | None:
        """``(channel_type, channel_id)`` when this is a request the lean path serves, else None."""
        if scope["method"] not in ("POST", "GET"):
            return None
        parts = scope["path"].split("/")
        if len(parts) != 4 or parts[1] != "webhooks" or not parts[2] or not parts[3]:
            return None
        return parts[2], parts[3]

    async def __call__(self, scope: Scope, receive: Receive, send: Send, channel_type: str, channel_id: str) -> None:
        start = time.perf_counter()
        rid = None
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            name = k.decode("latin-1").lower()
            headers[name] = v.decode("latin-1")
            if name == "x-request-id" and rid is None:
                rid = headers[name][:64]
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        method = scope["method"]
        try:
            if method == "GET":
                query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
                reply = await handle_handshake(self.state, channel_type, channel_id, query)
            else:
                body = await self._body(receive, headers.get("content-length"))
                if body is None:
                    reply = self._too_large
                else:
                    reply = await handle_delivery(self.state, channel_type, channel_id, headers, body)
        except _Disconnected:
            return
        except Exception:
            log.exception("webhook failed", path=scope["path"], request_id=rid)
            reply = problem_reply(500, "Internal error", "the delivery could not be stored; retry later", "internal")
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (b"content-type", reply.media_type.encode()),
                    (b"content-length", str(len(reply.body)).encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})
        elapsed = time.perf_counter() - start
        requests, latency = _http_metrics(method, reply.status)
        requests.inc()
        latency.observe(elapsed)
        if reply.status >= 500:
            log.error("request", method=method, path=scope["path"], status=reply.status, ms=round(elapsed * 1000, 1))

    async def _body(self, receive: Receive, declared: str | None) -> bytes | None:
        """The whole body, or None as soon as it is known to exceed the limit (declared or counted)."""
        limit = self.max_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _Disconnected(Exception):
    """The client went away before the body arrived: nothing to answer."""
