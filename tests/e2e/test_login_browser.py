"""The login page in real headless Chromium: field errors next to the field, then a session cookie."""

from __future__ import annotations

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from souk.automation.models import AgentPresence
from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_login_and_logout_in_chromium(app, tenant: TenantFixture):
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(base + "/")
        assert page.url.endswith("/login")
        await page.fill("#email", "not-an-email")
        await page.fill("#password", "x")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#email-error:not(:empty)")
        await page.fill("#email", tenant.owner_email)
        await page.fill("#password", "wrong password")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#form-error:not(:empty)")
        assert "wrong email or password" in await page.inner_text("#form-error")
        await page.fill("#password", tenant.password)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/inbox")
        assert tenant.owner_email in await page.inner_text("#me")
        # in Souk and using it: online without choosing (decision 0021); a choice in the top bar is saved and holds
        presence = page.locator(".presence")
        await expect(presence).to_have_attribute("data-availability", "online")
        await expect(page.locator("#presence option").first).to_have_text("Automatic (online)")
        await page.select_option("#presence", "away")
        await expect(presence).to_have_attribute("data-availability", "away")
        async with app.state.db.tenant_session(tenant.id) as s:
            row = await s.scalar(select(AgentPresence).where(AgentPresence.user_id == tenant.owner_id))
        assert row is not None and (row.availability, row.automatic) == ("away", False)
        await page.select_option("#presence", "auto")
        await expect(presence).to_have_attribute("data-availability", "online")
        await page.screenshot(path=screenshot_path("inbox-after-login"))
        await page.click("#logout")
        await page.wait_for_url("**/login")
