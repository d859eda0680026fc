"""The admin settings pages in real headless Chromium: canned responses, automation rules, webhooks, the AI agent,
API keys (shown once, then revoked) and users (an invitation link opened in a fresh browser that lands in the inbox)."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import BrowserContext, Page

from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve

pytestmark = pytest.mark.e2e


async def _signed_in(context: BrowserContext, base: str, tenant: TenantFixture) -> tuple[Page, list[str]]:
    """A page whose session cookie comes from the login API; confirmations are accepted; script errors collected."""
    r = await context.request.post(
        base + "/api/v1/auth/login", data={"email": tenant.owner_email, "password": tenant.password}
    )
    assert r.ok
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    return page, errors


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_canned_response_rule_and_webhook_in_chromium(app, tenant: TenantFixture):
    async with serve(app) as base, chromium() as browser:
        context = await browser.new_context()
        page, errors = await _signed_in(context, base, tenant)

        await page.goto(base + "/settings/canned-responses")
        await page.fill("[name=shortcut]", "/greet")
        await page.fill("[name=content]", "Hello {{customer.nickname}}")
        await page.click("#canned-form button[type=submit]")
        await page.wait_for_selector("[data-error-for=content]:not(:empty)")
        assert "unknown variable" in await page.inner_text("[data-error-for=content]")
        await page.fill("[name=content]", "Hello ")
        await page.click("#canned-form .chip >> text={{customer.first_name}}")
        await page.click("#canned-form button[type=submit]")
        await page.wait_for_selector("#canned-table >> text=/greet")
        assert "Hello {{customer.first_name}}" in await page.inner_text("#canned-table")
        assert await page.inner_text("[data-error-for=content]") == ""  # the earlier error is gone
        await page.click("[aria-label='Edit /greet']")
        await page.fill("[name=content]", "Welcome back {{customer.first_name}}!")
        await page.click("#canned-form button[type=submit]")
        await page.wait_for_selector("#canned-table >> text=Welcome back {{customer.first_name}}!")
        await page.screenshot(path=screenshot_path("settings-canned-responses"), full_page=True)
        await page.fill("[name=shortcut]", "/bye")
        await page.fill("[name=content]", "Bye!")
        await page.click("#canned-form button[type=submit]")
        await page.click("[aria-label='Delete /bye']")  # confirmed
        await page.wait_for_selector("text=Deleted /bye.")
        await page.locator("#canned-table code", has_text="/bye").wait_for(state="detached")
        assert "/greet" in await page.inner_text("#canned-table")

        await page.goto(base + "/settings/automation-rules")
        await page.wait_for_selector("#rule-form [name='actions.0.type']")
        await page.fill("[name=name]", "Price questions")
        await page.click("text=Add condition")
        await page.select_option("[name='conditions.0.field']", "message.text")
        await page.select_option("[name='conditions.0.op']", "contains")
        await page.fill("[name='conditions.0.value']", "price")
        await page.click("#rule-form button[type=submit]")  # the label action has no labels yet
        await page.wait_for_selector("[data-error-for='actions.0.labels']:not(:empty)")
        await page.fill("[name='actions.0.labels']", "pricing, hot")
        await page.click("#rule-form button[type=submit]")
        await page.wait_for_selector("#rule-table >> text=Price questions")
        assert "message.text contains price" in await page.inner_text("#rule-table")
        await page.uncheck("[aria-label='Enable Price questions']")
        await page.wait_for_selector("text=“Price questions” disabled.")
        await page.screenshot(path=screenshot_path("settings-automation-rules"), full_page=True)

        await page.goto(base + "/settings/webhooks")
        await page.fill("[name=url]", "not a url")
        await page.click("#webhook-form button[type=submit]")
        await page.wait_for_selector("[data-error-for=url]:not(:empty)")
        assert await page.inner_text("[data-error-for=events]")  # no event chosen: named next to the events
        await page.fill("[name=url]", "https://erp.example.com/souk-events")
        await page.check("input[name=events][value='order.status_changed']")
        await page.fill("[name=more_events]", "conversation.*")
        await page.click("#webhook-form button[type=submit]")
        secret = await page.inner_text("#webhook-reveal .secret", timeout=5000)
        assert len(secret) > 20
        assert "shown only this once" in await page.inner_text("#webhook-reveal")
        await page.wait_for_selector("#webhook-table >> text=order.status_changed, conversation.*")
        assert secret not in await page.inner_text("#webhook-table")
        await page.click("#webhook-table >> text=Deliveries")
        await page.wait_for_selector("#deliveries >> text=Nothing delivered yet.")
        await page.screenshot(path=screenshot_path("settings-webhooks"), full_page=True)
        assert errors == []
        await context.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_ai_agent_setting_and_an_api_key_shown_once_then_revoked(app, client, tenant: TenantFixture):
    async with serve(app) as base, chromium() as browser:
        context = await browser.new_context()
        page, errors = await _signed_in(context, base, tenant)

        await page.goto(base + "/settings/ai-agent")
        await page.fill("[name=timezone]", "Mars/Olympus")
        await page.click("#agent-form button[type=submit]")
        await page.wait_for_selector("[data-error-for=timezone]:not(:empty)")
        await page.fill("[name=timezone]", "Africa/Cairo")
        await page.fill("[name=reply_budget]", "4")
        await page.fill("[name=instructions]", "We deliver in Cairo and Giza only.")
        await page.select_option("[name=handoff_assignee]", tenant.owner_email)
        await page.click("#agent-form button[type=submit]")
        await page.wait_for_selector("text=Saved the AI agent's settings.")
        await page.screenshot(path=screenshot_path("settings-ai-agent"), full_page=True)
        stored = (await client.get("/api/v1/ai-agent/settings", headers=tenant.headers)).json()
        assert stored["reply_budget"] == 4 and stored["timezone"] == "Africa/Cairo"
        assert stored["instructions"] == "We deliver in Cairo and Giza only."
        assert stored["handoff_assignee"] == tenant.owner_email
        await page.reload()
        assert await page.input_value("[name=reply_budget]") == "4"

        await page.goto(base + "/settings/api-keys")
        await page.fill("[name=name]", "zapier")
        await page.select_option("[name=role]", "agent")
        await page.click("#key-form button[type=submit]")
        key = await page.inner_text("#key-reveal .secret", timeout=5000)
        assert key.startswith("souk_")
        assert "never show it again" in await page.inner_text("#key-reveal")
        await page.wait_for_selector("#key-table >> text=zapier")
        assert key not in await page.inner_text("#key-table")
        assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).json()["role"] == "agent"
        await page.screenshot(path=screenshot_path("settings-api-keys"), full_page=True)
        await page.reload()
        assert key not in await page.content()  # shown once: gone after a reload
        await page.click("[aria-label='Revoke zapier']")
        await page.wait_for_selector("#key-table >> text=revoked")
        assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 401
        assert errors == []
        await context.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_invitation_link_opened_in_a_fresh_browser_lands_in_the_inbox(app, tenant: TenantFixture):
    async with serve(app) as base, chromium() as browser:
        owner = await browser.new_context()
        page, errors = await _signed_in(owner, base, tenant)
        await page.goto(base + "/settings/users")
        await page.wait_for_selector(f"#user-table >> text={tenant.owner_email}")
        await page.fill("#invite-form [name=email]", "withdrawn@acme.test")
        await page.click("#invite-form button[type=submit]")
        await page.wait_for_selector("#invite-table >> text=withdrawn@acme.test")
        withdrawn = await page.inner_text("#invite-reveal .secret")
        await page.click("[aria-label='Revoke the invitation of withdrawn@acme.test']")
        await page.wait_for_selector("text=No pending invitations.")

        await page.fill("#invite-form [name=email]", "not-an-email")
        await page.click("#invite-form button[type=submit]")
        await page.wait_for_selector("#invite-form [data-error-for=email]:not(:empty)")
        await page.fill("#invite-form [name=email]", "amira@acme.test")
        await page.select_option("#invite-form [name=role]", "agent")
        await page.click("#invite-form button[type=submit]")
        await page.wait_for_selector("#invite-table >> text=amira@acme.test")
        link = await page.inner_text("#invite-reveal .secret")
        assert link.startswith(base + "/invite/")
        await page.screenshot(path=screenshot_path("settings-users-invite"), full_page=True)

        invitee = await browser.new_context()  # a fresh browser: no cookie of the owner's
        other = await invitee.new_page()
        other.on("pageerror", lambda exc: errors.append(str(exc)))
        await other.goto(withdrawn)
        assert "withdrawn" in await other.inner_text("#invite-problem")
        await other.goto(link)
        assert "amira@acme.test" in await other.inner_text("#invite-email")
        await other.fill("#name", "Amira")
        await other.fill("#password", "a good password")
        await other.fill("#password2", "a different one")
        await other.click("#invite-form button[type=submit]")
        await other.wait_for_selector("[data-error-for=password2]:not(:empty)")
        await other.fill("#password2", "a good password")
        await other.screenshot(path=screenshot_path("invite-accept"))
        await other.click("#invite-form button[type=submit]")
        await other.wait_for_url("**/inbox")
        assert "amira@acme.test · agent" in await other.inner_text("#me")
        await other.screenshot(path=screenshot_path("invite-landed-in-inbox"))
        await other.goto(link)  # used: the page says so
        assert "already used" in await other.inner_text("#invite-problem")

        await page.reload()
        await page.wait_for_selector("#user-table >> text=amira@acme.test")
        await page.wait_for_selector("text=No pending invitations.")
        await page.select_option("[aria-label='Role of amira@acme.test']", "admin")
        await page.wait_for_selector("text=amira@acme.test is now admin.")
        await page.set_viewport_size({"width": 390, "height": 844})  # phone width: tables become stacked rows
        await page.screenshot(path=screenshot_path("settings-users-phone"), full_page=True)
        assert errors == []
        await owner.close()
        await invitee.close()
