"""``Idempotency-Key``: a retried request returns the first message; a different request under the key is refused."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from tests.conftest import TenantFixture
from tests.messaging.outbound.conftest import Fakes, counts, make_thread, send, wait_done


async def test_a_retried_request_returns_the_first_message(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "telegram")
    key = {"Idempotency-Key": "order-42-confirmation"}
    first = await send(client, t, {"text": "Order confirmed"}, headers=key)
    again = await send(client, t, {"text": "Order confirmed"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    await wait_done(app, tenant, first.json()["id"])
    late = await send(client, t, {"text": "Order confirmed"}, headers=key)
    assert late.json()["id"] == first.json()["id"] and late.json()["status"] == "sent"
    assert await counts(app, tenant) == (1, 1)
    assert len(fakes.telegram.messages_in(t.thread)) == 1


async def test_the_same_key_with_another_request_is_422(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "telegram")
    other = await make_thread(app, tenant, fakes, "telegram", channel_id=t.channel_id)
    key = {"Idempotency-Key": "k-1"}
    assert (await send(client, t, {"text": "one"}, headers=key)).status_code == 201
    for thread, body in ((t, {"text": "two"}), (other, {"text": "one"})):
        r = await send(client, thread, body, headers=key)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert await counts(app, tenant) == (1, 1)


async def test_concurrent_requests_with_one_key_make_one_message(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "chotot")
    key = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(*(send(client, t, {"text": "only once"}, headers=key) for _ in range(8)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    await wait_done(app, tenant, responses[0].json()["id"])
    assert await counts(app, tenant) == (1, 1)
    assert len([m for m in fakes.chotot.sent if m["chat_id"] == t.thread]) == 1


async def test_an_upload_replayed_with_its_key(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "telegram")
    key = {"Idempotency-Key": "upload-1"}
    first = await send(client, t, files={"file": ("a.png", b"\x89PNG1", "image/png")}, headers=key)
    again = await send(client, t, files={"file": ("a.png", b"\x89PNG1", "image/png")}, headers=key)
    changed = await send(client, t, files={"file": ("a.png", b"\x89PNG2", "image/png")}, headers=key)
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"] and changed.status_code == 422


async def test_a_refused_request_does_not_burn_its_key(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "telegram")
    key = {"Idempotency-Key": "fix-and-retry"}
    assert (await send(client, t, {"text": ""}, headers=key)).status_code == 422
    assert (await send(client, t, {"text": "fixed"}, headers=key)).status_code == 201
