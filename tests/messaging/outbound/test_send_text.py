"""A text reply goes through HTTP → outbox → worker → the platform, once, marked, with its platform id stored."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from souk.core.models import DomainEvent
from tests.conftest import TenantFixture
from tests.messaging.outbound.conftest import Fakes, Thread, channel_sent, make_thread, send, wait_done

PLATFORMS = ["telegram", "whatsapp", "messenger", "instagram", "waha", "tiktok", "chotot"]


def platform_sends(fakes: Fakes, t: Thread) -> list[dict]:
    """The send requests the fake platform accepted for this thread, as the platform saw them."""
    if t.platform == "telegram":
        return fakes.telegram.messages_in(t.thread)
    if t.platform in ("whatsapp", "messenger", "instagram"):
        return [s.body | {"_id": s.message_id} for s in fakes.graph.sent_to(t.thread)]
    if t.platform == "waha":
        return [m for m in fakes.waha.sent if m["to"] == t.thread]
    if t.platform == "tiktok":
        return fakes.tiktok.messages_in(t.thread)
    return [m for m in fakes.chotot.sent if m["chat_id"] == t.thread]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_text_reply_reaches_the_platform_once(
    platform: str, app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, platform)
    r = await send(client, t, {"text": f"Hello from Souk on {platform}"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["direction"], created["status"], created["sent_by"]) == ("outbound", "pending", "souk")
    assert created["message_metadata"]["sender"]["type"] == "api_key"
    assert created["delivery"]["status"] == "queued"

    done = await wait_done(app, tenant, created["id"])
    assert done.outbox.status == "sent" and done.message.status == "sent", done.outbox.last_error
    assert done.message.external_id
    sends = platform_sends(fakes, t)
    assert len(sends) == 1
    marker = f"souk:{created['id']}"
    if platform == "whatsapp":
        assert sends[0]["biz_opaque_callback_data"] == marker
        assert sends[0]["_id"] == done.message.external_id
    elif platform in ("messenger", "instagram"):
        assert sends[0]["message"]["metadata"] == marker and sends[0]["messaging_type"] == "RESPONSE"
    elif platform == "chotot":
        assert sends[0]["client_message_id"] == marker and sends[0]["id"] == done.message.external_id
    assert await channel_sent(app, tenant, t.channel_id) == 1

    async with app.state.db.system_session() as session:
        kinds = (
            await session.scalars(
                select(DomainEvent.event_type).where(DomainEvent.payload["message_id"].as_string() == created["id"])
            )
        ).all()
    assert "message.created" in kinds and "message.updated" in kinds
