"""Live updates over server-sent events, through a real HTTP server: the tenant's events arrive as they are
published, another tenant's never do, and a client that reconnects with ``Last-Event-ID`` gets what it missed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from tests.commerce.conftest import create_product
from tests.conftest import TenantFixture, make_tenant
from tests.e2e.browser import serve


async def order(client: httpx.AsyncClient, tenant: TenantFixture, product_id: str, who: str) -> str:
    body = {"customer_id": who, "items": [{"product_id": product_id, "quantity": 1}]}
    r = await client.post("/api/v1/orders", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def sse(lines: AsyncIterator[str], want: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The next ``want`` events of an open stream, as {id, event, data}."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}

    async def read() -> None:
        async for line in lines:
            if not line:
                if "data" in current:
                    events.append(dict(current))
                    if len(events) == want:
                        return
                current.clear()
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = json.loads(value) if field == "data" else value

    await asyncio.wait_for(read(), timeout)
    return events


async def test_events_stream_live_per_tenant_and_resume(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    other = await make_tenant(app, "other-live")
    mine = await create_product(client, tenant.headers, name="Mug", price="5.00", currency="EGP", stock=9)
    theirs = await create_product(client, other.headers, name="Cup", price="5.00", currency="EGP", stock=9)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        async with http.stream("GET", "/api/v1/events/stream", headers=tenant.headers) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            lines = r.aiter_lines()
            await asyncio.sleep(0.5)  # the subscription is live before the first change
            await order(client, other, theirs["id"], "someone-else")
            first = await order(client, tenant, mine["id"], "ann")
            (seen,) = await sse(lines, 1)
        assert seen["event"] == "order.created" and seen["data"]["data"]["order_id"] == first
        assert seen["data"]["tenant_id"] == str(tenant.id)

        missed = await order(client, tenant, mine["id"], "bob")  # while no browser is connected
        headers = {**tenant.headers, "Last-Event-ID": seen["id"]}
        async with http.stream("GET", "/api/v1/events/stream", headers=headers) as r:
            (caught_up,) = await sse(r.aiter_lines(), 1)
        assert caught_up["data"]["data"]["order_id"] == missed and int(caught_up["id"]) > int(seen["id"])

        r = await http.get("/api/v1/events/stream")
        assert r.status_code == 401
