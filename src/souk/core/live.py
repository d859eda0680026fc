"""Live updates for the inbox: the tenant's domain events as server-sent events, from NATS JetStream.

Every API process serves the stream from the same ``SOUK_EVENTS`` stream, so a message stored by a worker, a status
applied by another process or an assignment made in another browser reaches every open inbox. Each SSE ``id`` is the
event's JetStream sequence: a browser that lost its connection reconnects with ``Last-Event-ID`` (``EventSource``
does it by itself) and gets what it missed, in order, from the stream's retention, then the live tail.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy

from souk.bus.client import EVENTS_STREAM
from souk.core.auth import Ctx, agent
from souk.core.errors import SoukError

router = APIRouter(prefix="/api/v1", tags=["live"])
KEEPALIVE_SECONDS = 15.0


class BusUnavailable(SoukError):
    status, title, slug = 503, "Live updates unavailable", "live-unavailable"


def _start(last_event_id: str | None, after: int | None) -> ConsumerConfig:
    seq = after if after is not None else (int(last_event_id) if last_event_id and last_event_id.isdigit() else None)
    if seq is None:
        return ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=seq + 1)


@router.get(
    "/events/stream",
    summary="The tenant's domain events, live (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 503: {"description": "The event bus is not reachable"}},
)
async def stream(
    request: Request,
    ctx: Ctx = Depends(agent),
    last_event_id: str | None = Header(None, alias="Last-Event-ID", description="Resume after this event id."),
    after: int | None = Query(None, ge=0, description="Resume after this event id (for clients without headers)."),
) -> StreamingResponse:
    bus = request.app.state.bus
    if not bus.connected or bus.js is None:
        raise BusUnavailable("the event bus is not connected; retry in a few seconds")
    sub = await bus.js.subscribe(
        f"souk.{ctx.tenant_id}.>", stream=EVENTS_STREAM, ordered_consumer=True, config=_start(last_event_id, after)
    )

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    msg = await sub.next_msg(timeout=KEEPALIVE_SECONDS)
                except (NatsTimeout, TimeoutError):
                    yield b": keepalive\n\n"
                    continue
                kind = msg.subject.split(".", 2)[2]
                yield b"id: %d\nevent: %s\ndata: %s\n\n" % (msg.metadata.sequence.stream, kind.encode(), msg.data)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
