"""Outbound throughput: messages/s through the outbox (API service → database → NATS → sender worker → platform)
against a fake Telegram, as a ratio to calling the same fake directly from one loop in the same run.

    python bench/outbound.py                       # SQLite, 400 messages to 400 chats
    python bench/outbound.py --messages 1000 --per-chat 5
    python bench/outbound.py --workers 4 --database-url …   # four `souk worker` processes
    python bench/outbound.py --database-url postgresql+asyncpg://user@host/souk_bench   # an empty database

Rate limits are lifted on the bench channel (``metadata.send_rate_limits``): this measures the outbox, not
Telegram's 30 messages/s. Replies to one chat are sent in order, one at a time, so ``--per-chat`` > 1 shows the
cost of that ordering.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support.fakes: the fake platform

import httpx
from sqlalchemy import func, select
from tests.support.fakes.telegram import DEFAULT_TOKEN, FakeTelegram

from souk.bus.client import Bus
from souk.bus.embedded import start_nats
from souk.bus.work import enqueue
from souk.channels.models import Channel
from souk.channels.service import client_for, split_config
from souk.core import service
from souk.core.observability import configure_logging
from souk.core.secrets import install_keyring, load_keys
from souk.db.engine import Database
from souk.db.migrate import upgrade
from souk.db.types import utcnow
from souk.messaging import outbound
from souk.messaging.models import ChannelIdentity, Conversation, Customer
from souk.messaging.outbox_models import OutboundMessage
from souk.platforms import registry
from souk.settings import Settings
from souk.worker import Worker, WorkerContext

UNLIMITED = {"channel": {"per_second": 1e6, "burst": 100000}, "recipient": None, "group": None}


async def setup(db: Database, fake: FakeTelegram, chats: int) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    """A tenant, a Telegram channel pointing at the fake, and one conversation per chat."""
    platform = registry.get("telegram")
    config = platform.config_model.model_validate({"botToken": DEFAULT_TOKEN, "apiBaseURL": fake.url})
    plain, secret = split_config(platform, config.model_dump(mode="json", exclude_none=True, by_alias=True))
    async with db.system_session() as session:
        tenant = await service.create_tenant(session, f"bench{uuid.uuid4().hex[:6]}", "Bench")
        session.info["tenant_id"] = tenant.id
        project = await service.default_project(session, tenant.id)
        channel = Channel(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            project_id=project.id,
            name="bench",
            channel_type="telegram",
            status="active",
            config=plain,
            secrets={**secret, "webhookSecret": "x"},
            meta={"send_rate_limits": UNLIMITED},
        )
        session.add(channel)
        await session.flush()
        rows = []
        for i in range(chats):
            chat = str(10_000_000 + i)
            customer = Customer(id=uuid.uuid4(), tenant_id=tenant.id, platform="telegram", psid=chat)
            identity = ChannelIdentity(
                id=uuid.uuid4(),
                tenant_id=tenant.id,
                customer_id=customer.id,
                channel_id=channel.id,
                platform="telegram",
                external_id=chat,
            )
            conversation = Conversation(
                id=uuid.uuid4(),
                tenant_id=tenant.id,
                channel_id=channel.id,
                customer_id=customer.id,
                identity_id=identity.id,
                external_thread_id=chat,
                last_inbound_at=utcnow(),
            )
            rows.append((customer, identity, conversation))
        for column in range(3):  # no ORM relationships: parents are flushed first
            session.add_all([row[column] for row in rows])
            await session.flush()
        conversations = [row[2].id for row in rows]
    return tenant.id, channel.id, conversations


async def direct(db: Database, channel_id: uuid.UUID, n: int) -> float:
    """Messages/s calling the fake through the platform client from one loop (the baseline)."""
    async with db.system_session() as session:
        channel = await session.scalar(select(Channel).where(Channel.id == channel_id))
    async with httpx.AsyncClient(timeout=15.0) as http:
        client = client_for(channel, http)
        await client.send_message("1", "1", {"type": "text", "text": "warm-up"})
        start = time.perf_counter()
        for i in range(n):
            await client.send_message("1", str(20_000_000 + i), {"type": "text", "text": f"direct {i}"})
        return n / (time.perf_counter() - start)


async def queue(
    db: Database,
    bus: Bus,
    tenant_id: uuid.UUID,
    conversations: list[uuid.UUID],
    n: int,
    per_chat: int,
    *,
    publish: bool,
) -> list[uuid.UUID]:
    """Queue ``n`` replies as the API does (one transaction each, published after its commit when ``publish``)."""
    sender = outbound.Sender("api_key", None, "bench")
    rows = []
    async with httpx.AsyncClient() as http:
        for i in range(n):
            conversation = conversations[(i // per_chat) % len(conversations)]
            async with db.tenant_session(tenant_id) as session:
                body = outbound.SendMessageIn(text=f"reply {i}")
                queued = await outbound.queue_message(session, tenant_id, conversation, body, sender=sender, http=http)
            rows.append(queued.outbox.id)
            if publish:
                await enqueue(bus, "outbound", str(queued.outbox.id))
    return rows


async def wait_sent(db: Database, rows: list[uuid.UUID]) -> None:
    while True:
        async with db.system_session() as session:
            statuses = (
                await session.execute(
                    select(OutboundMessage.status, func.count())
                    .where(OutboundMessage.id.in_(rows))
                    .group_by(OutboundMessage.status)
                )
            ).all()
        done = {status: count for status, count in statuses}
        if done.get("sent", 0) + done.get("failed", 0) >= len(rows):
            if done.get("failed"):
                print(f"warning: {done['failed']} sends failed")
            return
        await asyncio.sleep(0.02)


async def end_to_end(db: Database, bus: Bus, tenant_id: uuid.UUID, conversations: list[uuid.UUID], args) -> float:
    """Messages/s from the first queued reply to the last one sent, queueing and sending overlapping."""
    start = time.perf_counter()
    rows = await queue(db, bus, tenant_id, conversations, args.messages, args.per_chat, publish=True)
    await wait_sent(db, rows)
    return args.messages / (time.perf_counter() - start)


async def drain(db: Database, bus: Bus, tenant_id: uuid.UUID, conversations: list[uuid.UUID], args) -> float:
    """Messages/s of the senders alone: replies queued first, then published at once."""
    rows = await queue(db, bus, tenant_id, conversations, args.messages, args.per_chat, publish=False)
    start = time.perf_counter()
    for row in rows:
        await enqueue(bus, "outbound", str(row))
    await wait_sent(db, rows)
    return args.messages / (time.perf_counter() - start)


def start_workers(count: int, url: str, nats_url: str, data_dir: Path) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "SOUK_DATABASE_URL": url,
        "SOUK_NATS_URL": nats_url,
        "SOUK_DATA_DIR": str(data_dir),
        "SOUK_LOG_LEVEL": "error",
    }
    log = (data_dir / "workers.log").open("a")
    return [
        subprocess.Popen([sys.executable, "-m", "souk.cli", "worker"], env=env, stdout=log, stderr=log)
        for _ in range(count)
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--per-chat", type=int, default=1, help="replies per conversation (sent in order)")
    parser.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite file)")
    parser.add_argument(
        "--workers", type=int, default=0, help="run N `souk worker` processes (default: one worker in this process)"
    )
    args = parser.parse_args()
    configure_logging("error", True)
    work = Path(tempfile.mkdtemp(prefix="souk-bench-outbound-"))
    nats_child, nats_url = start_nats(work / "nats-data")
    fake = FakeTelegram().start()
    url = args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}"
    processes: list[subprocess.Popen] = []
    try:
        upgrade(url)
        install_keyring(load_keys(None, work))
        db = Database(url)
        bus = Bus(nats_url)
        await bus.connect()
        chats = max(1, args.messages // args.per_chat)
        tenant_id, channel_id, conversations = await setup(db, fake, chats)
        baseline = await direct(db, channel_id, args.messages)
        worker = None
        if args.workers:
            processes = start_workers(args.workers, url, nats_url, work)
        else:
            settings = Settings(database_url=url, data_dir=work, nats_url=nats_url, env="test", log_level="error")
            worker = Worker(WorkerContext(settings, db, bus, asyncio.Event()))
            await worker.start(only={"sender", "sender-sweeper", "outbox"})
        try:
            warm = await queue(db, bus, tenant_id, conversations, 1, 1, publish=True)
            await wait_sent(db, warm)
            await asyncio.sleep(2.0 if args.workers else 0.0)  # let every worker process come up
            e2e = await end_to_end(db, bus, tenant_id, conversations, args)
            senders = await drain(db, bus, tenant_id, conversations, args)
        finally:
            if worker is not None:
                await worker.stop()
        kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        where = f"{args.workers} `souk worker` processes" if args.workers else "one worker in the bench process"
        print(f"{kind}, {where}; {args.messages} messages to {chats} chats, {args.per_chat} per chat")
        print(f"direct loop to the fake platform:          {baseline:8.1f} messages/s")
        print(f"outbox end to end (queue + send overlap):  {e2e:8.1f} messages/s   ratio {e2e / baseline:.3f}")
        print(f"outbox senders alone (queued beforehand):  {senders:8.1f} messages/s   ratio {senders / baseline:.3f}")
        if bus.nc is not None:
            bus.nc.options["drain_timeout"] = 0.5
        await bus.close()
        await db.dispose()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        fake.stop()
        nats_child.stop(timeout=5.0)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
