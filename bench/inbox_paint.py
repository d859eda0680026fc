"""First paint of the web inbox with 10,000 conversations in the database, against a bare GET /healthz.

Sets up a throwaway Souk on SQLite (temp data dir, nats-server child, a tenant, a signed-in owner), seeds
``--conversations`` conversations (each with a customer, an identity and two messages; one in five assigned to the
owner, so the unread counts have work to do), serves the app in a uvicorn child (the same options as the other
benchmarks), and loads ``/inbox`` in headless Chromium ``--rounds`` times. For each load it reads from the page's
own timing: first contentful paint, and the moment the conversation list is rendered (``performance.mark
("souk:list-rendered")`` in ``inbox.js``), both from the start of the navigation. The baseline, measured in the
same browser and run, is ``fetch("/healthz")`` from the page. Figures are medians of the rounds.

    python bench/inbox_paint.py [--conversations 10000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _servers

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
EMAIL, PASSWORD = "owner@bench.test", "a long bench password"
BATCH = 2_000


async def seed(site: _servers.Site, conversations: int) -> uuid.UUID:
    """The owner, and ``conversations`` conversations with a customer, an identity and two messages each."""
    from sqlalchemy import insert

    from souk.core import service
    from souk.core.models import Role
    from souk.db.engine import Database
    from souk.db.types import utcnow
    from souk.messaging.models import ChannelIdentity, Conversation, Customer, Message

    db = Database(site.database_url)
    try:
        async with db.tenant_session(site.tenant_id) as session:
            owner = await service.create_user(session, site.tenant_id, EMAIL, PASSWORD, Role.owner, "Owner")
        now = utcnow()
        for start in range(0, conversations, BATCH):
            customers, identities, convs, messages = [], [], [], []
            for n in range(start, min(start + BATCH, conversations)):
                at = now - timedelta(minutes=n)
                customer, identity, conv = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
                phone = f"2010{n:08d}"
                common = {"tenant_id": site.tenant_id}
                customers.append(
                    {
                        **common,
                        "id": customer,
                        "platform": "whatsapp",
                        "display_name": f"Customer {n}",
                        "phone_number": f"+{phone}",
                        "created_at": at,
                        "last_message_at": at,
                    }
                )
                identities.append(
                    {
                        **common,
                        "id": identity,
                        "channel_id": site.channel_id,
                        "customer_id": customer,
                        "platform": "whatsapp",
                        "external_id": phone,
                    }
                )
                convs.append(
                    {
                        **common,
                        "id": conv,
                        "channel_id": site.channel_id,
                        "customer_id": customer,
                        "identity_id": identity,
                        "external_thread_id": phone,
                        "status": "open" if n % 7 else "resolved",
                        "last_activity": at,
                        "last_inbound_at": at,
                        "message_count": 2,
                        "assignee_id": owner.id if n % 5 == 0 else None,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
                for i, (direction, text) in enumerate(
                    (("inbound", f"Hello, is item {n} in stock?"), ("outbound", "Yes, it is. Shall I reserve one?"))
                ):
                    messages.append(
                        {
                            **common,
                            "id": uuid.uuid4(),
                            "channel_id": site.channel_id,
                            "conversation_id": conv,
                            "customer_id": customer,
                            "external_id": f"wamid.{n}.{i}",
                            "sender_id": phone if i == 0 else "shop",
                            "direction": direction,
                            "status": "received" if i == 0 else "read",
                            "platform": "whatsapp",
                            "message_text": text,
                            "timestamp": at - timedelta(seconds=30 - i),
                            "created_at": at,
                            "updated_at": at,
                        }
                    )
            async with db.system_session() as session:
                for model, rows in (
                    (Customer, customers),
                    (ChannelIdentity, identities),
                    (Conversation, convs),
                    (Message, messages),
                ):
                    await session.execute(insert(model), rows)
        return owner.id
    finally:
        await db.dispose()


HEALTHZ = """async () => {
  const times = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await (await fetch("/healthz", { cache: "no-store" })).text();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}"""

PAINT = """async () => {
  for (let i = 0; i < 200 && !performance.getEntriesByName("souk:list-rendered").length; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const list = performance.getEntriesByName("souk:list-rendered")[0];
  const api = performance.getEntriesByType("resource").find((e) => e.name.includes("/api/v1/conversations?"));
  const nav = performance.getEntriesByType("navigation")[0];
  return {
    fcp: fcp ? fcp.startTime : null,
    list: list ? list.startTime : null,
    html: nav ? nav.responseEnd - nav.startTime : null,
    api: api ? api.duration : null,
    rows: document.querySelectorAll("#conversation-list li.conversation").length,
    total: document.getElementById("list-count").textContent,
  };
}"""


async def measure(url: str, rounds: int) -> tuple[list[float], list[dict], tuple[float, int, int]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(url + "/login")
            await page.fill("#email", EMAIL)
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url("**/inbox")
            await page.evaluate(PAINT)  # warm-up: the first load compiles the modules and warms the caches
            healthz, loads = [], []
            for _ in range(rounds):
                healthz.append(await page.evaluate(HEALTHZ))
                await page.goto(url + "/inbox", wait_until="commit")
                loads.append(await page.evaluate(PAINT))
            # "Load more": the next page of 50 appended to the list
            rows = await page.locator("#conversation-list li.conversation").count()
            t = time.perf_counter()
            await page.click("#load-more")
            await page.wait_for_function(
                f"document.querySelectorAll('#conversation-list li.conversation').length > {rows}"
            )
            more = (time.perf_counter() - t) * 1000
            rows_after = await page.locator("#conversation-list li.conversation").count()
            return healthz, loads, (more, rows, rows_after)
        finally:
            await browser.close()


def median(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(_servers.machine())
    children = _servers.Children()
    with tempfile.TemporaryDirectory(prefix="souk-bench-inbox-") as tmp:
        data_dir = Path(tmp)
        try:
            nats_url, _ = _servers.start_nats(children, "nats", data_dir / "nats")
            url = f"sqlite+aiosqlite:///{data_dir / 'souk.db'}"
            site = await _servers.provision("sqlite", url, data_dir, nats_url)
            t = time.monotonic()
            await seed(site, args.conversations)
            print(
                f"seeded {args.conversations:,} conversations ({2 * args.conversations:,} messages) "
                f"in {time.monotonic() - t:.1f} s"
            )
            server = _servers.start_uvicorn(
                children, "souk", "souk.app:create_app", log_dir=data_dir / "logs", env=site.env(), factory=True
            )
            _servers.wait_ready(server.url)
            healthz, loads, (more, before, after) = await measure(server.url, args.rounds)
        finally:
            children.stop_all()
    base = median(healthz)
    fcp, listed = median([x["fcp"] for x in loads]), median([x["list"] for x in loads])
    html, api = median([x["html"] for x in loads]), median([x["api"] for x in loads])
    print(f"{args.rounds} loads of /inbox, medians (from the start of navigation):")
    print(f"  GET /healthz from the page (baseline)    {base:8.1f} ms")
    print(f"  inbox HTML received                      {html:8.1f} ms")
    print(f"  first contentful paint                   {fcp:8.1f} ms   ratio {fcp / base:6.1f}× /healthz")
    print(f"  GET /api/v1/conversations (one page)     {api:8.1f} ms")
    print(f"  conversation list rendered               {listed:8.1f} ms   ratio {listed / base:6.1f}× /healthz")
    print(f"  rows shown: {loads[-1]['rows']} ({loads[-1]['total']})")
    rounds = ", ".join(f"{x['list']:.0f}" for x in loads if x["list"])
    print(f"  list rendered per round: {rounds} ms")
    print(f"  load more: {before} → {after} rows in {more:.0f} ms (click to rows shown, measured by the driver)")
    verdict = "under" if listed < 1000 else "OVER"
    print(f"list rendered {verdict} one second with {args.conversations:,} conversations")


if __name__ == "__main__":
    asyncio.run(main())
