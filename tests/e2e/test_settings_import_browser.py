"""Settings → Channels offers "Import history" on channels whose platform gives history, and shows the import's
progress bar (fed by the progress endpoint) in headless Chromium until it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from souk.settings import Settings
from tests.channels.conftest import configs, fakes  # noqa: F401 - fixture
from tests.channels.waha.conftest import count_messages, task_queue  # noqa: F401 - fixture
from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve
from tests.support.fakes.graph import FakeGraphServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(settings: Settings, temporal_address: str, task_queue: str) -> Settings:  # noqa: F811
    """The shared settings, with the worker in this process and a real Temporal for the history import."""
    return settings.model_copy(update={"run_worker_in_process": True, "temporal_address": temporal_address})


@pytest.fixture
def graph() -> Iterator[FakeGraphServer]:
    server = FakeGraphServer()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_import_history_button_shows_progress_until_done(app, client, tenant: TenantFixture, graph, fakes):  # noqa: F811
    config = {"pageID": graph.PAGE_ID, "pageAccessToken": graph.TOKEN, "appSecret": "s", "graphBaseURL": graph.url}
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={"name": "Shop page", "channel_type": "messenger", "config": config},
    )
    assert r.status_code == 201, r.text
    channel_id = r.json()["id"]
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={"name": "Shop bot", "channel_type": "telegram", "config": configs(fakes)["telegram"]},
    )
    assert r.status_code == 201, r.text
    for i in range(4):
        graph.add_conversation(20, business_every=3, start_ts=1_700_000_000 + i * 5000)
    graph.history_latency = 0.4  # each message page takes a while, so the bar is seen moving

    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(base + "/settings/channels")
        await page.fill("#email", tenant.owner_email)
        await page.fill("#password", tenant.password)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/settings/channels")
        messenger = page.locator("#channel-list li", has_text="Shop page")
        telegram = page.locator("#channel-list li", has_text="Shop bot")
        await messenger.wait_for()
        assert await telegram.locator(".import-start").count() == 0  # Telegram gives no history

        await messenger.locator(".import-start").click()
        bar = messenger.locator("progress.import-bar")
        await bar.wait_for(state="visible", timeout=15_000)
        assert await messenger.locator(".import-start").is_disabled()
        status = messenger.locator(".import-status")
        assert (await status.inner_text()).startswith("Importing…")
        await page.wait_for_function(
            "() => Number(document.querySelector('progress.import-bar')?.value) >= 1", timeout=30_000
        )
        assert await bar.get_attribute("max") == "4"
        await page.screenshot(path=screenshot_path("settings-import-running"))

        await page.locator('#channel-list li[data-import-state="completed"]').wait_for(timeout=60_000)
        assert await bar.is_hidden()
        text = await status.inner_text()
        assert text.startswith("Import completed") and "4/4 conversations" in text and "80 new" in text
        assert await messenger.locator(".import-start").is_enabled()
        await page.screenshot(path=screenshot_path("settings-import-done"))

        # on a fresh load, a finished import shows no bar, only the button
        await page.reload()
        await messenger.locator(".import-start").wait_for()
        assert await messenger.locator("progress.import-bar").is_hidden()
    assert await count_messages(app, channel_id) == 80
