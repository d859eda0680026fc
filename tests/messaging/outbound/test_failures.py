"""Failures: rate limits and server errors are retried (Retry-After / retry_after honoured), permanent errors end
``failed`` with the platform's code and text, the retry budget ends ``failed`` too, and failed messages resend."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from souk.channels.models import Channel
from souk.messaging import sender
from souk.messaging.channel_http import ChannelClients
from souk.messaging.sender import OutboundSender
from tests.conftest import TenantFixture, make_tenant
from tests.messaging.outbound.conftest import Fakes, channel_sent, load, make_thread, send, wait_done


async def test_telegram_429_waits_retry_after_then_sends(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "telegram")
    fakes.telegram.throttle(times=1, retry_after=1)
    r = await send(client, t, {"text": "after the flood wait"})
    done = await wait_done(app, tenant, r.json()["id"])
    assert done.outbox.status == "sent" and done.outbox.attempts == 2
    times = [at for at, path, _ in fakes.telegram.arrivals if path.endswith("/sendMessage")][-2:]
    assert times[1] - times[0] >= 0.95
    assert len(fakes.telegram.messages_in(t.thread)) == 1
    assert await channel_sent(app, tenant, t.channel_id) == 1


async def test_graph_rate_limit_code_is_retried(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "whatsapp")
    path = f"/v21.0/{fakes.graph.PHONE_NUMBER_ID}/messages"
    fakes.graph.fail_next("POST", path, code=130429, message="Rate limit hit", retry_after=0.3)
    r = await send(client, t, {"text": "throttled once"})
    done = await wait_done(app, tenant, r.json()["id"])
    assert done.outbox.status == "sent" and done.outbox.attempts == 2


async def test_a_permanent_error_is_visible_and_the_message_resends(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "whatsapp")
    path = f"/v21.0/{fakes.graph.PHONE_NUMBER_ID}/messages"
    fakes.graph.fail_next(
        "POST", path, code=131026, message="Message undeliverable", details="Receiver is incapable of receiving"
    )
    r = await send(client, t, {"text": "Your parcel left"})
    done = await wait_done(app, tenant, r.json()["id"])
    assert (done.outbox.status, done.message.status, done.outbox.attempts) == ("failed", "failed", 1)
    assert done.message.error_code == "131026"
    assert "Message undeliverable" in done.message.error_message and "incapable" in done.message.error_message
    assert await channel_sent(app, tenant, t.channel_id) == 0

    again = await client.post(f"/api/v1/messages/{r.json()['id']}/resend", headers=tenant.headers)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "pending" and again.json()["error_code"] is None
    done = await wait_done(app, tenant, r.json()["id"])
    assert done.outbox.status == "sent" and done.message.external_id
    assert await channel_sent(app, tenant, t.channel_id) == 1
    conflict = await client.post(f"/api/v1/messages/{r.json()['id']}/resend", headers=tenant.headers)
    assert conflict.status_code == 409 and "sent" in conflict.json()["detail"]


async def test_after_the_retry_budget_the_message_fails_and_can_be_resent(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sender, "MAX_ATTEMPTS", 3)
    monkeypatch.setattr(sender, "BACKOFF_BASE", 0.05)
    t = await make_thread(app, tenant, fakes, "chotot")
    path = f"/v1/chats/{t.thread}/messages"
    fakes.chotot.respond("POST", path, 503, json={"error": {"code": "UNAVAILABLE", "message": "maintenance"}}, times=3)
    r = await send(client, t, {"text": "Still there?"})
    done = await wait_done(app, tenant, r.json()["id"])
    assert (done.outbox.status, done.outbox.attempts, done.message.error_code) == ("failed", 3, "UNAVAILABLE")
    assert (
        done.message.error_message.startswith("gave up after 3 attempts")
        and "maintenance" in done.message.error_message
    )

    assert (await client.post(f"/api/v1/messages/{r.json()['id']}/resend", headers=tenant.headers)).status_code == 200
    done = await wait_done(app, tenant, r.json()["id"])
    assert done.outbox.status == "sent"
    assert len([m for m in fakes.chotot.sent if m["chat_id"] == t.thread]) == 1


async def test_a_server_error_then_success_keeps_one_message(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sender, "BACKOFF_BASE", 0.05)
    t = await make_thread(app, tenant, fakes, "tiktok")
    fakes.tiktok.fail("message/send/", 40064, "You are sending messages too fast.")
    r = await send(client, t, {"text": "hello"})
    done = await wait_done(app, tenant, r.json()["id"])
    assert done.outbox.status == "sent" and done.outbox.attempts == 2
    assert len(fakes.tiktok.messages_in(t.thread)) == 1


async def test_a_channel_deactivated_before_the_send_fails_the_message(
    api_only_client: httpx.AsyncClient, api_only_app: FastAPI, fakes: Fakes
):
    tenant = await make_tenant(api_only_app, "acme")
    t = await make_thread(api_only_app, tenant, fakes, "telegram")
    r = await send(api_only_client, t, {"text": "queued, then the channel is switched off"})
    async with api_only_app.state.db.tenant_session(tenant.id) as session:
        await session.execute(update(Channel).where(Channel.id == t.channel_id).values(status="inactive"))
    async with ChannelClients(httpx.Timeout(5.0)) as http:
        worker = OutboundSender(api_only_app.state.db, api_only_app.state.bus, http, api_only_app.state.outbox_wake)
        await worker.handle(str((await load(api_only_app, tenant, r.json()["id"])).outbox.id))
    done = await load(api_only_app, tenant, r.json()["id"])
    assert (done.outbox.status, done.message.error_code) == ("failed", "channel_inactive")


async def test_a_retried_reply_keeps_its_place_in_the_conversation(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "telegram")
    fakes.telegram.throttle(times=1, retry_after=1)
    first = await send(client, t, {"text": "first"})
    second = await send(client, t, {"text": "second"})
    for r in (first, second):
        assert (await wait_done(app, tenant, r.json()["id"])).outbox.status == "sent"
    assert [m["text"] for m in fakes.telegram.messages_in(t.thread)] == ["first", "second"]
