"""A conversation's messages by cursor (forward, back, latest; equal timestamps), seed 001's field names, media
links, and the lookup by platform id; on both databases."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows, at

SEED_001_FIELDS = {
    "sender_id",
    "recipient_id",
    "message_text",
    "direction",
    "status",
    "timestamp",
    "message_type",
    "message_metadata",
    "platform",
    "message_source",
    "post_id",
    "post_type",
    "ad_id",
    "comment_id",
    "referral_source",
}
OUR_FIELDS = {
    "id",
    "external_id",
    "channel_id",
    "conversation_id",
    "customer_id",
    "reply_to",
    "reactions",
    "edited_at",
    "edit_history",
    "deleted_at",
    "sent_by",
    "error_code",
    "error_message",
    "media",
}


async def _conversation_with(rows: Rows, n: int, *, same_time_from: int = 2, same_time_to: int = 7):
    """``n`` messages; those from index ``same_time_from`` up to ``same_time_to`` share one timestamp (a burst)."""
    channel = await rows.channel()
    customer = await rows.customer()
    conv = await rows.conversation(channel, customer)
    made = []
    for i in range(n):
        minute = 5 if same_time_from <= i < same_time_to else i * 10
        made.append(await rows.message(conv, at(minute), message_text=f"#{i}"))
    # the API orders by (timestamp, id): the burst comes back by id, whatever order it was written in
    expected = sorted(made, key=lambda m: (m.timestamp, str(m.id)))
    return conv, [str(m.id) for m in expected]


async def _walk(client, headers, url: str, param: str, limit: int, first: dict | None = None) -> tuple[list, int]:
    ids, pages, params = [], 0, dict(first or {}, limit=limit)
    while True:
        r = await client.get(url, params=params, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        page_ids = [m["id"] for m in body["items"]]
        ids = ids + page_ids if param == "after" else page_ids + ids
        assert body["limit"] == limit and len(page_ids) <= limit
        if body["next_cursor"] is None:
            return ids, pages
        params = {param: body["next_cursor"], "limit": limit}


async def test_forward_pages_cover_a_burst_of_equal_timestamps_once_each(client, tenant: TenantFixture, rows: Rows):
    conv, expected = await _conversation_with(rows, 9)
    url = f"/api/v1/conversations/{conv.id}/messages"
    for limit in (1, 2, 3, 4, 9, 50):
        ids, pages = await _walk(client, tenant.headers, url, "after", limit)
        assert ids == expected, f"limit {limit}"
        assert pages == max(1, -(-len(expected) // limit)), f"limit {limit}"
    stamps = [m["timestamp"] for m in (await client.get(url, headers=tenant.headers)).json()["items"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == 9 - 4  # five share one instant


async def test_backward_pages_from_latest_and_before(client, tenant: TenantFixture, rows: Rows):
    conv, expected = await _conversation_with(rows, 9)
    url = f"/api/v1/conversations/{conv.id}/messages"
    latest = (await client.get(url, params={"latest": "true", "limit": 3}, headers=tenant.headers)).json()
    assert [m["id"] for m in latest["items"]] == expected[-3:]  # newest last
    for limit in (1, 2, 4):
        ids, _ = await _walk(client, tenant.headers, url, "before", limit, first={"latest": "true"})
        assert ids == expected, f"limit {limit}"


async def test_new_messages_after_the_last_cursor(client, tenant: TenantFixture, rows: Rows):
    conv, expected = await _conversation_with(rows, 4, same_time_from=0, same_time_to=0)
    url = f"/api/v1/conversations/{conv.id}/messages"
    page = (await client.get(url, params={"limit": 3}, headers=tenant.headers)).json()
    cursor = page["next_cursor"]
    newer = await rows.message(conv, at(999), message_text="late")
    rest = (await client.get(url, params={"after": cursor}, headers=tenant.headers)).json()
    assert [m["id"] for m in rest["items"]] == [expected[3], str(newer.id)]
    assert rest["next_cursor"] is None


async def test_empty_conversation(client, tenant: TenantFixture, rows: Rows):
    conv = await rows.conversation(await rows.channel(), await rows.customer())
    for params in ({}, {"latest": "true"}):
        body = (
            await client.get(f"/api/v1/conversations/{conv.id}/messages", params=params, headers=tenant.headers)
        ).json()
        assert body == {"items": [], "next_cursor": None, "limit": 50}


async def test_message_uses_seed_001_names_and_media_links(client, tenant: TenantFixture, rows: Rows):
    channel = await rows.channel("whatsapp")
    customer = await rows.customer(platform="whatsapp")
    conv = await rows.conversation(channel, customer)
    msg = await rows.message(
        conv,
        at(1),
        external_id="wamid.HBgL",
        sender_id="201000000001",
        recipient_id="123456789",
        platform="whatsapp",
        message_type="image",
        message_text=None,
        message_source="ad",
        referral_source="ctwa:spring",
        comment_id="c-1",
        post_type="PRODUCT",
        message_metadata={"referral": {"source_id": "ad-1"}},
        reactions=[{"emoji": "👍", "by": "201000000001"}],
        edit_history=[{"text": "old", "at": at(0).isoformat()}],
        edited_at=at(2),
        reply_to="wamid.PREV",
        status="read",
    )
    stored = await rows.media(
        msg, mime="image/jpeg", size=2048, caption="the red one", platform_media_id="med-1", status="stored"
    )
    pending = await rows.media(msg, kind="document", platform_media_id="med-2")
    body = (await client.get(f"/api/v1/conversations/{conv.id}/messages", headers=tenant.headers)).json()
    (item,) = body["items"]
    assert set(item) >= SEED_001_FIELDS | OUR_FIELDS
    assert item["external_id"] == "wamid.HBgL" and item["sender_id"] == "201000000001"
    assert (item["message_source"], item["referral_source"], item["post_type"]) == ("ad", "ctwa:spring", "PRODUCT")
    assert item["message_metadata"] == {"referral": {"source_id": "ad-1"}}
    assert item["reactions"] == [{"emoji": "👍", "by": "201000000001"}]
    assert item["edit_history"][0]["text"] == "old" and item["edited_at"] and item["reply_to"] == "wamid.PREV"
    assert (item["direction"], item["status"], item["deleted_at"]) == ("inbound", "read", None)
    assert item["channel_id"] == str(channel.id) and item["customer_id"] == str(customer.id)
    first, second = item["media"]
    assert first == {
        "id": str(stored.id),
        "type": "image",
        "mime": "image/jpeg",
        "size": 2048,
        "caption": "the red one",
        "filename": None,
        "platform_media_id": "med-1",
        "status": "stored",
        "error": None,
        "url": f"/api/v1/media/{stored.id}",
    }
    assert second["id"] == str(pending.id) and second["status"] == "pending" and second["url"] is None


async def test_lookup_by_channel_and_external_id(client, tenant: TenantFixture, rows: Rows):
    tg = await rows.channel("telegram")
    wa = await rows.channel("whatsapp")
    conv = await rows.conversation(tg, await rows.customer())
    conv2 = await rows.conversation(wa, await rows.customer())
    msg = await rows.message(conv, at(1), external_id="42")
    await rows.message(conv2, at(1), external_id="42")  # the same platform id on another channel
    r = await client.get(
        "/api/v1/messages", params={"channel_id": str(tg.id), "external_id": "42"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 1 and [m["id"] for m in body["items"]] == [str(msg.id)]
    none = await client.get(
        "/api/v1/messages", params={"channel_id": str(tg.id), "external_id": "43"}, headers=tenant.headers
    )
    assert none.json()["items"] == [] and none.json()["total"] == 0


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"external_id": "42"}, ["query.channel_id"]),
        ({"channel_id": "00000000-0000-0000-0000-000000000001"}, ["query.external_id"]),
        ({}, ["query.channel_id", "query.external_id"]),
        ({"channel_id": "x", "external_id": "42"}, ["query.channel_id"]),
    ],
)
async def test_lookup_needs_both_keys(client: httpx.AsyncClient, tenant: TenantFixture, params, fields):
    r = await client.get("/api/v1/messages", params=params, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == fields


async def test_lookup_does_not_see_another_tenant(
    client, tenant: TenantFixture, rows: Rows, other_rows: Rows, agent_headers
):
    theirs = await other_rows.channel()
    conv = await other_rows.conversation(theirs, await other_rows.customer())
    await other_rows.message(conv, at(1), external_id="7")
    r = await client.get(
        "/api/v1/messages", params={"channel_id": str(theirs.id), "external_id": "7"}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["total"] == 0
    r = await client.get(
        "/api/v1/messages", params={"channel_id": str(theirs.id), "external_id": "7"}, headers=agent_headers
    )
    assert r.status_code == 200 and r.json()["total"] == 0


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"after": "not-a-cursor"}, ["query.after"]),
        ({"before": _b64("2026-01-01T00:00:00|nope")}, ["query.before"]),
        ({"after": _b64("2026-01-01T00:00:00|00000000-0000-0000-0000-000000000001")}, ["query.after"]),  # no zone
        ({"after": _b64("yesterday|00000000-0000-0000-0000-000000000001")}, ["query.after"]),
        ({"after": "x", "before": "y"}, ["query.after", "query.before"]),
        ({"before": "x", "latest": "true"}, ["query.before", "query.latest"]),
        ({"limit": "0"}, ["query.limit"]),
        ({"limit": "201"}, ["query.limit"]),
        ({"latest": "maybe"}, ["query.latest"]),
    ],
)
async def test_bad_cursor_params_are_422_naming_the_field(client, tenant: TenantFixture, rows: Rows, params, fields):
    conv = await rows.conversation(await rows.channel(), await rows.customer())
    r = await client.get(f"/api/v1/conversations/{conv.id}/messages", params=params, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == fields


async def test_agent_reads_messages(client, agent_headers, rows: Rows):
    conv, expected = await _conversation_with(rows, 2, same_time_from=0, same_time_to=0)
    r = await client.get(f"/api/v1/conversations/{conv.id}/messages", headers=agent_headers)
    assert r.status_code == 200 and [m["id"] for m in r.json()["items"]] == expected
