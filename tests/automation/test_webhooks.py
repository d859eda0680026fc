"""Outgoing webhooks against a local receiver: signed, retried with back-off, delivered once, logged, redeliverable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from souk.automation.webhooks import verify
from souk.settings import Settings
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows
from tests.support.servers import FakePlatformServer


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"run_worker_in_process": True, "webhook_retry_base_seconds": 0.2, "webhook_max_attempts": 3}
    )


@pytest.fixture
def receiver() -> Iterator[FakePlatformServer]:
    with FakePlatformServer() as server:
        yield server


async def until(client: httpx.AsyncClient, headers: dict[str, str], url: str, done: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get(url, headers=headers)).json()
        if done(body):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"not done after {timeout}s: {body}")


async def subscribe(client: httpx.AsyncClient, tenant: TenantFixture, url: str, events: list[str]) -> dict[str, Any]:
    r = await client.post("/api/v1/webhooks", json={"url": url, "events": events}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_receiver_that_fails_then_succeeds_gets_the_event_once_with_a_verifiable_signature(
    client: httpx.AsyncClient, rows: Rows, tenant: TenantFixture, receiver: FakePlatformServer
):
    receiver.respond("POST", "/hook", 503, json={"error": "busy"}, times=1)
    receiver.respond("POST", "/hook", 200, json={"ok": True}, times=None)
    sub = await subscribe(client, tenant, receiver.url + "/hook", ["conversation.*"])
    assert sub["secret"].startswith("whsec_")
    listed = (await client.get("/api/v1/webhooks", headers=tenant.headers)).json()
    assert listed[0]["secret"] != sub["secret"] and "…" in listed[0]["secret"]

    conv = await rows.conversation(await rows.channel(), await rows.customer())
    r = await client.put(f"/api/v1/conversations/{conv.id}/status", json={"status": "resolved"}, headers=tenant.headers)
    assert r.status_code == 200
    page = await until(
        client,
        tenant.headers,
        f"/api/v1/webhooks/{sub['id']}/deliveries",
        lambda b: b["items"] and b["items"][0]["status"] == "delivered",
    )
    delivery = page["items"][0]
    assert page["total"] == 1 and delivery["event_type"] == "conversation.resolved"
    assert delivery["attempts"] == 2 and [a["status_code"] for a in delivery["log"]] == [503, 200]
    got = receiver.requests_to("POST", "/hook")
    assert len(got) == 2 and len({g.headers["souk-delivery"] for g in got}) == 1
    last = got[-1]
    assert verify(secret=sub["secret"], body=last.body, header=last.headers["souk-signature"])
    assert not verify(secret="whsec_wrong", body=last.body, header=last.headers["souk-signature"])
    assert not verify(secret=sub["secret"], body=last.body + b" ", header=last.headers["souk-signature"])
    assert last.json["data"]["conversation_id"] == str(conv.id)
    await asyncio.sleep(0.5)
    assert len(receiver.requests_to("POST", "/hook")) == 2  # delivered: never sent again by itself

    r = await client.post(f"/api/v1/webhook-deliveries/{delivery['id']}/redeliver", headers=tenant.headers)
    assert r.status_code == 200
    await until(
        client,
        tenant.headers,
        f"/api/v1/webhook-deliveries/{delivery['id']}",
        lambda b: b["status"] == "delivered" and len(b["log"]) == 3,
    )
    assert len(receiver.requests_to("POST", "/hook")) == 3


async def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_attempt(
    client: httpx.AsyncClient, rows: Rows, tenant: TenantFixture, receiver: FakePlatformServer, other_tenant
):
    receiver.respond("POST", "/down", 500, times=None)
    sub = await subscribe(client, tenant, receiver.url + "/down", ["conversation.resolved"])
    theirs = await subscribe(client, other_tenant, receiver.url + "/down", ["*"])
    conv = await rows.conversation(await rows.channel(), await rows.customer())
    await client.put(f"/api/v1/conversations/{conv.id}/status", json={"status": "pending"}, headers=tenant.headers)
    await client.put(f"/api/v1/conversations/{conv.id}/status", json={"status": "resolved"}, headers=tenant.headers)
    page = await until(
        client,
        tenant.headers,
        f"/api/v1/webhooks/{sub['id']}/deliveries",
        lambda b: b["items"] and b["items"][0]["status"] == "failed",
    )
    assert page["total"] == 1  # conversation.pending is not subscribed
    assert [a["status_code"] for a in page["items"][0]["log"]] == [500, 500, 500]
    # another tenant's subscription sees none of this tenant's events, nor its deliveries
    assert (await client.get(f"/api/v1/webhooks/{theirs['id']}/deliveries", headers=other_tenant.headers)).json()[
        "total"
    ] == 0
    assert (await client.get(f"/api/v1/webhooks/{sub['id']}", headers=other_tenant.headers)).status_code == 404
