"""Media tests: the fake platforms, settings with small limits and fast retries, and a factory of media rows.

A media row is made the way the inbound pipeline makes it: a channel (created through the API, its config pointing
at a fake), then a customer, conversation and message, and the ``pending`` MessageMedia row with what the platform
said; the test then queues its id on ``work.media`` and the app's in-process worker does the rest.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from tests.channels.conftest import configs, fakes  # noqa: F401  (the session's fake platforms)
from tests.conftest import TenantFixture

from souk.bus import work
from souk.messaging.models import Conversation, Customer, MediaStatus, Message, MessageMedia
from souk.settings import Settings

LIMIT = 64 * 1024
VIDEO_LIMIT = 1000
MAX_ATTEMPTS = 4


MEDIA_TEST_SETTINGS: dict[str, Any] = {
    "media_max_bytes": LIMIT,
    "media_max_bytes_by_kind": {"video": VIDEO_LIMIT},
    "media_max_attempts": MAX_ATTEMPTS,
    "media_retry_base_seconds": 0.05,
    "media_stale_after_seconds": 60.0,
    "media_sweep_interval_seconds": 0.2,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=MEDIA_TEST_SETTINGS)


@pytest.fixture
def channel_configs(fakes: dict[str, Any]) -> dict[str, dict[str, Any]]:  # noqa: F811
    return configs(fakes)


@dataclass
class MediaFactory:
    app: FastAPI
    client: httpx.AsyncClient
    tenant: TenantFixture
    channel_configs: dict[str, dict[str, Any]]
    channels: dict[str, uuid.UUID]

    async def channel(self, channel_type: str) -> uuid.UUID:
        if channel_type not in self.channels:
            body = {"name": f"{channel_type} shop", "channel_type": channel_type}
            body["config"] = self.channel_configs[channel_type]
            r = await self.client.post("/api/v1/channels", headers=self.tenant.headers, json=body)
            assert r.status_code == 201, r.text
            self.channels[channel_type] = uuid.UUID(r.json()["id"])
        return self.channels[channel_type]

    async def __call__(
        self,
        channel_type: str,
        *,
        kind: str = "image",
        external_id: str | None = None,
        thread_id: str = "thread-1",
        created_at: datetime | None = None,
        **media: Any,
    ) -> uuid.UUID:
        """A message with one pending attachment on a ``channel_type`` channel; returns the media row's id."""
        channel_id = await self.channel(channel_type)
        now = datetime.now(UTC)
        async with self.app.state.db.tenant_session(self.tenant.id) as session:
            customer = Customer(platform=channel_type, display_name="Customer")
            session.add(customer)
            await session.flush()
            conversation = await session.scalar(
                select(Conversation).where(
                    Conversation.channel_id == channel_id, Conversation.external_thread_id == thread_id
                )
            )
            if conversation is None:
                conversation = Conversation(
                    channel_id=channel_id, customer_id=customer.id, external_thread_id=thread_id
                )
                session.add(conversation)
                await session.flush()
            message = Message(
                channel_id=channel_id,
                conversation_id=conversation.id,
                customer_id=customer.id,
                external_id=external_id or f"ext-{uuid.uuid4().hex}",
                sender_id="customer-1",
                direction="inbound",
                status="received",
                timestamp=now,
                message_type=kind,
                platform=channel_type,
            )
            session.add(message)
            await session.flush()
            row = MessageMedia(message_id=message.id, channel_id=channel_id, kind=kind, **media)
            if created_at is not None:
                row.created_at = created_at
            session.add(row)
            await session.flush()
            return row.id


@pytest.fixture
async def make_media(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, channel_configs: dict[str, dict[str, Any]]
) -> MediaFactory:
    return MediaFactory(app, client, tenant, channel_configs, {})


@pytest.fixture
def enqueue(app: FastAPI) -> Callable[[uuid.UUID], Awaitable[None]]:
    async def _enqueue(media_id: uuid.UUID) -> None:
        await app.state.bus.wait_ready(10)
        await work.enqueue(app.state.bus, "media", str(media_id))

    return _enqueue


async def media_row(app: FastAPI, media_id: uuid.UUID) -> MessageMedia:
    async with app.state.db.system_session() as session:
        row = await session.get(MessageMedia, media_id)
        assert row is not None
        return row


async def settled(app: FastAPI, media_id: uuid.UUID, *, timeout: float = 15.0) -> MessageMedia:
    """The row once it is no longer pending (stored or failed)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row = await media_row(app, media_id)
        if row.status != MediaStatus.pending:
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"media still pending after {timeout}s: attempts={row.attempts} error={row.error}")
        await asyncio.sleep(0.05)
