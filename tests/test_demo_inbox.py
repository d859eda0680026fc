"""The demo inbox plain `make run` shows (``souk.simulate.seed``), on both databases: every simulated platform's
customers with a conversation, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from souk.channels.models import Channel
from souk.core.demo import ensure_demo
from souk.core.models import Tenant
from souk.messaging.models import Conversation, Message
from souk.settings import Settings
from souk.simulate import PLATFORMS


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": False})


async def test_the_demo_inbox_is_loaded_once(app, tmp_path: Path) -> None:
    db = app.state.db
    creds = await ensure_demo(db, tmp_path)
    async with db.system_session() as s:
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == creds["tenant"]))

    async def inbox() -> dict[str, int]:
        async with db.tenant_session(tenant_id) as s:
            types = (await s.scalars(select(Channel.channel_type))).all()
            return {
                "channels": len(types),
                "platforms": len(set(types)),
                "conversations": await s.scalar(select(func.count()).select_from(Conversation)),
                "read": await s.scalar(select(func.count()).select_from(Message).where(Message.status == "read")),
                "customers": await s.scalar(
                    select(func.count(func.distinct(Message.customer_id))).where(Message.direction == "inbound")
                ),
            }

    first = await inbox()
    customers = sum(len(stand_in.customers) for stand_in in PLATFORMS.values())
    assert first["channels"] == first["platforms"] == len(PLATFORMS)
    assert first["conversations"] == first["customers"] == customers
    assert first["read"] >= customers - len(PLATFORMS["telegram"].customers)  # Telegram reports no receipts
    assert await ensure_demo(db, tmp_path) == creds
    assert await inbox() == first
