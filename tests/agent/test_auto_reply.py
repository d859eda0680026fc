"""The agent on a channel, end to end: a signed Telegram webhook → inbound worker → ``message.created`` → the agent
→ the outbox → the fake Telegram Bot API. Silence is checked against a sentinel: the responder handles events in
order, so once a later question on another chat is answered, the earlier message was handled too."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from souk.agent.models import AgentTurn
from souk.messaging.models import Conversation, Message
from souk.settings import Settings
from tests.agent.conftest import DOCS, put_setting
from tests.channels.conftest import fakes  # noqa: F401 - fixture
from tests.commerce.conftest import CATALOG, create_product
from tests.conftest import TenantFixture, make_tenant
from tests.messaging.inbound import payloads as p
from tests.messaging.inbound.conftest import active_channel
from tests.support.fakes.telegram import FakeTelegram
from tests.support.webhooks import post, wait_idle

SENTINEL_CHAT = 777
_ids = itertools.count(1000)
_chats = itertools.count(50_000)  # the fake Telegram outlives a test: each test writes from new chats
T0 = int(time.time())  # live messages: the agent leaves ones older than an hour alone


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": True})


@pytest.fixture
async def telegram(client: httpx.AsyncClient, tenant: TenantFixture, fakes: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    for product in CATALOG:
        await create_product(client, tenant.headers, **product)
    for doc in DOCS:
        assert (await client.post("/api/v1/knowledge-base", json=doc, headers=tenant.headers)).status_code == 201
    return await active_channel(client, tenant, fakes, "telegram", ai_enabled=True)


async def say(
    client: httpx.AsyncClient, app: FastAPI, channel: dict[str, Any], chat: int, text: str, **kw: Any
) -> dict:
    n = next(_ids)
    body = p.tg_text(n, n, text, T0 + n, chat_id=chat, **kw)
    r = await post(client, app, channel, body)
    assert r.status_code == 200, r.text
    return body


async def replies(fake: FakeTelegram, chat: int, n: int, timeout: float = 30.0) -> list[str]:
    """The texts sent to ``chat`` once there are at least ``n`` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = [m["text"] for m in fake.messages_in(chat)]
        if len(sent) >= n:
            return sent
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(fake.messages_in(chat))} replies to chat {chat} after {timeout}s, expected {n}")


async def sentinel(client: httpx.AsyncClient, app: FastAPI, channel: dict[str, Any], fake: FakeTelegram) -> None:
    before = len(fake.messages_in(SENTINEL_CHAT))
    await say(client, app, channel, SENTINEL_CHAT, "hello")
    await replies(fake, SENTINEL_CHAT, before + 1)


async def test_a_price_question_on_telegram_is_answered_with_the_catalogs_price(
    client: httpx.AsyncClient,
    app: FastAPI,
    telegram: dict[str, Any],
    fakes: dict[str, Any],  # noqa: F811
) -> None:
    fake: FakeTelegram = fakes["telegram"]
    c1 = next(_chats)
    body = await say(client, app, telegram, c1, "How much is the leather wallet?")
    (reply,) = await replies(fake, c1, 1)
    assert reply == "Leather wallet costs 199.99 EGP and is in stock (3 available)."
    assert {"chat_id": str(c1), "action": "typing"} in fake.chat_actions
    # the platform retries the same update: stored once, answered once
    assert (await post(client, app, telegram, body)).status_code == 200
    await sentinel(client, app, telegram, fake)
    assert len(fake.messages_in(c1)) == 1
    async with app.state.db.system_session() as s:
        turn = (await s.scalars(select(AgentTurn).where(AgentTurn.message.like("%leather%")))).one()
        conv = await s.get(Conversation, turn.conversation_id)
    assert conv is not None and conv.agent_used == "sales" and conv.response_time_ms is not None


async def test_the_bot_never_answers_bots_and_stops_after_a_handoff(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenant: TenantFixture,
    telegram: dict[str, Any],
    fakes: dict[str, Any],  # noqa: F811
) -> None:
    fake: FakeTelegram = fakes["telegram"]
    await put_setting(client, tenant.headers, "ai_handoff_assignee", tenant.owner_email)
    c2, c3 = next(_chats), next(_chats)
    bot = p.tg_text(next(_ids), 1, "How much is the leather wallet?", T0, chat_id=c2)
    bot["message"]["from"]["is_bot"] = True
    assert (await post(client, app, telegram, bot)).status_code == 200
    stale = p.tg_text(next(_ids), 2, "How much is the leather wallet?", T0 - 7200, chat_id=c2)  # two hours old
    assert (await post(client, app, telegram, stale)).status_code == 200
    await sentinel(client, app, telegram, fake)
    assert fake.messages_in(c2) == []

    await say(client, app, telegram, c3, "I want to talk to a real person")
    (handoff,) = await replies(fake, c3, 1)
    assert "colleague" in handoff
    await say(client, app, telegram, c3, "How much is the leather wallet?")
    await sentinel(client, app, telegram, fake)
    assert len(fake.messages_in(c3)) == 1
    async with app.state.db.system_session() as s:
        conv = (await s.scalars(select(Conversation).where(Conversation.external_thread_id == str(c3)))).one()
    assert conv.handoff_at is not None and "person" in (conv.handoff_reason or "")
    assert conv.assignee_id == tenant.owner_id  # handed to the person the settings name


async def test_the_reply_budget_hands_over_and_ai_off_is_silent(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenant: TenantFixture,
    telegram: dict[str, Any],
    fakes: dict[str, Any],  # noqa: F811
) -> None:
    fake: FakeTelegram = fakes["telegram"]
    c4, c5, c6 = next(_chats), next(_chats), next(_chats)
    await put_setting(client, tenant.headers, "ai_reply_budget", "1")
    await say(client, app, telegram, c4, "How much is the leather wallet?")
    await replies(fake, c4, 1)
    await say(client, app, telegram, c4, "And the summer dress?", first_name="Layla")
    second = (await replies(fake, c4, 2))[1]
    assert "colleague" in second
    await put_setting(client, tenant.headers, "ai_reply_budget", "100")

    # AI off for the channel: silent; an AI agent assigned to one conversation (ai_agents_enabled) answers it
    off = {"ai_enabled": False, "ai_agents_enabled": True}
    r = await client.patch(f"/api/v1/channels/{telegram['id']}", json=off, headers=tenant.headers)
    assert r.status_code == 200, r.text
    await say(client, app, telegram, c5, "How much is the leather wallet?")
    await say(client, app, telegram, c6, "hello")
    await wait_idle(app)
    async with app.state.db.system_session() as s:
        conv = (await s.scalars(select(Conversation).where(Conversation.external_thread_id == str(c6)))).one()
    r = await client.put(f"/api/v1/conversations/{conv.id}/ai-agent", json={"agent": "sales"}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["ai_agent"] == "sales"
    await say(client, app, telegram, c6, "How much is the leather wallet?")
    # (the "hello" may be answered too: it may be handled after the assignment)
    deadline = time.monotonic() + 30
    while not any("199.99" in m["text"] for m in fake.messages_in(c6)):
        assert time.monotonic() < deadline, fake.messages_in(c6)
        await asyncio.sleep(0.05)
    assert fake.messages_in(c5) == []


async def test_a_bot_reply_loop_stops_at_the_first_echo(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenant: TenantFixture,
    telegram: dict[str, Any],
    fakes: dict[str, Any],  # noqa: F811
) -> None:
    """Messenger echoes every message the page sends. Echoes of the bot's reply (marked) merge into its row, an echo
    of a person typing in Messenger is stored as ``native_app``; neither is answered, however often it comes back."""
    graph = fakes["graph"]
    messenger = await active_channel(client, tenant, fakes, "messenger", ai_enabled=True)

    def texts() -> list[Any]:  # sends with a message (the typing indicator is a send without one)
        return [m for m in graph.sent_to(p.PSID) if "message" in m.body]

    before = len(texts())
    ts = int(time.time() * 1000)  # inside Messenger's 24-hour window
    assert (
        await post(client, app, messenger, p.fb_text(f"m_q{ts}", "How much is the leather wallet?", ts))
    ).status_code == 200
    deadline = time.monotonic() + 30
    while len(texts()) < before + 1:
        assert time.monotonic() < deadline, "the bot did not answer"
        await asyncio.sleep(0.05)
    sent = texts()[-1]
    assert "199.99 EGP" in sent.body["message"]["text"]
    echo = p.fb_echo(
        sent.message_id, sent.body["message"]["text"], ts + 1000, metadata=sent.body["message"]["metadata"]
    )
    native = p.fb_echo(f"m_native{ts}", "I'll check the colour for you", ts + 2000)
    del native["entry"][0]["messaging"][0]["message"]["app_id"]  # typed in the Page inbox, not by an app
    for _ in range(5):  # the platform's retries and a loop's rounds
        for body in (echo, native):
            assert (await post(client, app, messenger, body)).status_code == 200
    await wait_idle(app)
    await sentinel(client, app, telegram, fakes["telegram"])
    assert len(texts()) == before + 1
    assert any(m.body.get("sender_action") == "typing_on" for m in graph.sent_to(p.PSID))
    async with app.state.db.system_session() as s:
        rows = (await s.scalars(select(Message).where(Message.channel_id == uuid.UUID(messenger["id"])))).all()
    by_sender = sorted((m.direction, m.sent_by) for m in rows)
    assert by_sender == [("inbound", "customer"), ("outbound", "native_app"), ("outbound", "souk")]


async def test_the_rules_run_before_the_bot_a_person_rule_silences_it_and_a_hand_to_ai_rule_is_answered(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenant: TenantFixture,
    telegram: dict[str, Any],
    fakes: dict[str, Any],  # noqa: F811
) -> None:
    """Seed 004: automations (step 10), then the automated response (step 11), for the same message."""
    from tests.automation.conftest import make_user
    from tests.automation.test_automations import log_of, rule

    fake: FakeTelegram = fakes["telegram"]
    amal = await make_user(client, tenant, "amal")
    to_amal = await rule(
        client,
        tenant,
        event="message.created",
        conditions=[{"field": "message.text", "op": "contains", "value": "manager"}],
        actions=[{"type": "assign", "user_id": amal}],
    )
    to_ai = await rule(
        client,
        tenant,
        event="message.created",
        conditions=[{"field": "message.text", "op": "contains", "value": "wallet for my shop"}],
        actions=[{"type": "hand_to_ai", "agent": "sales"}],
    )
    # the bot is on for the channel, but a rule gives this message's conversation to a person first: no answer
    c7 = next(_chats)
    await say(client, app, telegram, c7, "How much is the leather wallet? I am the store manager")
    await sentinel(client, app, telegram, fake)
    assert fake.messages_in(c7) == []
    async with app.state.db.system_session() as s:
        conv = (await s.scalars(select(Conversation).where(Conversation.external_thread_id == str(c7)))).one()
    assert str(conv.assignee_id) == amal
    assert [(e["rule_id"], e["outcome"]) for e in await log_of(client, tenant, str(conv.id), 2)] == [
        (to_amal["id"], "ran"),
        (to_ai["id"], "skipped"),
    ]

    # the bot is off for the channel (AI agents only): a rule hands the conversation to the AI agent, which then
    # answers the very message the rule saw
    off = {"ai_enabled": False, "ai_agents_enabled": True}
    assert (await client.patch(f"/api/v1/channels/{telegram['id']}", json=off, headers=tenant.headers)).is_success
    c8 = next(_chats)
    await say(client, app, telegram, c8, "How much is the leather wallet for my shop?")
    (answer,) = await replies(fake, c8, 1)
    assert "199.99" in answer


async def test_the_bot_keeps_out_of_a_persons_conversation_and_out_of_hours_and_splits_long_replies(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenant: TenantFixture,
    telegram: dict[str, Any],
    fakes: dict[str, Any],  # noqa: F811
) -> None:
    """Silence is proven by another shop's bot answering later: the responder takes messages in order."""
    fake: FakeTelegram = fakes["telegram"]
    long_thanks = "\n\n".join(f"Paragraph {i}:" + " thank you for shopping with us" * 60 for i in range(5))
    await put_setting(client, tenant.headers, "ai_templates", json.dumps({"en": {"thanks": long_thanks}}))
    c_long, c_taken, c_night = next(_chats), next(_chats), next(_chats)
    await say(client, app, telegram, c_long, "thanks")
    parts = await replies(fake, c_long, 3)
    assert len(parts) > 1 and all(len(part) <= 4096 for part in parts)  # Telegram's text limit
    assert "\n\n".join(parts) == long_thanks  # cut at paragraph ends, nothing lost

    await say(client, app, telegram, c_taken, "hello")
    await replies(fake, c_taken, 1)
    async with app.state.db.system_session() as s:
        conv = (await s.scalars(select(Conversation).where(Conversation.external_thread_id == str(c_taken)))).one()
    to_owner = {"assignee_id": str(tenant.owner_id)}
    r = await client.put(f"/api/v1/conversations/{conv.id}/assignee", json=to_owner, headers=tenant.headers)
    assert r.status_code == 200, r.text
    await say(client, app, telegram, c_taken, "How much is the leather wallet?")

    closed_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(datetime.now(UTC).weekday() + 3) % 7]
    await put_setting(client, tenant.headers, "ai_hours_mode", "within_business_hours")
    await put_setting(client, tenant.headers, "ai_business_hours", f"{closed_day} 09:00-17:00")
    await say(client, app, telegram, c_night, "How much is the leather wallet?")

    other = await make_tenant(app, "open-all-night")
    other_bot = await active_channel(client, other, fakes, "telegram", ai_enabled=True)
    c_other = next(_chats)
    await say(client, app, other_bot, c_other, "hello")
    await replies(fake, c_other, 1)
    async with app.state.db.system_session() as s:  # what was queued, not only what was delivered meanwhile
        sent = (
            await s.execute(
                select(Conversation.external_thread_id, func.count(Message.id))
                .join(Message, Message.conversation_id == Conversation.id)
                .where(
                    Conversation.external_thread_id.in_([str(c_taken), str(c_night)]), Message.direction == "outbound"
                )
                .group_by(Conversation.external_thread_id)
            )
        ).all()
    assert dict(sent) == {str(c_taken): 1}
    assert len(fake.messages_in(c_taken)) == 1 and fake.messages_in(c_night) == []
