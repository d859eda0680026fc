"""`souk channels qr` and `souk channels import-history --wait` as a person runs them: a real process."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.channels.waha.conftest import count_messages, create_waha_channel, load_channel


def _env(settings, task_queue: str) -> dict[str, str]:
    return {
        **os.environ,
        "SOUK_DATABASE_URL": settings.effective_database_url,
        "SOUK_DATA_DIR": str(settings.data_dir),
        "SOUK_NATS_URL": settings.nats_url,
        "SOUK_TEMPORAL_ADDRESS": settings.temporal_address,
        "SOUK_TEMPORAL_TASK_QUEUE": task_queue,
        "SOUK_ENV": "test",
        "COLUMNS": "120",
    }


async def _souk(settings, task_queue: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "souk.cli",
        "channels",
        *args,
        env=_env(settings, task_queue),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_qr_draws_the_code_and_returns_once_scanned(client, tenant, app, waha, settings, task_queue):
    channel = await create_waha_channel(client, tenant, waha)
    assert (await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers)).is_success
    proc = await _souk(settings, task_queue, "qr", channel["id"], "--timeout", "60")
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert b"Scan with WhatsApp" in first
    drawing = await asyncio.wait_for(proc.stdout.readline(), 10)
    assert "█".encode() in drawing or "▀".encode() in drawing
    waha.mark_working()
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert b"WhatsApp connected" in stdout
    assert (await load_channel(app, channel["id"])).status == "active"


async def test_import_history_wait_shows_progress_until_done(client, tenant, app, waha, settings, task_queue):
    waha.add_session("default", working=True)
    for i in range(4):
        waha.add_chat(f"8493{i:07d}@c.us", 30)
    channel = await create_waha_channel(client, tenant, waha)
    assert (await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers)).is_success
    proc = await _souk(
        settings, task_queue, "import-history", channel["id"], "--strategy", "all", "--limit", "10", "--wait"
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, stderr.decode()
    assert f"waha-import-{channel['id']}-1".encode() in stdout
    assert b"completed: 4 chats, 120 messages read, 120 new, 0 errors" in stdout
    assert b"chats" in stderr  # the Rich bar
    assert await count_messages(app, channel["id"]) == 120


async def test_import_history_refuses_an_unknown_strategy(settings, task_queue, app):
    proc = await _souk(
        settings, task_queue, "import-history", "00000000-0000-0000-0000-000000000000", "--strategy", "x"
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"strategy" in stderr
