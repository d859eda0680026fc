"""Recomputes lead scores from domain events: a durable JetStream consumer on ``SOUK_EVENTS``.

Scoring runs beside the inbound path, not inside it: a slow or failing scoring rule never delays or fails the
storing of a message, and a restart resumes from the durable consumer's position. Events are at-least-once and a
recomputation is idempotent (same facts, same score, no new activity), so redelivery is harmless.

Subjects: ``souk.<tenant>.message.created`` and ``souk.<tenant>.order.<anything>`` (the commerce package's events
carry ``customer_id``); ``customer.created`` also runs the phone match (merge or propose).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import orjson
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from souk.bus.client import EVENTS_STREAM, Bus
from souk.core.observability import log
from souk.crm.config import load_config
from souk.crm.phone_match import match_by_phone
from souk.crm.scoring import recompute
from souk.db.engine import Database
from souk.messaging.models import Customer
from souk.worker import WorkerContext, register

DURABLE = "crm-scoring"
SUBJECTS = ["souk.*.message.created", "souk.*.order.>", "souk.*.customer.created"]


async def handle_event(db: Database, event: dict[str, Any]) -> None:
    """Recompute the score of the event's customer (following a merge to the survivor)."""
    data = event.get("data") or {}
    raw_customer, raw_tenant = data.get("customer_id"), event.get("tenant_id")
    if not raw_customer or not raw_tenant:
        return
    tenant_id, customer_id = uuid.UUID(raw_tenant), uuid.UUID(str(raw_customer))
    async with db.tenant_session(tenant_id) as session:
        customer = await session.get(Customer, customer_id)
        while customer is not None and customer.merged_into_id is not None:
            customer = await session.get(Customer, customer.merged_into_id)
        if customer is None:
            return
        config = await load_config(session)
        if event.get("type") == "customer.created":
            await match_by_phone(session, customer, config, actor="phone match")
            if customer.merged_into_id is not None:
                return
        await recompute(session, customer, config, trigger=str(event.get("type") or "event"))


async def consume(db: Database, bus: Bus, stopping: asyncio.Event, *, durable: str = DURABLE) -> None:
    """Pull events from ``durable`` (created on first start, from then on) until ``stopping``."""
    while not stopping.is_set() and not bus.connected:
        await asyncio.sleep(0.2)
    assert bus.js is not None
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=30.0,
        deliver_policy=DeliverPolicy.NEW,
        filter_subjects=SUBJECTS,
    )
    await bus.js.add_consumer(EVENTS_STREAM, config)
    sub = await bus.js.pull_subscribe_bind(durable, stream=EVENTS_STREAM)
    try:
        while not stopping.is_set():
            try:
                msgs = await sub.fetch(32, timeout=1.0)
            except (NatsTimeout, TimeoutError):
                continue
            except Exception as exc:
                log.warning("scoring fetch failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            for msg in msgs:
                try:
                    await handle_event(db, orjson.loads(msg.data))
                except Exception:
                    log.exception("scoring failed; will be redelivered", subject=msg.subject)
                    await msg.nak(delay=2.0)
                    continue
                await msg.ack()
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


@register("crm-scoring")
async def _crm_scoring(ctx: WorkerContext) -> None:
    await consume(ctx.db, ctx.bus, ctx.stopping)
