"""The login page in real headless Chromium: field errors next to the field, then a session cookie."""

from __future__ import annotations

import pytest

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
        await page.screenshot(path=screenshot_path("inbox-after-login"))
        await page.click("#logout")
        await page.wait_for_url("**/login")
