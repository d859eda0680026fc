"""Seed 004's channel events: written to the outbox with the change, published on NATS once each."""

from __future__ import annotations

import asyncio
import json

import nats
from sqlalchemy import select

from souk.core.models import DomainEvent
from tests.channels.test_channels_api import HOOK_BASE, create

EXPECTED = [
    "channel.created",
    "channel.updated",
    "channel.activated",
    "channel.deactivated",
    "channel.pipeline.associated",
    "channel.pipeline.disassociated",
    "channel.deleted",
]


async def test_each_change_publishes_its_event_once(client, app, tenant, channel_configs, nats_url):

    nc = await nats.connect(nats_url)
    got: list[dict] = []

    async def on(msg):
        got.append(json.loads(msg.data))

    await nc.subscribe(f"souk.{tenant.id}.channel.>", cb=on)
    ch = await create(client, tenant, "telegram", channel_configs["telegram"])
    base = f"/api/v1/channels/{ch['id']}"
    await client.patch(base, headers=tenant.headers, json={"name": "n"})
    await client.post(base + "/configure-webhook", headers=tenant.headers, json={"webhook_url": HOOK_BASE})
    await client.post(base + "/activate", headers=tenant.headers)
    await client.post(base + "/deactivate", headers=tenant.headers)
    pid = (await client.post("/api/v1/pipelines", headers=tenant.headers, json={"name": "Sales"})).json()["id"]
    await client.post(base + "/associate-pipeline", headers=tenant.headers, json={"pipeline_id": pid})
    await client.post(base + "/disassociate-pipeline", headers=tenant.headers)
    await client.delete(base, headers=tenant.headers)
    # a refused change (illegal transition) emits nothing
    await client.post(base + "/deactivate", headers=tenant.headers)
    for _ in range(100):
        if {e["type"] for e in got} >= set(EXPECTED):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    await nc.close()
    types = [e["type"] for e in got]
    for name in EXPECTED:
        assert name in types, (name, types)
    assert types.count("channel.activated") == 1 and types.count("channel.created") == 1
    assert len({e["id"] for e in got}) == len(got)  # no event delivered twice
    assert all(e["data"]["channel_id"] == ch["id"] for e in got)
    async with app.state.db.system_session() as s:
        rows = (await s.scalars(select(DomainEvent).where(DomainEvent.tenant_id == tenant.id))).all()
    assert all(r.published_at for r in rows) and len(rows) == len(got)
