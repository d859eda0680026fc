"""Shared helpers: people of a tenant, and a Telegram channel that feeds the real inbound pipeline."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from souk.settings import Settings
from tests.channels.conftest import fakes  # noqa: F401 - fixture
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows
from tests.messaging.inbound import payloads as p
from tests.messaging.inbound.conftest import active_channel
from tests.support.webhooks import post, wait_idle

_ids = itertools.count(7_000)
T0 = int(time.time())


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": True, "automation_poll_seconds": 0.2})


@pytest.fixture
def rows(app: FastAPI, tenant: TenantFixture) -> Rows:
    return Rows(app.state.db, tenant.id)


async def make_user(client: httpx.AsyncClient, tenant: TenantFixture, name: str, role: str = "agent") -> str:
    r = await client.post(
        "/api/v1/users",
        json={
            "email": f"{name}-{uuid.uuid4().hex[:6]}@{tenant.slug}.example.com",
            "password": "a long password 1",
            "role": role,
            "name": name,
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def online(
    client: httpx.AsyncClient, tenant: TenantFixture, user_id: str, status: str = "online", **kw: Any
) -> None:
    r = await client.put(
        f"/api/v1/agents/{user_id}/availability", json={"availability": status, **kw}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text


@pytest.fixture
async def telegram(client: httpx.AsyncClient, tenant: TenantFixture, fakes: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    return await active_channel(client, tenant, fakes, "telegram")


async def say(
    client: httpx.AsyncClient, app: FastAPI, channel: dict[str, Any], chat: int, text: str, *, wait: bool = True
) -> None:
    n = next(_ids)
    r = await post(client, app, channel, p.tg_text(n, n, text, T0 + n - 7_000, chat_id=chat))
    assert r.status_code == 200, r.text
    if wait:
        await wait_idle(app)


async def conversation_of(client: httpx.AsyncClient, tenant: TenantFixture, chat: int) -> dict[str, Any]:
    r = await client.get("/api/v1/conversations", params={"limit": 200}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    found = [c for c in r.json()["items"] if c["external_thread_id"] == str(chat)]
    assert found, f"no conversation for chat {chat}"
    return found[0]
