"""The commerce and CRM pages in headless Chromium: products (field errors, a CSV import with its progress bar and
error report), orders (legal and illegal status moves), customers (filters, merge and unmerge), the knowledge base
(add, then find it as the AI agent would) and reports (the attribution chart beside its table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.conftest import TenantFixture
from tests.e2e.browser import chromium, screenshot_path, serve

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


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
        await page.locator("#product-list tr", has_text="Winter jacket").locator("td", has_text="3").first.wait_for()

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
        await page.locator("#product-list tbody tr").first.wait_for()
        assert await page.locator("#product-list tbody tr").count() == 1

        await page.set_viewport_size(PHONE)
        await page.screenshot(path=screenshot_path("products-phone"), full_page=True)
