"""The commerce and CRM pages in headless Chromium: products (field errors, a CSV import with its progress bar and
error report), orders (legal and illegal status moves), customers (filters, merge and unmerge), the knowledge base
(add, then find it as the AI agent would) and reports (the attribution chart beside its table)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve
from tests.messaging.api.conftest import Rows

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def rows(app, tenant: TenantFixture) -> Rows:
    return Rows(app.state.db, tenant.id)


async def login(page: Page, base: str, tenant: TenantFixture, path: str) -> None:
    await page.goto(base + path)
    await page.wait_for_url("**/login**")
    await page.fill("#email", tenant.owner_email)
    await page.fill("#password", tenant.password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**" + path + "*")


def accept_dialogs(page: Page) -> list[str]:
    """Accept every confirm() and remember what it asked."""
    asked: list[str] = []

    async def on_dialog(dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", on_dialog)
    return asked


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_products_field_error_then_create_edit_delete_and_import_with_error_report(
    app, tenant: TenantFixture, tmp_path: Path
):
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        await login(page, base, tenant, "/products")
        await page.get_by_text("No products yet.").wait_for()

        await page.click("#new-product")
        form = page.locator("#product-form")
        await page.get_by_label("Name", exact=True).fill("Winter jacket")
        await page.get_by_label("Price").fill("-5")
        await page.get_by_label("Currency").fill("EGP")
        await form.locator("button[type=submit]").click()
        error = form.locator('[data-error-for="price"]')
        await error.wait_for()
        assert "greater than or equal to 0" in await error.inner_text()
        assert await page.get_by_label("Price").get_attribute("aria-invalid") == "true"
        await page.screenshot(path=screenshot_path("products-field-error"))

        await page.get_by_label("Price").fill("1250.00")
        await page.get_by_label("SKU").fill("JKT-01")
        await page.get_by_label("Stock").fill("8")
        await form.locator("button[type=submit]").click()
        row = page.locator("#product-list tr", has_text="Winter jacket")
        await row.wait_for()
        assert "1250.00 EGP" in await row.inner_text()

        await row.get_by_role("button", name="Edit Winter jacket").click()
        await page.get_by_label("Stock").fill("3")
        await form.locator("button[type=submit]").click()
        stock = page.locator("#product-list tr", has_text="Winter jacket").locator('td[data-label="Stock"]')
        await page.wait_for_function(
            "() => document.querySelector('#product-list td[data-label=Stock]')?.textContent === '3'"
        )
        assert await stock.inner_text() == "3"

        csv = tmp_path / "catalog.csv"
        csv.write_text(
            "name,sku,price,currency,stock,category,tags\n"
            "Leather wallet,WAL-01,199.99,EGP,15,accessories,gift|هدية\n"
            "Running shoes,SHO-01,not-a-price,EGP,12,shoes,sport\n"
            "Summer dress,DRS-01,450.50,EGP,0,clothing,summer\n"
            "Winter jacket,JKT-01,1300,EGP,8,clothing,winter\n",
            encoding="utf-8",
        )
        await page.get_by_label("CSV or JSON file").set_input_files(str(csv))
        await page.locator("#import-form button[type=submit]").click()
        bar = page.locator("#import-progress")
        await bar.wait_for(state="visible")
        await page.locator('#import-progress[data-state="completed"]').wait_for(timeout=20_000)
        assert await bar.get_attribute("max") == "4"
        assert await bar.evaluate("el => el.value") == 4
        status = await page.locator(".import-status").inner_text()
        assert "Import completed" in status and "2 created, 1 updated, 1 failed" in status
        report = page.locator("#import-errors tbody tr")
        assert await report.count() == 1
        cells = await report.first.locator("td").all_inner_texts()
        assert cells[0] == "2" and cells[1] == "price" and cells[2]
        await page.locator("#product-list tr", has_text="Leather wallet").wait_for()
        await page.screenshot(path=screenshot_path("products-import-report"), full_page=True)

        asked = accept_dialogs(page)
        await page.get_by_role("button", name="Delete Summer dress").click()
        await page.locator("#product-list tr", has_text="Summer dress").wait_for(state="detached")
        assert asked and "Summer dress" in asked[0]

        await page.get_by_label("Search products").fill("wallet")
        await page.get_by_role("button", name="Search").click()
        await page.wait_for_url("**q=wallet**")
        await page.locator('#product-list[data-q="wallet"]').wait_for()
        assert await page.locator("#product-list tbody tr").count() == 1

        await page.set_viewport_size(PHONE)
        await page.screenshot(path=screenshot_path("products-phone"), full_page=True)


async def post(client, tenant: TenantFixture, path: str, body: dict) -> dict:
    r = await client.post(path, json=body, headers=tenant.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_orders_filter_detail_and_status_changes(app, client, tenant: TenantFixture, rows: Rows):
    customer = await rows.customer(display_name="Mona Hassan")
    jacket = await post(
        client, tenant, "/api/v1/products", {"name": "Winter jacket", "price": "1250", "currency": "EGP", "stock": 5}
    )
    wallet = await post(
        client, tenant, "/api/v1/products", {"name": "Leather wallet", "price": "199.99", "currency": "EGP", "stock": 5}
    )
    items = [{"product_id": jacket["id"], "quantity": 2}, {"product_id": wallet["id"], "quantity": 1}]
    order = await post(client, tenant, "/api/v1/orders", {"items": items, "customer_id": str(customer.id)})
    other = await post(client, tenant, "/api/v1/orders", {"items": items[1:], "customer_id": "legacy-ig-user"})
    await post(client, tenant, f"/api/v1/orders/{other['id']}/status", {"status": "cancelled"})

    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        await login(page, base, tenant, "/orders")
        await page.locator("#orders-table tbody tr").nth(1).wait_for()
        await page.get_by_label("Status").select_option("cancelled")
        await page.wait_for_url("**status=cancelled**")
        await page.locator('#orders-table[data-filter="cancelled"]').wait_for()
        assert await page.locator("#orders-table tbody tr").count() == 1
        assert "legacy-ig-user" in await page.locator("#orders-table").inner_text()

        await page.get_by_label("Status").select_option("")
        await page.locator('#orders-table[data-filter="all"]').wait_for()
        await page.locator(f'#orders-table tr[data-order-id="{order["id"]}"] a').click()
        detail = page.locator("#order-detail")
        await detail.wait_for()
        await detail.get_by_text("Mona Hassan").wait_for()
        assert await page.locator("#order-total").inner_text() == "2699.99 EGP"
        assert await page.locator("#order-items tbody tr").count() == 2
        assert "2500.00 EGP" in await page.locator("#order-items").inner_text()
        buttons = await page.locator("#next-statuses button").all_inner_texts()
        assert buttons == ["Confirm", "Cancel order"]

        await page.get_by_role("button", name="Confirm").click()
        await page.locator('#order-detail[data-status="confirmed"]').wait_for()
        assert "now confirmed" in await page.locator(".notice").inner_text()
        assert await page.locator("#next-statuses button").all_inner_texts() == ["Mark paid", "Cancel order"]

        # an illegal move shows the API's own refusal
        await page.get_by_text("Set another status").click()
        await page.get_by_label("New status").select_option("delivered")
        await page.click("#set-status")
        error = page.locator("#status-form .form-error")
        await error.wait_for()
        await page.wait_for_function("() => document.querySelector('#status-form .form-error').textContent.length")
        assert "delivered" in await error.inner_text()
        assert await page.locator('#order-detail[data-status="confirmed"]').count() == 1
        await page.screenshot(path=screenshot_path("orders-illegal-move"), full_page=True)

        await page.set_viewport_size(PHONE)
        await page.go_back()
        await page.locator("#orders-table").wait_for()
        await page.screenshot(path=screenshot_path("orders-phone"), full_page=True)
    r = await client.get(f"/api/v1/orders/{order['id']}", headers=tenant.headers)
    assert r.json()["status"] == "confirmed"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_customers_filter_detail_merge_and_unmerge(app, tenant: TenantFixture, rows: Rows):
    from souk.crm.models import MergeProposal

    wa, tg = await rows.channel("whatsapp", "Shop WhatsApp"), await rows.channel("telegram", "Shop bot")
    ahmed_tg = await rows.customer(display_name="Ahmed Ali", customer_label="hot", lead_stage="NURTURE")
    ahmed_wa = await rows.customer(
        display_name="Ahmed (WhatsApp)", platform="whatsapp", customer_label="hot", phone_number="+201001234567"
    )
    sara = await rows.customer(display_name="Sara Nabil", platform="whatsapp", customer_label="cold")
    mona, mona2 = await rows.customer(display_name="Mona"), await rows.customer(display_name="Mona H.")
    await rows.identity(tg, ahmed_tg, "tg-1001", username="ahmed_ali")
    await rows.identity(wa, ahmed_wa, "201001234567", phone="+201001234567")
    await rows.identity(wa, sara, "201005550000")
    await rows._add(MergeProposal(customer_id=mona.id, other_id=mona2.id, phone="+201009999999"))

    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        asked = accept_dialogs(page)
        await login(page, base, tenant, "/customers")
        await page.locator("#customers-table").wait_for()
        await page.locator("#merge-proposals li", has_text="share +201009999999").wait_for()

        await page.get_by_label("Label").select_option("hot")
        await page.get_by_role("button", name="Filter").click()
        await page.wait_for_url("**label=hot**")
        await page.locator('#customer-list[data-total="2"]').wait_for()
        assert "Sara Nabil" not in await page.locator("#customers-table").inner_text()
        await page.get_by_label("Channel").select_option("whatsapp")
        await page.get_by_role("button", name="Filter").click()
        await page.locator('#customer-list[data-total="1"]').wait_for()
        assert "Ahmed (WhatsApp)" in await page.locator("#customers-table").inner_text()
        await page.get_by_label("Channel").select_option("")
        await page.get_by_label("Search").fill("ahmed")
        await page.get_by_role("button", name="Filter").click()
        await page.locator('#customer-list[data-total="2"]').wait_for()
        await page.screenshot(path=screenshot_path("customers-filtered"), full_page=True)

        await page.get_by_label("Select Ahmed Ali").check()
        await page.get_by_label("Select Ahmed (WhatsApp)").check()
        await page.get_by_label("Keep Ahmed Ali").check()
        await page.locator("#merge-form button[type=submit]").click()
        await page.locator('#customer-list[data-total="1"]').wait_for()
        assert "Merged “Ahmed (WhatsApp)” into “Ahmed Ali”" in await page.locator(".notice").inner_text()
        assert asked and "Merge “Ahmed (WhatsApp)” into “Ahmed Ali”" in asked[-1]

        await page.get_by_role("link", name="Ahmed Ali").click()
        identities = page.locator("#customer-identities")
        await identities.wait_for()
        text = await identities.inner_text()
        assert "Shop bot" in text and "Shop WhatsApp" in text and "@ahmed_ali" in text
        await page.locator("#customer-score .reasons, #customer-score p").first.wait_for()
        await page.locator("#customer-activities li").first.wait_for()
        await page.screenshot(path=screenshot_path("customer-detail"), full_page=True)

        await page.locator("#customer-merges").get_by_role("button", name="Undo merge").click()
        await page.get_by_text("Merge undone").wait_for()
        await page.go_back()
        await page.locator('#customer-list[data-total="2"]').wait_for()

        await page.set_viewport_size(PHONE)
        await page.screenshot(path=screenshot_path("customers-phone"), full_page=True)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_knowledge_base_add_import_and_find_what_the_agent_would(app, tenant: TenantFixture, tmp_path: Path):
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        await login(page, base, tenant, "/knowledge-base")
        await page.get_by_text("No documents yet.").wait_for()

        await page.click("#new-document")
        await page.get_by_label("Title").fill("Returns policy")
        await page.get_by_label("Document id").fill("returns-policy")
        await page.locator("#kb-form button[type=submit]").click()
        await page.locator('#kb-form [data-error-for="content"]:not(:empty)').wait_for()
        await page.get_by_label("Content").fill(
            "You can return any item within 14 days of delivery for a full refund, unworn and with its tags."
        )
        await page.get_by_label("Category").fill("policies")
        await page.locator("#kb-form button[type=submit]").click()
        await page.locator('#kb-list tr[data-doc-id="returns-policy"]').wait_for()

        md = tmp_path / "faq.md"
        md.write_text(
            "# Delivery times\nCairo and Giza get their orders in two working days; other governorates in four.\n\n"
            "# طرق الدفع\nالدفع عند الاستلام أو بالبطاقة.\n",
            encoding="utf-8",
        )
        await page.get_by_label("Markdown, CSV or JSON file").set_input_files(str(md))
        await page.locator("#kb-import button[type=submit]").click()
        await page.get_by_text("Imported: 2 created, 0 updated, 0 not imported.").wait_for()
        await page.locator('#kb-list[data-total="3"]').wait_for()

        await page.get_by_label("Ask as a customer would").fill("can I return a jacket for a refund?")
        await page.get_by_role("button", name="Search").click()
        first = page.locator("#kb-hits li").first
        await first.wait_for()
        assert await first.get_attribute("data-doc-id") == "returns-policy"
        assert await first.locator("mark").count() >= 1
        await page.screenshot(path=screenshot_path("knowledge-base-search"), full_page=True)

        await page.get_by_label("Ask as a customer would").fill("delivery")
        await page.get_by_role("button", name="Search").click()
        await page.locator("#kb-hits h2", has_text="“delivery”").wait_for()
        assert await page.locator("#kb-hits li").first.get_attribute("data-doc-id") == "delivery-times"
        await page.set_viewport_size(PHONE)
        await page.screenshot(path=screenshot_path("knowledge-base-phone"), full_page=True)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_reports_draw_the_attribution_chart_beside_its_table(app, client, tenant: TenantFixture, rows: Rows):
    from datetime import timedelta

    from souk.db.types import utcnow

    winter = await post(client, tenant, "/api/v1/ad-campaigns", {"facebook_ad_id": "ad_1", "campaign_name": "Winter"})
    summer = await post(client, tenant, "/api/v1/ad-campaigns", {"facebook_ad_id": "ad_2", "campaign_name": "Summer"})
    jacket_post = await post(client, tenant, "/api/v1/posts", {"facebook_post_id": "p_1", "post_content": "Jacket"})
    wa = await rows.channel("whatsapp", "Shop WhatsApp")
    yesterday = utcnow() - timedelta(days=1)
    for n in range(3):
        customer = await rows.customer(display_name=f"Lead {n}")
        conv = await rows.conversation(wa, customer, last_activity=yesterday)
        await rows.message(conv, yesterday, message_source="ad", ad_id=uuid.UUID(winter["id"]), platform="whatsapp")
        if n == 0:
            await rows.message(conv, yesterday, message_source="ad", ad_id=uuid.UUID(summer["id"]), platform="whatsapp")
            await rows.message(conv, yesterday, message_source="post_comment", post_id=uuid.UUID(jacket_post["id"]))
            await rows.message(conv, yesterday, direction="outbound", sender_id="shop", status="sent")
    async with serve(app) as base, chromium() as browser:
        page = await browser.new_page()
        await login(page, base, tenant, "/reports")
        chart = page.locator("svg#attribution-chart")
        await chart.wait_for()
        assert await chart.get_attribute("role") == "img"
        assert "Leads per ad and post" in await chart.locator("title").first.text_content()
        bars = chart.locator("rect")
        assert await bars.count() == 3
        assert await bars.first.get_attribute("data-value") == "3"  # Winter, the widest bar, comes first
        first_row = await page.locator("#attribution-table tbody tr").first.locator("td").all_inner_texts()
        assert first_row[:3] == ["Ad: Winter", "", "3"]
        await page.locator("svg#volume-chart").wait_for()
        assert "Shop WhatsApp" in await page.locator("#volume-table").inner_text()
        await page.locator("#response-times").wait_for()
        await page.screenshot(path=screenshot_path("reports-attribution"), full_page=True)

        await page.get_by_label("Chart attribution by").select_option("conversations")
        await page.locator("svg#attribution-chart title", has_text="Conversations per ad").wait_for(state="attached")
        await page.set_viewport_size(PHONE)
        await page.screenshot(path=screenshot_path("reports-phone"), full_page=True)
