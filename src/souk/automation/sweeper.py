"""Worker task: reopen snoozed conversations whose time has come, tenant by tenant."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select

from souk.automation.routing import wake_snoozed
from souk.core.observability import log
from souk.db.types import utcnow
from souk.messaging.models import Conversation, ConversationStatus
from souk.worker import WorkerContext, register


async def sweep_once(ctx: WorkerContext) -> int:
    now = utcnow()
    async with ctx.db.system_session() as session:
        tenants = (
            await session.scalars(
                select(Conversation.tenant_id)
                .distinct()
                .where(Conversation.status == ConversationStatus.snoozed, Conversation.snoozed_until <= now)
            )
        ).all()
    woken = 0
    for tenant_id in tenants:
        async with ctx.db.tenant_session(tenant_id) as session:
            woken += await wake_snoozed(session, now)
    if woken:
        ctx.outbox_wake.set()
    return woken


@register("snooze-sweeper")
async def _snooze_sweeper(ctx: WorkerContext) -> None:
    while not ctx.stopping.is_set():
        try:
            await sweep_once(ctx)
        except Exception as exc:
            log.warning("snooze sweep failed; will retry", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.stopping.wait(), timeout=ctx.settings.automation_poll_seconds)
