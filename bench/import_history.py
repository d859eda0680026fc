"""WAHA history import through Temporal against inserting the same messages with ``ingest.apply`` directly.

    python bench/import_history.py [--chats 20] [--messages 200] [--limit 100] [--database-url URL]

Both sides read the same WAMessages from a fake WAHA server on 127.0.0.1 and store them with the same normalizer,
in batches of ``--limit`` per transaction, each into a channel of its own (so neither finds the other's rows).
The direct side is the ceiling; the workflow side adds Temporal (a dev server started here, an in-process worker),
the activity per chat slice, the heartbeats and the progress bookkeeping. Printed: messages/s of each and their
ratio. Default database: a fresh SQLite file; pass a PostgreSQL URL (``postgresql+asyncpg://…``) to compare there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402
from tests.support.fakes.waha import FakeWAHA  # noqa: E402

from souk.bus import embedded  # noqa: E402
from souk.channels import service as channels  # noqa: E402
from souk.channels.schemas import channel_create_model  # noqa: E402
from souk.core import service as core  # noqa: E402
from souk.core.secrets import install_keyring, load_keys  # noqa: E402
from souk.db.engine import Database  # noqa: E402
from souk.db.migrate import upgrade  # noqa: E402
from souk.messaging import ingest  # noqa: E402
from souk.platforms.waha.client import WAHAClient  # noqa: E402
from souk.platforms.waha.parse import parse_wamessage  # noqa: E402
from souk.workflows import history_import  # noqa: E402

API_KEY = "bench-waha-key"


async def _channel(db: Database, tenant_id: uuid.UUID, waha: FakeWAHA, name: str):
    body = channel_create_model().model_validate(
        {
            "name": name,
            "channel_type": "waha",
            "config": {
                "baseURL": waha.url,
                "sessionID": "default",
                "auth": {"type": "api_key", "apiKey": API_KEY},
            },
        }
    )
    async with db.tenant_session(tenant_id) as session:
        return await channels.create_channel(session, tenant_id, body.root, user_id=None)


async def direct(db: Database, http: httpx.AsyncClient, channel, limit: int) -> int:
    """The baseline: page the same chats and apply each batch in one transaction, no workflow around it."""
    client = WAHAClient(channel.config, channel.secrets, http)
    me = (await client.get_session()).get("me")
    stored = 0
    for chat in await client.list_chats(limit=1000):
        offset = 0
        while True:
            page = await client.list_chat_messages(chat["id"], limit=limit, offset=offset)
            applied = ingest.Applied()
            async with db.tenant_session(channel.tenant_id) as session:
                current = await channels.get_channel(session, channel.id)
                for item in page:
                    await ingest.apply(
                        session, current, parse_wamessage(item, me=me), inbound_event_id=None, applied=applied
                    )
            stored += applied.messages_created
            offset += len(page)
            if len(page) < limit:
                break
    return stored


async def through_temporal(db: Database, http: httpx.AsyncClient, address: str, channel, limit: int) -> int:
    client = await Client.connect(address)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["SOUK_TEMPORAL_TASK_QUEUE"] = queue
    activities = history_import.ImportActivities(db, http)
    async with Worker(
        client,
        task_queue=queue,
        workflows=history_import.WORKFLOWS,
        activities=activities.all(),
    ):
        async with db.tenant_session(channel.tenant_id) as session:
            current = await channels.get_channel(session, channel.id)
            workflow_id = await history_import.start_import(client, current, "all", limit, user_id=None)
        result = await client.get_workflow_handle(workflow_id, result_type=history_import.Progress).result()
    return int(result.messages_imported)


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="souk-bench-import-"))
    temporal, address = embedded.start_temporal(work / "temporal")
    waha = FakeWAHA(api_key=API_KEY)
    waha.start()
    try:
        url = args.database_url or f"sqlite+aiosqlite:///{work / 'souk.db'}"
        upgrade(url)
        install_keyring(load_keys(None, work))
        db = Database(url)
        waha.add_session("default", working=True)
        for i in range(args.chats):
            waha.add_chat(f"8494{i:07d}@c.us", args.messages, from_me_every=7)
        async with db.system_session() as session:
            tenant = await core.create_tenant(session, f"bench{uuid.uuid4().hex[:6]}", "Bench")
        total = args.chats * args.messages
        async with httpx.AsyncClient(timeout=30) as http:
            started = time.perf_counter()
            stored = await direct(db, http, await _channel(db, tenant.id, waha, "direct"), args.limit)
            direct_s = time.perf_counter() - started
            started = time.perf_counter()
            imported = await through_temporal(db, http, address, await _channel(db, tenant.id, waha, "wf"), args.limit)
            workflow_s = time.perf_counter() - started
        await db.dispose()
        assert stored == imported == total, (stored, imported, total)
        kind = url.split(":", 1)[0]
        print(f"{args.chats} chats × {args.messages} messages, batches of {args.limit}, {kind}")
        print(f"  ingest.apply directly : {total / direct_s:8.0f} messages/s")
        print(f"  Temporal import       : {total / workflow_s:8.0f} messages/s")
        print(f"  ratio import / direct : {direct_s / workflow_s:8.2f}")
    finally:
        waha.stop()
        temporal.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--database-url")
    asyncio.run(main(parser.parse_args()))
