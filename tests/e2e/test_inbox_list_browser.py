"""The inbox's conversation list, the thread's actions, the customer panel and the keyboard, in Chromium.

Customers write through signed Telegram webhooks; the list filters mine / unassigned / all and searches; an inbound
message to a conversation of mine shows an unread badge live, which clears when I open it; an assignment made by
somebody else shows without a reload; the thread header assigns, labels, snoozes and resolves; the customer panel
shows identities, score and orders; shortcuts move and act; at phone width the list and the thread take turns.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from souk.settings import Settings
from tests.automation.conftest import make_user
from tests.channels.conftest import fakes  # noqa: F401 - fixture
from tests.commerce.conftest import create_product
from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve
from tests.messaging.inbound import payloads as p
from tests.messaging.inbound.conftest import active_channel
from tests.support.webhooks import post, wait_idle

pytestmark = pytest.mark.e2e
LAYLA, OMAR = 881_001, 881_002
TIMEOUT = 20_000
#: ids of the list's form controls that have no accessible name (no label, aria-label or text)
UNNAMED_CONTROLS = """() => [...document.querySelectorAll(
  "#conversations input, #conversations select, #conversations button")]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.textContent.trim())
  .map((el) => el.id || el.name)"""
#: how many visible texts of the inbox were checked, and those whose colour contrast with their background is
#: below WCAG AA (4.5:1, or 3:1 for large text)
LOW_CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  let checked = 0;
  for (const el of document.querySelectorAll("#main *")) {
    const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (!text || !el.checkVisibility() || el.closest("[disabled], .visually-hidden")) continue;
    checked += 1;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(`${text.slice(0, 30)}: ${ratio.toFixed(2)}`);
  }
  return { checked, bad };
}"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": True})


class Customers:
    def __init__(self, client: Any, app: Any, channel: dict[str, Any]) -> None:
        self.client, self.app, self.channel, self.n = client, app, channel, 0

    async def write(self, chat: int, name: str, text: str) -> None:
        self.n += 1
        body = p.tg_text(self.n, self.n, text, int(time.time()), chat_id=chat, first_name=name)
        assert (await post(self.client, self.app, self.channel, body)).status_code == 200


async def conversation_of(client: Any, tenant: TenantFixture, name: str) -> dict[str, Any]:
    r = await client.get("/api/v1/conversations", params={"q": name, "status": "open"}, headers=tenant.headers)
    (conv,) = r.json()["items"]
    return conv


async def log_in(page: Page, base: str, tenant: TenantFixture) -> None:
    await page.goto(base + "/login")
    await page.fill("#email", tenant.owner_email)
    await page.fill("#password", tenant.password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/inbox")
    await page.locator("#live-state", has_text="live").wait_for(timeout=TIMEOUT)


def row(page: Page, name: str):
    return page.locator("#conversation-list li.conversation", has_text=name)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)  # the inbox on both databases
async def test_list_filters_unread_actions_and_customer_panel(app, client, tenant: TenantFixture, fakes):  # noqa: F811
    channel = await active_channel(client, tenant, fakes, "telegram")
    people = Customers(client, app, channel)
    await people.write(LAYLA, "Layla", "Hello, is the wallet in stock?")
    await people.write(OMAR, "Omar", "Do you ship to Alexandria?")
    await wait_idle(app)
    layla, omar = await conversation_of(client, tenant, "Layla"), await conversation_of(client, tenant, "Omar")
    amal = await make_user(client, tenant, "Amal")
    r = await client.put(
        f"/api/v1/conversations/{omar['id']}/assignee", json={"assignee_id": amal}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    wallet = await create_product(
        client, tenant.headers, name="Leather wallet", price="199.99", currency="EGP", stock=3, sku="WAL-1"
    )
    r = await client.post(
        "/api/v1/orders",
        headers=tenant.headers,
        json={"customer_id": layla["customer_id"], "items": [{"product_id": wallet["id"], "quantity": 2}]},
    )
    assert r.status_code == 201, r.text

    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await log_in(page, base, tenant)
        await expect(page.locator("#conversation-list li.conversation")).to_have_count(2, timeout=TIMEOUT)
        await expect(row(page, "Omar")).to_contain_text("Amal")

        # filters: unassigned, mine, all; the search finds a message's words
        await page.click("label[for=view-unassigned]")
        await expect(page.locator("#conversation-list li.conversation")).to_have_count(1)
        await expect(row(page, "Layla")).to_be_visible()
        await page.click("label[for=view-mine]")
        await expect(page.locator("#conversation-list")).to_contain_text("No conversations here.")
        assert "view=mine" in page.url
        await page.click("label[for=view-all]")
        await page.fill("#list-q", "Alexandria")
        await expect(page.locator("#conversation-list li.conversation")).to_have_count(1)
        await expect(row(page, "Omar")).to_be_visible()
        await page.fill("#list-q", "")
        await expect(page.locator("#conversation-list li.conversation")).to_have_count(2)

        # open Layla: the actions and the customer panel follow; assign her to me
        await row(page, "Layla").click()
        await page.locator("#assign-me").wait_for()
        panel = page.locator("#customer-panel")
        await expect(panel.locator("#customer-name")).to_have_text("Layla", timeout=TIMEOUT)
        await expect(panel.locator(".identities")).to_contain_text("telegram inbox")
        await expect(panel.locator(".identities")).to_contain_text(str(LAYLA))
        await expect(panel.locator("#lead-score")).to_be_visible()
        await expect(panel.locator(".reasons li").first).to_contain_text("+")  # each rule that fires, with its points
        await expect(panel.locator(".orders")).to_contain_text("pending")
        await expect(panel.locator("#panel-orders + p")).to_contain_text("1 order")
        await page.click("#assign-me")
        await expect(page.locator("#actions-note")).to_have_text("Assigned to you.")
        await expect(row(page, "Layla")).to_contain_text("you")

        # labels: a bad one is refused next to the field; add one, then remove it
        await page.fill("#label-input", "!!")
        await page.click(".add-label button[type=submit]")
        await expect(page.locator('[data-error-for="labels.0"]')).not_to_be_empty()
        await page.fill("#label-input", "VIP")
        await page.click(".add-label button[type=submit]")
        await expect(page.locator("#conversation-labels .chip")).to_have_text(["vip×"])
        await page.click("button[aria-label='Remove label vip']")
        await expect(page.locator("#conversation-labels .chip")).to_have_count(0)

        # open Omar; Layla (mine) writes again: her unread badge shows live, and clears when she is opened
        await row(page, "Omar").click()
        await expect(page.locator("#customer-name")).to_have_text("Omar", timeout=TIMEOUT)
        await people.write(LAYLA, "Layla", "Can you send a photo of it?")
        await expect(row(page, "Layla").locator(".unread")).to_have_text("1 unread", timeout=TIMEOUT)
        await expect(page.locator("#unread-total")).to_have_text("1 unread")
        await page.screenshot(path=screenshot_path("inbox-list-unread"))
        await row(page, "Layla").click()
        await expect(row(page, "Layla").locator(".unread")).to_have_count(0, timeout=TIMEOUT)
        await expect(page.locator("#unread-total")).to_be_hidden()

        # somebody else (through the API) assigns Omar to me: the list shows it without a reload
        r = await client.put(
            f"/api/v1/conversations/{omar['id']}/assignee",
            json={"assignee_id": str(tenant.owner_id)},
            headers=tenant.headers,
        )
        assert r.status_code == 200, r.text
        await expect(row(page, "Omar")).to_contain_text("you", timeout=TIMEOUT)

        # snooze Layla for an hour: she leaves the open list
        await page.select_option("#snooze-preset", label="In 1 hour")
        await page.click("#snooze")
        await expect(page.locator("#actions-note")).to_contain_text("Snoozed until")
        await expect(page.locator("#conversation-status")).to_have_value("snoozed")
        await expect(row(page, "Layla")).to_have_count(0, timeout=TIMEOUT)
        await page.screenshot(path=screenshot_path("inbox-list-actions"))

        # the keyboard: j moves to Omar, Enter opens him, e resolves him; ? lists the shortcuts
        await page.locator("#message-list").click()
        await page.keyboard.press("j")
        await expect(row(page, "Omar").locator("a")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator("#thread-title")).to_have_text("Omar", timeout=TIMEOUT)
        await expect(page.locator("#reply-text")).to_be_focused()
        await page.keyboard.press("Escape")  # out of the reply box, where e is just a letter
        await page.keyboard.press("e")
        await expect(page.locator("#actions-note")).to_have_text("Resolved.")
        await expect(page.locator("#conversation-list")).to_contain_text("No conversations here.", timeout=TIMEOUT)
        await page.keyboard.press("?")
        await expect(page.locator("#shortcuts-dialog")).to_be_visible()
        await expect(page.locator("#shortcuts-list")).to_contain_text("Resolve the open conversation")
        await page.keyboard.press("Escape")
        await expect(page.locator("#shortcuts-dialog")).to_be_hidden()
        await page.focus("#reply-text")
        await page.keyboard.press("?")  # typing in a field is not a shortcut
        await expect(page.locator("#reply-text")).to_have_value("?")
        await expect(page.locator("#shortcuts-dialog")).to_be_hidden()
        await page.select_option("#filter-status", "resolved")
        await expect(page.locator("#conversation-list li.conversation")).to_have_count(1, timeout=TIMEOUT)
        await expect(row(page, "Omar")).to_contain_text("resolved")
        assert errors == []

    # what the browser did is what the API holds
    now = (await client.get(f"/api/v1/conversations/{layla['id']}", headers=tenant.headers)).json()
    assert (now["status"], now["assignee_id"]) == ("snoozed", str(tenant.owner_id))
    hour = datetime.fromisoformat(now["snoozed_until"]) - datetime.now(UTC)
    assert timedelta(minutes=50) < hour <= timedelta(hours=1)  # the preset, at the minute
    assert (await client.get(f"/api/v1/conversations/{omar['id']}", headers=tenant.headers)).json()[
        "status"
    ] == "resolved"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_phone_width_shows_the_list_or_the_thread_with_a_way_back(app, client, tenant: TenantFixture, fakes):  # noqa: F811
    channel = await active_channel(client, tenant, fakes, "telegram")
    await Customers(client, app, channel).write(LAYLA, "Layla", "مرحبا، هل المحفظة متوفرة؟")
    await wait_idle(app)
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await log_in(page, base, tenant)
        await expect(row(page, "Layla")).to_be_visible(timeout=TIMEOUT)
        await expect(page.locator("#thread")).to_be_hidden()
        contrast = await page.evaluate(LOW_CONTRAST)
        assert contrast["checked"] > 10 and contrast["bad"] == [], contrast
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways ({width}px)"
        await page.screenshot(path=screenshot_path("inbox-phone-list"))

        await row(page, "Layla").click()
        await expect(page.locator("#thread")).to_be_visible()
        await expect(page.locator("#conversations")).to_be_hidden()
        await expect(page.locator("#customer-name")).to_have_text("Layla", timeout=TIMEOUT)
        await expect(page.locator("#back-to-list")).to_be_visible()
        await expect(page.locator("#panel-orders")).to_be_visible()
        contrast = await page.evaluate(LOW_CONTRAST)
        assert contrast["checked"] > 10 and contrast["bad"] == [], contrast
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways ({width}px)"
        await page.screenshot(path=screenshot_path("inbox-phone-thread"), full_page=True)

        await page.click("#back-to-list")
        await expect(page.locator("#conversations")).to_be_visible()
        await expect(page.locator("#thread")).to_be_hidden()
        await expect(row(page, "Layla").locator("a")).to_be_focused()
        # every control in the list has an accessible name
        unnamed = await page.evaluate(UNNAMED_CONTROLS)
        assert unnamed == []
        assert errors == []
