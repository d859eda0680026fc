"""Live updates for the inbox: the tenant's domain events as server-sent events, from NATS JetStream.

Every API process serves the stream from the same ``SOUK_EVENTS`` stream, so a message stored by a worker, a status
applied by another process or an assignment made in another browser reaches every open inbox. Each SSE ``id`` is the
event's JetStream sequence: a browser that lost its connection reconnects with ``Last-Event-ID`` (``EventSource``
does it by itself) and gets what it missed, in order, from the stream's retention, then the live tail.

Signals that only matter in the moment (someone is typing) are not domain events: they are published on plain NATS
subjects ``live.<tenant>.<kind>`` (:func:`publish_signal`), reach every API process's open streams at once, carry no
``id`` and are never replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy

from souk.bus.client import EVENTS_STREAM
from souk.core.auth import Ctx, agent
from souk.core.errors import SoukError

router = APIRouter(prefix="/api/v1", tags=["live"])
KEEPALIVE_SECONDS = 15.0
#: frames waiting for a slow browser; beyond this, live signals are dropped (events are not: they are pulled)
SIGNAL_BACKLOG = 64


def signal_subject(tenant_id: uuid.UUID, kind: str) -> str:
    return f"live.{tenant_id}.{kind}"


async def publish_signal(bus: Any, tenant_id: uuid.UUID, kind: str, payload: dict[str, Any]) -> bool:
    """Tell the tenant's open inboxes something of the moment; False when the bus is down (nothing is kept)."""
    if bus is None or not bus.connected:
        return False
    await bus.nc.publish(signal_subject(tenant_id, kind), json.dumps({"data": payload}).encode())
    return True


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

    frames: asyncio.Queue[bytes] = asyncio.Queue(maxsize=SIGNAL_BACKLOG)

    async def on_signal(msg: Any) -> None:
        kind = msg.subject.split(".", 2)[2]
        with contextlib.suppress(asyncio.QueueFull):  # a browser that does not keep up misses a typing signal
            frames.put_nowait(b"event: %s\ndata: %s\n\n" % (kind.encode(), msg.data))

    signals = await bus.nc.subscribe(signal_subject(ctx.tenant_id, ">"), cb=on_signal)

    async def pull_events() -> None:
        while True:
            try:
                msg = await sub.next_msg(timeout=KEEPALIVE_SECONDS)
            except (NatsTimeout, TimeoutError):
                continue
            kind = msg.subject.split(".", 2)[2]
            await frames.put(
                b"id: %d\nevent: %s\ndata: %s\n\n" % (msg.metadata.sequence.stream, kind.encode(), msg.data)
            )

    async def events() -> AsyncIterator[bytes]:
        puller = asyncio.create_task(pull_events())
        try:
            yield b"retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    frame = await asyncio.wait_for(frames.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    if puller.done():  # the bus went away under us: end the stream, the browser reconnects
                        return
                    yield b": keepalive\n\n"
                    continue
                yield frame
        finally:
            puller.cancel()
            with contextlib.suppress(BaseException):
                await puller
            for s in (sub, signals):
                with contextlib.suppress(Exception):
                    await s.unsubscribe()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
