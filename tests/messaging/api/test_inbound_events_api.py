"""Inbound events through HTTP: filters, newest first, errors shown, bodies only for admins, masked secret headers,
and replay (admin) back through the real worker; on both databases."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows, at


async def _events(rows: Rows):
    tg = await rows.channel("telegram")
    wa = await rows.channel("whatsapp")
    ok = await rows.event(tg, status="processed", received_at=at(1), processed_at=at(1.1), attempts=1)
    bad = await rows.event(
        wa,
        status="failed",
        error="unreadable payload: expected an object",
        received_at=at(2),
        attempts=3,
        body=b"not json \xff",
        headers={"X-Hub-Signature-256": "sha256=abc123", "content-type": "application/json"},
    )
    off = await rows.event(tg, status="ignored", error="channel inactive or deleted", received_at=at(3))
    new = await rows.event(
        tg,
        received_at=at(4),
        headers={"X-Telegram-Bot-Api-Secret-Token": "s3cr3t-token-value-1234", "content-type": "application/json"},
    )
    return tg, wa, ok, bad, off, new


def ids(body: dict) -> list[str]:
    return [e["id"] for e in body["items"]]


async def test_list_is_newest_first_with_errors_and_no_body(client, tenant: TenantFixture, rows: Rows):
    _, wa, ok, bad, off, new = await _events(rows)
    r = await client.get("/api/v1/inbound-events", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert ids(body) == [str(e.id) for e in (new, off, bad, ok)] and body["total"] == 4
    failed = body["items"][2]
    assert failed["status"] == "failed" and failed["error"] == "unreadable payload: expected an object"
    assert (failed["attempts"], failed["source"], failed["channel_type"]) == (3, "webhook", "whatsapp")
    assert failed["event_key"] == bad.event_key and failed["channel_id"] == str(wa.id)
    assert failed["headers"]["X-Hub-Signature-256"] == "sha256=abc123"  # a signature proves, it does not unlock
    assert failed["body"] is None and failed["body_size"] == len(b"not json \xff")
    assert body["items"][3]["processed_at"].startswith("2026-03-01T12:01:06")
    # Telegram's secret token is the channel's webhook secret itself: never shown
    assert body["items"][0]["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "s3cr…1234"
    assert "s3cr3t-token-value-1234" not in r.text


async def test_list_filters(client, tenant: TenantFixture, rows: Rows):
    tg, wa, ok, bad, off, new = await _events(rows)

    async def get(**params) -> list[str]:
        r = await client.get("/api/v1/inbound-events", params=params, headers=tenant.headers)
        assert r.status_code == 200, r.text
        return ids(r.json())

    for event in (ok, bad, off, new):
        assert await get(status=event.status) == [str(event.id)]
    assert await get(channel_id=str(tg.id)) == [str(new.id), str(off.id), str(ok.id)]
    assert await get(channel_id=str(tg.id), status="ignored") == [str(off.id)]
    assert await get(since=at(3).isoformat()) == [str(new.id), str(off.id)]
    assert await get(since="2026-03-01T12:02:00") == [str(new.id), str(off.id), str(bad.id)]  # no zone: UTC
    assert await get(since="2026-03-01T14:02:00+02:00", channel_id=str(wa.id)) == [str(bad.id)]
    page = (await client.get("/api/v1/inbound-events?limit=3&page=2", headers=tenant.headers)).json()
    assert ids(page) == [str(ok.id)] and page["total"] == 4


async def test_admins_read_the_body_as_text(client, tenant: TenantFixture, rows: Rows, admin_headers):
    _, _, ok, bad, _, _ = await _events(rows)
    listed = (await client.get("/api/v1/inbound-events?include_body=true", headers=admin_headers)).json()
    bodies = {e["id"]: e["body"] for e in listed["items"]}
    assert bodies[str(ok.id)] == '{"update_id": 1}'
    assert bodies[str(bad.id)] == "not json \ufffd"  # bytes that are not UTF-8 are replaced, not an error
    one = (await client.get(f"/api/v1/inbound-events/{ok.id}?include_body=true", headers=tenant.headers)).json()
    assert json.loads(one["body"]) == {"update_id": 1}


async def test_agents_read_events_but_not_bodies(client, agent_headers, rows: Rows):
    _, _, ok, *_ = await _events(rows)
    assert (await client.get("/api/v1/inbound-events", headers=agent_headers)).status_code == 200
    assert (await client.get(f"/api/v1/inbound-events/{ok.id}", headers=agent_headers)).json()["body"] is None
    for url in ("/api/v1/inbound-events?include_body=true", f"/api/v1/inbound-events/{ok.id}?include_body=true"):
        r = await client.get(url, headers=agent_headers)
        assert r.status_code == 403 and "admin" in r.json()["detail"]


async def test_detail_lists_the_messages_stored_from_it(client, tenant: TenantFixture, rows: Rows):
    tg, _, ok, *_ = await _events(rows)
    conv = await rows.conversation(tg, await rows.customer())
    m1 = await rows.message(conv, at(1), inbound_event_id=ok.id)
    m2 = await rows.message(conv, at(2), inbound_event_id=ok.id)
    await rows.message(conv, at(3))
    r = await client.get(f"/api/v1/inbound-events/{ok.id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["message_ids"] == [str(m1.id), str(m2.id)] and r.json()["status"] == "processed"


async def test_another_tenants_event_is_404(client, tenant: TenantFixture, other_rows: Rows, admin_headers):
    theirs = await other_rows.event(await other_rows.channel(), status="failed", error="x")
    assert (await client.get(f"/api/v1/inbound-events/{theirs.id}", headers=tenant.headers)).status_code == 404
    r = await client.post(f"/api/v1/inbound-events/{theirs.id}/replay", headers=admin_headers)
    assert r.status_code == 404
    assert (await client.get("/api/v1/inbound-events", headers=tenant.headers)).json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "query.status"),
        ("channel_id=telegram", "query.channel_id"),
        ("since=last-week", "query.since"),
        ("include_body=please", "query.include_body"),
        ("limit=201", "query.limit"),
    ],
)
async def test_bad_query_is_422_naming_the_field(client: httpx.AsyncClient, tenant: TenantFixture, query, field):
    r = await client.get(f"/api/v1/inbound-events?{query}", headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


# -- replay ----------------------------------------------------------------------------------------------------


async def test_replay_needs_an_admin(client, agent_headers, rows: Rows):
    _, _, _, bad, *_ = await _events(rows)
    r = await client.post(f"/api/v1/inbound-events/{bad.id}/replay", headers=agent_headers)
    assert r.status_code == 403
    after = (await client.get(f"/api/v1/inbound-events/{bad.id}", headers=agent_headers)).json()
    assert after["status"] == "failed" and after["error"]


async def test_replay_resets_queues_and_audits(client, tenant: TenantFixture, rows: Rows, admin_headers):
    _, _, _, bad, off, new = await _events(rows)
    r = await client.post(f"/api/v1/inbound-events/{bad.id}/replay", headers=admin_headers)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["id"], body["status"], body["error"], body["processed_at"]) == (str(bad.id), "received", None, None)
    assert body["body"] is None and body["body_size"] == len(b"not json \xff")
    assert (await client.post(f"/api/v1/inbound-events/{off.id}/replay", headers=tenant.headers)).status_code == 202
    waiting = await client.post(f"/api/v1/inbound-events/{new.id}/replay", headers=admin_headers)
    assert waiting.status_code == 409  # already waiting for the worker
    log = (await client.get("/api/v1/audit-log", headers=tenant.headers)).json()["items"]
    replays = [e for e in log if e["action"] == "inbound_event.replayed"]
    assert {e["entity_id"] for e in replays} == {str(bad.id), str(off.id)}
    entry = next(e for e in replays if e["entity_id"] == str(bad.id))
    assert entry["before"] == {"status": "failed", "error": "unreadable payload: expected an object"}


async def test_replay_of_unknown_event_is_404_and_bad_id_422(client, tenant: TenantFixture):
    r = await client.post("/api/v1/inbound-events/00000000-0000-0000-0000-000000000001/replay", headers=tenant.headers)
    assert r.status_code == 404
    r = await client.post("/api/v1/inbound-events/nope/replay", headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.event_id"


TELEGRAM_UPDATE = {
    "update_id": 900001,
    "message": {
        "message_id": 77,
        "from": {"id": 4242, "is_bot": False, "first_name": "Mona", "username": "mona_s"},
        "chat": {"id": 4242, "type": "private", "first_name": "Mona"},
        "date": 1772366400,
        "text": "is the red one still available?",
    },
}


async def wait_for(check, timeout: float = 20.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)


async def test_replayed_event_is_processed_by_the_worker(app, client, tenant: TenantFixture, rows: Rows):
    """A delivery that failed (say, a parser bug since fixed) is replayed and becomes a message, end to end."""
    from souk.worker import Worker, WorkerContext

    tg = await rows.channel("telegram")
    event = await rows.event(
        tg,
        status="failed",
        error="parser error: KeyError: 'text'",
        attempts=1,
        body=json.dumps(TELEGRAM_UPDATE).encode(),
    )
    await app.state.bus.wait_ready(10)
    worker = Worker(WorkerContext(app.state.settings, app.state.db, app.state.bus, app.state.outbox_wake))
    await worker.start(only={"inbound"})
    try:
        r = await client.post(f"/api/v1/inbound-events/{event.id}/replay", headers=tenant.headers)
        assert r.status_code == 202, r.text

        async def processed():
            body = (await client.get(f"/api/v1/inbound-events/{event.id}", headers=tenant.headers)).json()
            return body if body["status"] != "received" else None

        done = await wait_for(processed)
    finally:
        await worker.stop()
    assert done and done["status"] == "processed", done
    assert done["error"] is None and done["attempts"] == 2 and len(done["message_ids"]) == 1
    convs = (
        await client.get("/api/v1/conversations", params={"channel_id": str(tg.id)}, headers=tenant.headers)
    ).json()
    (conv,) = convs["items"]
    msgs = (await client.get(f"/api/v1/conversations/{conv['id']}/messages", headers=tenant.headers)).json()
    (msg,) = msgs["items"]
    assert msg["id"] == done["message_ids"][0] and msg["message_text"] == "is the red one still available?"
    assert msg["direction"] == "inbound" and msg["inbound_event_id"] == str(event.id)
    found = await client.get(
        "/api/v1/messages", params={"channel_id": str(tg.id), "external_id": msg["external_id"]}, headers=tenant.headers
    )
    assert [m["id"] for m in found.json()["items"]] == [msg["id"]]
    customer = (await client.get(f"/api/v1/customers/{msg['customer_id']}", headers=tenant.headers)).json()
    assert customer["identities"][0]["external_id"] == "4242"
