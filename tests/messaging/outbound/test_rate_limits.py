"""Rate limits live in the database, so they hold across worker processes: two workers pacing one chat, one
channel, and many concurrent reservations on one key."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from souk.bus.client import Bus
from souk.db.engine import Database
from souk.messaging.outbound import Limit
from souk.messaging.sender import RateLimited, reserve
from souk.settings import Settings
from souk.worker import Worker, WorkerContext
from tests.conftest import TenantFixture
from tests.messaging.outbound.conftest import Fakes, make_channel, make_thread, quick_drain, send, wait_done


@pytest.fixture
async def second_worker(app: FastAPI, settings: Settings) -> AsyncIterator[Worker]:
    """Another sender on the same database and NATS, as a second `souk worker` process would be."""
    bus = Bus(settings.nats_url or "")
    await bus.connect()
    worker = Worker(WorkerContext(settings, Database(settings.effective_database_url), bus, asyncio.Event()))
    await worker.start(only={"sender"})
    yield worker
    await worker.stop()
    quick_drain(bus)
    await bus.close()
    await worker.ctx.db.dispose()


def arrivals_to(fakes: Fakes, chats: set[str]) -> list[tuple[float, str]]:
    return [
        (at, str(body["chat_id"]))
        for at, path, body in fakes.telegram.arrivals
        if path.endswith("/sendMessage") and isinstance(body, dict) and str(body.get("chat_id")) in chats
    ]


async def test_one_chat_gets_one_message_per_second_in_order(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes, second_worker: Worker
):
    t = await make_thread(app, tenant, fakes, "telegram")
    start = time.monotonic()
    ids = [(await send(client, t, {"text": f"part {i}"})).json()["id"] for i in range(4)]
    for message_id in ids:
        assert (await wait_done(app, tenant, message_id)).outbox.status == "sent"
    times = [at for at, _ in arrivals_to(fakes, {t.thread})]
    assert len(times) == 4
    # the n-th message's slot is at least n seconds after the first could be reserved, and no call arrives before
    # its slot: lower bounds only, so a loaded machine (which only delays calls) cannot fail it
    assert all(at - start >= n - 0.05 for n, at in enumerate(times)), [at - start for at in times]
    assert [m["text"] for m in fakes.telegram.messages_in(t.thread)] == [f"part {i}" for i in range(4)]


async def test_a_channel_limit_is_shared_by_both_workers(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes, second_worker: Worker
):
    meta = {"send_rate_limits": {"channel": {"per_second": 5, "burst": 1}, "recipient": None}}
    channel = await make_channel(app, tenant, "telegram", fakes, meta=meta)
    threads = [await make_thread(app, tenant, fakes, "telegram", channel_id=channel) for _ in range(8)]
    start = time.monotonic()
    ids = [(await send(client, t, {"text": "drop alert"})).json()["id"] for t in threads]
    for message_id in ids:
        assert (await wait_done(app, tenant, message_id)).outbox.status == "sent"
    times = sorted(at for at, _ in arrivals_to(fakes, {t.thread for t in threads}))
    assert len(times) == 8
    # unlimited, 2 workers × 16 concurrent sends would land within a few milliseconds; at 5/s the k-th slot is at
    # least k × 0.2 s after the first could be taken, and no call arrives before its slot (lower bounds only)
    assert all(at - start >= k * 0.2 - 0.05 for k, at in enumerate(times)), [at - start for at in times]


async def test_concurrent_reservations_from_two_engines_never_share_a_slot(db_url: str):
    limit = Limit(20)  # one slot every 50 ms
    dbs = [Database(db_url), Database(db_url)]
    start = time.time()

    async def one(db: Database) -> float:
        while True:
            try:
                async with db.system_session() as session:
                    now = time.time()
                    return now + await reserve(session, [("channel:test", limit)], now=now, max_wait=10.0)
            except RateLimited:
                await asyncio.sleep(0.01)

    slots = sorted(await asyncio.gather(*(one(dbs[i % 2]) for i in range(20))))
    for db in dbs:
        await db.dispose()
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= limit.interval - 1e-6, gaps
    assert slots[-1] - start >= 19 * limit.interval - 0.01
