"""Labels, notes with @mentions, canned responses with variables, unread counts and message search, through HTTP."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from souk.settings import Settings
from tests.automation.conftest import make_user
from tests.conftest import TenantFixture, make_tenant
from tests.messaging.api.conftest import Rows, at


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": False})


async def test_labels_on_conversations_and_customers(client: httpx.AsyncClient, rows: Rows, tenant: TenantFixture):
    channel = await rows.channel()
    customer = await rows.customer(first_name="Mona")
    conv = await rows.conversation(channel, customer)
    r = await client.post(
        f"/api/v1/conversations/{conv.id}/labels", json={"labels": ["VIP", "refund"]}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["labels"] == ["refund", "vip"]
    r = await client.post(f"/api/v1/customers/{customer.id}/labels", json={"labels": ["vip"]}, headers=tenant.headers)
    assert r.json()["labels"] == ["vip"]
    r = await client.delete(f"/api/v1/conversations/{conv.id}/labels/refund", headers=tenant.headers)
    assert r.json()["labels"] == ["vip"]
    listed = await client.get("/api/v1/conversations", params={"label": "VIP"}, headers=tenant.headers)
    assert [c["id"] for c in listed.json()["items"]] == [str(conv.id)]
    counts = (await client.get("/api/v1/labels", headers=tenant.headers)).json()
    assert counts == [{"name": "vip", "conversations": 1, "customers": 1}]
    bad = await client.post(f"/api/v1/conversations/{conv.id}/labels", json={"labels": ["!!"]}, headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "labels.0"


async def test_notes_store_mentions_that_are_queryable_per_person(
    client: httpx.AsyncClient, app: FastAPI, rows: Rows, tenant: TenantFixture
):
    amal = await make_user(client, tenant, "amal")
    await make_user(client, tenant, "badr")
    conv = await rows.conversation(await rows.channel(), await rows.customer())
    r = await client.post(
        f"/api/v1/conversations/{conv.id}/notes",
        json={"body": "@Amal please call back; @nobody is not a person"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["mentions"] == [amal]
    mentions = (await client.get("/api/v1/mentions", params={"user_id": amal}, headers=tenant.headers)).json()
    assert [m["id"] for m in mentions] == [r.json()["id"]]
    notes = (await client.get(f"/api/v1/conversations/{conv.id}/notes", headers=tenant.headers)).json()
    assert notes[0]["body"].startswith("@Amal")
    other = await make_tenant(app, "globex")
    assert (await client.get(f"/api/v1/conversations/{conv.id}/notes", headers=other.headers)).status_code == 404


async def test_canned_responses_expand_shortcuts_and_render_customer_variables(
    client: httpx.AsyncClient, rows: Rows, tenant: TenantFixture
):
    conv = await rows.conversation(await rows.channel(), await rows.customer(first_name="Mona"))
    r = await client.post(
        "/api/v1/canned-responses",
        json={"shortcut": "/greet", "content": "Hello {{customer.first_name}}, how can we help?"},
        headers=tenant.headers,
    )
    assert r.status_code == 201 and r.json()["shortcut"] == "greet"
    r = await client.post(
        "/api/v1/canned-responses/render",
        json={"conversation_id": str(conv.id), "text": "/greet /unknown"},
        headers=tenant.headers,
    )
    assert r.json() == {"text": "Hello Mona, how can we help? /unknown", "shortcuts": ["greet"]}
    bad = await client.post(
        "/api/v1/canned-responses", json={"shortcut": "x", "content": "{{customer.password}}"}, headers=tenant.headers
    )
    assert bad.status_code == 422 and "customer.password" in bad.json()["detail"]
    r = await client.post(
        "/api/v1/canned-responses", json={"shortcut": "bye", "content": "Bye!"}, headers=tenant.headers
    )
    assert r.status_code == 201
    taken = await client.put(
        "/api/v1/canned-responses/greet", json={"shortcut": "/bye", "content": "Hi"}, headers=tenant.headers
    )
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "shortcut", taken.text
    listed = (await client.get("/api/v1/canned-responses", headers=tenant.headers)).json()
    assert {c["shortcut"]: c["content"] for c in listed}["greet"].startswith("Hello")  # unchanged
    r = await client.put(
        "/api/v1/canned-responses/greet", json={"shortcut": "hello", "content": "Hi"}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["shortcut"] == "hello"


async def test_unread_counts_per_agent_drop_after_reading(
    client: httpx.AsyncClient, app: FastAPI, rows: Rows, tenant: TenantFixture
):
    amal = await make_user(client, tenant, "amal")
    channel, customer = await rows.channel(), await rows.customer()
    mine = await rows.conversation(channel, customer)
    theirs = await rows.conversation(channel, customer)
    await client.put(f"/api/v1/conversations/{mine.id}/assignee", json={"assignee_id": amal}, headers=tenant.headers)
    for i in range(3):
        await rows.message(mine, at(i))
        await rows.message(theirs, at(i))
    await rows.message(mine, at(4), direction="outbound", status="sent", sent_by="user")
    r = await client.get("/api/v1/unread", params={"user_id": amal}, headers=tenant.headers)
    assert r.json()["total"] == 3 and r.json()["conversations"] == [{"conversation_id": str(mine.id), "unread": 3}]
    r = await client.post(f"/api/v1/conversations/{mine.id}/read", params={"user_id": amal}, headers=tenant.headers)
    assert r.status_code == 204
    assert (await client.get("/api/v1/unread", params={"user_id": amal}, headers=tenant.headers)).json()["total"] == 0


async def test_marking_read_for_a_person_who_does_not_exist_is_a_404(
    client: httpx.AsyncClient, rows: Rows, tenant: TenantFixture
):
    """Found by schemathesis: an unknown ``user_id`` broke the read marker's foreign key and was a 500."""
    conv = await rows.conversation(await rows.channel(), await rows.customer())
    nobody = "eb87b0d3-3d04-477c-a531-35c2f9989b9b"
    r = await client.post(f"/api/v1/conversations/{conv.id}/read", params={"user_id": nobody}, headers=tenant.headers)
    assert r.status_code == 404, r.text


async def test_full_text_search_over_messages_stays_in_the_tenant(
    client: httpx.AsyncClient, app: FastAPI, rows: Rows, tenant: TenantFixture
):
    conv = await rows.conversation(await rows.channel(), await rows.customer())
    await rows.message(conv, at(1), message_text="Where is my blue dress order?")
    await rows.message(conv, at(2), message_text="The dress arrived, thanks")
    await rows.message(conv, at(3), message_text="أريد فستان أزرق")
    other = await make_tenant(app, "globex")
    their = Rows(app.state.db, other.id)
    await their.message(
        await their.conversation(await their.channel(), await their.customer()), at(1), message_text="dress"
    )
    r = await client.get("/api/v1/messages/search", params={"q": "Dress"}, headers=tenant.headers)
    assert [m["text"] if "text" in m else m["message_text"] for m in r.json()["items"]] == [
        "The dress arrived, thanks",
        "Where is my blue dress order?",
    ]
    r = await client.get("/api/v1/messages/search", params={"q": "blue dress"}, headers=tenant.headers)
    assert r.json()["total"] == 1
    r = await client.get("/api/v1/messages/search", params={"q": "فستان"}, headers=tenant.headers)
    assert r.json()["total"] == 1
    r = await client.get("/api/v1/messages/search", params={"q": "\"'*"}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["total"] == 0
