"""What each tenant's automations listen to, cached in the process for a few seconds.

The rule engine and the webhook fan-out see every domain event; most tenants have no rule or subscription for most
of them. Asking the database each time would open a transaction per event (on SQLite, a write lock: ``BEGIN
IMMEDIATE``), competing with the inbound pipeline and history imports for nothing. So each consumer keeps, per
tenant, the set of rule events and the subscription patterns, read at most every ``TTL`` seconds; this process's API
drops a tenant's entry when it changes its rules or subscriptions, and other processes see a change within ``TTL``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.automation.models import AutomationRule, WebhookSubscription
from souk.db.engine import Database

TTL = 5.0
_cache: dict[tuple[str, uuid.UUID], tuple[float, Any]] = {}


async def _cached(db: Database, kind: str, tenant_id: uuid.UUID, load: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    now = time.monotonic()
    hit = _cache.get((kind, tenant_id))
    if hit is not None and now - hit[0] < TTL:
        return hit[1]
    async with db.tenant_session(tenant_id) as session:
        value = await load(session)
    _cache[(kind, tenant_id)] = (now, value)
    return value


async def rule_events(db: Database, tenant_id: uuid.UUID) -> frozenset[str]:
    """The events the tenant has enabled rules for."""

    async def load(session: AsyncSession) -> frozenset[str]:
        rows = await session.scalars(select(AutomationRule.event).where(AutomationRule.enabled.is_(True)).distinct())
        return frozenset(rows.all())

    return await _cached(db, "rules", tenant_id, load)


async def subscription_patterns(db: Database, tenant_id: uuid.UUID) -> tuple[str, ...]:
    """Every event pattern of the tenant's active webhook subscriptions."""

    async def load(session: AsyncSession) -> tuple[str, ...]:
        rows = await session.scalars(select(WebhookSubscription.events).where(WebhookSubscription.active.is_(True)))
        return tuple(sorted({p for events in rows.all() for p in (events or [])}))

    return await _cached(db, "webhooks", tenant_id, load)


def _drop(tenant_id: uuid.UUID) -> None:
    for kind in ("rules", "webhooks"):
        _cache.pop((kind, tenant_id), None)


def changed(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """The tenant's rules or subscriptions change in ``session`` (this process's API): forget them now and again
    once the change commits, so a consumer that read them in between does not keep the old ones."""
    _drop(tenant_id)
    event.listen(session.sync_session, "after_commit", lambda _s: _drop(tenant_id), once=True)
