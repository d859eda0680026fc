"""History import through the real Temporal dev server and the app's in-process Temporal worker."""

from __future__ import annotations

import pytest

from tests.channels.conftest import configs, fakes  # noqa: F401 - the session-wide fakes for other channel types
from tests.channels.waha.conftest import count_messages, create_waha_channel, load_channel, wait_progress
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


async def test_import_all_stores_each_message_once_and_reports_progress(client, tenant, app, waha):
    channel = await _connected_channel(client, tenant, waha)
    chats = [waha.add_chat(f"8490000{i:04d}@c.us", 120, from_me_every=5) for i in range(3)]
    waha.add_chat("status@broadcast", 4)  # stories are not conversations
    # one message also arrived live before the import: stored once
    (live,) = await waha.emit("message", chats[0][7], client=client)
    assert live.status_code == 200, live.text
    await wait_idle(app)
    assert await count_messages(app, channel["id"]) == 1

    started = await _start(client, tenant, channel, strategy="all", limit=50)
    assert started["success"] is True and started["message"] == "History import started in background"
    assert started["workflow_id"] == f"waha-import-{channel['id']}-1"

    done = await wait_progress(client, tenant, channel["id"], started["workflow_id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert (done["chats_done"], done["chats_total"]) == (3, 3)
    assert (done["messages_done"], done["messages_total"], done["messages_imported"]) == (360, 360, 359)
    assert done["errors"] == [] and done["error_count"] == 0
    assert done["started_at"] and done["finished_at"]
    assert await count_messages(app, channel["id"]) == 360
    stored = await load_channel(app, channel["id"])
    assert stored.config["importCompleted"] is True
    assert stored.config["lastImport"]["state"] == "completed"

    again = await _start(client, tenant, channel, strategy="all", limit=100)  # idempotent: nothing new
    assert again["workflow_id"].endswith("-2")
    done = await wait_progress(client, tenant, channel["id"], again["workflow_id"], {"completed", "failed"})
    assert (done["state"], done["messages_imported"]) == ("completed", 0)
    assert await count_messages(app, channel["id"]) == 360


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
