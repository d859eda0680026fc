"""Attempts interrupted between the platform call and the commit (a killed worker, a lost answer) are reconciled
per platform: never a second customer-visible message where the platform lets us avoid it, ``failed`` with
"outcome unknown" where it does not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from souk.bus.work import Retry
from souk.channels.models import Channel
from souk.channels.service import client_for
from souk.db.types import utcnow
from souk.messaging.channel_http import ChannelClients
from souk.messaging.models import DeferredUpdate, Message
from souk.messaging.outbox_models import OutboundMessage
from souk.messaging.sender import OutboundSender, finalize_sent
from tests.conftest import TenantFixture, make_tenant
from tests.messaging.outbound.conftest import Fakes, Thread, channel_sent, load, make_thread, send


@pytest.fixture
async def tenant_(api_only_app: FastAPI) -> TenantFixture:
    return await make_tenant(api_only_app, "acme")


@pytest.fixture
async def worker(api_only_app: FastAPI) -> AsyncIterator[OutboundSender]:
    """A sender the test drives by hand (the app runs none), with a short timeout to provoke lost answers."""
    async with ChannelClients(httpx.Timeout(0.5)) as http:
        yield OutboundSender(api_only_app.state.db, api_only_app.state.bus, http, api_only_app.state.outbox_wake)


async def queued(app: FastAPI, client: httpx.AsyncClient, t: Thread, text: str) -> tuple[uuid.UUID, uuid.UUID]:
    r = await send(client, t, {"text": text})
    assert r.status_code == 201, r.text
    outcome = await load(app, t.tenant, r.json()["id"])
    return outcome.message.id, outcome.outbox.id


async def interrupt(app: FastAPI, row_id: uuid.UUID, *, started_ago: float | None = 30.0) -> None:
    """Leave the row as a worker killed mid-send leaves it: ``sending``, attempt recorded, lease run out."""
    now = utcnow()
    started = now - timedelta(seconds=started_ago) if started_ago is not None else None
    async with app.state.db.system_session() as session:
        await session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == row_id)
            .values(status="sending", attempts=1, attempt_started_at=started, lease_until=now - timedelta(seconds=1))
        )


async def channel_of(app: FastAPI, t: Thread) -> Channel:
    async with app.state.db.system_session() as session:
        return await session.scalar(select(Channel).where(Channel.id == t.channel_id))


async def call_platform_directly(app: FastAPI, t: Thread, row_id: uuid.UUID) -> str | None:
    """What the killed worker did before dying: the platform call itself."""
    async with app.state.db.system_session() as session:
        row = await session.scalar(select(OutboundMessage).where(OutboundMessage.id == row_id))
    result = await client_for(await channel_of(app, t), app.state.http).send_message(
        row.request["thread"], row.request["recipient"], dict(row.request["content"])
    )
    return result.external_id


async def test_chotot_resends_with_the_same_client_message_id(
    api_only_app: FastAPI,
    api_only_client: httpx.AsyncClient,
    tenant_: TenantFixture,
    fakes: Fakes,
    worker: OutboundSender,
):
    t = await make_thread(api_only_app, tenant_, fakes, "chotot")
    message_id, row_id = await queued(api_only_app, api_only_client, t, "Còn hàng bạn nhé")
    first_id = await call_platform_directly(api_only_app, t, row_id)
    await interrupt(api_only_app, row_id)
    await worker.reconcile(row_id)
    assert (await load(api_only_app, tenant_, message_id)).outbox.status == "queued"
    await worker.handle(str(row_id))
    done = await load(api_only_app, tenant_, message_id)
    assert done.outbox.status == "sent" and done.message.external_id == first_id
    assert len([m for m in fakes.chotot.sent if m["chat_id"] == t.thread]) == 1
    assert len(fakes.chotot.requests_to("POST", f"/v1/chats/{t.thread}/messages")) == 2  # resent, deduplicated


async def test_waha_finds_the_interrupted_send_in_the_chat_history(
    api_only_app: FastAPI,
    api_only_client: httpx.AsyncClient,
    tenant_: TenantFixture,
    fakes: Fakes,
    worker: OutboundSender,
):
    t = await make_thread(api_only_app, tenant_, fakes, "waha")
    message_id, row_id = await queued(api_only_app, api_only_client, t, "Sent before the crash")
    platform_id = await call_platform_directly(api_only_app, t, row_id)
    await interrupt(api_only_app, row_id)
    await worker.reconcile(row_id)
    done = await load(api_only_app, tenant_, message_id)
    assert done.outbox.status == "sent" and done.message.external_id == platform_id
    assert len([m for m in fakes.waha.sent if m["to"] == t.thread]) == 1
    assert await channel_sent(api_only_app, tenant_, t.channel_id) == 1

    message_id, row_id = await queued(api_only_app, api_only_client, t, "Never left")
    await interrupt(api_only_app, row_id)
    await worker.reconcile(row_id)  # not in the history: safe to send
    await worker.handle(str(row_id))
    assert (await load(api_only_app, tenant_, message_id)).outbox.status == "sent"
    assert [m["body"] for m in fakes.waha.sent if m["to"] == t.thread] == ["Sent before the crash", "Never left"]


async def test_telegram_cannot_tell_so_the_message_fails_as_outcome_unknown(
    api_only_app: FastAPI,
    api_only_client: httpx.AsyncClient,
    tenant_: TenantFixture,
    fakes: Fakes,
    worker: OutboundSender,
):
    t = await make_thread(api_only_app, tenant_, fakes, "telegram")
    message_id, row_id = await queued(api_only_app, api_only_client, t, "maybe delivered")
    await interrupt(api_only_app, row_id)
    await worker.reconcile(row_id)
    done = await load(api_only_app, tenant_, message_id)
    assert (done.outbox.status, done.message.status, done.message.error_code) == ("failed", "failed", "outcome_unknown")
    assert "may or may not have received" in done.message.error_message

    # killed while only waiting for its rate-limit slot: nothing was called, so it is simply sent
    message_id, row_id = await queued(api_only_app, api_only_client, t, "never called")
    await interrupt(api_only_app, row_id, started_ago=None)
    await worker.reconcile(row_id)
    await worker.handle(str(row_id))
    assert (await load(api_only_app, tenant_, message_id)).outbox.status == "sent"


async def test_meta_waits_for_the_echo_then_confirms_or_gives_up(
    api_only_app: FastAPI,
    api_only_client: httpx.AsyncClient,
    tenant_: TenantFixture,
    fakes: Fakes,
    worker: OutboundSender,
):
    t = await make_thread(api_only_app, tenant_, fakes, "messenger")
    message_id, row_id = await queued(api_only_app, api_only_client, t, "echo me")
    await interrupt(api_only_app, row_id, started_ago=5)
    await worker.reconcile(row_id)
    assert (await load(api_only_app, tenant_, message_id)).outbox.status == "sending"  # still within the grace
    async with api_only_app.state.db.system_session() as session:  # the inbound pipeline merges the echo by marker
        await session.execute(update(Message).where(Message.id == message_id).values(external_id="m_echoed"))
    await interrupt(api_only_app, row_id, started_ago=5)
    await worker.reconcile(row_id)
    done = await load(api_only_app, tenant_, message_id)
    assert (done.outbox.status, done.message.external_id) == ("sent", "m_echoed")
    assert await channel_sent(api_only_app, tenant_, t.channel_id) == 1

    wa = await make_thread(api_only_app, tenant_, fakes, "whatsapp")
    message_id, row_id = await queued(api_only_app, api_only_client, wa, "receipt only")
    await interrupt(api_only_app, row_id, started_ago=5)
    async with api_only_app.state.db.system_session() as session:  # parked by the inbound pipeline: unknown wamid
        session.add(
            DeferredUpdate(
                tenant_id=tenant_.id,
                channel_id=wa.channel_id,
                target_external_id="wamid.LOST",
                kind="StatusUpdate",
                event_key="status:wamid.LOST:delivered",
                payload={
                    "key": "status:wamid.LOST:delivered",
                    "timestamp": "2026-01-01T00:00:00+00:00",
                    "status": "delivered",
                    "target_external_id": "wamid.LOST",
                    "raw": {
                        "id": "wamid.LOST",
                        "status": "delivered",
                        "biz_opaque_callback_data": f"souk:{message_id}",
                    },
                },
            )
        )
    await worker.reconcile(row_id)
    done = await load(api_only_app, tenant_, message_id)
    assert (done.outbox.status, done.message.external_id, done.message.status) == ("sent", "wamid.LOST", "delivered")

    message_id, row_id = await queued(api_only_app, api_only_client, t, "no echo ever")
    await interrupt(api_only_app, row_id, started_ago=120)
    await worker.reconcile(row_id)
    assert (await load(api_only_app, tenant_, message_id)).message.error_code == "outcome_unknown"


async def test_a_lost_answer_is_retried_only_where_that_is_safe(
    api_only_app: FastAPI,
    api_only_client: httpx.AsyncClient,
    tenant_: TenantFixture,
    fakes: Fakes,
    worker: OutboundSender,
):
    fakes.telegram.delay = fakes.chotot.delay = 1.0  # longer than the worker's 0.5 s timeout
    try:
        chotot = await make_thread(api_only_app, tenant_, fakes, "chotot")
        message_id, row_id = await queued(api_only_app, api_only_client, chotot, "slow platform")
        with pytest.raises(Retry):
            await worker.handle(str(row_id))  # read timeout: idempotent, so an ordinary retry
        fakes.chotot.delay = 0.0
        async with api_only_app.state.db.system_session() as session:  # the back-off has passed
            await session.execute(
                update(OutboundMessage).where(OutboundMessage.id == row_id).values(next_attempt_at=utcnow())
            )
        await worker.handle(str(row_id))
        assert (await load(api_only_app, tenant_, message_id)).outbox.status == "sent"
        assert len([m for m in fakes.chotot.sent if m["chat_id"] == chotot.thread]) == 1

        tg = await make_thread(api_only_app, tenant_, fakes, "telegram")
        message_id, row_id = await queued(api_only_app, api_only_client, tg, "slow telegram")
        await worker.handle(str(row_id))  # read timeout: left for reconciliation, not retried blindly
        assert (await load(api_only_app, tenant_, message_id)).outbox.status == "sending"
        await interrupt(api_only_app, row_id)  # ... once its lease has run out
        await worker.sweep()
        done = await load(api_only_app, tenant_, message_id)
        assert done.message.error_code == "outcome_unknown"
        for _ in range(40):  # ... and rightly so: the slow platform did deliver it, so a retry would duplicate it
            if fakes.telegram.messages_in(tg.thread):
                break
            await asyncio.sleep(0.05)
        assert len(fakes.telegram.messages_in(tg.thread)) == 1
    finally:
        fakes.telegram.delay = fakes.chotot.delay = 0.0


async def test_an_echo_stored_before_the_send_returned_is_merged(
    api_only_app: FastAPI, api_only_client: httpx.AsyncClient, tenant_: TenantFixture, fakes: Fakes
):
    t = await make_thread(api_only_app, tenant_, fakes, "waha")
    message_id, row_id = await queued(api_only_app, api_only_client, t, "raced by its echo")
    echo_id = uuid.uuid4()
    async with api_only_app.state.db.system_session() as session:
        session.add(
            Message(
                id=echo_id,
                tenant_id=tenant_.id,
                channel_id=t.channel_id,
                conversation_id=t.conversation_id,
                customer_id=t.customer_id,
                external_id="true_x@c.us_ECHO",
                sender_id="me",
                direction="outbound",
                status="delivered",
                timestamp=utcnow(),
                platform="waha",
                sent_by="native_app",
            )
        )
    await interrupt(api_only_app, row_id)
    with pytest.raises(IntegrityError):  # the sender's first try skips the look-up; the unique key catches it
        async with api_only_app.state.db.system_session() as session:
            await finalize_sent(session, row_id, "true_x@c.us_ECHO", attempts=1, media_id=None, merge_echo=False)
    async with api_only_app.state.db.system_session() as session:
        assert await finalize_sent(session, row_id, "true_x@c.us_ECHO", attempts=1, media_id=None) is not None
    async with api_only_app.state.db.system_session() as session:
        assert await session.get(Message, echo_id) is None
    done = await load(api_only_app, tenant_, message_id)
    assert (done.message.external_id, done.message.status) == ("true_x@c.us_ECHO", "delivered")
