"""The thread and the reply box in Chromium, against a real server and fake platforms fed by signed webhooks.

A WhatsApp thread shows an image, a location, a contact, an order, a link, a reaction, an edit with its earlier text
and a deletion mark; a canned response comes in with "/" and a private note is added but never sent. A closed
24-hour window offers the template form and the template reaches the platform. On Telegram, an attachment goes
out with its caption, a failed send shows the platform's reason and Retry delivers it, and an expired session goes
to the login page and, after logging in, the draft is back in the same conversation.
"""

from __future__ import annotations

import contextlib
import struct
import time
import zlib
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError

from souk.settings import Settings
from tests.channels.conftest import configs, fakes  # noqa: F401 - fixture
from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve
from tests.messaging.inbound import payloads as p
from tests.messaging.inbound.conftest import active_channel
from tests.messaging.outbound.conftest import TEMPLATES  # one of them still pending: the form lists the approved
from tests.support.webhooks import post, wait_idle

pytestmark = pytest.mark.e2e


def png(width: int = 120, height: int = 80) -> bytes:
    """A small gradient picture, as a customer's photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"".join(bytes((40 + x, 110 + y, 160)) for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": True})


def wa_message(mid: str, ts: int, kind: str, body: dict[str, Any], *, frm: str = p.WA_CUSTOMER) -> dict[str, Any]:
    msg = {"from": frm, "id": mid, "timestamp": str(ts), "type": kind, kind: body}
    return p.wa_envelope({"contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": frm}], "messages": [msg]})


async def deliver(client: Any, app: Any, channel: dict[str, Any], *bodies: dict[str, Any]) -> None:
    for body in bodies:
        assert (await post(client, app, channel, body)).status_code == 200
    await wait_idle(app)


async def log_in(page: Any, base: str, tenant: TenantFixture, path: str = "/login") -> None:
    await page.goto(base + path)
    await page.fill("#email", tenant.owner_email)
    await page.fill("#password", tenant.password)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/inbox*")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_whatsapp_thread_renders_every_kind_with_canned_responses_and_notes(
    app,
    client,
    tenant: TenantFixture,
    fakes,  # noqa: F811
):
    channel = await active_channel(client, tenant, fakes, "whatsapp")
    now = int(time.time())
    image_id = fakes["graph"].add_media(png(), "image/png")
    doc_id = fakes["graph"].add_media(b"%PDF-1.4 invoice", "application/pdf")
    voice_id = fakes["graph"].add_media(b"OggS voice", "audio/ogg")
    video_id = fakes["graph"].add_media(b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    order = {
        "catalog_id": "cat-1",
        "text": "Please deliver tomorrow",
        "product_items": [
            {"product_retailer_id": "wallet-blue", "quantity": 2, "item_price": 199.99, "currency": "EGP"},
            {"product_retailer_id": "belt-brown", "quantity": 1, "item_price": 150, "currency": "EGP"},
        ],
    }
    await deliver(
        client,
        app,
        channel,
        p.wa_text("wamid.t1", "Hi! Is this one in stock? https://shop.example/wallet", now - 60),
        wa_message("wamid.img", now - 50, "image", {"id": image_id, "mime_type": "image/png", "caption": "this one"}),
        wa_message(
            "wamid.loc", now - 40, "location", {"latitude": 30.0444, "longitude": 31.2357, "name": "Tahrir Square"}
        ),
        wa_message(
            "wamid.vcard",
            now - 35,
            "contacts",
            [{"name": {"formatted_name": "Omar Said"}, "phones": [{"phone": "+20 100 555 0101", "type": "CELL"}]}],
        ),
        wa_message("wamid.order", now - 30, "order", order),
        p.wa_text("wamid.edit", "I want 3 wallets", now - 25),
        p.wa_text("wamid.gone", "my card number is 1234", now - 20),
        p.wa_reaction("wamid.r1", "wamid.t1", "❤️", now - 15),
        p.wa_edit("wamid.e1", "wamid.edit", "I want 2 wallets", now - 10),
        p.wa_revoke("wamid.v1", "wamid.gone", now - 5),
        wa_message(
            "wamid.doc", now - 4, "document", {"id": doc_id, "mime_type": "application/pdf", "filename": "invoice.pdf"}
        ),
        wa_message("wamid.voice", now - 3, "audio", {"id": voice_id, "mime_type": "audio/ogg", "voice": True}),
        wa_message("wamid.video", now - 2, "video", {"id": video_id, "mime_type": "video/mp4"}),
    )
    canned = {"shortcut": "thanks", "content": "Thank you {{customer.display_name}}, your order is on its way."}
    assert (await client.post("/api/v1/canned-responses", headers=tenant.headers, json=canned)).status_code == 201
    other = {"shortcut": "hours", "content": "We open 9 to 5."}
    assert (await client.post("/api/v1/canned-responses", headers=tenant.headers, json=other)).status_code == 201
    (conv,) = (await client.get("/api/v1/conversations", headers=tenant.headers)).json()["items"]
    buttons = {"text": "Which colour?", "buttons": [{"id": "blue", "title": "Blue"}, {"id": "brown", "title": "Brown"}]}
    r = await client.post(f"/api/v1/conversations/{conv['id']}/messages", headers=tenant.headers, json=buttons)
    assert r.status_code == 201, r.text

    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)  # a loaded machine (the suite runs in parallel) can be slow to click
        await log_in(page, base, tenant)
        await page.locator("#conversation-list li.conversation", has_text="Kerry").first.click()
        thread = page.locator("#message-list")

        # a link is an anchor that opens apart from the inbox
        link = thread.locator(".msg a[href='https://shop.example/wallet']")
        await link.wait_for()
        assert "noopener" in (await link.get_attribute("rel"))
        # the image is shown inline once downloaded (a live update)
        image = thread.locator(".msg .media-image img")
        await image.wait_for(timeout=20_000)
        await page.wait_for_function("document.querySelector('.media-image img')?.naturalWidth > 0")
        await thread.locator(".msg .caption, .msg .text", has_text="this one").first.wait_for()
        # a location with its coordinates and a map link, a contact, an order with its total
        location = thread.locator(".msg .location")
        assert "Tahrir Square" in await location.inner_text() and "30.04440, 31.23570" in await location.inner_text()
        assert "openstreetmap.org" in await location.locator("a").get_attribute("href")
        contact = thread.locator(".msg .contact")
        assert "Omar Said" in await contact.inner_text()
        assert await contact.locator("a").get_attribute("href") == "tel:+20 100 555 0101"
        assert (await thread.locator(".order .order-total").inner_text()) == "549.98 EGP"
        # a reaction, an edit with its earlier text on demand, a deletion mark
        assert "❤️" in await thread.locator(".msg", has_text="in stock").locator(".reactions").inner_text()
        edited = thread.locator(".msg", has_text="I want 2 wallets")
        assert await edited.locator(".edit-history").is_hidden()
        await edited.locator("button.edited-toggle").click()
        await edited.locator(".edit-history", has_text="I want 3 wallets").wait_for()
        await thread.locator(".msg.deleted .deleted-mark", has_text="Deleted").wait_for()
        assert await thread.locator(".day").count() >= 1
        assert await thread.locator(".msg .platform-whatsapp").count() == 11
        # a reply with buttons shows what it offered, and its tick
        offered = thread.locator(".msg.outbound", has_text="Which colour?")
        assert await offered.locator(".offered li").all_inner_texts() == ["Blue", "Brown"]
        await offered.locator(".tick.sent").wait_for(timeout=20_000)
        # a document to download with its name and size, a voice note and a video with players
        document = thread.locator(".msg a.media-document")
        await document.wait_for(timeout=20_000)
        assert await document.get_attribute("download") == "invoice.pdf"
        assert "invoice.pdf" in await document.inner_text() and "16 B" in await document.inner_text()
        await thread.locator(".msg audio.media-audio[controls]").wait_for(timeout=20_000)
        await thread.locator(".msg video.media-video[controls]").wait_for(timeout=20_000)
        # the window is open: a plain reply box
        await page.locator("#window-state", has_text="is open until").wait_for()
        assert await page.locator("#template-form").is_hidden()

        # "/" lists the canned responses; typing filters, arrows move, Enter inserts the rendered text
        text = page.locator("#reply-text")
        await text.click()
        await text.type("Dear customer /")
        options = page.locator("#canned-list [role=option]")
        await options.first.wait_for()
        assert await options.count() == 2
        await text.type("th")
        await page.wait_for_function("document.querySelectorAll('#canned-list [role=option]').length === 1")
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("Enter")
        await page.wait_for_function(
            "document.getElementById('reply-text').value === "
            "'Dear customer Thank you Kerry Fisher, your order is on its way.'"
        )
        assert await page.locator("#canned-list").is_hidden()
        # the emoji picker puts one at the caret
        await page.click("#emoji-toggle")
        await page.locator("#emoji-picker button", has_text="👍").click()
        assert (await text.input_value()).endswith("on its way.👍")
        assert await page.locator("#emoji-picker").is_hidden()

        # a private note: marked in the thread, never sent to the customer
        sent_before = len(fakes["graph"].sent_to(p.WA_CUSTOMER))
        await page.click("#mode-note")
        await text.fill("Customer prefers a call after 6pm")
        await page.keyboard.press("Control+Enter")
        note = thread.locator(".note", has_text="prefers a call")
        await note.wait_for()
        assert "Private note" in await note.inner_text()
        assert len(fakes["graph"].sent_to(p.WA_CUSTOMER)) == sent_before
        notes = await client.get(f"/api/v1/conversations/{await conversation_id(page)}/notes", headers=tenant.headers)
        assert [n["body"] for n in notes.json()] == ["Customer prefers a call after 6pm"]
        await page.screenshot(path=screenshot_path("inbox-thread-kinds"), full_page=True)


async def conversation_id(page: Any) -> str:
    return await page.evaluate("new URLSearchParams(location.hash.slice(1)).get('c')")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_closed_whatsapp_window_sends_a_template_and_a_failed_send_retries(
    app,
    client,
    tenant: TenantFixture,
    fakes,  # noqa: F811
):
    graph = fakes["graph"]
    channel = await active_channel(client, tenant, fakes, "whatsapp")
    # the business account's templates, listed once (Souk keeps the list a few minutes)
    waba = configs(fakes)["whatsapp"]["businessAccountID"]
    graph.respond("GET", f"/v21.0/{waba}/message_templates", 200, json={"data": TEMPLATES}, times=1)
    now = int(time.time())
    late, recent = "201005550199", "201005550277"
    await deliver(
        client,
        app,
        channel,
        p.wa_text("wamid.late1", "Do you ship to Alexandria?", now - 2 * 86_400, frm=late, name="Mona Late"),
        p.wa_text("wamid.new1", "Is the belt still available?", now - 30, frm=recent, name="Samir Recent"),
    )
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)  # a loaded machine (the suite runs in parallel) can be slow to click
        await log_in(page, base, tenant)

        # the window closed two days ago: the box says so and offers the template form instead of free text
        await page.locator("#conversation-list li.conversation", has_text="Mona").first.click()
        await page.locator("#window-state.closed", has_text="only an approved template").wait_for()
        assert await page.locator("#compose").is_hidden()
        await page.click("#reply-send")  # no template chosen: the error is next to the field
        await page.locator("[data-error-for='template.name']", has_text="Choose the template").wait_for()
        await page.wait_for_function("document.querySelectorAll('#template-names option').length === 2")
        names = page.locator("#template-names option")
        assert await names.evaluate_all("options => options.map(o => o.value)") == ["order_update", "welcome_back"]
        await page.fill("#template-name", "order_update")
        await page.locator("#template-body", has_text="Your order {{1}} is on its way").wait_for()
        assert "1 parameter" in await page.locator("#template-body").inner_text()
        assert await page.locator("#template-language").input_value() == "en_US"
        await page.fill("#template-params", "#1042")
        await page.screenshot(path=screenshot_path("inbox-template-form"))
        await page.click("#reply-send")
        await (
            page.locator(".msg.outbound", has_text="template order_update")
            .locator(".tick.sent")
            .wait_for(timeout=20_000)
        )
        (sent,) = graph.sent_to(late)
        assert sent.body["type"] == "template" and sent.body["template"]["name"] == "order_update"
        assert sent.body["template"]["components"][0]["parameters"] == [{"type": "text", "text": "#1042"}]

        # a send the platform refuses: the reason and Retry on the message; Retry delivers it
        path = f"/v21.0/{graph.PHONE_NUMBER_ID}/messages"
        graph.fail_next("POST", path, code=131026, message="Message undeliverable", details="Receiver is offline")
        await page.locator("#conversation-list li.conversation", has_text="Samir").first.click()
        await page.locator("#window-state:not(.closed)", has_text="is open").wait_for()
        # a file the platform does not take: the reason next to the attachment, nothing sent
        gif = {"name": "smile.gif", "mimeType": "image/gif", "buffer": b"GIF89a\x01\x00\x01\x00"}
        await page.set_input_files("#reply-file", files=[gif])
        await page.locator("#attachment-name", has_text="smile.gif").wait_for()
        await page.click("#reply-send")
        await page.locator("[data-error-for=file]", has_text="unsupported media type").wait_for()
        assert "image/jpeg, image/png" in await page.locator("#reply-error").inner_text()
        await page.click("#attachment-remove")
        assert await page.locator("#attachment").is_hidden()
        await page.fill("#reply-text", "Yes, in brown and black.")
        await page.keyboard.press("Control+Enter")
        failed = page.locator(".msg.outbound.failed", has_text="in brown and black")
        await failed.locator(".failed-reason", has_text="Message undeliverable").wait_for(timeout=20_000)
        assert await failed.locator(".tick.failed").count() == 1
        await page.screenshot(path=screenshot_path("inbox-failed-send"))
        await failed.locator("button.retry").click()
        await (
            page.locator(".msg.outbound", has_text="in brown and black").locator(".tick.sent").wait_for(timeout=20_000)
        )
        assert [m.body["text"]["body"] for m in graph.sent_to(recent)] == ["Yes, in brown and black."]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_attachment_goes_out_and_an_expired_session_keeps_the_draft(
    app,
    client,
    tenant: TenantFixture,
    fakes,  # noqa: F811
):
    telegram = fakes["telegram"]
    chat = 880_777
    channel = await active_channel(client, tenant, fakes, "telegram")
    body = p.tg_text(7001, 7001, "Can you send me the price list?", int(time.time()), chat_id=chat, first_name="Hana")
    await deliver(client, app, channel, body)
    async with serve(app) as base, chromium() as browser:
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        page = await context.new_page()
        page.set_default_timeout(30_000)  # a loaded machine (the suite runs in parallel) can be slow to click
        await log_in(page, base, tenant)
        await page.locator("#conversation-list li.conversation", has_text="Hana").first.click()
        await page.locator(".msg.inbound", has_text="price list").wait_for()
        assert await page.locator("#window-state").is_hidden()  # Telegram has no messaging window

        # a file dropped on the thread is attached; it goes out with its caption
        await page.evaluate(
            """() => {
              const data = new DataTransfer();
              data.items.add(new File(["%PDF-1.4 price list"], "prices.pdf", { type: "application/pdf" }));
              const thread = document.getElementById("thread");
              thread.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
              thread.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
            }"""
        )
        await page.locator("#attachment-name", has_text="prices.pdf").wait_for()
        await page.fill("#attachment-caption", "Our prices for November")
        await page.click("#reply-send")
        await page.locator(".msg.outbound .tick.sent").wait_for(timeout=20_000)
        assert "prices.pdf" in await page.locator(".msg.outbound .sent-file").inner_text()
        (doc,) = telegram.messages_in(chat)
        assert doc["document"]["file_name"] == "prices.pdf" and doc["caption"] == "Our prices for November"
        assert await page.locator("#attachment").is_hidden()

        # the request does not get through: the reason and Retry under the box; Retry sends it once
        async def drop_sends(route: Any) -> None:
            await (route.abort() if route.request.method == "POST" else route.continue_())

        await page.route("**/api/v1/conversations/*/messages", drop_sends)
        await page.fill("#reply-text", "Tell me which one you like.")
        await page.click("#reply-send")
        await page.locator("#reply-error", has_text="network failed").wait_for()
        await page.unroute("**/api/v1/conversations/*/messages", drop_sends)
        await page.click("#reply-retry")
        await page.locator(".msg.outbound", has_text="which one you like").locator(".tick.sent").wait_for()
        assert await page.locator("#reply-text").input_value() == ""
        assert [m.get("text") for m in telegram.messages_in(chat)][1:] == ["Tell me which one you like."]

        # the session expires while a reply is written: the login page, then the same conversation and draft
        conversation = await conversation_id(page)
        draft = "Shall I reserve the blue wallet for you?"
        await page.fill("#reply-text", draft)
        await context.clear_cookies()
        # the send meets the expired session, unless a live refresh of the page met it first: either way the login
        with contextlib.suppress(PlaywrightError):  # the page was already on its way to the login
            await page.click("#reply-send", timeout=5_000)
        await page.wait_for_url("**/login?next=*")
        await page.fill("#email", tenant.owner_email)
        await page.fill("#password", tenant.password)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_url("**/inbox*")
        await page.wait_for_function(f"document.getElementById('reply-text').value === {draft!r}")
        assert await conversation_id(page) == conversation
        await page.locator(".msg.inbound", has_text="price list").wait_for()
        assert len(telegram.messages_in(chat)) == 2  # the draft was not sent
        await page.screenshot(path=screenshot_path("inbox-draft-after-login"))
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone
        await page.locator("#thread").scroll_into_view_if_needed()
        await page.screenshot(path=screenshot_path("inbox-thread-phone"))
