"""The conversation view in Chromium: a Telegram customer writes (a signed webhook), the message appears live
without a reload, Arabic renders right to left, a colleague with the thread open sees that someone is typing, a
reply goes out through the fake Telegram and its tick turns to sent, and the bot / person switch hands the
conversation over and back."""

from __future__ import annotations

import time
from typing import Any

import pytest

from souk.settings import Settings
from tests.channels.conftest import fakes  # noqa: F401 - fixture
from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve
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


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_live_thread_reply_and_handoff(app, client, tenant: TenantFixture, fakes):  # noqa: F811
    channel = await active_channel(client, tenant, fakes, "telegram")
    await write(client, app, channel, 1, "Hello, is the wallet in stock?")
    async with serve(app) as base, chromium() as browser:
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
