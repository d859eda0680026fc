"""Durable consumers of domain events (``SOUK_EVENTS``): the scoring, the AI agent's auto-replies, automations.

Each consumer has its own durable name, so each sees every event once from its first start on, resumes where it
stopped after a restart, and never holds up the others. Delivery is at least once: handlers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError

from souk.bus.client import EVENTS_STREAM, Bus, fetch_until_stopped
from souk.core.observability import log

Handler = Callable[[dict[str, Any]], Awaitable[None]]
FIRST_START_LOOKBACK = timedelta(minutes=5)


async def _follow_subjects(bus: Bus, config: ConsumerConfig, subjects: list[str]) -> None:
    """An existing durable consumer keeps the subjects it was made with: after an upgrade that gives a consumer more
    events to read, change its filter (JetStream keeps its position), or it would never see them."""
    current = set(config.filter_subjects or ([config.filter_subject] if config.filter_subject else []))
    if current == set(subjects):
        return
    assert bus.js is not None
    updated = dataclasses.replace(config, filter_subject=None, filter_subjects=subjects)
    with contextlib.suppress(BadRequestError):  # another worker process changed it first
        await bus.js.add_consumer(EVENTS_STREAM, updated)
    log.info("event consumer follows new subjects", consumer=config.durable_name, subjects=subjects)


async def consume_events(
    bus: Bus,
    stopping: asyncio.Event,
    *,
    durable: str,
    subjects: list[str],
    handler: Handler,
    ack_wait: float = 30.0,
) -> None:
    """Pull events on ``subjects`` from ``durable`` (created on first start) and run ``handler`` on each, in order,
    until ``stopping``. A handler that raises gets its event redelivered after a short delay."""
    while not stopping.is_set() and not bus.ready:
        await asyncio.sleep(0.2)
    assert bus.js is not None
    try:
        info = await bus.js.consumer_info(EVENTS_STREAM, durable)
        await _follow_subjects(bus, info.config, subjects)
    except NotFoundError:
        # First start: from a little before now, so events raised while the worker was starting are not missed,
        # and not from the stream's whole history (an old backlog is not news to a new consumer).
        since = datetime.now(UTC) - FIRST_START_LOOKBACK
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since.isoformat().replace("+00:00", "Z"),
            filter_subjects=subjects,
        )
        with contextlib.suppress(BadRequestError):  # another worker process created it first
            await bus.js.add_consumer(EVENTS_STREAM, config)
    sub = await bus.js.pull_subscribe_bind(durable, stream=EVENTS_STREAM)
    try:
        while not stopping.is_set():
            try:
                msgs = await fetch_until_stopped(sub, 32, stopping)
            except (NatsTimeout, TimeoutError):
                continue
            except Exception as exc:
                log.warning("event fetch failed", consumer=durable, error=str(exc))
                await asyncio.sleep(1.0)
                continue
            for msg in msgs:
                try:
                    await handler(orjson.loads(msg.data))
                except Exception:
                    log.exception("event handler failed; will be redelivered", consumer=durable, subject=msg.subject)
                    await msg.nak(delay=2.0)
                    continue
                await msg.ack()
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
