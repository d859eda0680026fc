"""Seed 004's routing steps 8-9 through the real inbound pipeline: pipeline, stage, team, assignment, status."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from souk.automation.models import AgentPresence
from souk.messaging.models import Conversation, Message
from tests.automation.conftest import conversation_of, make_user, online, say
from tests.conftest import TenantFixture, make_tenant


async def test_pipelines_crud_keeps_stages_in_order(client: httpx.AsyncClient, tenant: TenantFixture):
    r = await client.post(
        "/api/v1/pipelines",
        json={"name": "Wholesale", "stages": [{"name": "Lead"}, {"name": "Quote"}, {"name": "Won"}]},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    pipeline = r.json()
    assert [s["name"] for s in pipeline["stages"]] == ["Lead", "Quote", "Won"]
    assert pipeline["is_default"] is True  # the project's first pipeline
    quote = pipeline["stages"][1]["id"]
    r = await client.patch(
        f"/api/v1/pipelines/{pipeline['id']}",
        json={"stages": [{"name": "Quote"}, {"name": "Lead"}, {"name": "Lost"}]},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    assert [s["name"] for s in r.json()["stages"]] == ["Quote", "Lead", "Lost"]
    assert r.json()["stages"][0]["id"] == quote  # a kept stage keeps its id
    dup = await client.post(
        "/api/v1/pipelines", json={"name": "X", "stages": [{"name": "A"}, {"name": "A"}]}, headers=tenant.headers
    )
    assert dup.status_code == 422 and dup.json()["errors"][0]["field"] == "stages.1.name"
    assert (await client.get("/api/v1/pipelines", headers=tenant.headers)).json()[0]["name"] == "Wholesale"
    assert (await client.delete(f"/api/v1/pipelines/{pipeline['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/api/v1/pipelines/{pipeline['id']}", headers=tenant.headers)).status_code == 404


async def test_inbound_routes_to_the_channels_pipeline_else_the_default_and_a_contact_stays_in_its_pipeline(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, telegram: dict[str, Any]
):
    # no pipeline at all: the project's default is created on demand, first stage
    await say(client, app, telegram, 9001, "hi")
    first = await conversation_of(client, tenant, 9001)
    pipelines = (await client.get("/api/v1/pipelines", headers=tenant.headers)).json()
    assert len(pipelines) == 1 and pipelines[0]["is_default"]
    assert first["pipeline_id"] == pipelines[0]["id"] and first["stage_id"] == pipelines[0]["stages"][0]["id"]

    vip = (
        await client.post(
            "/api/v1/pipelines", json={"name": "VIP", "stages": [{"name": "Hot"}]}, headers=tenant.headers
        )
    ).json()
    r = await client.post(
        f"/api/v1/channels/{telegram['id']}/associate-pipeline", json={"pipeline_id": vip["id"]}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    # a new contact on the channel goes to the channel's pipeline
    await say(client, app, telegram, 9002, "hello")
    second = await conversation_of(client, tenant, 9002)
    assert second["pipeline_id"] == vip["id"] and second["stage_id"] == vip["stages"][0]["id"]
    # the first contact, back after the session ended, stays in the default pipeline (seed 004)
    async with app.state.db.tenant_session(tenant.id) as s:
        await s.execute(update(Conversation).where(Conversation.id == uuid.UUID(first["id"])).values(is_active=False))
    await say(client, app, telegram, 9001, "back again")
    convs = (await client.get("/api/v1/conversations", params={"limit": 50}, headers=tenant.headers)).json()["items"]
    again = [c for c in convs if c["external_thread_id"] == "9001" and c["id"] != first["id"]]
    assert len(again) == 1 and again[0]["pipeline_id"] == pipelines[0]["id"]
    history = (await client.get(f"/api/v1/conversations/{first['id']}/stage-history", headers=tenant.headers)).json()
    assert history[0]["reason"] == "routed by project default"


async def test_moving_between_stages_is_recorded(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, telegram: dict[str, Any]
):
    await say(client, app, telegram, 9101, "hi")
    conv = await conversation_of(client, tenant, 9101)
    stages = (await client.get(f"/api/v1/pipelines/{conv['pipeline_id']}", headers=tenant.headers)).json()["stages"]
    r = await client.put(
        f"/api/v1/conversations/{conv['id']}/stage",
        json={"stage_id": stages[2]["id"], "reason": "paid"},
        headers=tenant.headers,
    )
    assert r.status_code == 200 and r.json()["stage_id"] == stages[2]["id"]
    history = (await client.get(f"/api/v1/conversations/{conv['id']}/stage-history", headers=tenant.headers)).json()
    assert [(h["from_stage_id"], h["to_stage_id"]) for h in history] == [
        (None, stages[0]["id"]),
        (stages[0]["id"], stages[2]["id"]),
    ]
    assert history[1]["reason"] == "paid"


async def test_a_pipelines_team_auto_assigns_new_conversations_to_online_agents(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, telegram: dict[str, Any]
):
    amal, badr, away = [await make_user(client, tenant, n) for n in ("amal", "badr", "away")]
    for uid in (amal, badr):
        await online(client, tenant, uid)
    await online(client, tenant, away, "away")
    team = (
        await client.post(
            "/api/v1/teams",
            json={"name": "Support", "assignment": "round_robin", "member_ids": [amal, badr, away]},
            headers=tenant.headers,
        )
    ).json()
    pipeline = (
        await client.post("/api/v1/pipelines", json={"name": "Support", "team_id": team["id"]}, headers=tenant.headers)
    ).json()
    await client.post(
        f"/api/v1/channels/{telegram['id']}/associate-pipeline",
        json={"pipeline_id": pipeline["id"]},
        headers=tenant.headers,
    )
    for chat in (9201, 9202, 9203, 9204):
        await say(client, app, telegram, chat, "help", wait=False)
    await say(client, app, telegram, 9205, "help")
    convs = [await conversation_of(client, tenant, c) for c in (9201, 9202, 9203, 9204, 9205)]
    assert all(c["team_id"] == team["id"] for c in convs)
    assignees = [c["assignee_id"] for c in convs]
    assert away not in assignees
    assert sorted(assignees.count(u) for u in (amal, badr)) == [2, 3]
    mine = await client.get("/api/v1/conversations", params={"assignee_id": amal}, headers=tenant.headers)
    assert mine.json()["total"] == assignees.count(amal)
    agents = {a["id"]: a for a in (await client.get("/api/v1/agents", headers=tenant.headers)).json()}
    assert agents[away]["availability"] == "away"
    assert agents[amal]["open_conversations"] + agents[badr]["open_conversations"] == 5


async def test_status_resolve_reopens_on_inbound_and_snooze_is_woken_by_the_worker(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, telegram: dict[str, Any]
):
    await say(client, app, telegram, 9301, "hi")
    conv = await conversation_of(client, tenant, 9301)
    url = f"/api/v1/conversations/{conv['id']}/status"
    r = await client.put(url, json={"status": "resolved"}, headers=tenant.headers)
    assert r.json()["status"] == "resolved" and r.json()["resolved_at"]
    await say(client, app, telegram, 9301, "one more thing")
    assert (await conversation_of(client, tenant, 9301))["status"] == "open"

    r = await client.put(url, json={"status": "snoozed"}, headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "snoozed_until"
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    r = await client.put(url, json={"status": "snoozed", "snoozed_until": soon}, headers=tenant.headers)
    assert r.json()["status"] == "snoozed"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=tenant.headers)).json()
        if got["status"] == "open":
            break
        await asyncio.sleep(0.2)
    assert got["status"] == "open" and got["snoozed_until"] is None


async def test_assignment_to_another_tenants_agent_or_team_is_404(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, telegram: dict[str, Any]
):
    other = await make_tenant(app, "globex")
    stranger = await make_user(client, other, "stranger")
    their_team = (await client.post("/api/v1/teams", json={"name": "T"}, headers=other.headers)).json()
    await say(client, app, telegram, 9401, "hi")
    conv = await conversation_of(client, tenant, 9401)
    url = f"/api/v1/conversations/{conv['id']}/assignee"
    assert (await client.put(url, json={"assignee_id": stranger}, headers=tenant.headers)).status_code == 404
    assert (await client.put(url, json={"team_id": their_team["id"]}, headers=tenant.headers)).status_code == 404
    assert (await client.put(url, json={"assignee_id": stranger}, headers=other.headers)).status_code == 404
    r = await client.post("/api/v1/teams", json={"name": "Mixed", "member_ids": [stranger]}, headers=tenant.headers)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "member_ids.0"
    mine = await make_user(client, tenant, "mine")
    r = await client.put(url, json={"assignee_id": mine}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["assignee_id"] == mine


async def test_a_session_that_timed_out_is_resolved_with_its_time_and_event(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, telegram: dict[str, Any]
):
    from tests.automation.test_automations import log_of, rule

    closed = await rule(
        client,
        tenant,
        event="conversation.resolved",
        conditions=[{"field": "channel.id", "op": "eq", "value": telegram["id"]}],
        actions=[{"type": "label", "labels": ["timed-out"]}],
    )
    await say(client, app, telegram, 9302, "hi")
    old = await conversation_of(client, tenant, 9302)
    quiet = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    async with app.state.db.tenant_session(tenant.id) as s:
        await s.execute(
            update(Conversation)
            .where(Conversation.id == uuid.UUID(old["id"]))
            .values(last_activity=quiet, started_at=quiet)
        )
        await s.execute(update(Message).where(Message.conversation_id == uuid.UUID(old["id"])).values(timestamp=quiet))
    await say(client, app, telegram, 9302, "back after two days")
    got = (await client.get(f"/api/v1/conversations/{old['id']}", headers=tenant.headers)).json()
    assert got["status"] == "resolved"
    # resolved as of when the session (24 hours by default) ran out, not when the customer came back
    assert datetime.fromisoformat(got["resolved_at"]) == quiet + timedelta(hours=24)
    sla = (await client.get(f"/api/v1/conversations/{old['id']}/sla", headers=tenant.headers)).json()
    assert sla["resolution_seconds"] == 24 * 3600
    (entry,) = await log_of(client, tenant, old["id"], 1)  # the conversation.resolved event reached the rules
    assert (entry["rule_id"], entry["outcome"]) == (closed["id"], "ran")
    labels = (await client.get(f"/api/v1/conversations/{old['id']}/labels", headers=tenant.headers)).json()
    assert labels["labels"] == ["timed-out"]


async def test_waiting_conversations_go_to_whoever_comes_online_or_frees_a_place(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture, telegram: dict[str, Any]
):
    """Decision 0021: nobody online, the team's conversations wait; a person choosing online, a person whose inbox
    says they are there (heartbeat), and a resolved conversation each hand out what waits, one per free place."""
    amal, badr = [await make_user(client, tenant, n) for n in ("amal", "badr")]
    team = (
        await client.post(
            "/api/v1/teams",
            json={"name": "Queue", "assignment": "round_robin", "max_open_per_agent": 1, "member_ids": [amal, badr]},
            headers=tenant.headers,
        )
    ).json()
    pipeline = (
        await client.post("/api/v1/pipelines", json={"name": "Queue", "team_id": team["id"]}, headers=tenant.headers)
    ).json()
    await client.post(
        f"/api/v1/channels/{telegram['id']}/associate-pipeline",
        json={"pipeline_id": pipeline["id"]},
        headers=tenant.headers,
    )
    for chat in (9501, 9502):
        await say(client, app, telegram, chat, "anyone there?", wait=False)
    await say(client, app, telegram, 9503, "anyone there?")

    async def assignees() -> list[str | None]:
        return [(await conversation_of(client, tenant, c))["assignee_id"] for c in (9501, 9502, 9503)]

    assert await assignees() == [None, None, None]  # nobody online: they wait with the team

    await online(client, tenant, amal)  # a choice: amal takes the oldest, up to the cap
    assert await assignees() == [amal, None, None]

    # badr never chose: his open, used inbox makes him online
    agents = {a["id"]: a for a in (await client.get("/api/v1/agents", headers=tenant.headers)).json()}
    assert (agents[badr]["availability"], agents[badr]["automatic"]) == ("offline", True)
    login = await client.post(
        "/api/v1/auth/login", json={"email": agents[badr]["email"], "password": "a long password 1"}
    )
    assert login.status_code == 200, login.text
    session = {"Cookie": f"souk_session={login.cookies['souk_session']}"}
    client.cookies.clear()
    r = await client.post("/api/v1/agents/me/heartbeat", json={"active": True}, headers=session)
    assert r.status_code == 200 and r.json()["availability"] == "online", r.text
    assert await assignees() == [amal, badr, None]

    # amal resolves hers: the place it frees goes to the last one waiting
    first = await conversation_of(client, tenant, 9501)
    r = await client.put(
        f"/api/v1/conversations/{first['id']}/status", json={"status": "resolved"}, headers=tenant.headers
    )
    assert r.status_code == 200
    assert (await conversation_of(client, tenant, 9503))["assignee_id"] == amal

    # an idle inbox is away, a closed one offline; a choice holds, and automatic can be chosen again
    async with app.state.db.tenant_session(tenant.id) as s:
        ago = datetime.now(UTC) - timedelta(minutes=6)
        await s.execute(update(AgentPresence).where(AgentPresence.user_id == uuid.UUID(badr)).values(active_at=ago))
    r = await client.post("/api/v1/agents/me/heartbeat", json={"active": False}, headers=session)
    assert r.json()["availability"] == "away"
    async with app.state.db.tenant_session(tenant.id) as s:
        await s.execute(update(AgentPresence).where(AgentPresence.user_id == uuid.UUID(badr)).values(seen_at=ago))
    agents = {a["id"]: a for a in (await client.get("/api/v1/agents", headers=tenant.headers)).json()}
    assert agents[badr]["availability"] == "offline"
    url = f"/api/v1/agents/{badr}/availability"
    r = await client.put(url, json={"availability": "away"}, headers=session)
    assert (r.json()["availability"], r.json()["automatic"]) == ("away", False)
    r = await client.post("/api/v1/agents/me/heartbeat", json={"active": True}, headers=session)
    assert r.json()["availability"] == "away"
    r = await client.put(url, json={"automatic": True}, headers=session)
    assert (r.json()["availability"], r.json()["automatic"]) == ("online", True)
    for bad, field in (({}, "availability"), ({"availability": "busy"}, "availability"), ({"mood": "x"}, "mood")):
        r = await client.put(url, json=bad, headers=session)
        assert r.status_code == 422 and field in [e["field"] for e in r.json()["errors"]], r.text
    r = await client.put(f"/api/v1/agents/{amal}/availability", json={"availability": "offline"}, headers=session)
    assert r.status_code == 403  # an agent sets only their own
