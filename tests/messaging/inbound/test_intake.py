"""The group-commit intake writer, the channel cache's single flight and the lean webhook path."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from souk.channels.models import Channel
from souk.channels.webhooks import ChannelCache
from souk.db.types import uuid7
from souk.messaging import inbound_worker
from souk.messaging.intake import Delivery, IntakeWriter
from souk.messaging.models import InboundEvent, Message
from tests.messaging.inbound.payloads import tg_text
from tests.support.webhooks import channel_secrets, fixture, post, sign, wait_idle


def delivery(channel: Channel, key: str, **extra) -> Delivery:
    return Delivery(
        tenant_id=channel.tenant_id,
        channel_id=channel.id,
        channel_type=channel.channel_type,
        event_key=key,
        body=b'{"k": "' + key.encode() + b'"}',
        headers={"content-type": "application/json"},
        **extra,
    )


async def load_channel(app, channel_id: str) -> Channel:
    async with app.state.db.system_session() as s:
        ch = await s.get(Channel, uuid.UUID(channel_id))
        assert ch is not None
        return ch


async def test_concurrent_submissions_share_commits_and_each_ack_follows_its_own_commit(app, make_channel):
    channel = await load_channel(app, (await make_channel("whatsapp"))["id"])
    writer = IntakeWriter(app.state.db, None)
    seen_after_ack: list[bool] = []

    async def submit_and_check(key: str) -> bool:
        d = delivery(channel, key)
        stored = await writer.submit(d)
        # read back through another connection at once: what was acknowledged is committed
        async with app.state.db.system_session() as s:
            row = await s.get(InboundEvent, d.id)
        seen_after_ack.append(row is not None and row.body == d.body and row.event_key == key)
        return stored

    try:
        results = await asyncio.gather(*[submit_and_check(f"evt-{i}") for i in range(60)])
    finally:
        await writer.stop()
    assert all(results) and len(seen_after_ack) == 60 and all(seen_after_ack)
    assert writer.rows == 60 and writer.batches < 60  # batched: fewer commits than requests
    async with app.state.db.system_session() as s:
        assert await s.scalar(select(func.count()).select_from(InboundEvent)) == 60
        ch = await s.get(Channel, channel.id)
        assert ch is not None and ch.last_webhook_received_at is not None


async def test_rows_written_by_the_driver_read_back_through_the_orm(app, make_channel):
    channel = await load_channel(app, (await make_channel("whatsapp"))["id"])
    writer = IntakeWriter(app.state.db, None)
    d = delivery(channel, "evt-roundtrip", status="ignored", source="broker")
    d.headers = {"content-type": "application/json", "x-request-id": "é-1"}
    try:
        assert await writer.submit(d) is True
    finally:
        await writer.stop()
    async with app.state.db.system_session() as s:
        row = await s.scalar(select(InboundEvent).where(InboundEvent.event_key == "evt-roundtrip"))
    assert row is not None
    assert (row.id, row.tenant_id, row.channel_id) == (d.id, channel.tenant_id, channel.id)
    assert (row.status, row.source, row.attempts, row.body) == ("ignored", "broker", 0, d.body)
    assert row.headers == d.headers
    assert abs((row.received_at - d.received_at).total_seconds()) < 1e-3 and row.received_at.tzinfo is not None


async def test_duplicates_in_one_batch_and_across_batches_store_once(app, make_channel):
    channel = await load_channel(app, (await make_channel("whatsapp"))["id"])
    writer = IntakeWriter(app.state.db, None)
    try:
        same_batch = await asyncio.gather(*[writer.submit(delivery(channel, "dup")) for _ in range(10)])
        later = await writer.submit(delivery(channel, "dup"))
    finally:
        await writer.stop()
    assert sum(same_batch) == 1 and later is False
    async with app.state.db.system_session() as s:
        assert await s.scalar(select(func.count()).select_from(InboundEvent)) == 1


async def test_one_bad_row_fails_alone_and_its_batch_neighbours_are_stored(app, make_channel):
    channel = await load_channel(app, (await make_channel("whatsapp"))["id"])
    writer = IntakeWriter(app.state.db, None)
    orphan = delivery(channel, "orphan")
    orphan.channel_id = uuid.uuid4()  # no such channel: the foreign key refuses it
    try:
        results = await asyncio.gather(
            *[writer.submit(delivery(channel, f"ok-{i}")) for i in range(5)],
            writer.submit(orphan),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    assert results[:5] == [True] * 5
    assert isinstance(results[5], Exception)
    async with app.state.db.system_session() as s:
        keys = set(await s.scalars(select(InboundEvent.event_key)))
    assert keys == {f"ok-{i}" for i in range(5)}


async def test_a_delivery_after_the_database_dropped_the_writers_connection_is_stored_not_failed(
    app, make_channel, db_url
):
    """A PostgreSQL restart kills the connection the writer holds; the next delivery, even alone in its batch,
    must be stored on a fresh connection rather than answered 500 while the database is up again."""
    if not db_url.startswith("postgresql"):
        pytest.skip("the writer holds a connection of its own on PostgreSQL only")
    from sqlalchemy import text

    channel = await load_channel(app, (await make_channel("whatsapp"))["id"])
    writer = IntakeWriter(app.state.db, None)
    try:
        assert await writer.submit(delivery(channel, "before"))
        pid = await writer.store._connection()
        async with app.state.db.engine.connect() as conn:  # what a restart does to every open connection
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid.get_server_pid()})
        assert await writer.submit(delivery(channel, "after")) is True
    finally:
        await writer.stop()
    async with app.state.db.system_session() as s:
        assert await s.scalar(select(func.count()).select_from(InboundEvent)) == 2


async def test_a_batch_waits_for_a_sqlite_write_lock_held_elsewhere_and_is_stored_once_it_is_free(
    app, make_channel, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL writers do not take a database-wide lock")
    import sqlite3

    from sqlalchemy.engine import make_url

    channel = await load_channel(app, (await make_channel("whatsapp"))["id"])
    writer = IntakeWriter(app.state.db, None)
    other = sqlite3.connect(make_url(app.state.db.url).database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # what a worker transaction holds while it works
        submitted = asyncio.create_task(writer.submit(delivery(channel, "behind-the-lock")))
        await asyncio.sleep(0.4)
        assert not submitted.done()  # not acknowledged before it is stored
        other.execute("COMMIT")
        assert await asyncio.wait_for(submitted, 5) is True
    finally:
        other.close()
        await writer.stop()
    async with app.state.db.system_session() as s:
        assert await s.scalar(select(func.count()).select_from(InboundEvent)) == 1


async def test_channel_cache_refresh_is_single_flight(app, make_channel):
    channel = await make_channel("whatsapp")
    cid = uuid.UUID(channel["id"])
    cache = ChannelCache(app.state.db, ttl=60)
    views = await asyncio.gather(*[cache.get(cid) for _ in range(25)])
    assert cache.loads == 1 and all(v is views[0] for v in views) and views[0].id == cid
    assert await cache.get(cid) is views[0] and cache.loads == 1
    cache.forget(cid)
    again = await asyncio.gather(*[cache.get(cid) for _ in range(10)])
    assert cache.loads == 2 and all(v is again[0] for v in again)
    # a query running when the channel is forgotten may have read the old row: it is not cached
    cache.forget(cid)
    running = asyncio.ensure_future(cache.get(cid))
    await asyncio.sleep(0)
    cache.forget(cid)
    await running
    await cache.get(cid)
    assert cache.loads == 4


async def test_channel_cache_failure_reaches_every_waiter_and_is_not_cached(app, make_channel):
    channel = await make_channel("whatsapp")
    cid = uuid.UUID(channel["id"])
    cache = ChannelCache(app.state.db, ttl=60)
    real_load = cache._load
    calls = 0

    async def failing(channel_id):
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("database down")

    cache._load = failing  # type: ignore[method-assign]
    results = await asyncio.gather(*[cache.get(cid) for _ in range(5)], return_exceptions=True)
    assert calls == 1 and all(isinstance(r, RuntimeError) for r in results)
    cache._load = real_load  # type: ignore[method-assign]
    assert (await cache.get(cid)).id == cid


async def test_webhook_answers_carry_request_id_and_are_counted_under_the_route(client, app, make_channel):
    channel = await make_channel("whatsapp")
    body = fixture("whatsapp", "text")
    headers = {**sign("whatsapp", body, await channel_secrets(app, channel["id"])), "X-Request-ID": "hook-42"}
    r = await post(client, app, channel, body, headers=headers)
    assert r.status_code == 200 and r.json() == {"status": "stored"}
    assert r.headers["x-request-id"] == "hook-42" and r.headers["content-type"] == "application/json"
    r = await client.post(f"/webhooks/whatsapp/{uuid.uuid4()}", content=b"{}")
    assert r.status_code == 404 and r.headers["x-request-id"]
    assert r.headers["content-type"] == "application/problem+json" and r.json()["status"] == 404
    metrics = (await client.get("/metrics")).text
    assert 'souk_http_requests_total{method="POST",route="/webhooks/{channel_type}/{channel_id}",status="200"}' in (
        metrics
    )


async def test_oversized_chunked_webhook_body_is_413_and_stores_nothing(client, app, make_channel):
    channel = await make_channel("telegram")
    limit = app.state.settings.max_body_bytes

    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = await client.post(f"/webhooks/telegram/{channel['id']}", content=chunks())
    assert r.status_code == 413 and r.json()["status"] == 413
    async with app.state.db.system_session() as s:
        assert await s.scalar(select(func.count()).select_from(InboundEvent)) == 0


@pytest.mark.parametrize("path", ["/webhooks/whatsapp", "/webhooks/whatsapp/x/y"])
async def test_other_webhook_paths_still_get_fastapi_problem_answers(client, path):
    r = await client.post(path, content=b"{}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


def test_uuid7_is_version_7_and_time_ordered():
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert first.version == 7 and first.variant == uuid.RFC_4122
    assert first < second and first.hex < second.hex  # ordered as bytes and as SQLite's stored hex
    assert len({uuid7() for _ in range(1000)}) == 1000


async def test_a_delivery_committed_but_never_published_is_processed_by_the_sweeper(app, make_channel):
    """The crash between the commit and the publish: the row is durable, no bus message names it. Nothing picks it
    up until the sweeper re-publishes what is still ``received``; then the worker makes its message, once."""
    channel = await load_channel(app, (await make_channel("telegram"))["id"])
    writer = IntakeWriter(app.state.db, None)  # commits, never publishes
    body = json.dumps(tg_text(9001, 1, "never published", 1722503523)).encode()
    try:
        stored = Delivery(channel.tenant_id, channel.id, "telegram", "update:9001", body, {})
        assert await writer.submit(stored)
    finally:
        await writer.stop()

    async def status() -> str:
        async with app.state.db.system_session() as s:
            return (await s.get(InboundEvent, stored.id)).status

    assert await status() == "received"  # no bus message: the worker has nothing to do
    assert await inbound_worker.sweep(app.state.db, app.state.bus, older_than=timedelta(0)) == 1
    await wait_idle(app)
    assert await status() == "processed"
    async with app.state.db.system_session() as s:
        texts = (await s.scalars(select(Message.message_text))).all()
    assert texts == ["never published"]
    assert await inbound_worker.sweep(app.state.db, app.state.bus, older_than=timedelta(0)) == 0
