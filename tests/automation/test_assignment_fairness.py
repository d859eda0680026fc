"""Auto-assignment over 1,000 conversations: round-robin and least-open are fair, respect availability and caps."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select

from souk.messaging.models import Conversation
from souk.settings import Settings
from tests.automation.conftest import make_user, online
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import T0, Rows, at

N = 1_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": False})


async def backlog(app: FastAPI, rows: Rows, team_id: str, n: int, assignee: str | None = None) -> None:
    """``n`` open conversations of the team, in one insert."""
    channel = await rows.channel("telegram")
    customer = await rows.customer()
    values = [
        {
            "id": uuid.uuid4(),
            "tenant_id": rows.tenant_id,
            "channel_id": channel.id,
            "customer_id": customer.id,
            "external_thread_id": f"t-{uuid.uuid4().hex}",
            "status": "open",
            "is_active": True,
            "message_count": 0,
            "started_at": T0,
            "last_activity": at(i),
            "created_at": T0,
            "updated_at": T0,
            "team_id": uuid.UUID(team_id),
            "assignee_id": uuid.UUID(assignee) if assignee else None,
        }
        for i in range(n)
    ]
    async with app.state.db.tenant_session(rows.tenant_id) as s:
        await s.execute(insert(Conversation), values)


async def load(app: FastAPI, tenant: TenantFixture, team_id: str) -> Counter:
    async with app.state.db.tenant_session(tenant.id) as s:
        got = (
            await s.scalars(select(Conversation.assignee_id).where(Conversation.team_id == uuid.UUID(team_id)))
        ).all()
    return Counter(str(a) if a else None for a in got)


async def team(client: httpx.AsyncClient, tenant: TenantFixture, mode: str, members: list[str], **kw) -> str:
    r = await client.post(
        "/api/v1/teams",
        json={"name": f"team-{uuid.uuid4().hex[:6]}", "assignment": mode, "member_ids": members, **kw},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_round_robin_over_1000_conversations_differs_by_at_most_one_and_skips_away_agents(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture
):
    rows = Rows(app.state.db, tenant.id)
    agents = [await make_user(client, tenant, f"a{i}") for i in range(4)]
    for uid in agents[:3]:
        await online(client, tenant, uid)
    await online(client, tenant, agents[3], "away")
    team_id = await team(client, tenant, "round_robin", agents)
    await backlog(app, rows, team_id, N)
    r = await client.post(f"/api/v1/teams/{team_id}/auto-assign", headers=tenant.headers)
    assert r.status_code == 200 and r.json() == {"assigned": N, "waiting": 0}
    counts = await load(app, tenant, team_id)
    assert agents[3] not in counts and None not in counts
    assert sorted(counts.values()) == [333, 333, 334]


async def test_least_open_evens_out_an_uneven_load_and_respects_caps(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantFixture
):
    rows = Rows(app.state.db, tenant.id)
    busy, idle, capped = [await make_user(client, tenant, n) for n in ("busy", "idle", "capped")]
    for uid in (busy, idle):
        await online(client, tenant, uid)
    await online(client, tenant, capped, max_open=50)
    team_id = await team(client, tenant, "least_open", [busy, idle, capped], max_open_per_agent=600)
    await backlog(app, rows, team_id, 300, assignee=busy)  # busy starts with 300 open
    await backlog(app, rows, team_id, N)
    r = await client.post(f"/api/v1/teams/{team_id}/auto-assign", headers=tenant.headers)
    assert r.status_code == 200, r.text
    counts = await load(app, tenant, team_id)
    assert counts[capped] == 50  # its own cap
    # the remaining 950 level the two others: 300 + x and y with x + y = 950 → 625 each, but the team cap is 600
    assert counts[busy] == 600 and counts[idle] == 600
    assert counts[None] == 1300 - 1250 and r.json() == {"assigned": 950, "waiting": 50}
