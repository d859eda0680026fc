"""Conversations through HTTP: filters, newest-activity order, paging, detail with counts; on both databases."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows, at


async def _world(rows: Rows):
    tg = await rows.channel("telegram", "Support bot")
    wa = await rows.channel("whatsapp", "Shop WhatsApp")
    ann = await rows.customer(display_name="Ann", first_name="Ann", phone_number="+201000000001")
    bob = await rows.customer(display_name="Bob", platform="whatsapp")
    c1 = await rows.conversation(
        tg, ann, last_activity=at(10), thread_id="t-1", agent_used="sales", response_time_ms=840
    )
    c2 = await rows.conversation(wa, bob, last_activity=at(30), status="resolved", is_active=False)
    c3 = await rows.conversation(wa, ann, last_activity=at(20), status="pending")
    return SimpleNamespace(tg=tg, wa=wa, ann=ann, bob=bob, c1=c1, c2=c2, c3=c3)


def ids(body: dict) -> list[str]:
    return [c["id"] for c in body["items"]]


async def test_list_is_newest_activity_first_with_channel_and_customer(client, tenant: TenantFixture, rows: Rows):
    w = await _world(rows)
    r = await client.get("/api/v1/conversations", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert ids(body) == [str(w.c2.id), str(w.c3.id), str(w.c1.id)]
    assert (body["total"], body["page"], body["limit"]) == (3, 1, 20)
    first = body["items"][2]
    assert first["channel"] == {"id": str(w.tg.id), "channel_type": "telegram", "name": "Support bot"}
    assert first["customer"]["display_name"] == "Ann" and first["customer"]["phone_number"] == "+201000000001"
    assert (first["thread_id"], first["agent_used"], first["response_time_ms"]) == ("t-1", "sales", 840)


async def test_list_filters(client, tenant: TenantFixture, rows: Rows):
    w = await _world(rows)

    async def get(**params) -> list[str]:
        r = await client.get("/api/v1/conversations", params=params, headers=tenant.headers)
        assert r.status_code == 200, r.text
        return ids(r.json())

    assert await get(channel_id=str(w.wa.id)) == [str(w.c2.id), str(w.c3.id)]
    assert await get(status="pending") == [str(w.c3.id)]
    assert await get(customer_id=str(w.ann.id)) == [str(w.c3.id), str(w.c1.id)]
    assert await get(customer_id=str(w.ann.id), channel_id=str(w.tg.id)) == [str(w.c1.id)]
    # rows were created now, so updated_at matches any past instant; a future one matches nothing
    assert len(await get(updated_since="2020-01-01T00:00:00Z")) == 3
    assert await get(updated_since="2999-01-01T00:00:00") == []


async def test_updated_since_matches_last_activity(client, tenant: TenantFixture, rows: Rows, app):
    from sqlalchemy import update

    from souk.messaging.models import Conversation

    w = await _world(rows)
    async with app.state.db.tenant_session(tenant.id) as session:  # updated_at back in time: only activity counts
        await session.execute(update(Conversation).values(updated_at=at(0)))
    r = await client.get("/api/v1/conversations", params={"updated_since": at(15).isoformat()}, headers=tenant.headers)
    assert ids(r.json()) == [str(w.c2.id), str(w.c3.id)]


async def test_list_pages(client, tenant: TenantFixture, rows: Rows):
    tg = await rows.channel()
    ann = await rows.customer()
    made = [await rows.conversation(tg, ann, last_activity=at(i)) for i in range(5)]
    r = (await client.get("/api/v1/conversations?page=2&limit=2", headers=tenant.headers)).json()
    assert (r["total"], r["page"], r["limit"]) == (5, 2, 2)
    assert ids(r) == [str(made[2].id), str(made[1].id)]


async def test_detail_has_counts_and_seed_003_fields(client, tenant: TenantFixture, rows: Rows):
    w = await _world(rows)
    m1 = await rows.message(w.c1, at(1))
    await rows.message(w.c1, at(2), direction="outbound", sender_id="bot", sent_by="bot", status="sent")
    await rows.message(w.c1, at(3))
    await rows.media(m1)
    await rows.media(m1, kind="document")
    r = await client.get(f"/api/v1/conversations/{w.c1.id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"] == {"messages": 3, "inbound": 2, "outbound": 1, "media": 2}
    assert (body["thread_id"], body["agent_used"], body["response_time_ms"]) == ("t-1", "sales", 840)
    assert body["channel"]["channel_type"] == "telegram" and body["channel"]["name"] == "Support bot"
    assert body["customer"]["id"] == str(w.ann.id)
    assert body["external_thread_id"] == w.c1.external_thread_id and body["status"] == "open"


async def test_detail_of_empty_conversation(client, tenant: TenantFixture, rows: Rows):
    w = await _world(rows)
    body = (await client.get(f"/api/v1/conversations/{w.c2.id}", headers=tenant.headers)).json()
    assert body["counts"] == {"messages": 0, "inbound": 0, "outbound": 0, "media": 0}
    assert body["is_active"] is False and body["status"] == "resolved"


async def test_another_tenants_conversation_is_404_and_not_listed(
    client, tenant: TenantFixture, other_tenant: TenantFixture, rows: Rows, other_rows: Rows
):
    await _world(rows)
    theirs = await _world(other_rows)
    conv = theirs.c1
    r = await client.get(f"/api/v1/conversations/{conv.id}", headers=tenant.headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"/api/v1/conversations/{conv.id}/messages", headers=tenant.headers)).status_code == 404
    listed = (await client.get("/api/v1/conversations", headers=tenant.headers)).json()
    assert str(conv.id) not in ids(listed) and listed["total"] == 3
    # filtering by another tenant's channel finds nothing rather than leaking
    r = await client.get("/api/v1/conversations", params={"channel_id": str(theirs.tg.id)}, headers=tenant.headers)
    assert r.json()["total"] == 0


async def test_agents_can_read(client, agent_headers, rows: Rows):
    w = await _world(rows)
    assert (await client.get("/api/v1/conversations", headers=agent_headers)).status_code == 200
    assert (await client.get(f"/api/v1/conversations/{w.c1.id}", headers=agent_headers)).status_code == 200


async def test_needs_a_key(client):
    assert (await client.get("/api/v1/conversations")).status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=archived", "query.status"),
        ("channel_id=not-a-uuid", "query.channel_id"),
        ("customer_id=42", "query.customer_id"),
        ("updated_since=yesterday", "query.updated_since"),
        ("limit=0", "query.limit"),
        ("page=0", "query.page"),
    ],
)
async def test_bad_query_is_422_naming_the_field(client: httpx.AsyncClient, tenant: TenantFixture, query, field):
    r = await client.get(f"/api/v1/conversations?{query}", headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_bad_path_id_is_422(client, tenant: TenantFixture):
    r = await client.get("/api/v1/conversations/123", headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.conversation_id"


async def test_list_searches_customer_names_phones_and_message_text(client, tenant: TenantFixture, rows: Rows):
    w = await _world(rows)
    await rows.message(w.c2, at(31), message_text="Is the blue dress still available?")
    gone = await rows.message(w.c1, at(11), message_text="blue dress", deleted_at=at(12))
    assert gone.deleted_at is not None

    async def get(q: str) -> list[str]:
        r = await client.get("/api/v1/conversations", params={"q": q}, headers=tenant.headers)
        assert r.status_code == 200, r.text
        return ids(r.json())

    assert await get("ann") == [str(w.c3.id), str(w.c1.id)]  # a name, case-insensitive
    assert await get("+2010000") == [str(w.c3.id), str(w.c1.id)]  # part of a phone number
    assert await get("Blue dress") == [str(w.c2.id)]  # every word of a message; a deleted one does not count
    assert await get("%") == [] and await get("_") == []  # literal characters, not patterns
    r = await client.get("/api/v1/conversations", params={"q": "bob", "status": "pending"}, headers=tenant.headers)
    assert r.json()["total"] == 0  # combines with the other filters
    r = await client.get("/api/v1/conversations", params={"q": ""}, headers=tenant.headers)
    assert r.status_code == 422
