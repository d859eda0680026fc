"""Durable event consumers against the real nats-server: one made with fewer subjects (an older Souk) follows the
subjects the code now asks for, and then sees their events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from souk.bus.client import EVENTS_STREAM, Bus
from souk.bus.subscribe import consume_events


async def test_an_older_consumer_follows_the_subjects_it_is_now_given(nats_url: str) -> None:
    bus = Bus(nats_url)
    await bus.connect()
    try:
        await bus.wait_ready(10)
        assert bus.js is not None
        tenant, durable = uuid.uuid4().hex, f"test-{uuid.uuid4().hex[:8]}"
        old, new = f"souk.{tenant}.message.created", f"souk.{tenant}.customer.updated"
        start = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        await bus.js.add_consumer(
            EVENTS_STREAM,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=start,
                filter_subjects=[old],
            ),
        )
        seen: list[dict[str, Any]] = []
        got = asyncio.Event()

        async def handler(event: dict[str, Any]) -> None:
            seen.append(event)
            got.set()

        stopping = asyncio.Event()
        task = asyncio.create_task(consume_events(bus, stopping, durable=durable, subjects=[old, new], handler=handler))
        try:
            for _ in range(100):  # until the consumer was changed
                info = await bus.js.consumer_info(EVENTS_STREAM, durable)
                if set(info.config.filter_subjects or []) == {old, new}:
                    break
                await asyncio.sleep(0.05)
            assert set(info.config.filter_subjects or []) == {old, new}
            await bus.js.publish(new, b'{"type": "customer.updated"}')
            await asyncio.wait_for(got.wait(), 10)
            assert seen == [{"type": "customer.updated"}]
        finally:
            stopping.set()
            await asyncio.wait_for(task, 10)
            await bus.js.delete_consumer(EVENTS_STREAM, durable)
    finally:
        await bus.close()
