"""Messenger and Instagram history import (BulkImportMessages) through the real Temporal dev server, the app's
in-process worker and a fake Graph server speaking the Conversations API."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from souk.messaging.models import Conversation, Message
from tests.channels.conftest import configs, fakes  # noqa: F401 - the session-wide fakes for other channel types
from tests.channels.waha.conftest import count_messages, load_channel, wait_progress
from tests.support.fakes.graph import FakeConversation, FakeGraphServer
from tests.support.webhooks import post, wait_idle

DONE = {"completed", "failed", "cancelled"}


def _config(graph: FakeGraphServer, channel_type: str) -> dict[str, Any]:
    if channel_type == "messenger":
        return {
            "pageID": graph.PAGE_ID,
            "pageAccessToken": graph.TOKEN,
            "appSecret": "app-secret",
            "graphBaseURL": graph.url,
        }
    return {
        "instagramAccountID": graph.IG_ID,
        "pageID": graph.PAGE_ID,
        "pageAccessToken": graph.TOKEN,
        "appSecret": "app-secret",
        "graphBaseURL": graph.url,
    }


async def _channel(client, tenant, graph: FakeGraphServer, channel_type: str) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={"name": f"Shop {channel_type}", "channel_type": channel_type, "config": _config(graph, channel_type)},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _start(client, tenant, channel, **body) -> dict[str, Any]:
    r = await client.post(f"/api/v1/channels/{channel['id']}/import-history", headers=tenant.headers, json=body)
    assert r.status_code == 202, r.text
    return r.json()


def _live_webhook(channel_type: str, graph: FakeGraphServer, conversation: FakeConversation, index: int) -> dict:
    """The webhook Meta posts for one of the conversation's customer messages (same ``mid``)."""
    message = conversation.messages[index]
    business = graph.PAGE_ID if channel_type == "messenger" else graph.IG_ID
    ms = int(time.time() * 1000)
    return {
        "object": "page" if channel_type == "messenger" else "instagram",
        "entry": [
            {
                "id": business,
                "time": ms,
                "messaging": [
                    {
                        "sender": {"id": conversation.customer_id},
                        "recipient": {"id": business},
                        "timestamp": ms,
                        "message": {"mid": message["id"], "text": message["message"]},
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize("channel_type", ["messenger", "instagram"])
async def test_import_stores_every_conversation_message_once(client, tenant, app, graph, channel_type):
    channel = await _channel(client, tenant, graph, channel_type)
    conversations = [
        graph.add_conversation(12, platform=channel_type, business_every=4, start_ts=1_700_000_000 + i * 10_000)
        for i in range(3)
    ]
    graph.add_conversation(5, platform="instagram" if channel_type == "messenger" else "messenger")  # other side
    # a message that arrived live before the import: stored once
    live = await post(client, app, channel, _live_webhook(channel_type, graph, conversations[0], 2))
    assert live.status_code == 200, live.text
    await wait_idle(app)
    assert await count_messages(app, channel["id"]) == 1

    started = await _start(client, tenant, channel, strategy="all", limit=5)
    assert started["workflow_id"] == f"{channel_type}-import-{channel['id']}-1"
    assert started["message"] == "History import started in background"
    done = await wait_progress(client, tenant, channel["id"], started["workflow_id"], DONE)
    assert done["state"] == "completed", done
    assert (done["chats_done"], done["chats_total"]) == (3, 3)
    assert (done["messages_done"], done["messages_total"], done["messages_imported"]) == (36, 36, 35)
    assert done["errors"] == [] and done["error_count"] == 0
    assert await count_messages(app, channel["id"]) == 36

    # the messages landed in one conversation per customer, as live webhooks would have put them
    async with app.state.db.system_session() as s:
        threads = set((await s.scalars(select(Conversation.external_thread_id))).all())
        outbound = (await s.scalars(select(Message).where(Message.direction == "outbound"))).all()
    assert threads == {c.customer_id for c in conversations}
    assert len(outbound) == 9 and {m.sent_by for m in outbound} == {"native_app"}
    stored = await load_channel(app, channel["id"])
    assert stored.config["importCompleted"] is True and stored.config["lastImport"]["state"] == "completed"

    # the same message arriving live again after the import stays one row
    again = await post(client, app, channel, _live_webhook(channel_type, graph, conversations[1], 0))
    assert again.status_code == 200
    await wait_idle(app)
    assert await count_messages(app, channel["id"]) == 36

    # the channel's config still edits after an import (Souk's import keys are kept, not validated)
    r = await client.patch(
        f"/api/v1/channels/{channel['id']}", headers=tenant.headers, json={"config": {"appID": "42"}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["config"]["importWorkflowId"] == started["workflow_id"]

    rerun = await _start(client, tenant, channel, strategy="all", limit=100)
    done = await wait_progress(client, tenant, channel["id"], rerun["workflow_id"], DONE)
    assert (done["state"], done["messages_imported"]) == ("completed", 0)
    assert await count_messages(app, channel["id"]) == 36


async def test_recent_strategy_skips_old_conversations_and_messages(client, tenant, app, graph):
    channel = await _channel(client, tenant, graph, "messenger")
    graph.add_conversation(6, start_ts=1_600_000_000)  # years old
    now = time.time()
    graph.add_conversation(4, start_ts=now - 45 * 86400, step=10 * 86400)  # two older than 30 days, two within
    started = await _start(client, tenant, channel, strategy="recent", limit=2)
    done = await wait_progress(client, tenant, channel["id"], started["workflow_id"], DONE)
    assert done["state"] == "completed", done
    assert done["chats_total"] == 1
    assert await count_messages(app, channel["id"]) == 2


async def test_second_import_is_409_and_cancel_stops_cleanly(client, tenant, app, graph):
    channel = await _channel(client, tenant, graph, "instagram")
    for _ in range(10):
        graph.add_conversation(30, platform="instagram")
    started = await _start(client, tenant, channel, strategy="all", limit=1)
    workflow_id = started["workflow_id"]

    r = await client.post(f"/api/v1/channels/{channel['id']}/import-history", headers=tenant.headers, json={})
    assert r.status_code == 409, r.text
    assert r.json()["workflow_id"] == workflow_id

    running = await wait_progress(client, tenant, channel["id"], workflow_id, {"running"})
    assert running["chats_total"] in (None, 10)
    r = await client.delete(f"/api/v1/channels/{channel['id']}/import-history/{workflow_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] in ("cancelling", "cancelled")
    done = await wait_progress(client, tenant, channel["id"], workflow_id, DONE)
    assert done["state"] == "cancelled", done
    assert await count_messages(app, channel["id"]) < 300
    stored = await load_channel(app, channel["id"])
    assert stored.config["lastImport"]["state"] == "cancelled" and "importCompleted" not in stored.config


@pytest.mark.parametrize("channel_type", ["telegram", "tiktok", "chotot", "whatsapp"])
async def test_platforms_without_history_answer_422(client, tenant, fakes, channel_type):  # noqa: F811
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={"name": "no history", "channel_type": channel_type, "config": configs(fakes)[channel_type]},
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/channels/{r.json()['id']}/import-history", headers=tenant.headers, json={})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "no message history" in detail and "arrive live" in detail
    assert r.json()["errors"][0]["field"] == "channel_id"


async def test_channel_types_say_which_import_history(client, tenant):
    r = await client.get("/api/v1/channel-types", headers=tenant.headers)
    flags = {t["channel_type"]: t["history_import"] for t in r.json()}
    assert flags["waha"] and flags["messenger"] and flags["instagram"]
    assert not (flags["telegram"] or flags["tiktok"] or flags["chotot"] or flags["whatsapp"])
