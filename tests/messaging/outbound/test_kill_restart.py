"""A real `souk worker` process killed with SIGKILL while sends are in flight against slow platforms, then
restarted: every message ends sent exactly once, or failed as "outcome unknown" (never sent twice)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from souk.settings import Settings
from tests.conftest import make_tenant
from tests.messaging.outbound.conftest import Fakes, channel_sent, load, make_channel, make_thread, send

pytestmark = pytest.mark.e2e


def start_worker(settings: Settings, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "SOUK_DATABASE_URL": settings.effective_database_url,
        "SOUK_NATS_URL": settings.nats_url or "",
        "SOUK_DATA_DIR": str(settings.data_dir),  # the same key file: channel secrets decrypt
        "SOUK_LOG_LEVEL": "warning",
        "SOUK_LOG_JSON": "true",
    }
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "souk.cli", "worker"], env=env, stdout=out, stderr=out)


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_sigkill_mid_send_then_restart_sends_each_message_at_most_once(
    api_only_app: FastAPI, api_only_client: httpx.AsyncClient, settings: Settings, fakes: Fakes, tmp_path: Path
):
    app, client = api_only_app, api_only_client
    tenant = await make_tenant(app, "acme")
    tg_channel = await make_channel(app, tenant, "telegram", fakes)
    ct_channel = await make_channel(app, tenant, "chotot", fakes)
    threads = [await make_thread(app, tenant, fakes, "telegram", channel_id=tg_channel) for _ in range(8)]
    threads += [await make_thread(app, tenant, fakes, "chotot", channel_id=ct_channel) for _ in range(8)]
    chats = {t.thread for t in threads}
    ids = {}
    for i, t in enumerate(threads):
        r = await send(client, t, {"text": f"reply {i}"})
        assert r.status_code == 201, r.text
        ids[t.thread] = r.json()["id"]

    def arrived() -> int:
        tg = [b for _, p, b in fakes.telegram.arrivals if isinstance(b, dict) and str(b.get("chat_id")) in chats]
        ct = [p for _, p, _ in fakes.chotot.arrivals if p.split("/")[3:4] and p.split("/")[3] in chats]
        return min(len(tg), len(ct))

    log = tmp_path / "worker.log"
    fakes.telegram.delay = fakes.chotot.delay = 1.0
    worker = start_worker(settings, log)
    try:
        await wait_for(lambda: arrived() >= 3, 60, "sends in flight")
        worker.send_signal(signal.SIGKILL)  # mid-flight: the platforms finish what they received
        worker.wait(10)
        fakes.telegram.delay = fakes.chotot.delay = 0.1
        worker = start_worker(settings, log)
        statuses: dict[str, str] = {}

        async def settle() -> bool:
            for thread, message_id in ids.items():
                statuses[thread] = (await load(app, tenant, message_id)).outbox.status
            return all(s in ("sent", "failed") for s in statuses.values())

        deadline = time.monotonic() + 120
        while not await settle():
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, (statuses, log.read_text()[-3000:])
            await asyncio.sleep(0.25)
    finally:
        fakes.telegram.delay = fakes.chotot.delay = 0.0
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)

    interrupted = sent_tg = 0
    for t in threads:
        outcome = await load(app, tenant, ids[t.thread])
        if t.platform == "telegram":
            delivered = fakes.telegram.messages_in(t.thread)
            assert len(delivered) <= 1, f"sent twice: {delivered}"
            if outcome.outbox.status == "sent":
                assert len(delivered) == 1
                sent_tg += 1
                assert outcome.message.external_id == f"{t.thread}:{delivered[0]['message_id']}"
            else:  # interrupted after the request left: Telegram cannot tell, so a person decides
                assert outcome.message.error_code == "outcome_unknown", outcome.message.error_message
                interrupted += 1
        else:
            delivered = [m for m in fakes.chotot.sent if m["chat_id"] == t.thread]
            assert outcome.outbox.status == "sent" and len(delivered) == 1
            assert delivered[0]["client_message_id"] == f"souk:{ids[t.thread]}"
            posts = fakes.chotot.requests_to("POST", f"/v1/chats/{t.thread}/messages")
            interrupted += len(posts) > 1  # resent after the kill, answered with the first message
    print(f"interrupted by the kill: {interrupted}; telegram sent {sent_tg}/8, the rest failed as outcome unknown")
    assert interrupted >= 2, "the kill hit no send in flight"
    assert await channel_sent(app, tenant, tg_channel) == sent_tg
    assert await channel_sent(app, tenant, ct_channel) == 8
