"""Make the README's screenshot of the inbox: `python docs/screenshots/take.py`.

Starts `souk run --demo` on a throwaway data directory and a free port, waits until the simulated customers have
written and the AI agent has answered, logs in as the demo owner in headless Chromium, opens a WhatsApp conversation once a reply's tick is blue and
saves ``docs/screenshots/inbox.png``. Needs Chromium (Debian's ``chromium`` package) like the browser tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from souk.bus.embedded import find_free_port

HERE = Path(__file__).parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="souk-shot-"))
    port = find_free_port()
    env = {**os.environ, "SOUK_DATA_DIR": str(data), "SOUK_PORT": str(port), "SOUK_LOG_LEVEL": "warning"}
    env.pop("SOUK_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "souk.cli", "run", "--demo"], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        creds = await _ready(base, data)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS, headless=True)
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            await page.goto(base + "/login")
            await page.fill("#email", creds["email"])
            await page.fill("#password", creds["password"])
            await page.click("button[type=submit]")
            await page.wait_for_url("**/inbox")
            await page.locator("#conversation-list li.conversation", has_text="WhatsApp").first.click()
            await page.locator(".msg.outbound .tick.read").first.wait_for(timeout=60_000)
            await page.wait_for_timeout(1500)
            await page.screenshot(path=str(HERE / "inbox.png"))
            await browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    print(HERE / "inbox.png")


async def _ready(base: str, data: Path) -> dict[str, str]:
    """The demo credentials, once the simulated customers have a few conversations with answers in them."""
    deadline = time.monotonic() + 180
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            creds_file = data / "demo-credentials.json"
            if creds_file.exists():
                creds = json.loads(creds_file.read_text())
                try:
                    r = await client.get("/api/v1/conversations", headers={"X-API-Key": creds["api_key"]})
                    answered = [c for c in r.json().get("items", []) if c["message_count"] >= 4]
                    if len(answered) >= 6:
                        return creds
                except httpx.HTTPError:
                    pass
            await asyncio.sleep(1)
    raise SystemExit("the demo never answered a customer; see `souk run --demo` output")


if __name__ == "__main__":
    asyncio.run(main())
