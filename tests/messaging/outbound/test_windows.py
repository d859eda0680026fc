"""Messaging windows: WhatsApp 24 h (templates only after), Messenger/Instagram 24 h and HUMAN_AGENT up to 7 days,
TikTok 48 h and 10 messages; Telegram, WAHA and Chotot have none."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI

from souk.db.types import utcnow
from tests.conftest import TenantFixture
from tests.messaging.outbound.conftest import Fakes, counts, make_thread, send, wait_done

ORDER_UPDATE = {
    "name": "order_update",
    "language": "en_US",
    "components": [{"type": "body", "parameters": [{"type": "text", "text": "#9"}]}],
}


async def test_whatsapp_outside_24h_takes_only_templates_and_lists_them(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "whatsapp", last_inbound_at=utcnow() - timedelta(hours=25))
    r = await send(client, t, {"text": "Are you still interested?"})
    assert r.status_code == 422 and r.json()["type"].endswith("/window-closed")
    body = r.json()
    assert "24-hour customer service window is closed" in body["detail"] and "order_update" in body["detail"]
    assert {tpl["name"] for tpl in body["templates"]} == {"order_update", "welcome_back"}  # approved ones only
    assert body["window"]["last_inbound_at"] and body["errors"][0]["field"] == "type"
    assert await counts(app, tenant) == (0, 0)

    r = await send(client, t, {"template": ORDER_UPDATE})
    assert r.status_code == 201, r.text
    assert (await wait_done(app, tenant, r.json()["id"])).outbox.status == "sent"

    never = await make_thread(app, tenant, fakes, "whatsapp", channel_id=t.channel_id, last_inbound_at=None)
    r = await send(client, never, {"text": "Hi!"})
    assert r.status_code == 422 and "never wrote" in r.json()["detail"]


async def test_messenger_window_and_the_human_agent_tag(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "messenger", last_inbound_at=utcnow() - timedelta(hours=30))
    r = await send(client, t, {"text": "Following up"})
    assert r.status_code == 422 and "HUMAN_AGENT" in r.json()["detail"]
    r = await send(client, t, {"text": "Following up", "tag": "HUMAN_AGENT"})
    assert r.status_code == 201, r.text
    assert (await wait_done(app, tenant, r.json()["id"])).outbox.status == "sent"
    (sent,) = fakes.graph.sent_to(t.thread)
    assert sent.body["messaging_type"] == "MESSAGE_TAG" and sent.body["tag"] == "HUMAN_AGENT"

    old = await make_thread(app, tenant, fakes, "instagram", last_inbound_at=utcnow() - timedelta(days=8))
    r = await send(client, old, {"text": "Hello again", "tag": "HUMAN_AGENT"})
    assert r.status_code == 422 and "7 days" in r.json()["detail"]


async def test_tiktok_48h_and_ten_messages(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    late = await make_thread(app, tenant, fakes, "tiktok", last_inbound_at=utcnow() - timedelta(hours=49))
    r = await send(client, late, {"text": "hi"})
    assert r.status_code == 422 and "48 hours" in r.json()["detail"]

    t = await make_thread(app, tenant, fakes, "tiktok", channel_id=late.channel_id)
    for i in range(10):
        assert (await send(client, t, {"text": f"message {i}"})).status_code == 201
    r = await send(client, t, {"text": "one too many"})
    assert r.status_code == 422 and r.json()["window"]["sent"] == 10


async def test_telegram_waha_and_chotot_have_no_window(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    for platform in ("telegram", "waha", "chotot"):
        t = await make_thread(app, tenant, fakes, platform, last_inbound_at=utcnow() - timedelta(days=30))
        r = await send(client, t, {"text": "Back in stock!"})
        assert r.status_code == 201, (platform, r.text)


async def test_the_conversation_says_whether_its_window_is_open(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    async def window(t) -> dict | None:
        r = await client.get(f"/api/v1/conversations/{t.conversation_id}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        return r.json()["reply_window"]

    recent = await make_thread(app, tenant, fakes, "whatsapp")
    w = await window(recent)
    assert w["kind"] == "whatsapp_customer_service" and w["hours"] == 24 and w["open"] is True
    assert w["when_closed"] == "template" and w["closes_at"]

    late = utcnow() - timedelta(hours=25)
    closed = await make_thread(app, tenant, fakes, "whatsapp", channel_id=recent.channel_id, last_inbound_at=late)
    assert (await window(closed))["open"] is False
    never = await make_thread(app, tenant, fakes, "whatsapp", channel_id=recent.channel_id, last_inbound_at=None)
    assert (await window(never)) == {**w, "open": False, "closes_at": None}

    messenger = await make_thread(app, tenant, fakes, "messenger", last_inbound_at=utcnow() - timedelta(hours=30))
    assert (await window(messenger))["open"] is False
    assert (await window(messenger))["when_closed"] == "human_agent_tag"

    telegram = await make_thread(app, tenant, fakes, "telegram", last_inbound_at=late)
    assert await window(telegram) is None
    listed = await client.get("/api/v1/conversations", headers=tenant.headers, params={"limit": 100})
    by_id = {c["id"]: c for c in listed.json()["items"]}
    assert by_id[str(closed.conversation_id)]["reply_window"]["open"] is False


async def test_the_approved_templates_of_a_conversation_with_their_parameters(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "whatsapp", last_inbound_at=utcnow() - timedelta(hours=25))
    r = await client.get(f"/api/v1/conversations/{t.conversation_id}/templates", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["listed"] is True
    assert {(x["name"], x["language"], x["parameters"]) for x in r.json()["items"]} == {
        ("order_update", "en_US", 1),
        ("welcome_back", "en_US", 0),
    }  # the pending one is left out
    order_update = next(x for x in r.json()["items"] if x["name"] == "order_update")
    assert order_update["body"] == "Your order {{1}} is on its way."

    telegram = await make_thread(app, tenant, fakes, "telegram")
    r = await client.get(f"/api/v1/conversations/{telegram.conversation_id}/templates", headers=tenant.headers)
    assert r.json() == {"items": [], "listed": True}
    r = await client.get(f"/api/v1/conversations/{uuid.uuid4()}/templates", headers=tenant.headers)
    assert r.status_code == 404
