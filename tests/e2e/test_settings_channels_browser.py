"""Settings pages in headless Chromium: a channel created from its type's form (field errors next to the field,
connection test, webhook URL to copy), a WAHA QR code counting down and refreshed until the session works, then its
history imported with a progress bar; a pipeline and a team created and edited, and a WhatsApp channel routed to
the pipeline with its verify token to copy."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page, expect

from souk.settings import Settings
from tests.channels.conftest import configs, fakes  # noqa: F401 - fixture
from tests.channels.waha.conftest import count_messages, task_queue, waha  # noqa: F401 - fixtures
from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve
from tests.support.fakes.telegram import DEFAULT_TOKEN

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(settings: Settings, temporal_address: str, task_queue: str) -> Settings:  # noqa: F811
    """The shared settings, with the worker in this process and a real Temporal for the history import."""
    return settings.model_copy(update={"run_worker_in_process": True, "temporal_address": temporal_address})


async def accept(dialog: Dialog) -> None:
    """Say yes to the pages' "are you sure" questions."""
    await dialog.accept()


async def login(page: Page, base: str, tenant: TenantFixture, path: str) -> None:
    await page.goto(base + path)
    await page.fill("#email", tenant.owner_email)
    await page.fill("#password", tenant.password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**" + path)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_create_a_telegram_channel_test_it_and_copy_its_webhook(app, tenant: TenantFixture, fakes):  # noqa: F811
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        page.on("dialog", accept)
        await login(page, base, tenant, "/settings/channels")
        await page.click("#add-channel")
        form = page.locator("#channel-form")
        await form.locator("[name=channel_type]").select_option("telegram")
        token = form.locator('[name="config.botToken"]')
        assert await token.get_attribute("type") == "password"
        await form.locator("[name=name]").fill("Support bot")
        await form.locator('[name="config.botUsername"]').fill("@souk_test_bot")
        await form.locator("summary", has_text="More settings").click()
        await form.locator('[name="config.apiBaseURL"]').fill(fakes["telegram"].url)
        await form.locator("button[type=submit]").click()

        # the API's field error shows next to the bot token input
        error = form.locator('[data-error-for="config.botToken"]')
        await expect(error).to_have_text("Field required")
        assert await token.get_attribute("aria-invalid") == "true"
        await page.screenshot(path=screenshot_path("settings-channel-field-error"))

        await token.fill(DEFAULT_TOKEN)
        await form.locator("button[type=submit]").click()
        card = page.locator("#channel-list li.channel-card", has_text="Support bot")
        await expect(card).to_be_visible()
        await expect(page.locator("#channel-editor")).to_be_hidden()
        await expect(card.locator(".channel-type")).to_have_text("Telegram")
        await expect(card.locator(".status")).to_have_text("Setting up")
        await expect(card.locator(".metrics")).to_contain_text("0 received · 0 sent")
        assert await card.locator(".badge").count() == 0

        await card.locator("button.test-connection").click()
        await expect(card.locator(".result.ok")).to_contain_text("Connection works")
        await expect(card.locator(".result.ok")).to_contain_text("@souk_test_bot")

        await card.locator("button.show-webhook").click()
        await expect(card.locator(".webhook")).to_contain_text("not set up yet")
        # Telegram takes only an HTTPS webhook: the platform's refusal shows, then a public address is given
        await card.locator(".configure-webhook button[type=submit]").click()
        await expect(card.locator(".configure-webhook .form-error")).to_contain_text("HTTPS URL must be provided")
        await card.locator('.configure-webhook [name="webhook_url"]').fill("https://shop.example.com")
        await card.locator(".configure-webhook button[type=submit]").click()
        url = card.locator("input.webhook-url")
        channel_id = await card.get_attribute("data-channel-id")
        await expect(url).to_have_value(f"https://shop.example.com/webhooks/telegram/{channel_id}")
        assert fakes["telegram"].webhook["url"] == await url.input_value()  # registered with setWebhook
        await expect(card.locator(".webhook-url button")).to_have_text("Copy")
        secret = fakes["telegram"].webhook_secret
        await card.locator("button.rotate-secret").click()  # confirmed by the dialog handler
        await expect(card.locator(".card-message")).to_have_text("Webhook secret replaced.")
        assert fakes["telegram"].webhook_secret not in (None, secret)  # registered again with the new one

        await card.locator("button.activate").click()
        await expect(card.locator(".status")).to_have_text("Active")
        await expect(card.locator("button.deactivate")).to_be_visible()
        await page.screenshot(path=screenshot_path("settings-channel-telegram"), full_page=True)
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than the screen
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.screenshot(path=screenshot_path("settings-channel-telegram-phone"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 720})

        # editing shows the stored values, never the secret
        await card.locator("button.edit").click()
        await expect(form.locator('[name="config.botUsername"]')).to_have_value("@souk_test_bot")
        await expect(form.locator('[name="config.botToken"]')).to_have_value("")
        assert DEFAULT_TOKEN.split(":")[1] not in await page.content()
        await form.locator("[name=name]").fill("Support bot (main)")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#channel-list .channel-name")).to_have_text(["Support bot (main)"])

        await card.locator("button.deactivate").click()
        await expect(page.locator(".channel-card .status")).to_have_text("Inactive")
        await page.locator(".channel-card button.delete").click()
        await expect(page.locator("#channel-list")).to_contain_text("No channels yet")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_waha_qr_code_counts_down_refreshes_and_connects_then_imports_history(
    app,
    client,
    tenant: TenantFixture,
    waha,  # noqa: F811
):
    for i in range(3):
        waha.add_chat(f"1555000{i:04d}@c.us", 6, name=f"Customer {i}", start_ts=1_700_000_000 + i * 1000)
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        await page.clock.install()  # real time flows; the test jumps ahead to expire the QR code
        await login(page, base, tenant, "/settings/channels")
        await page.click("#add-channel")
        form = page.locator("#channel-form")
        await form.locator("[name=channel_type]").select_option("waha")
        await form.locator("[name=name]").fill("Shop WhatsApp")
        await form.locator('[name="config.baseURL"]').fill(waha.url)
        await form.locator('[name="config.sessionID"]').fill("default")
        # basic auth is the first choice; its fields give way to the API key's
        await expect(form.locator('[name="config.auth.password"]')).to_be_visible()
        await form.locator('[name="config.auth.type"]').select_option("api_key")
        await expect(form.locator('[name="config.auth.password"]')).to_be_hidden()
        await form.locator('[name="config.auth.apiKey"]').fill("waha-test-key")
        await form.locator("button[type=submit]").click()

        card = page.locator("#channel-list li.channel-card", has_text="Shop WhatsApp")
        await card.locator("button.waha-connect").click()
        qr = card.locator(".panel.qr")
        image = qr.locator("img.qr-image")
        await expect(qr).to_have_attribute("data-state", "scan")
        first = await image.get_attribute("src")
        assert first and first.startswith("data:image/png;base64,")
        countdown = qr.locator(".qr-countdown")
        await expect(countdown).to_have_text(_seconds_between(50, 60))
        await page.screenshot(path=screenshot_path("settings-waha-qr"), full_page=True)

        # the code expires: the page asks for a new one, and counts down again
        waha.rotate_qr()
        await page.clock.fast_forward(61_000)
        await expect(image).not_to_have_attribute("src", first)
        await expect(countdown).to_have_text(_seconds_between(50, 60))

        # the phone scans it: WAHA reports WORKING, the page says so and the channel is active
        waha.mark_working()
        (response,) = await waha.emit("session.status", waha.session_status_payload(), client=client)
        assert response.status_code == 200, response.text
        await expect(qr).to_have_attribute("data-state", "connected", timeout=20_000)
        await expect(qr.locator(".qr-status")).to_have_text("WhatsApp is connected.")
        await expect(card.locator(".status")).to_have_text("Active")

        # its history comes in with a progress bar, to the end
        await card.locator(".import-start").click()
        await expect(card).to_have_attribute("data-import-state", "completed", timeout=40_000)
        await expect(card.locator("progress.import-bar")).to_be_hidden()
        await expect(card.locator(".import-status")).to_contain_text("Import completed: 3/3 conversations")
        await expect(card.locator(".import-status")).to_contain_text("18 new")
        await page.screenshot(path=screenshot_path("settings-waha-imported"), full_page=True)
    assert await count_messages(app, await card_id(app)) == 18


async def card_id(app) -> str:
    from sqlalchemy import select

    from souk.channels.models import Channel

    async with app.state.db.system_read_session() as s:
        return str(await s.scalar(select(Channel.id).where(Channel.name == "Shop WhatsApp")))


def _seconds_between(low: int, high: int):
    import re

    return re.compile(rf"^Expires in ({'|'.join(str(n) for n in range(low, high + 1))}) s$")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_create_a_pipeline_and_a_team_and_route_a_channel_to_it(app, client, tenant: TenantFixture, fakes):  # noqa: F811
    r = await client.post(
        "/api/v1/users",
        headers=tenant.headers,
        json={"email": "amina@acme.test", "password": "a long enough password", "role": "agent", "name": "Amina"},
    )
    assert r.status_code == 201, r.text
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        await login(page, base, tenant, "/settings/teams")
        page.on("dialog", accept)
        await page.click("#add-team")
        form = page.locator("#team-form")
        await form.locator("[name=name]").fill("Sales")
        await form.locator("[name=assignment]").select_option("round_robin")
        await form.locator(".members label", has_text="Amina").locator("input").check()
        await form.locator("button[type=submit]").click()
        team = page.locator("#team-list li", has_text="Sales")
        await expect(team).to_contain_text("Round robin")
        await expect(team).to_contain_text("Amina")
        await team.locator("button.edit").click()
        await expect(form.locator(".members label", has_text="Amina").locator("input")).to_be_checked()
        await form.locator("[name=assignment]").select_option("least_open")
        await form.locator("[name=max_open_per_agent]").fill("5")
        await form.locator("button[type=submit]").click()
        await expect(team).to_contain_text("Fewest open conversations")
        await expect(team).to_contain_text("at most 5 open conversations each")
        await page.screenshot(path=screenshot_path("settings-teams"), full_page=True)

        await page.click("nav.subnav a:text('Pipelines')")
        await page.wait_for_url("**/settings/pipelines")
        await page.click("#add-pipeline")
        form = page.locator("#pipeline-form")
        await form.locator("[name=name]").fill("Wholesale")
        stages = form.locator(".stage-list input")
        await expect(stages).to_have_count(4)  # the default stages, to rename or remove
        await stages.nth(1).fill("Quoted")
        await form.locator("button.add-stage").click()
        await stages.nth(4).fill("Delivered")
        await form.locator("[name=team_id]").select_option(label="Sales")
        await form.locator("button[type=submit]").click()
        pipeline = page.locator("#pipeline-list li", has_text="Wholesale")
        await expect(pipeline.locator(".stages-inline li")).to_have_text(["New", "Quoted", "Won", "Lost", "Delivered"])
        await expect(pipeline).to_contain_text("Team: Sales")

        # a stage name taken twice is refused next to that stage
        await pipeline.locator("button.edit").click()
        await stages.nth(4).fill("Won")
        await form.locator("button[type=submit]").click()
        await expect(form.locator('[data-error-for="stages.4.name"]')).to_have_text("duplicate")
        await form.locator(".stage-list li").nth(4).locator("button.remove-stage").click()
        await form.locator("button[type=submit]").click()
        await expect(pipeline.locator(".stages-inline li")).to_have_text(["New", "Quoted", "Won", "Lost"])
        await page.screenshot(path=screenshot_path("settings-pipelines"), full_page=True)

        # a channel's conversations go to the pipeline chosen on its card
        r = await client.post(
            "/api/v1/channels",
            headers=tenant.headers,
            json={"name": "Shop WhatsApp", "channel_type": "whatsapp", "config": configs(fakes)["whatsapp"]},
        )
        channel_id = r.json()["id"]
        await page.click("nav.subnav a:text('Channels')")
        card = page.locator("#channel-list li.channel-card", has_text="Shop WhatsApp")
        await card.locator("select.pipeline-select").select_option(label="Wholesale")
        await expect(card.locator(".card-message")).to_have_text("Conversations go to this pipeline.")

        # Meta verifies the URL with a token: both are there to copy, with what to do with them
        await card.locator("button.show-webhook").click()
        await expect(card.locator("input.verify-token")).to_have_value("verify-me")
        await card.locator(".configure-webhook button[type=submit]").click()
        await expect(card.locator("input.webhook-url")).to_have_value(
            f"http://127.0.0.1:8000/webhooks/whatsapp/{channel_id}"
        )
        await expect(card.locator(".instructions")).to_contain_text("verify token in your Meta app dashboard")
        await expect(card.locator(".verify-token button")).to_have_text("Copy")
        r = await client.get(f"/api/v1/channels/{channel_id}", headers=tenant.headers)
        pipelines = (await client.get("/api/v1/pipelines", headers=tenant.headers)).json()
        assert r.json()["pipeline_id"] == next(p["id"] for p in pipelines if p["name"] == "Wholesale")

        await page.click("nav.subnav a:text('Pipelines')")
        await page.locator("#pipeline-list li", has_text="Wholesale").locator("button.delete").click()
        await expect(page.locator("#pipeline-list")).to_contain_text("No pipelines yet")
