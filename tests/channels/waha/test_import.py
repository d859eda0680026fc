"""History import through the real Temporal dev server and the app's in-process Temporal worker."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from souk.core.models import DomainEvent
from souk.messaging.models import Message
from souk.workflows.history_import import BulkImportMessagesCommand, ImportActivities, ThreadSlice
from tests.channels.conftest import configs, fakes  # noqa: F401 - the session-wide fakes for other channel types
from tests.channels.waha.conftest import count_messages, create_waha_channel, load_channel, wait_progress
from tests.support.fakes.waha import wamessage
from tests.support.webhooks import wait_idle


async def _connected_channel(client, tenant, waha) -> dict:
    waha.add_session("default", working=True)
    channel = await create_waha_channel(client, tenant, waha)
    r = await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["session_status"] == "WORKING", r.text
    return channel


async def _start(client, tenant, channel, **body) -> dict:
    r = await client.post(f"/api/v1/channels/{channel['id']}/import-history", headers=tenant.headers, json=body)
    assert r.status_code == 202, r.text
    return r.json()


async def _replies_sent(app, waha, n: int) -> None:
    """Until the fake WAHA got ``n`` sends and Souk recorded each send's WAHA id (so an import meets it as ours)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with app.state.db.system_read_session() as s:
            ids = (await s.scalars(select(Message.external_id).where(Message.sent_by == "souk"))).all()
        if len(waha.sent) >= n and len([i for i in ids if i]) >= n:
            assert len(waha.sent) == n, waha.sent
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(waha.sent)} replies sent, {n} expected")


async def test_import_all_stores_each_message_once_and_reports_progress(client, tenant, app, waha):
    """Also: imported history answers no rule (a send_reply rule answers live messages only), and a page WAHA
    answers short in the middle of a chat does not end that chat's import."""
    channel = await _connected_channel(client, tenant, waha)
    r = await client.post(
        "/api/v1/automation-rules",
        headers=tenant.headers,
        json={
            "name": "thanks",
            "event": "message.created",
            "conditions": [{"field": "message.direction", "op": "eq", "value": "inbound"}],
            "actions": [{"type": "send_reply", "text": "Thanks, we are on it"}],
        },
    )
    assert r.status_code == 201, r.text
    chats = [waha.add_chat(f"8490000{i:04d}@c.us", 120, from_me_every=5) for i in range(3)]
    waha.add_chat("status@broadcast", 4)  # stories are not conversations
    # chat 1's first page (its newest 50) comes back with 45: a short page mid-chat, not its end
    waha.dropped_from_pages.update(m["id"] for m in chats[1][100:105])
    # one message also arrived live before the import: stored once, and answered by the rule
    (live,) = await waha.emit("message", chats[0][7], client=client)
    assert live.status_code == 200, live.text
    await wait_idle(app)
    await _replies_sent(app, waha, 1)
    assert await count_messages(app, channel["id"]) == 2

    started = await _start(client, tenant, channel, strategy="all", limit=50)
    assert started["success"] is True and started["message"] == "History import started in background"
    assert started["workflow_id"] == f"waha-import-{channel['id']}-1"

    done = await wait_progress(client, tenant, channel["id"], started["workflow_id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert (done["chats_done"], done["chats_total"]) == (3, 3)
    # 3 × 120, less the 5 WAHA filtered out, plus the rule's reply (met as our own send: seen, not imported)
    assert (done["messages_done"], done["messages_total"], done["messages_imported"]) == (356, 356, 354)
    assert done["errors"] == [] and done["error_count"] == 0
    assert done["started_at"] and done["finished_at"]
    assert await count_messages(app, channel["id"]) == 356
    stored = await load_channel(app, channel["id"])
    assert stored.config["importCompleted"] is True
    assert stored.config["lastImport"]["state"] == "completed"
    async with app.state.db.system_read_session() as s:
        created = (
            await s.scalars(select(DomainEvent.payload).where(DomainEvent.event_type == "message.created"))
        ).all()
    marked = [p for p in created if p.get("imported")]
    assert len(marked) == 354 and {p["source"] for p in marked} == {"history_import"}

    again = await _start(client, tenant, channel, strategy="all", limit=100)  # idempotent: nothing new
    assert again["workflow_id"].endswith("-2")
    done = await wait_progress(client, tenant, channel["id"], again["workflow_id"], {"completed", "failed"})
    assert (done["state"], done["messages_imported"]) == ("completed", 0)
    assert await count_messages(app, channel["id"]) == 356

    # a live message after the import is answered; the rule consumer, which takes events in order, met the 354
    # imported ones before it and answered none of them
    (live,) = await waha.emit(
        "message", wamessage(chats[2][0]["from"], "still there?", me_id=waha.me_id), client=client
    )
    assert live.status_code == 200, live.text
    await _replies_sent(app, waha, 2)
    assert [m["to"] for m in waha.sent] == [chats[0][7]["from"], chats[2][0]["from"]]


@pytest.mark.parametrize(("strategy", "expected"), [("none", 0), ("new_only", 0), ("recent", 5)])
async def test_strategies_bound_what_is_imported(client, tenant, app, waha, strategy, expected):
    import time

    channel = await _connected_channel(client, tenant, waha)
    waha.add_chat("84900000001@c.us", 10, start_ts=1_600_000_000)  # years old
    waha.add_chat("84900000002@c.us", 5, start_ts=int(time.time()) - 3600)  # within the last 30 days
    started = await _start(client, tenant, channel, strategy=strategy)
    done = await wait_progress(client, tenant, channel["id"], started["workflow_id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert await count_messages(app, channel["id"]) == expected
    assert (await load_channel(app, channel["id"])).config["importCompleted"] is True


async def test_second_import_is_409_and_cancel_stops_cleanly(client, tenant, app, waha):
    channel = await _connected_channel(client, tenant, waha)
    for i in range(12):
        waha.add_chat(f"8491000{i:04d}@c.us", 40)
    started = await _start(client, tenant, channel, strategy="all", limit=5)
    workflow_id = started["workflow_id"]

    r = await client.post(f"/api/v1/channels/{channel['id']}/import-history", headers=tenant.headers, json={})
    assert r.status_code == 409, r.text
    assert r.json()["workflow_id"] == workflow_id

    await wait_progress(client, tenant, channel["id"], workflow_id, {"running"})
    r = await client.delete(f"/api/v1/channels/{channel['id']}/import-history/{workflow_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] in ("cancelling", "cancelled")
    done = await wait_progress(client, tenant, channel["id"], workflow_id, {"cancelled", "completed", "failed"})
    assert done["state"] == "cancelled", done
    assert done["finished_at"]
    imported = await count_messages(app, channel["id"])
    assert imported < 480
    stored = await load_channel(app, channel["id"])
    assert stored.config["lastImport"]["state"] == "cancelled" and "importCompleted" not in stored.config

    again = await client.delete(
        f"/api/v1/channels/{channel['id']}/import-history/{workflow_id}", headers=tenant.headers
    )
    assert again.status_code == 200 and again.json()["state"] == "cancelled"  # idempotent
    # a new import may start now, and finishes the job
    started = await _start(client, tenant, channel, strategy="all", limit=100)
    done = await wait_progress(
        client, tenant, channel["id"], started["workflow_id"], {"completed", "failed"}, timeout=120
    )
    assert done["state"] == "completed"
    assert await count_messages(app, channel["id"]) == 480


async def test_import_bad_input(client, tenant, app, waha, fakes):  # noqa: F811
    channel = await _connected_channel(client, tenant, waha)
    base = f"/api/v1/channels/{channel['id']}/import-history"
    assert (await client.post(base, headers=tenant.headers, json={"strategy": "everything"})).status_code == 422
    assert (await client.post(base, headers=tenant.headers, json={"limit": 0})).status_code == 422
    assert (await client.get(f"{base}/waha-import-other-1", headers=tenant.headers)).status_code == 404
    assert (await client.get(f"{base}/waha-import-{channel['id']}-9", headers=tenant.headers)).status_code == 404
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={"name": "bot", "channel_type": "telegram", "config": configs(fakes)["telegram"]},
    )
    r = await client.post(f"/api/v1/channels/{r.json()['id']}/import-history", headers=tenant.headers, json={})
    assert r.status_code == 422
    assert "Telegram's Bot API gives no message history" in r.json()["detail"]


async def test_a_retried_slice_resumes_from_its_heartbeat_not_from_the_chat_start(client, tenant, app, waha):
    """What a worker killed mid-slice leaves: a heartbeat of (cursor, seen, imported) after each committed page. The
    retry reads from that cursor on, never the pages before it (the e2e kill test shows no completed slice is read
    again; this shows the same within the slice in flight)."""
    channel = await _connected_channel(client, tenant, waha)
    (chat,) = {m["from"] for m in waha.add_chat("84920000001@c.us", 50)}
    stored = await load_channel(app, channel["id"])
    inp = BulkImportMessagesCommand(
        ChannelID=channel["id"],
        SessionID="default",
        Strategy="all",
        Limit=10,
        ProjectID=str(stored.project_id),
        TenantID=str(tenant.id),
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_details=["30", 30, 0])  # 3 pages done before the kill
    beats: list[tuple] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    async with httpx.AsyncClient() as http:
        result = await env.run(
            ImportActivities(app.state.db, http).import_slice, ThreadSlice(inp, chat, "", None, None)
        )
    assert waha.page_reads == [(chat, 30), (chat, 40), (chat, 50)]  # the two left, and the empty one that ends it
    assert (result.next_cursor, result.seen, result.imported) == (None, 50, 20)
    assert [b[0] for b in beats] == ["40", "50", "50"]
    assert await count_messages(app, channel["id"]) == 20
