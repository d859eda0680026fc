"""The issue's proof: 50 chats × 200 messages imported by a real `souk worker` process, SIGKILLed mid-import and
started again, ends with exactly 10,000 messages (on SQLite; on PostgreSQL the same test runs with 6 chats, 1,200
messages, to keep the suite within its time budget on two cores: the kill, the resume and the exact count are the
same). The fake WAHA's log of pages served proves the resume: the only pages read twice are those of the one slice
of one chat that was in flight when the worker died; every batch completed before it is never fetched again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from souk.workflows.history_import import BATCHES_PER_ACTIVITY
from tests.channels.waha.conftest import count_messages, create_waha_channel, wait_progress

PER_CHAT = 200
CHATS = {"sqlite": 50, "postgresql": 6}


def _worker(settings, task_queue: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "SOUK_DATABASE_URL": settings.effective_database_url,
        "SOUK_DATA_DIR": str(settings.data_dir),
        "SOUK_NATS_URL": settings.nats_url,
        "SOUK_TEMPORAL_ADDRESS": settings.temporal_address,
        "SOUK_TEMPORAL_TASK_QUEUE": task_queue,
        "SOUK_ENV": "test",
        "SOUK_LOG_LEVEL": "warning",
    }
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "souk.cli", "worker"], env=env, stdout=out, stderr=out)


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.e2e
@pytest.mark.timeout(720)
async def test_import_survives_a_killed_worker_and_ends_with_exactly_every_message(
    client, tenant, app, waha, settings, task_queue, db_url, tmp_path
):
    chats = CHATS["sqlite" if db_url.startswith("sqlite") else "postgresql"]
    total = chats * PER_CHAT
    waha.add_session("default", working=True)
    for i in range(chats):
        waha.add_chat(f"8492{i:07d}@c.us", PER_CHAT, from_me_every=7)
    channel = await create_waha_channel(client, tenant, waha)
    assert (await client.post(f"/api/v1/channels/{channel['id']}/activate-waha", headers=tenant.headers)).is_success

    log = tmp_path / "worker.log"
    worker = _worker(settings, task_queue, log)
    try:
        r = await client.post(
            f"/api/v1/channels/{channel['id']}/import-history",
            headers=tenant.headers,
            json={"strategy": "all", "limit": 100},
        )
        assert r.status_code == 202, r.text
        workflow_id = r.json()["workflow_id"]

        async def partway() -> bool:
            return await count_messages(app, channel["id"]) >= total // 4

        await _until(partway, 240, "the import to get going")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        at_kill = await count_messages(app, channel["id"])
        assert total // 4 <= at_kill < total
        await asyncio.sleep(0.5)
        assert await count_messages(app, channel["id"]) == at_kill  # nobody imports while the worker is dead

        worker = _worker(settings, task_queue, log)
        try:
            done = await wait_progress(
                client, tenant, channel["id"], workflow_id, {"completed", "failed", "cancelled"}, timeout=420
            )
        except AssertionError as exc:
            alive = "running" if worker.poll() is None else f"exited with {worker.returncode}"
            raise AssertionError(f"{exc}\nworker {alive}; its log ends:\n{log.read_text()[-3000:]}") from None
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert done["state"] == "completed", done
    assert (done["chats_done"], done["chats_total"]) == (chats, chats)
    assert done["messages_done"] >= chats * PER_CHAT  # a batch redone after the kill is read twice
    assert await count_messages(app, channel["id"]) == chats * PER_CHAT
    # resumed, not restarted: pages per chat are 2 of 100 and the empty one that ends it, all in one slice activity
    reads = waha.page_reads
    again = Counter(page for page, n in Counter(reads).items() for _ in range(n - 1))
    assert len(set(reads)) == chats * 3
    assert len({chat for chat, _ in again}) <= 1, again  # only the chat in flight at the kill
    assert sum(again.values()) <= min(3, BATCHES_PER_ACTIVITY), again  # at most that one slice's pages
