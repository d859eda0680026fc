"""The conversation view in Chromium: a Telegram customer writes (a signed webhook), the message appears live
without a reload, Arabic renders right to left, a colleague with the thread open sees that someone is typing, a
reply goes out through the fake Telegram and its tick turns to sent, and the bot / person switch hands the
conversation over and back. Then a simulated WhatsApp customer (``souk simulate``'s stand-in: Meta's webhook format
and signature) writes while the page is open, the reply sent from the page turns delivered, then read, as the
stand-in posts WhatsApp's statuses; and after the page's live connection drops, what happened meanwhile appears once
it is back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from souk.messaging.models import Message
from souk.settings import Settings
from souk.simulate.whatsapp import WhatsAppStandIn
from tests.channels.conftest import fakes  # noqa: F401 - fixture
from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve, through_cable
from tests.messaging.inbound import payloads as p
from tests.messaging.inbound.conftest import active_channel
from tests.support.webhooks import post

pytestmark = pytest.mark.e2e
CHAT = 880_001


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": True})


async def write(client: Any, app: Any, channel: dict[str, Any], n: int, text: str) -> None:
    body = p.tg_text(n, n, text, int(time.time()), chat_id=CHAT, first_name="Layla")
    assert (await post(client, app, channel, body)).status_code == 200


async def stored(app: Any, tenant: TenantFixture, text: str) -> None:
    """Wait until the worker has stored an inbound message with this text."""
    for _ in range(400):
        async with app.state.db.tenant_session(tenant.id) as session:
            if await session.scalar(select(Message.id).where(Message.message_text == text)):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never stored: {text}")


class StepwiseWhatsApp(WhatsAppStandIn):
    """The simulator's WhatsApp, posting each receipt (sent, delivered, read) only when the test says so, so the
    page's every state is seen without depending on timing."""

    def __init__(self) -> None:
        super().__init__(lambda *_: None)
        self.steps: asyncio.Queue[None] = asyncio.Queue()

    async def pause(self, steps: float = 1.0) -> None:
        await self.steps.get()

    def allow(self, receipts: int) -> None:
        for _ in range(receipts):
            self.steps.put_nowait(None)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)  # the inbox on both databases
async def test_live_thread_reply_handoff_whatsapp_ticks_and_catch_up_after_a_drop(
    app,
    client,
    tenant: TenantFixture,
    fakes,  # noqa: F811
):
    channel = await active_channel(client, tenant, fakes, "telegram")
    await write(client, app, channel, 1, "Hello, is the wallet in stock?")
    # the browser reaches the server through a cable the test can unplug; the platforms post to it directly
    async with serve(app) as direct, through_cable(direct) as (base, cable), chromium() as browser:
        page = await browser.new_page()
        await page.goto(base + "/login")
        await page.fill("#email", tenant.owner_email)
        await page.fill("#password", tenant.password)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/inbox")
        await page.locator("#live-state", has_text="live").wait_for()
        await page.locator("#conversation-list li.conversation", has_text="Layla").first.click()
        await page.locator(".msg.inbound", has_text="wallet").wait_for()

        # a new customer message shows up without a reload, right to left
        await write(client, app, channel, 2, "مرحبا، كم سعر المحفظة؟")
        arabic = page.locator(".msg.inbound .text", has_text="المحفظة")
        await arabic.wait_for(timeout=20_000)
        assert await arabic.evaluate("el => getComputedStyle(el).direction") == "rtl"

        # a colleague with the same conversation open sees that someone is typing, then that they stopped
        colleague = {"email": "sam@acme.example.com", "password": "a long password 1", "role": "agent", "name": "Sam"}
        assert (await client.post("/api/v1/users", json=colleague, headers=tenant.headers)).status_code == 201
        other = await (await browser.new_context()).new_page()
        await other.goto(base + "/login")
        await other.fill("#email", colleague["email"])
        await other.fill("#password", colleague["password"])
        await other.click("button[type=submit]")
        await other.wait_for_url("**/inbox")
        await other.locator("#live-state", has_text="live").wait_for()
        await other.locator("#conversation-list li.conversation", has_text="Layla").first.click()
        await other.locator(".msg.inbound", has_text="wallet").wait_for()

        # a reply goes out through Telegram; its tick turns from pending to sent
        await page.fill("#reply-text", "Yes, 3 left. 199.99 EGP.")
        await other.locator("#typing-state", has_text="is typing").wait_for(timeout=20_000)
        await page.click("#reply-form button[type=submit]")
        await page.locator(".msg.outbound .tick.sent", has_text="✓").wait_for(timeout=20_000)
        assert any(m["text"] == "Yes, 3 left. 199.99 EGP." for m in fakes["telegram"].messages_in(CHAT))
        await other.locator("#typing-state:empty").wait_for(timeout=20_000)  # sending ends the typing

        # take over from the bot, then give it back
        await page.click("#bot-toggle")
        await page.locator("#bot-state", has_text="A person has this conversation").wait_for()
        await page.click("#bot-toggle")
        await page.locator("#bot-state", has_text="The bot may answer").wait_for()
        await page.screenshot(path=screenshot_path("inbox-thread"))

        # a simulated WhatsApp customer writes while the page is open (the stand-in's channel, made through the API)
        whatsapp = StepwiseWhatsApp()
        emma = whatsapp.customers[1]
        await whatsapp.start()
        try:
            async with httpx.AsyncClient(base_url=direct, headers=tenant.headers, timeout=30) as api:
                wa_channel = await whatsapp.connect(api, direct)
                off = await api.patch(f"/api/v1/channels/{wa_channel['id']}", json={"ai_enabled": False})
                assert off.status_code == 200  # the person answers here, not the bot
            await whatsapp.write(emma, "Is the backpack in stock?")
            await page.locator("#conversation-list li.conversation", has_text=emma.name).first.click()
            await page.locator(".msg.inbound", has_text="backpack").wait_for(timeout=20_000)

            # the reply from the page: sent, then delivered, then read as WhatsApp's statuses arrive
            await page.fill("#reply-text", "Yes, in black and grey.")
            await page.click("#reply-form button[type=submit]")
            reply = page.locator(".msg.outbound", has_text="black and grey")
            await reply.locator(".tick.sent").wait_for(timeout=20_000)
            assert whatsapp.sent[emma.id] == ["Yes, in black and grey."]
            whatsapp.allow(2)  # "sent", "delivered"
            await reply.locator(".tick.delivered").wait_for(timeout=20_000)
            whatsapp.allow(1)  # "read"
            await reply.locator(".tick.read").wait_for(timeout=20_000)
            await page.screenshot(path=screenshot_path("inbox-whatsapp-read"))

            # the live connection drops; a message arrives meanwhile; once back, the page catches up
            cable.unplug()
            await page.locator("#live-state", has_text="reconnecting").wait_for(timeout=20_000)
            await whatsapp.write(emma, "And how long does delivery take?")
            await stored(app, tenant, "And how long does delivery take?")  # missed by the page, not just late
            cable.plug()
            await page.locator("#live-state", has_text="live").wait_for(timeout=20_000)
            await page.locator(".msg.inbound", has_text="how long does delivery").wait_for(timeout=20_000)
        finally:
            whatsapp.allow(10)
            await whatsapp.stop(drain=1.0)
