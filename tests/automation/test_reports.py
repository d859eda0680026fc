"""SLA per conversation and the reports, on fixed data (no clock reads: the period is given)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from souk.settings import Settings
from tests.automation.conftest import make_user, online
from tests.conftest import TenantFixture, make_tenant
from tests.messaging.api.conftest import Rows, at

PERIOD = {"since": at(-60).isoformat(), "until": at(60 * 24 * 3).isoformat()}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": False})


def human(**kw):
    return {
        "direction": "outbound",
        "status": "sent",
        "sent_by": "souk",
        "message_metadata": {"sender": {"type": "user"}},
        **kw,
    }


def bot(**kw):
    return {
        "direction": "outbound",
        "status": "sent",
        "sent_by": "souk",
        "message_metadata": {"sender": {"type": "agent"}},
        **kw,
    }


async def test_sla_and_reports(client: httpx.AsyncClient, app: FastAPI, rows: Rows, tenant: TenantFixture):
    amal = await make_user(client, tenant, "amal")
    await online(client, tenant, amal)
    team = (
        await client.post("/api/v1/teams", json={"name": "Support", "member_ids": [amal]}, headers=tenant.headers)
    ).json()
    tg, wa = await rows.channel("telegram"), await rows.channel("whatsapp")
    customer = await rows.customer()
    # answered by a person after 2 minutes, resolved after 10
    a = await rows.conversation(tg, customer, started_at=at(0), status="resolved", resolved_at=at(10))
    await rows.message(a, at(0))
    await rows.message(a, at(2), **human())
    await rows.message(a, at(3))
    # answered by the AI after 30 seconds, still open, assigned to amal in the team
    b = await rows.conversation(wa, customer, started_at=at(60 * 24), team_id=uuid.UUID(team["id"]))
    await rows.message(b, at(60 * 24))
    await rows.message(b, at(60 * 24 + 0.5), **bot())
    # never answered, waiting in the team
    c = await rows.conversation(wa, customer, started_at=at(60 * 24 + 5), team_id=uuid.UUID(team["id"]))
    await rows.message(c, at(60 * 24 + 5))
    await client.put(f"/api/v1/conversations/{b.id}/assignee", json={"assignee_id": amal}, headers=tenant.headers)

    sla = (await client.get(f"/api/v1/conversations/{a.id}/sla", headers=tenant.headers)).json()
    assert sla["first_response_seconds"] == 120 and sla["resolution_seconds"] == 600
    assert sla["first_response_by"] == "human"
    sla = (await client.get(f"/api/v1/conversations/{c.id}/sla", headers=tenant.headers)).json()
    assert sla["first_response_at"] is None and sla["resolution_seconds"] is None

    r = (await client.get("/api/v1/reports/conversations", params=PERIOD, headers=tenant.headers)).json()
    assert r["by_status"] == {"open": 2, "pending": 0, "snoozed": 0, "resolved": 1}
    assert r["started"] == 3 and r["resolved"] == 1 and r["open_unassigned"] == 1

    r = (await client.get("/api/v1/reports/response-times", params=PERIOD, headers=tenant.headers)).json()
    assert r["conversations"] == 3 and r["unanswered"] == 1
    assert r["first_response_seconds"]["count"] == 2 and r["first_response_seconds"]["average"] == 75
    assert r["resolution_seconds"]["average"] == 600

    agents = (await client.get("/api/v1/reports/agents", params=PERIOD, headers=tenant.headers)).json()
    mine = next(x for x in agents if x["user_id"] == amal)
    assert mine["open"] == 1 and mine["availability"] == "online" and mine["first_response_seconds"]["average"] == 30

    teams = (await client.get("/api/v1/reports/teams", headers=tenant.headers)).json()
    assert teams == [
        {
            "team_id": team["id"],
            "name": "Support",
            "assignment": "manual",
            "members": 1,
            "online": 1,
            "open_assigned": 1,
            "open_unassigned": 1,
        }
    ]

    volume = (await client.get("/api/v1/reports/channel-volume", params=PERIOD, headers=tenant.headers)).json()
    assert volume == [
        {"channel_id": str(tg.id), "day": "2026-03-01", "inbound": 2, "outbound": 1},
        {"channel_id": str(wa.id), "day": "2026-03-02", "inbound": 2, "outbound": 1},
    ]

    share = (await client.get("/api/v1/reports/ai-share", params=PERIOD, headers=tenant.headers)).json()
    assert share["replies"] == {"ai": 1, "human": 1, "automation": 0, "total": 2} and share["ai_share"] == 0.5

    other = await make_tenant(app, "globex")
    empty = (await client.get("/api/v1/reports/conversations", params=PERIOD, headers=other.headers)).json()
    assert empty["started"] == 0 and empty["by_status"]["open"] == 0
    assert (await client.get(f"/api/v1/conversations/{a.id}/sla", headers=other.headers)).status_code == 404
