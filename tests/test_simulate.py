"""``souk simulate`` against a real Souk server: customers on every platform get the demo shop's answers, and the
receipts the simulated platforms send back turn the replies' ticks blue. Chotot's buyers reach Souk as its chat
vendor does, on the channel's broker subject of the test's NATS server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from souk.channels.models import Channel
from souk.commerce.demo import load_demo_shop
from souk.core.running import Running, write_running
from souk.messaging.models import Message
from souk.settings import Settings
from souk.simulate import PLATFORMS, simulate
from tests.conftest import TenantFixture
from tests.e2e.browser import serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": True})


async def _messages(app, tenant: TenantFixture) -> dict[str, list[Message]]:
    """Every message, by channel type."""
    async with app.state.db.tenant_session(tenant.id) as session:
        rows = (
            await session.execute(
                select(Channel.channel_type, Message).join(Channel, Channel.id == Message.channel_id)
                .order_by(Message.timestamp)
            )
        ).all()  # fmt: skip
    found: dict[str, list[Message]] = {}
    for channel_type, message in rows:
        found.setdefault(str(channel_type), []).append(message)
    return found


async def test_simulated_customers_on_every_platform_are_answered_and_read(
    app, client, tenant: TenantFixture, nats_url: str, tmp_path: Path
) -> None:
    async with app.state.db.tenant_session(tenant.id) as session:
        await load_demo_shop(session, tenant.id)
    lines: list[str] = []
    async with serve(app) as base:
        sent = await simulate(base, tenant.key, customers=1, rounds=1, pause=0, nats_url=nats_url, say=lines.append)

    assert set(sent) == set(PLATFORMS)
    for channel_type, stand_in in PLATFORMS.items():
        first = stand_in.customers[0]
        # Souk's connection test found the simulated account (bot, number, Page, Instagram or TikTok account, WAHA
        # session, Chotot shop)
        assert any(line.startswith(f"Simulated {stand_in.label} at ") and "()" not in line for line in lines)
        assert len(sent[channel_type].get(first.id, [])) >= len(first.script), (channel_type, sent[channel_type])
        assert any(line.startswith(f"→ {first.name} on {stand_in.label}") for line in lines)
        assert any(line.startswith(f"  ← Souk to {first.name} on {stand_in.label}") for line in lines)
    assert any("1250.00" in reply for reply in sent["telegram"]["9100001"])  # the winter jacket's price, in Arabic
    assert any("199.99 EGP" in reply for reply in sent["whatsapp"]["201001234567"])  # the leather wallet's
    assert any("199.99 EGP" in reply for reply in sent["tiktok"][PLATFORMS["tiktok"].customers[0].id])
    assert any("899.00 EGP" in reply for reply in sent["chotot"][PLATFORMS["chotot"].customers[0].id])  # the shoes'
    assert any("customers write to the broker subject vendors.chotot." in line for line in lines)

    # every customer message is stored; every reply Souk sent is read, except on Telegram, which has no receipts
    wanted = {t: ("sent" if t == "telegram" else "read") for t in PLATFORMS}
    deadline = time.monotonic() + 15
    while True:
        by_type = await _messages(app, tenant)
        statuses = {
            t: [m.status for m in by_type.get(t, []) if m.direction == "outbound" and m.sent_by != "customer"]
            for t in PLATFORMS
        }
        if all(statuses[t] and set(statuses[t]) == {wanted[t]} for t in PLATFORMS) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    for channel_type, stand_in in PLATFORMS.items():
        first = stand_in.customers[0]
        inbound = [m.message_text for m in by_type.get(channel_type, []) if m.direction == "inbound"]
        # every line stored once; at top speed several share one whole-second platform timestamp, so the order
        # among those ties is the worker's, not the script's
        assert sorted(inbound) == sorted(first.script), (channel_type, inbound)
        outbound = [m for m in by_type[channel_type] if m.direction == "outbound"]
        assert [m.message_text for m in outbound] == sent[channel_type][first.id], [
            (m.message_text[:20], m.external_id, m.sent_by, m.status, m.message_metadata, m.created_at)
            for m in outbound
        ]
        assert all((m.message_metadata.get("sender") or {}).get("type") == "agent" for m in outbound), channel_type
        assert statuses[channel_type] == [wanted[channel_type]] * len(outbound), (channel_type, statuses)

    # the channels were created once, active, answered by the AI; a second run reuses them (new ports)
    async with serve(app) as base:
        await simulate(base, tenant.key, platforms=["telegram"], customers=1, pause=0, say=lines.append)
        # without Souk's NATS server the simulated Chotot cannot publish: it is left out, saying why
        with pytest.raises(RuntimeError, match="no simulated platform could be set up"):
            await simulate(base, tenant.key, platforms=["chotot"], customers=1, pause=0, say=lines.append)
        # `souk simulate` with no option finds Souk, its NATS server and the demo key in the data directory a
        # `souk run` serves from (its record, decision 0032; this process stands for that `souk run`)
        data = tmp_path / "souk-run"
        data.mkdir()
        (data / "demo-credentials.json").write_text(json.dumps({"api_key": tenant.key}))
        write_running(data, Running(os.getpid(), base, nats_url))
        env = {k: v for k, v in os.environ.items() if k not in ("SOUK_NATS_URL", "SOUK_HOST", "SOUK_PORT")}
        command = [sys.executable, "-m", "souk.cli", "simulate", "-p", "chotot", "--customers", "1", "--pause", "0"]
        played = await asyncio.to_thread(
            subprocess.run,
            [*command, "--rounds", "1"],
            capture_output=True,
            text=True,
            env={**env, "SOUK_DATA_DIR": str(data)},
            timeout=120,
        )
    assert any(line.startswith("Simulated Chotot is left out") and "--nats-url" in line for line in lines)
    assert played.returncode == 0, played.stdout + played.stderr
    assert "Simulated Chotot at " in played.stdout and "write to the broker subject vendors.chotot." in played.stdout
    assert f"  ← Souk to {PLATFORMS['chotot'].customers[0].name} on Chotot" in played.stdout, played.stdout
    channels = (await client.get("/api/v1/channels", headers=tenant.headers, params={"limit": 100})).json()["items"]
    names = sorted(c["name"] for c in channels)
    assert names == sorted(cls(lambda *a: None).channel_name for cls in PLATFORMS.values())
    assert all(c["status"] == "active" and c["ai_enabled"] for c in channels)


async def test_an_unknown_platform_is_refused() -> None:
    with pytest.raises(ValueError, match="no simulated platform zalo"):
        await simulate("http://127.0.0.1:9", "key", platforms=["zalo"])
