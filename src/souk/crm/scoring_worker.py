"""Recomputes lead scores from domain events: a durable JetStream consumer on ``SOUK_EVENTS``.

Scoring runs beside the inbound path, not inside it: a slow or failing scoring rule never delays or fails the
storing of a message, and a restart resumes from the durable consumer's position. Events are at-least-once and a
recomputation is idempotent (same facts, same score, no new activity), so redelivery is harmless.

Subjects: ``souk.<tenant>.message.created`` and ``souk.<tenant>.order.<anything>`` (the commerce package's events
carry ``customer_id``); ``customer.created``, and ``customer.updated`` of ``phone_number`` (a number learnt later, such
as a Telegram user sharing their contact), run the phone match (merge or propose).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from souk.bus.client import Bus
from souk.bus.subscribe import consume_events
from souk.crm.config import load_config
from souk.crm.phone_match import match_by_phone
from souk.crm.scoring import recompute
from souk.db.engine import Database
from souk.messaging.models import Customer
from souk.worker import WorkerContext, register

DURABLE = "crm-scoring"
SUBJECTS = ["souk.*.message.created", "souk.*.order.>", "souk.*.customer.created", "souk.*.customer.updated"]
PHONE_EVENTS = ("customer.created", "customer.updated")


async def handle_event(db: Database, event: dict[str, Any]) -> None:
    """Recompute the score of the event's customer (following a merge to the survivor)."""
    data = event.get("data") or {}
    raw_customer, raw_tenant = data.get("customer_id"), event.get("tenant_id")
    if not raw_customer or not raw_tenant:
        return
    if event.get("type") == "customer.updated" and data.get("field") != "phone_number":
        return  # the score's own changes, stages, labels: nothing to recompute
    try:
        customer_id = uuid.UUID(str(raw_customer))
    except ValueError:
        return  # an order for a legacy free-text customer (seed 003's instagram_user) has no lead to score
    tenant_id = uuid.UUID(raw_tenant)
    async with db.tenant_session(tenant_id) as session:
        customer = await session.get(Customer, customer_id)
        while customer is not None and customer.merged_into_id is not None:
            customer = await session.get(Customer, customer.merged_into_id)
        if customer is None:
            return
        config = await load_config(session)
        if event.get("type") in PHONE_EVENTS:
            await match_by_phone(session, customer, config, actor="phone match")
            if customer.merged_into_id is not None:
                return
        await recompute(session, customer, config, trigger=str(event.get("type") or "event"))


async def consume(db: Database, bus: Bus, stopping: asyncio.Event, *, durable: str = DURABLE) -> None:
    """Score from events on ``durable`` (created on first start, from then on) until ``stopping``."""

    async def handle(event: dict[str, Any]) -> None:
        await handle_event(db, event)

    await consume_events(bus, stopping, durable=durable, subjects=SUBJECTS, handler=handle)


@register("crm-scoring")
async def _crm_scoring(ctx: WorkerContext) -> None:
    await consume(ctx.db, ctx.bus, ctx.stopping)
