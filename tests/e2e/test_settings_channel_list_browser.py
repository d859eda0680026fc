"""Settings → Channels lists the tenant's channels in Chromium and marks the ones that need partner credentials
(Chotot)."""

from __future__ import annotations

import pytest

from tests.channels.conftest import configs, fakes  # noqa: F401 - fixture
from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_channels_show_partner_credentials_badge(app, client, tenant: TenantFixture, fakes):  # noqa: F811
    for channel_type in ("chotot", "telegram"):
        r = await client.post(
            "/api/v1/channels",
            headers=tenant.headers,
            json={"name": f"Shop {channel_type}", "channel_type": channel_type, "config": configs(fakes)[channel_type]},
        )
        assert r.status_code == 201
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(base + "/settings/channels")
        await page.fill("#email", tenant.owner_email)
        await page.fill("#password", tenant.password)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/settings/channels")
        chotot = page.locator("#channel-list li", has_text="Shop chotot")
        await chotot.wait_for()
        assert "requires partner credentials" in await chotot.inner_text()
        telegram = page.locator("#channel-list li", has_text="Shop telegram")
        assert "requires partner credentials" not in await telegram.inner_text()
        await page.screenshot(path=screenshot_path("settings-channel-list"))
