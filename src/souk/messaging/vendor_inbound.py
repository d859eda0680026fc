"""Seed 002's inbound flow for vendors that push through a broker instead of webhooks (Chotot).

A vendor relay publishes each event on ``vendors.<vendor>.<souk channel id>`` (JetStream stream ``SOUK_VENDORS``).
This task detects the vendor from the channel (``vendor.name`` first, ``channel_type`` as fallback), stores the
event in ``inbound_events`` exactly like a webhook delivery (same unique key, same intake writer) and only then acks
it, so from there on the broker and the webhook paths are one pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig

from souk.bus.client import fetch_until_stopped
from souk.channels.webhooks import ChannelCache, store
from souk.core.observability import log
from souk.messaging.intake import IntakeWriter
from souk.worker import WorkerContext, register

SUBJECT = "vendors.>"


def channel_id_of(subject: str) -> tuple[str, uuid.UUID] | None:
    """``vendors.chotot.<uuid>`` → ("chotot", uuid); anything else is not ours."""
    parts = subject.split(".")
    if len(parts) != 3 or parts[0] != "vendors":
        return None
    try:
        return parts[1], uuid.UUID(parts[2])
    except ValueError:
        return None


@register("vendor-inbound")
async def _vendor_inbound(ctx: WorkerContext) -> None:
    while not ctx.stopping.is_set() and not ctx.bus.ready:  # ready: connected and the streams exist
        await asyncio.sleep(0.2)
    assert ctx.bus.js is not None
    cache = ChannelCache(ctx.db)
    intake = IntakeWriter(ctx.db, ctx.bus)
    sub = await ctx.bus.js.pull_subscribe(
        SUBJECT,
        durable="vendor-inbound",
        config=ConsumerConfig(durable_name="vendor-inbound", ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0),
    )
    try:
        while not ctx.stopping.is_set():
            try:
                msgs = await fetch_until_stopped(sub, 32, ctx.stopping)
            except (NatsTimeout, TimeoutError):
                continue
            except Exception as exc:
                log.warning("vendor broker fetch failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            for msg in msgs:
                await _handle(cache, intake, msg)
    finally:
        await intake.stop()
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _handle(cache: ChannelCache, intake: IntakeWriter, msg) -> None:
    route = channel_id_of(msg.subject)
    view = await cache.get(route[1]) if route else None
    if route is None or view is None or view.platform.vendor != route[0]:
        log.warning("vendor event for no known channel; dropped to the dead-letter log", subject=msg.subject)
        await msg.term()
        return
    try:
        await store(
            intake,
            view,
            msg.data,
            {"content-type": "application/json", "x-broker-subject": msg.subject},
            source="broker",
        )
    except Exception as exc:  # the database is down: leave it on the broker
        log.warning("could not store vendor event; will retry", error=str(exc))
        await msg.nak(delay=2.0)
        return
    await msg.ack()
