"""Attribution report: leads, conversations, orders and revenue per ad campaign and per post over a date range.

A customer counts as a lead of an ad (or post) when one of their messages in the range carries that ad's (post's)
id: the inbound pipeline sets ``Message.ad_id``/``post_id`` from each platform's referral shape (Messenger/Instagram
``referral``, WhatsApp ``referral`` on click-to-chat ads, comment webhooks). A customer who came through two ads counts
for both (multi-touch); the totals per row are not meant to add up across rows.

Orders live in the commerce package; it appends a function to :data:`ORDER_TOTALS` that returns, for given
customers and range, ``{customer_id: (orders, revenue)}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.crm.models import AdCampaign, Post
from souk.messaging.models import Message

OrderTotals = Callable[
    [AsyncSession, list[uuid.UUID], datetime, datetime], Awaitable[dict[uuid.UUID, tuple[int, Decimal]]]
]
#: Order counters by customer over a range; the commerce package appends its own.
ORDER_TOTALS: list[OrderTotals] = []


@dataclass
class Row:
    id: uuid.UUID
    external_id: str
    name: str | None
    platform: str | None
    leads: int = 0
    conversations: int = 0
    messages: int = 0
    orders: int = 0
    revenue: Decimal = Decimal(0)


async def _rows(
    session: AsyncSession, model: type[Any], column: Any, since: datetime, until: datetime, label: Callable[[Any], Any]
) -> list[Row]:
    external = model.facebook_ad_id if model is AdCampaign else model.facebook_post_id
    stats = (
        await session.execute(
            select(
                column,
                func.count(func.distinct(Message.customer_id)),
                func.count(func.distinct(Message.conversation_id)),
                func.count(Message.id),
            )
            .where(column.is_not(None), Message.timestamp >= since, Message.timestamp < until)
            .group_by(column)
        )
    ).all()
    by_id = {r[0]: r for r in stats}
    entities = (await session.scalars(select(model).order_by(model.created_at, model.id))).all()
    rows = []
    for entity in entities:
        found = by_id.get(entity.id)
        row = Row(entity.id, getattr(entity, external.key), label(entity), entity.platform)
        if found is not None:
            row.leads, row.conversations, row.messages = int(found[1]), int(found[2]), int(found[3])
        rows.append(row)
    if ORDER_TOTALS:
        customers = (
            await session.execute(
                select(column, Message.customer_id)
                .where(column.is_not(None), Message.timestamp >= since, Message.timestamp < until)
                .distinct()
            )
        ).all()
        per_entity: dict[uuid.UUID, set[uuid.UUID]] = {}
        for entity_id, customer_id in customers:
            per_entity.setdefault(entity_id, set()).add(customer_id)
        everyone = sorted({c for cs in per_entity.values() for c in cs}, key=str)
        totals: dict[uuid.UUID, tuple[int, Decimal]] = {}
        for source in ORDER_TOTALS:
            for customer_id, (count, revenue) in (await source(session, everyone, since, until)).items():
                old = totals.get(customer_id, (0, Decimal(0)))
                totals[customer_id] = (old[0] + count, old[1] + revenue)
        for row in rows:
            for customer_id in per_entity.get(row.id, ()):
                count, revenue = totals.get(customer_id, (0, Decimal(0)))
                row.orders += count
                row.revenue += revenue
    return rows


async def attribution_report(session: AsyncSession, since: datetime, until: datetime) -> dict[str, list[Row]]:
    """Per ad campaign and per post, for messages in ``[since, until)``; entities with no activity show zeros."""
    return {
        "ads": await _rows(session, AdCampaign, Message.ad_id, since, until, lambda a: a.campaign_name),
        "posts": await _rows(session, Post, Message.post_id, since, until, lambda p: (p.post_content or "")[:100]),
    }
