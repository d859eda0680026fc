"""Data for the read API, written as ORM rows in a tenant session (the inbound pipeline has its own tests).

``Rows`` inserts one row per call and commits, so each test states exactly the data it reads back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from souk.channels.models import Channel, ChannelStatus
from souk.db.engine import Database
from souk.messaging.models import (
    ChannelIdentity,
    Conversation,
    Customer,
    InboundEvent,
    Message,
    MessageMedia,
)
from souk.settings import Settings
from tests.conftest import TenantFixture

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """A fixed instant ``minutes`` after T0: tests compare times, so they never read the clock."""
    return T0 + timedelta(minutes=minutes)


@dataclass
class Rows:
    db: Database
    tenant_id: uuid.UUID

    async def _add(self, row: Any) -> Any:
        async with self.db.tenant_session(self.tenant_id) as session:
            session.add(row)
        return row

    async def channel(self, channel_type: str = "telegram", name: str | None = None, **kw: Any) -> Channel:
        from souk.core.service import default_project

        async with self.db.tenant_session(self.tenant_id) as session:
            project = await default_project(session, self.tenant_id)
            channel = Channel(
                id=uuid.uuid4(),
                project_id=project.id,
                name=name or f"My {channel_type}",
                channel_type=channel_type,
                status=kw.pop("status", ChannelStatus.active),
                config={},
                secrets={},
                **kw,
            )
            session.add(channel)
        return channel

    async def customer(self, **kw: Any) -> Customer:
        kw.setdefault("platform", "telegram")
        kw.setdefault("display_name", "Ahmed Ali")
        return await self._add(Customer(id=uuid.uuid4(), **kw))

    async def identity(self, channel: Channel, customer: Customer, external_id: str, **kw: Any) -> ChannelIdentity:
        return await self._add(
            ChannelIdentity(
                id=uuid.uuid4(),
                channel_id=channel.id,
                customer_id=customer.id,
                platform=channel.channel_type,
                external_id=external_id,
                **kw,
            )
        )

    async def conversation(self, channel: Channel, customer: Customer, **kw: Any) -> Conversation:
        kw.setdefault("external_thread_id", f"chat-{uuid.uuid4().hex[:8]}")
        kw.setdefault("last_activity", T0)
        return await self._add(Conversation(id=uuid.uuid4(), channel_id=channel.id, customer_id=customer.id, **kw))

    async def message(self, conv: Conversation, timestamp: datetime, **kw: Any) -> Message:
        kw.setdefault("external_id", f"m-{uuid.uuid4().hex[:10]}")
        kw.setdefault("sender_id", "user-1")
        kw.setdefault("direction", "inbound")
        kw.setdefault("status", "received")
        kw.setdefault("platform", "telegram")
        kw.setdefault("message_text", "hello")
        return await self._add(
            Message(
                id=uuid.uuid4(),
                channel_id=conv.channel_id,
                conversation_id=conv.id,
                customer_id=conv.customer_id,
                timestamp=timestamp,
                **kw,
            )
        )

    async def media(self, message: Message, **kw: Any) -> MessageMedia:
        kw.setdefault("kind", "image")
        return await self._add(
            MessageMedia(id=uuid.uuid4(), message_id=message.id, channel_id=message.channel_id, **kw)
        )

    async def event(self, channel: Channel, **kw: Any) -> InboundEvent:
        kw.setdefault("event_key", f"ev-{uuid.uuid4().hex[:10]}")
        kw.setdefault("body", b'{"update_id": 1}')
        kw.setdefault("headers", {"content-type": "application/json"})
        kw.setdefault("received_at", T0)
        return await self._add(
            InboundEvent(id=uuid.uuid4(), channel_id=channel.id, channel_type=channel.channel_type, **kw)
        )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Only the outbox publisher runs in the app: these tests read what they wrote, and the replay tests start
    the inbound consumer themselves when they need it."""
    return settings.model_copy(update={"run_worker_in_process": False})


@pytest.fixture
def rows(app: FastAPI, tenant: TenantFixture) -> Rows:
    return Rows(app.state.db, tenant.id)


@pytest.fixture
def other_rows(app: FastAPI, other_tenant: TenantFixture) -> Rows:
    return Rows(app.state.db, other_tenant.id)


@pytest.fixture
async def agent_headers(app: FastAPI, tenant: TenantFixture) -> dict[str, str]:
    """An API key with the agent role in the same tenant as ``tenant``."""
    from souk.core import service
    from souk.core.models import Role

    async with app.state.db.system_session() as session:
        session.info["tenant_id"] = tenant.id
        _, key = await service.create_api_key(session, tenant.id, "agent", role=Role.agent)
    return {"X-API-Key": key}


@pytest.fixture
async def admin_headers(app: FastAPI, tenant: TenantFixture) -> dict[str, str]:
    from souk.core import service
    from souk.core.models import Role

    async with app.state.db.system_session() as session:
        session.info["tenant_id"] = tenant.id
        _, key = await service.create_api_key(session, tenant.id, "admin", role=Role.admin)
    return {"X-API-Key": key}
