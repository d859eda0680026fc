"""Seed 002's inbound broker flow: Chotot events published on `vendors.chotot.<channel id>` enter the same
pipeline as webhooks (stored in inbound_events, then normalized), once."""

from __future__ import annotations

import asyncio
import uuid

import nats
from sqlalchemy import func, select

from souk.messaging.models import InboundEvent, Message
from tests.support.webhooks import fixture, wait_idle


async def wait_for(app, model, n: int, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        async with app.state.db.system_session() as s:
            if (await s.scalar(select(func.count()).select_from(model))) >= n:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {n} {model.__name__}")


async def test_broker_event_is_stored_once_and_normalized(app, make_channel, nats_url):
    ch = await make_channel("chotot")
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    body = fixture("chotot", "message_text")
    await js.publish(f"vendors.chotot.{uuid.uuid4()}", body)  # no such channel: dropped, not fatal
    await js.publish(f"vendors.chotot.{ch['id']}", body)
    await js.publish(f"vendors.chotot.{ch['id']}", body)  # redelivered by the relay
    await nc.close()
    await wait_for(app, InboundEvent, 1)
    await wait_idle(app)
    await asyncio.sleep(0.3)
    async with app.state.db.system_session() as s:
        events = (await s.scalars(select(InboundEvent))).all()
        messages = (await s.scalars(select(Message))).all()
    assert len(events) == 1 and events[0].source == "broker" and events[0].status == "processed"
    assert len(messages) == 1 and messages[0].platform == "chotot" and messages[0].message_source == "post"
