"""Automation rules through HTTP and the worker: validation at save, each condition and action, once per event, the
loop guard, the no-reply timer and the per-conversation log."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from souk.automation.engine import Facts, run_rules
from souk.automation.models import AutomationRun
from souk.core.models import DomainEvent
from souk.db.types import utcnow
from souk.settings import Settings
from tests.automation.conftest import conversation_of, make_user, say
from tests.conftest import TenantFixture, make_tenant
from tests.messaging.api.conftest import Rows
from tests.support.servers import FakePlatformServer


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": True, "webhook_retry_base_seconds": 0.2})


async def rule(client: httpx.AsyncClient, tenant: TenantFixture, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"rule-{uuid.uuid4().hex[:6]}")
    r = await client.post("/api/v1/automation-rules", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def log_of(
    client: httpx.AsyncClient, tenant: TenantFixture, conversation_id: str, n: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """The conversation's automation log once it has at least ``n`` entries, oldest first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await client.get(f"/api/v1/conversations/{conversation_id}/automation-log", headers=tenant.headers)
        assert r.status_code == 200, r.text
        if len(r.json()) >= n:
            return list(reversed(r.json()))
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(r.json())} log entries after {timeout}s, expected {n}: {r.json()}")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"conditions": [{"field": "colour", "op": "eq", "value": "red"}]}, "conditions.0.field", "colour"),
        ({"actions": [{"type": "teleport"}]}, "actions.0.type", "teleport"),
        ({"conditions": [{"field": "message.text", "op": "near", "value": "x"}]}, "conditions.0.op", "near"),
        ({"conditions": [{"field": "message.text", "op": "regex", "value": r"(a+)\1"}]}, "conditions.0.value", "run"),
        ({"conditions": [{"field": "message.text", "op": "regex", "value": r"(?=a)a"}]}, "conditions.0.value", "run"),
        (
            {"conditions": [{"field": "message.text", "op": "regex", "value": "(x{1000}){1000}"}]},
            "conditions.0.value",
            "",
        ),
        ({"event": "message.deleted"}, "event", "message.deleted"),
        ({"event": "no_reply"}, "minutes", "minutes"),
        ({"actions": [{"type": "send_reply", "text": "{{customer.secret}}"}]}, "actions.0.text", "customer.secret"),
        ({"actions": [{"type": "label", "labels": ["ok"], "colour": "red"}]}, "actions.0.colour", "colour"),
    ],
)
async def test_a_bad_rule_is_refused_naming_what_is_wrong(
    client: httpx.AsyncClient, tenant: TenantFixture, body: dict[str, Any], field: str, words: str
):
    full = {"name": "bad", "event": "message.created", "actions": [{"type": "resolve"}], **body}
    r = await client.post("/api/v1/automation-rules", json=full, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert words in r.json()["detail"]


async def test_bad_values_and_unknown_keys_are_refused_at_save_naming_the_field(
    client: httpx.AsyncClient, tenant: TenantFixture
):
    """Values the run would choke on are refused when the rule is saved (one tenant for all the cases: cheap)."""
    cases = [
        ({"colour": "red"}, "colour", "colour"),
        ({"actions": [{"type": "set_stage", "lead_stage": "BOGUS"}]}, "actions.0.lead_stage", "BOGUS"),
        ({"actions": [{"type": "hand_to_ai", "agent": "nobody"}]}, "actions.0.agent", "nobody"),
        ({"actions": [{"type": "send_reply", "template": {"language": "en"}}]}, "actions.0.template.name", ""),
        ({"actions": [{"type": "send_reply", "template": "hello"}]}, "actions.0.template", ""),
        ({"conditions": [{"field": "customer.stage", "op": "eq", "value": "VIP"}]}, "conditions.0.value", "VIP"),
        ({"conditions": [{"field": "channel.type", "op": "eq", "value": "fax"}]}, "conditions.0.value", "fax"),
        (
            {"conditions": [{"field": "conversation.status", "op": "in", "value": ["open", "closed"]}]},
            "conditions.0.value",
            "closed",
        ),
    ]
    for body, field, words in cases:
        full = {"name": "bad", "event": "message.created", "actions": [{"type": "resolve"}], **body}
        for method, url in (("POST", "/api/v1/automation-rules"), ("PUT", None)):
            if url is None:
                kept = await rule(client, tenant, event="message.created", actions=[{"type": "resolve"}])
                url = f"/api/v1/automation-rules/{kept['id']}"
            r = await client.request(method, url, json=full, headers=tenant.headers)
            assert r.status_code == 422, (body, r.text)
            assert field in [e["field"] for e in r.json()["errors"]], (body, r.json())
            assert words in r.json()["detail"], (body, r.json())
            if method == "PUT":
                assert (await client.get(url, headers=tenant.headers)).json() == kept  # unchanged
                await client.delete(url, headers=tenant.headers)
    assert (await client.get("/api/v1/automation-rules", headers=tenant.headers)).json() == []  # nothing stored
    # values of a closed list compare without case, as the conditions do: accepted
    await rule(
        client,
        tenant,
        event="message.created",
        conditions=[{"field": "channel.type", "op": "in", "value": ["Telegram", "whatsapp"]}],
        actions=[{"type": "set_stage", "lead_stage": "QUALIFIED"}, {"type": "hand_to_ai", "agent": "sales"}],
    )


async def test_a_pathological_but_linear_regex_is_accepted_and_runs_fast(
    client: httpx.AsyncClient, tenant: TenantFixture
):
    from souk.automation.engine import compare

    await rule(
        client,
        tenant,
        event="message.created",
        conditions=[{"field": "message.text", "op": "regex", "value": "^(a+)+$"}],
        actions=[{"type": "resolve"}],
    )
    started = time.perf_counter()
    assert compare("regex", "a" * 50_000 + "!", "^(a+)+$") is False  # backtracking engines take for ever here
    assert time.perf_counter() - started < 1.0


async def test_ids_of_another_tenant_in_actions_are_404(client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture):
    other = await make_tenant(app, "globex")
    stranger = await make_user(client, other, "stranger")
    r = await client.post(
        "/api/v1/automation-rules",
        json={"name": "x", "event": "conversation.created", "actions": [{"type": "assign", "user_id": stranger}]},
        headers=tenant.headers,
    )
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "actions.0.user_id"


async def test_rules_run_in_order_once_per_event_with_conditions_actions_and_a_log(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, telegram: dict[str, Any], fakes: dict[str, Any]
):
    amal = await make_user(client, tenant, "amal")
    chat = 100_000 + uuid.uuid4().int % 1_000_000  # the fake Telegram outlives a test: a chat of its own
    pipeline = (await client.post("/api/v1/pipelines", json={"name": "Sales"}, headers=tenant.headers)).json()
    stages = pipeline["stages"]
    pricing = await rule(
        client,
        tenant,
        event="message.created",
        position=0,
        conditions=[
            {"field": "message.direction", "op": "eq", "value": "inbound"},
            {"field": "message.text", "op": "regex", "value": r"\bprices?\b"},
            {"field": "channel.type", "op": "in", "value": ["telegram", "whatsapp"]},
            {"field": "message.language", "op": "eq", "value": "en"},
            {"field": "customer.stage", "op": "in", "value": ["INTAKE", "NURTURE"]},
            {"field": "business_hours", "op": "is", "value": True, "hours": "mon-sun 00:00-23:59"},
        ],
        actions=[
            {"type": "label", "labels": ["pricing"]},
            {"type": "assign", "user_id": amal},
            {"type": "send_reply", "text": "Hi {{customer.first_name}}, our prices are on the site."},
        ],
    )
    follow = await rule(
        client,
        tenant,
        event="message.created",
        position=1,
        conditions=[
            {"field": "message.direction", "op": "eq", "value": "inbound"},
            {"field": "conversation.label", "op": "has", "value": "pricing"},
            {"field": "attribution.source", "op": "eq", "value": "direct_message"},
            {"field": "customer.score", "op": "gte", "value": 0},
        ],
        actions=[
            {"type": "set_stage", "stage_id": stages[1]["id"]},
            {"type": "label", "labels": ["lead"], "target": "customer"},
        ],
    )
    refunds = await rule(
        client,
        tenant,
        event="message.created",
        position=2,
        conditions=[{"field": "message.text", "op": "contains", "value": "refund"}],
        actions=[{"type": "resolve"}],
    )
    await say(client, app, telegram, chat, "What is the price of the blue dress?")
    conv = await conversation_of(client, tenant, chat)
    assert conv["pipeline_id"] == pipeline["id"]
    entries = await log_of(client, tenant, conv["id"], 6)  # 3 rules × (the question + our reply)
    question = [e for e in entries if e["event_id"] == entries[0]["event_id"]]
    assert [(e["rule_id"], e["outcome"]) for e in question] == [
        (pricing["id"], "ran"),
        (follow["id"], "ran"),
        (refunds["id"], "skipped"),
    ]
    assert "refund" in question[2]["reason"]
    assert [a["type"] for a in question[0]["actions_done"]] == ["label", "assign", "send_reply"]
    reply = [e for e in entries if e["event_id"] != entries[0]["event_id"]]
    assert [e["outcome"] for e in reply] == ["loop_guard", "skipped", "skipped"]
    assert reply[0]["rule_id"] == pricing["id"] and "own actions" in reply[0]["reason"]

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not fakes["telegram"].messages_in(chat):
        await asyncio.sleep(0.05)
    assert [m["text"] for m in fakes["telegram"].messages_in(chat)] == ["Hi Layla, our prices are on the site."]
    got = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=tenant.headers)).json()
    assert got["assignee_id"] == amal and got["stage_id"] == stages[1]["id"]
    labels = (await client.get(f"/api/v1/conversations/{conv['id']}/labels", headers=tenant.headers)).json()
    assert labels["labels"] == ["pricing"]
    cust = (await client.get(f"/api/v1/customers/{conv['customer_id']}/labels", headers=tenant.headers)).json()
    assert cust["labels"] == ["lead"]

    # the same event again (a redelivery): no rule runs twice, nothing is sent twice
    async with app.state.db.tenant_session(tenant.id) as s:
        event = await s.scalar(
            select(DomainEvent)
            .where(DomainEvent.event_type == "message.created")
            .order_by(DomainEvent.created_at.desc())
        )
        ev = await s.scalar(select(DomainEvent).where(DomainEvent.id == uuid.UUID(question[0]["event_id"])))
        assert event is not None and ev is not None
        before = await s.scalar(select(func.count(AutomationRun.id)))
        async with httpx.AsyncClient() as http:
            facts = Facts(tenant.id, str(ev.id), "message.created", ev.payload)
            effects = await run_rules(s, facts, http)
        assert effects.outbound == []
        assert await s.scalar(select(func.count(AutomationRun.id))) == before


async def test_a_rule_loop_between_two_rules_is_stopped(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, rows: Rows
):
    customer = await rows.customer()
    conv = await rows.conversation(await rows.channel(), customer)
    ping = await rule(
        client,
        tenant,
        event="customer.stage_changed",
        position=0,
        conditions=[{"field": "customer.stage", "op": "eq", "value": "NURTURE"}],
        actions=[{"type": "set_stage", "lead_stage": "QUALIFIED"}],
    )
    pong = await rule(
        client,
        tenant,
        event="customer.stage_changed",
        position=1,
        conditions=[{"field": "customer.stage", "op": "eq", "value": "QUALIFIED"}],
        actions=[{"type": "set_stage", "lead_stage": "NURTURE"}],
    )
    r = await client.patch(f"/api/v1/customers/{customer.id}", json={"lead_stage": "NURTURE"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    entries = await log_of(client, tenant, str(conv.id), 8)
    await asyncio.sleep(1.5)
    again = await log_of(client, tenant, str(conv.id), 8)
    assert len(again) == 8  # it stopped
    outcomes = Counter(e["outcome"] for e in entries)
    assert outcomes == {"ran": 3, "loop_guard": 4, "skipped": 1}
    assert {e["rule_id"] for e in entries} == {ping["id"], pong["id"]}
    assert any("own actions" in (e["reason"] or "") for e in entries)


@pytest.fixture
def receiver() -> Iterator[FakePlatformServer]:
    with FakePlatformServer() as server:
        yield server


async def test_no_reply_fires_once_with_a_webhook_and_status_actions_and_failures_are_logged(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenant: TenantFixture,
    rows: Rows,
    receiver: FakePlatformServer,
):
    receiver.respond("POST", "/late", 200, times=None)
    sub = (
        await client.post(
            "/api/v1/webhooks", json={"url": receiver.url + "/late", "events": ["none.*"]}, headers=tenant.headers
        )
    ).json()
    channel, customer = await rows.channel(), await rows.customer()
    waiting = await rows.conversation(channel, customer, last_inbound_at=utcnow() - timedelta(minutes=5))
    answered = await rows.conversation(channel, customer, last_inbound_at=utcnow() - timedelta(minutes=5))
    await rows.message(answered, utcnow() - timedelta(minutes=1), direction="outbound", status="sent", sent_by="user")
    # silence from days ago (imported history, or from before the rule) is not news: no rule fires on it
    old = await rows.conversation(channel, customer, last_inbound_at=utcnow() - timedelta(days=3))
    late = await rule(
        client,
        tenant,
        event="no_reply",
        minutes=2,
        actions=[
            {"type": "label", "labels": ["late"]},
            {"type": "send_webhook", "subscription_id": sub["id"]},
            {"type": "snooze", "minutes": 30},
        ],
    )
    entries = await log_of(client, tenant, str(waiting.id), 1)
    assert entries[0]["rule_id"] == late["id"] and entries[0]["outcome"] == "ran", entries
    got = await receiver.wait_for_requests_async(1, timeout=15)
    assert got[0].json["type"] == "automation.no_reply" and got[0].json["data"]["conversation_id"] == str(waiting.id)
    conv = (await client.get(f"/api/v1/conversations/{waiting.id}", headers=tenant.headers)).json()
    assert conv["status"] == "snoozed" and conv["snoozed_until"]
    await asyncio.sleep(1.5)
    assert len(await log_of(client, tenant, str(waiting.id), 1)) == 1  # once per unanswered message
    for quiet in (answered, old):
        assert (
            await client.get(f"/api/v1/conversations/{quiet.id}/automation-log", headers=tenant.headers)
        ).json() == []

    # a failing action rolls back that rule's other actions and says why; resolve works
    await rule(
        client,
        tenant,
        event="conversation.resolved",
        actions=[{"type": "label", "labels": ["bot"]}, {"type": "hand_to_ai", "agent": "sales"}],
    )
    r = await client.put(
        f"/api/v1/conversations/{answered.id}/status", json={"status": "resolved"}, headers=tenant.headers
    )
    assert r.status_code == 200
    (entry,) = await log_of(client, tenant, str(answered.id), 1)
    assert entry["outcome"] == "failed" and "ai_agents_enabled" in entry["reason"]
    assert (await client.get(f"/api/v1/conversations/{answered.id}/labels", headers=tenant.headers)).json()[
        "labels"
    ] == []
