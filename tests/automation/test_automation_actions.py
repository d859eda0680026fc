"""The remaining conditions and actions end to end: a canned reply and resolve on a customer's goodbye, a label on
resolution, and an order confirmed for a wholesale VIP handed to the AI agent."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from tests.automation.conftest import conversation_of, make_user, online, say
from tests.automation.test_automations import log_of, rule
from tests.commerce.conftest import CATALOG, create_product
from tests.conftest import TenantFixture
from tests.messaging.inbound import payloads as p
from tests.messaging.inbound.conftest import active_channel
from tests.support.webhooks import post, wait_idle


async def test_goodbye_gets_a_canned_reply_and_resolves_and_a_confirmed_order_goes_to_the_ai(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, fakes: dict[str, Any]
):
    channel = await active_channel(client, tenant, fakes, "telegram", ai_agents_enabled=True)
    chat = 100_000 + uuid.uuid4().int % 1_000_000
    r = await client.post(
        "/api/v1/canned-responses",
        json={"shortcut": "thanks", "content": "Thank you {{customer.first_name}}, talk soon!"},
        headers=tenant.headers,
    )
    assert r.status_code == 201
    bye = await rule(
        client,
        tenant,
        event="message.created",
        conditions=[
            {"field": "message.sent_by", "op": "eq", "value": "customer"},
            {"field": "message.text", "op": "starts_with", "value": "ok bye"},
            {"field": "conversation.status", "op": "eq", "value": "open"},
        ],
        actions=[{"type": "send_reply", "canned": "thanks"}, {"type": "resolve"}],
    )
    closed = await rule(
        client,
        tenant,
        event="conversation.resolved",
        conditions=[{"field": "channel.id", "op": "eq", "value": channel["id"]}],
        actions=[{"type": "label", "labels": ["closed-by-bot"]}],
    )
    ordered = await rule(
        client,
        tenant,
        event="order.status_changed",
        conditions=[
            {"field": "order.status", "op": "eq", "value": "confirmed"},
            {"field": "customer.type", "op": "eq", "value": "wholesale"},
            {"field": "customer.label", "op": "has", "value": "vip"},
        ],
        actions=[{"type": "hand_to_ai", "agent": "sales"}, {"type": "label", "labels": ["ordered"]}],
    )
    await say(client, app, channel, chat, "ok bye then")
    conv = await conversation_of(client, tenant, chat)
    entries = await log_of(client, tenant, conv["id"], 2)
    ran = {(e["rule_id"], e["outcome"]) for e in entries}
    assert (bye["id"], "ran") in ran
    entries = await log_of(client, tenant, conv["id"], 3)  # the resolution's rule, and the bye rule on our reply
    assert (closed["id"], "ran") in {(e["rule_id"], e["outcome"]) for e in entries}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not fakes["telegram"].messages_in(chat):
        await asyncio.sleep(0.05)
    assert [m["text"] for m in fakes["telegram"].messages_in(chat)] == ["Thank you Layla, talk soon!"]
    got = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=tenant.headers)).json()
    assert got["status"] == "resolved"

    customer_id = conv["customer_id"]
    r = await client.patch(
        f"/api/v1/customers/{customer_id}", json={"customer_type": "wholesale"}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    await client.post(f"/api/v1/customers/{customer_id}/labels", json={"labels": ["VIP"]}, headers=tenant.headers)
    product = await create_product(client, tenant.headers, **CATALOG[0])
    order = (
        await client.post(
            "/api/v1/orders",
            json={"items": [{"product_id": product["id"], "quantity": 1}], "customer_id": customer_id},
            headers=tenant.headers,
        )
    ).json()
    r = await client.post(f"/api/v1/orders/{order['id']}/status", json={"status": "confirmed"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        entries = (
            await client.get(f"/api/v1/conversations/{conv['id']}/automation-log", headers=tenant.headers)
        ).json()
        if any(e["rule_id"] == ordered["id"] for e in entries):
            break
        await asyncio.sleep(0.1)
    (entry,) = [e for e in entries if e["rule_id"] == ordered["id"]]
    assert entry["outcome"] == "ran", entry
    got = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=tenant.headers)).json()
    assert got["ai_agent"] == "sales" and got["assignee_id"] is None
    labels = (await client.get(f"/api/v1/conversations/{conv['id']}/labels", headers=tenant.headers)).json()
    assert labels["labels"] == ["closed-by-bot", "ordered"]


async def test_a_new_conversation_outside_business_hours_goes_to_a_team_and_gets_a_template(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, fakes: dict[str, Any]
):
    """``conversation.created`` through the worker: outside the hours given (a weekday that is not today), the
    conversation goes to a team that picks its online member, and a WhatsApp template is sent; the same rule for
    within the hours is skipped, saying why."""
    channel = await active_channel(client, tenant, fakes, "whatsapp")
    amal = await make_user(client, tenant, "amal")
    await online(client, tenant, amal)
    team = (
        await client.post(
            "/api/v1/teams",
            json={"name": "Night", "assignment": "round_robin", "member_ids": [amal]},
            headers=tenant.headers,
        )
    ).json()
    other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(datetime.now(UTC).weekday() + 3) % 7]
    hours = {"hours": f"{other_day} 09:00-18:00", "timezone": "UTC"}
    template = {"name": "we_are_closed", "language": "en_US", "components": []}
    closed = await rule(
        client,
        tenant,
        event="conversation.created",
        position=0,
        conditions=[
            {"field": "channel.type", "op": "eq", "value": "whatsapp"},
            {"field": "business_hours", "op": "is", "value": False, **hours},
        ],
        actions=[{"type": "assign", "team_id": team["id"]}, {"type": "send_reply", "template": template}],
    )
    open_ = await rule(
        client,
        tenant,
        event="conversation.created",
        position=1,
        conditions=[{"field": "business_hours", "op": "is", "value": True, **hours}],
        actions=[{"type": "label", "labels": ["daytime"]}],
    )
    phone = f"2010{uuid.uuid4().int % 10**8:08d}"
    r = await post(client, app, channel, p.wa_text(f"wamid.rule{phone}", "hello?", int(time.time()), frm=phone))
    assert r.status_code == 200, r.text
    await wait_idle(app)
    convs = (await client.get("/api/v1/conversations", params={"limit": 200}, headers=tenant.headers)).json()
    (conv,) = [c for c in convs["items"] if c["channel_id"] == channel["id"]]
    entries = await log_of(client, tenant, conv["id"], 2)
    assert [(e["rule_id"], e["event_type"], e["outcome"]) for e in entries] == [
        (closed["id"], "conversation.created", "ran"),
        (open_["id"], "conversation.created", "skipped"),
    ]
    assert "business_hours" in entries[1]["reason"]
    got = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=tenant.headers)).json()
    assert (got["team_id"], got["assignee_id"]) == (team["id"], amal)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not fakes["graph"].sent_to(phone):
        await asyncio.sleep(0.05)
    (sent,) = fakes["graph"].sent_to(phone)
    assert sent.body["type"] == "template" and sent.body["template"]["name"] == "we_are_closed"
