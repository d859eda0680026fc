"""Typing signals: a person typing in a conversation shows live in every open inbox of the tenant (through NATS,
across API processes), never in another tenant's, and nothing is stored; another tenant's conversation is a 404."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from souk.core.models import DomainEvent
from tests.automation.conftest import conversation_of, say
from tests.conftest import TenantFixture, make_tenant
from tests.core.test_live import sse
from tests.e2e.browser import serve
from tests.messaging.inbound.conftest import active_channel
from tests.support import webhooks


async def next_typing(lines: Any) -> dict[str, Any]:
    """The next typing signal of a stream (the worker may still be publishing the message's own events)."""
    while True:
        (seen,) = await sse(lines, 1)
        if seen["event"] == "conversation.typing":
            return seen


async def test_typing_reaches_the_tenants_open_streams_only(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, telegram: dict[str, Any]
) -> None:
    await say(client, app, telegram, 61_001, "Is the wallet in stock?")
    conv = await conversation_of(client, tenant, 61_001)
    other = await make_tenant(app, "other-typing")
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream("GET", "/api/v1/events/stream", headers=tenant.headers) as mine,
        http.stream("GET", "/api/v1/events/stream", headers=other.headers) as theirs,
    ):
        lines, their_lines = mine.aiter_lines(), theirs.aiter_lines()
        await asyncio.sleep(0.5)  # both subscriptions are live
        typing = f"/api/v1/conversations/{conv['id']}/typing"
        r = await client.post(typing, json={"typing": True}, headers=tenant.headers)
        assert r.status_code == 204, r.text
        seen = await next_typing(lines)
        assert "id" not in seen  # a signal: never replayed
        data = seen["data"]["data"]
        assert data["conversation_id"] == conv["id"] and data["typing"] is True and data["name"]
        assert (await client.post(typing, json={"typing": False}, headers=tenant.headers)).status_code == 204
        stopped = await next_typing(lines)
        assert stopped["data"]["data"]["typing"] is False

        # another tenant can neither signal on this conversation nor hear this one's signals
        assert (await client.post(typing, json={"typing": True}, headers=other.headers)).status_code == 404
        r = await client.post(typing, json={"typing": "maybe"}, headers=tenant.headers)
        assert r.status_code == 422 and "typing" in r.text
        try:
            leaked = await sse(their_lines, 1, timeout=1.5)
        except TimeoutError:
            leaked = []
        assert leaked == []  # the other tenant's stream carried nothing at all
    async with app.state.db.system_read_session() as s:
        stored = select(func.count()).select_from(DomainEvent).where(DomainEvent.event_type == "conversation.typing")
        assert await s.scalar(stored) == 0  # a signal, not an event


async def test_a_waha_customer_typing_shows_in_the_open_inbox(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: dict[str, Any]
) -> None:
    """WAHA's presence.update: the customer typing (then pausing) in a chat Souk has a conversation for is passed on
    live like a person's typing, marked as the customer's, and nothing of it is stored."""
    channel = await active_channel(client, tenant, fakes, "waha")
    assert (await webhooks.post(client, app, channel, webhooks.fixture("waha", "message_text"))).status_code == 200
    await webhooks.wait_idle(app)
    (conv,) = (await client.get("/api/v1/conversations", headers=tenant.headers)).json()["items"]
    presence = json.loads(webhooks.fixture("waha", "presence_update"))
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream("GET", "/api/v1/events/stream", headers=tenant.headers) as stream,
    ):
        lines = stream.aiter_lines()
        await asyncio.sleep(0.5)  # the subscription is live
        assert (await webhooks.post(client, app, channel, presence)).status_code == 200
        data = (await next_typing(lines))["data"]["data"]
        assert (data["conversation_id"], data["typing"], data["customer"]) == (conv["id"], True, True)
        assert data["by"] == "15551234567@c.us" and data["name"] == "Layla"
        presence["id"] = "evt_paused"
        presence["payload"]["presences"][0]["lastKnownPresence"] = "paused"
        assert (await webhooks.post(client, app, channel, presence)).status_code == 200
        assert (await next_typing(lines))["data"]["data"]["typing"] is False
    r = await client.get("/api/v1/inbound-events", params={"status": "processed"}, headers=tenant.headers)
    assert r.json()["total"] == 3  # the message and both presences: kept for the audit like every delivery
    assert (await client.get("/api/v1/conversations", headers=tenant.headers)).json()["total"] == 1
