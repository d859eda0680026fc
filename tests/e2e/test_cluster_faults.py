"""Faults injected into the production shape (`souk cluster`): nothing is lost, nothing is doubled.

A cluster of PostgreSQL, a 3-node NATS JetStream cluster (streams on 3 replicas), the Temporal server, 2 `souk api`
and 2 `souk worker` processes receives webhooks from every platform (WhatsApp Cloud, WAHA, Telegram, Messenger,
Instagram, TikTok): customer messages, echoes of the business's own messages and their status receipts, with 30% of
the deliveries repeated and 10% delivered out of order. Meanwhile a WAHA history import runs as a Temporal workflow
whose activities the workers run, replies are sent to a fake Telegram that answers bursts of 429 and 5xx, and, in
turn, the worker running the import's activity is SIGKILLed, the Temporal server is SIGKILLed, an API process is
SIGKILLed, a NATS node is stopped and started again, and PostgreSQL is restarted. The sender behaves like the
platforms: it retries a delivery on a connection error or a 5xx, against either API process (a load balancer's
view), and records every 5xx with whether the database was up.

Checked at the end: every platform message stored exactly once (the imported history too, and the import
completed), every status receipt applied (and none left waiting), every reply sent exactly once to the fake
platform or marked failed (never twice), no inbound event left unprocessed or failed, and no 5xx for a valid webhook
while the database was up. The counts are printed, and written to test-output/reports/cluster-faults.{txt,json},
which the suite's terminal summary prints (CI logs show them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from souk.channels.models import Channel
from souk.cluster import Cluster, ClusterConfig
from souk.messaging.models import Conversation, DeferredUpdate, InboundEvent, Message
from souk.messaging.outbox_models import OutboundMessage
from tests.messaging.inbound.conftest import active_channel
from tests.support import reports
from tests.support.fakes.chotot import FakeChotot
from tests.support.fakes.graph import FakeGraphServer
from tests.support.fakes.telegram import FakeTelegram
from tests.support.fakes.tiktok import FakeTikTok
from tests.support.fakes.waha import FakeWAHA
from tests.support.webhooks import sign

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

PLATFORMS = ["whatsapp", "waha", "telegram", "messenger", "instagram", "tiktok"]
MESSAGES_PER_PLATFORM = 160  # customer messages
CUSTOMERS_PER_PLATFORM = 24
ECHOES = 40  # business messages with receipts, on WhatsApp and WAHA each
REPLIES = 36  # sent through the API to Telegram customers
DUPLICATE_SHARE = 0.30
OUT_OF_ORDER_SHARE = 0.10
RATE = 90.0  # deliveries a second at most: the load still spans the faults, which come one after another
ENV = {
    "SOUK_SWEEP_AFTER_SECONDS": "3",
    "SOUK_SWEEP_INTERVAL_SECONDS": "1",
    "SOUK_INBOUND_ACK_WAIT_SECONDS": "5",
    "SOUK_API_RATE_LIMIT_PER_MINUTE": "0",
}
IMPORT_CHATS = 6  # WAHA chats with history to import while the faults happen
IMPORT_PER_CHAT = 100
IMPORT_PAGE = 25  # messages a page: 5 page reads a chat
IMPORT_PAGE_DELAY = 0.25  # seconds the fake WAHA takes for a page, so the import spans the first faults
WA_BUSINESS = "15550100199"
WAHA_ME = "15550009999@c.us"


# -- the load -------------------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One delivery to make: a platform's webhook body (sent as these exact bytes, again for a duplicate)."""

    channel_type: str
    body: bytes
    kind: str  # message | echo | status
    duplicate: bool = False


def _b(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _wa(value: dict[str, Any], phone_number_id: str, field_name: str = "messages") -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": WA_BUSINESS, "phone_number_id": phone_number_id},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "987654321", "changes": [{"value": value, "field": field_name}]}],
    }


def _meta_messaging(obj: str, node: str, sender: str, recipient: str, ts_ms: int, message: dict) -> dict[str, Any]:
    event = {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": ts_ms, "message": message}
    return {"object": obj, "entry": [{"id": node, "time": ts_ms, "messaging": [event]}]}


def _waha(event: str, evt_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": evt_id,
        "timestamp": int(time.time() * 1000),
        "event": event,
        "session": "default",
        "me": {"id": WAHA_ME, "pushName": "Souk Shop"},
        "payload": payload,
        "engine": "WEBJS",
    }


@dataclass
class Load:
    items: list[Item] = field(default_factory=list)
    texts: dict[str, set[str]] = field(default_factory=dict)  # platform -> customer message texts
    echoes: dict[str, str] = field(default_factory=dict)  # echo text -> the status it must end at
    duplicates: int = 0
    out_of_order: int = 0


def build_load(graph: FakeGraphServer, tiktok: FakeTikTok, rng: random.Random) -> Load:
    load = Load()
    now = int(time.time())
    groups: list[list[Item]] = []  # deliveries that belong together (an echo and its receipts)
    for platform in PLATFORMS:
        load.texts[platform] = set()
        for i in range(MESSAGES_PER_PLATFORM):
            c = i % CUSTOMERS_PER_PLATFORM
            text = f"fault {platform} {i}"
            load.texts[platform].add(text)
            ts = now - MESSAGES_PER_PLATFORM + i
            if platform == "whatsapp":
                phone = f"1631555{c:04d}"
                msg = {
                    "from": phone,
                    "id": f"wamid.FAULT{i:05d}",
                    "timestamp": str(ts),
                    "type": "text",
                    "text": {"body": text},
                }
                body = _wa(
                    {"contacts": [{"profile": {"name": f"Cust {c}"}, "wa_id": phone}], "messages": [msg]},
                    graph.PHONE_NUMBER_ID,
                )
            elif platform == "waha":
                chat = f"1555123{c:04d}@c.us"
                payload = {
                    "id": f"false_{chat}_FAULT{i:05d}",
                    "timestamp": ts,
                    "from": chat,
                    "fromMe": False,
                    "source": "app",
                    "to": WAHA_ME,
                    "body": text,
                    "hasMedia": False,
                    "ack": 1,
                    "_data": {"notifyName": f"Cust {c}", "type": "chat"},
                }
                body = _waha("message", f"evt_fault_in_{i:05d}", payload)
            elif platform == "telegram":
                chat_id = 7_000_000 + c
                user = {"id": chat_id, "is_bot": False, "first_name": f"Cust{c}"}
                message = {
                    "message_id": 10_000 + i,
                    "from": user,
                    "chat": {"id": chat_id, "type": "private", "first_name": f"Cust{c}"},
                    "date": ts,
                    "text": text,
                }
                body = {"update_id": 500_000 + i, "message": message}
            elif platform in ("messenger", "instagram"):
                node = graph.PAGE_ID if platform == "messenger" else graph.IG_ID
                obj = "page" if platform == "messenger" else "instagram"
                psid = f"65000000{c:08d}"
                message = {"mid": f"m_fault_{platform}_{i:05d}", "text": text}
                body = _meta_messaging(obj, node, psid, node, ts * 1000, message)
            else:  # tiktok
                content = {
                    "type": "text",
                    "message_id": f"v2:fault-{i:05d}",
                    "timestamp": ts * 1000,
                    "conversation_id": f"0:1:{tiktok.business_id}:{900 + c}",
                    "text": {"body": text},
                    "from": f"cust{c}",
                    "from_user": {"id": f"-000Fault{c:04d}"},
                    "to": "souk.shop",
                    "to_user": {"id": tiktok.business_id},
                }
                body = {
                    "client_key": "app-key",
                    "event": "im_receive_msg",
                    "create_time": ts * 1000,
                    "user_openid": tiktok.business_id,
                    "content": json.dumps(content),
                }
            groups.append([Item(platform, _b(body), "message")])
    statuses = ["sent", "delivered", "read"]
    for i in range(ECHOES):
        c = i % CUSTOMERS_PER_PLATFORM
        ts = now - ECHOES + i
        # WhatsApp: an echo of a message typed in the WhatsApp Business app, then its receipts
        phone, wamid, text = f"1631555{c:04d}", f"wamid.FAULTECHO{i:05d}", f"echo whatsapp {i}"
        echo = {
            "from": WA_BUSINESS,
            "to": phone,
            "id": wamid,
            "timestamp": str(ts),
            "type": "text",
            "text": {"body": text},
        }
        group = [
            Item("whatsapp", _b(_wa({"message_echoes": [echo]}, graph.PHONE_NUMBER_ID, "smb_message_echoes")), "echo")
        ]
        final = statuses[1 + i % 2]
        for status in statuses[: statuses.index(final) + 1]:
            receipt = {
                "id": wamid,
                "status": status,
                "timestamp": str(ts + 1 + statuses.index(status)),
                "recipient_id": phone,
            }
            group.append(Item("whatsapp", _b(_wa({"statuses": [receipt]}, graph.PHONE_NUMBER_ID)), "status"))
        load.echoes[text] = final
        groups.append(group)
        # WAHA: a message sent from the phone, then its ack
        chat, text = f"1555123{c:04d}@c.us", f"echo waha {i}"
        wid = f"true_{chat}_FAULTECHO{i:05d}"
        payload = {
            "id": wid,
            "timestamp": ts,
            "from": WAHA_ME,
            "fromMe": True,
            "source": "app",
            "to": chat,
            "body": text,
            "hasMedia": False,
            "ack": 1,
            "ackName": "SERVER",
            "_data": {"type": "chat"},
        }
        ack, ack_name, final = (3, "READ", "read") if i % 2 else (2, "DEVICE", "delivered")
        receipt = {
            "id": wid,
            "from": chat,
            "to": chat,
            "fromMe": True,
            "ack": ack,
            "ackName": ack_name,
            "timestamp": ts + 5,
        }
        group = [
            Item("waha", _b(_waha("message.any", f"evt_fault_echo_{i:05d}", payload)), "echo"),
            Item("waha", _b(_waha("message.ack", f"evt_fault_ack_{i:05d}", receipt)), "status"),
        ]
        load.echoes[text] = final
        groups.append(group)
    rng.shuffle(groups)
    items = [item for group in groups for item in group]  # each group in its own order, for now
    # 10% out of order: a delivery moved behind one that came after it (receipts before their message, too)
    for _ in range(int(len(items) * OUT_OF_ORDER_SHARE)):
        i = rng.randrange(len(items) - 1)
        j = min(len(items) - 1, i + rng.randint(1, 20))
        items[i], items[j] = items[j], items[i]
        load.out_of_order += 1
    # 30% duplicates: the same bytes again, a little later (a platform retrying)
    for original in rng.sample(items, int(len(items) * DUPLICATE_SHARE)):
        at = min(len(items), items.index(original) + rng.randint(1, 60))
        items.insert(at, Item(original.channel_type, original.body, original.kind, duplicate=True))
        load.duplicates += 1
    load.items = items
    return load


# -- the sender: a platform's retry loop over two API processes ------------------------------------------------------


@dataclass
class Outage:
    start: float
    end: float | None = None


class PlatformSender:
    """Delivers like a platform: retries on a connection error or a 5xx until a 2xx, alternating API processes."""

    def __init__(self, api_urls: list[str], channels: dict[str, dict[str, Any]], secrets: dict[str, dict]) -> None:
        self.api_urls = api_urls
        self.channels = channels
        self.secrets = secrets
        self.turn = itertools.count()
        self.db_outages: list[Outage] = []
        self.sent = 0
        self.attempts = 0
        self.connection_errors = 0
        self.fivexx: list[tuple[float, float, int, str]] = []  # (start, end, status, body)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(20.0, connect=2.0), trust_env=False, limits=httpx.Limits(max_connections=64)
        )

    def db_was_down(self, start: float, end: float) -> bool:
        return any(o.start <= end and (o.end is None or start <= o.end) for o in self.db_outages)

    def fivexx_while_db_up(self) -> list[tuple[float, float, int, str]]:
        return [f for f in self.fivexx if not self.db_was_down(f[0], f[1])]

    async def deliver(self, item: Item) -> None:
        channel = self.channels[item.channel_type]
        path = f"/webhooks/{item.channel_type}/{channel['id']}"
        deadline = time.monotonic() + 120
        while True:
            self.attempts += 1
            url = self.api_urls[next(self.turn) % len(self.api_urls)]
            headers = sign(item.channel_type, item.body, self.secrets[item.channel_type])
            start = time.monotonic()
            try:
                response = await self.client.post(url + path, content=item.body, headers=headers)
            except httpx.TransportError:
                self.connection_errors += 1
                assert time.monotonic() < deadline, f"{item.channel_type} delivery never accepted"
                await asyncio.sleep(0.2)
                continue
            if response.status_code >= 500:
                self.fivexx.append((start, time.monotonic(), response.status_code, response.text[:200]))
                assert time.monotonic() < deadline, f"{item.channel_type} delivery never accepted"
                await asyncio.sleep(0.3)
                continue
            assert response.status_code == 200, (item.channel_type, response.status_code, response.text)
            self.sent += 1
            return


async def stream_replicas(nats_url: str) -> tuple[dict[str, int], str]:
    """Each stream's replica count, and the cluster component (``nats-N``) leading ``SOUK_WORK``."""
    import nats

    from souk.bus.client import server_list

    nc = await nats.connect(server_list(nats_url))
    try:
        js = nc.jetstream()
        replicas, leader = {}, ""
        for name in ("SOUK_WORK", "SOUK_EVENTS", "SOUK_VENDORS"):
            info = await js.stream_info(name)
            replicas[name] = info.config.num_replicas or 1
            if name == "SOUK_WORK" and info.cluster is not None and info.cluster.leader:
                leader = "nats-" + info.cluster.leader.rsplit("-", 1)[1]  # souk-nats-2 -> nats-2
        return replicas, leader or "nats-2"
    finally:
        await nc.close()


# -- the test ---------------------------------------------------------------------------------------------------------


@dataclass
class Faults:
    done: list[str] = field(default_factory=list)
    kills: int = 0


async def activity_worker(cluster: Cluster, workflow_id: str, timeout: float = 60.0) -> str:
    """The component (``worker-N``) running the workflow's activity now, from the Temporal server's record of the
    worker identity (``<pid>@<host>``, the SDK's default) that took it."""
    from temporalio.client import Client

    client = await Client.connect(cluster.temporal_address)
    handle = client.get_workflow_handle(workflow_id)
    pids = {cluster.component(n).pid: n for n in cluster.names if n.startswith("worker-")}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            pid = pending.last_worker_identity.split("@", 1)[0]
            if pid.isdigit() and int(pid) in pids:
                return pids[int(pid)]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no worker is running an activity of {workflow_id}")


async def _read(cluster_db, stmt):
    async with cluster_db.system_read_session() as s:
        return (await s.execute(stmt)).all()


async def test_faults_injected_into_a_cluster_lose_and_double_nothing() -> None:
    from souk.core import service
    from souk.core.models import Role
    from souk.core.secrets import install_keyring, load_keys
    from souk.db.engine import Database

    started = time.monotonic()
    rng = random.Random(13)
    fakes: dict[str, Any] = {
        "telegram": FakeTelegram(),
        "graph": FakeGraphServer(),
        "waha": FakeWAHA(),
        "tiktok": FakeTikTok(),
        "chotot": FakeChotot(),
    }
    for fake in fakes.values():
        fake.start()
    fakes["waha"].add_session("default", working=True)
    for i in range(IMPORT_CHATS):
        fakes["waha"].add_chat(f"8493{i:07d}@c.us", IMPORT_PER_CHAT, from_me_every=7)
    fakes["waha"].page_delay = IMPORT_PAGE_DELAY
    # not under pytest's base temp: every new pytest session makes its root 0700 again, and PostgreSQL runs as
    # another user when we are root
    data_dir = Path(tempfile.mkdtemp(prefix="souk-faults-"))
    config = ClusterConfig(
        data_dir=data_dir,
        env=ENV,
        postgres_settings={"fsync": "off", "full_page_writes": "off"},
    )
    cluster = Cluster(config)
    db: Database | None = None
    sender: PlatformSender | None = None
    passed = False
    try:
        await asyncio.to_thread(cluster.start)
        boot = time.monotonic() - started
        install_keyring(load_keys(None, cluster.data_dir))
        db = Database(cluster.database_url)

        # a tenant, its key, and one active channel per platform created through the cluster's API
        async with db.system_session() as session:
            tenant = await service.create_tenant(session, "faults", "Faults")
            session.info["tenant_id"] = tenant.id
            _, key = await service.create_api_key(session, tenant.id, "faults", role=Role.owner)
        owner = type("Owner", (), {"headers": {"X-API-Key": key}})()
        channels: dict[str, dict[str, Any]] = {}
        async with httpx.AsyncClient(base_url=cluster.api_urls[0], timeout=20, trust_env=False) as api:
            for platform in PLATFORMS:
                channels[platform] = await active_channel(api, owner, fakes, platform)
        secrets: dict[str, dict] = {}
        async with db.system_session() as session:
            for platform, channel in channels.items():
                row = await session.get(Channel, uuid.UUID(channel["id"]))
                assert row is not None
                secrets[platform] = dict(row.secrets)

        replicas, work_leader = await stream_replicas(cluster.nats_url)
        assert replicas == {"SOUK_WORK": 3, "SOUK_EVENTS": 3, "SOUK_VENDORS": 3}, replicas

        load = build_load(fakes["graph"], fakes["tiktok"], rng)
        sender = PlatformSender(cluster.api_urls, channels, secrets)
        total = len(load.items)
        faults = Faults()
        graceful: dict[str, tuple[int | None, float]] = {}
        replies: dict[str, str] = {}  # message id -> text
        reply_errors: list[str] = []
        telegram: FakeTelegram = fakes["telegram"]

        async def send_load() -> None:
            queue: asyncio.Queue[Item] = asyncio.Queue()
            for item in load.items:
                queue.put_nowait(item)

            async def one_lane(lane: int) -> None:
                while not queue.empty():
                    item = queue.get_nowait()
                    await sender.deliver(item)
                    await asyncio.sleep(16 / RATE)

            await asyncio.gather(*(one_lane(i) for i in range(16)))

        async def at(share: float) -> None:
            while sender.sent < total * share:
                await asyncio.sleep(0.05)

        waha_channel = uuid.UUID(channels["waha"]["id"])
        imported_rows = (
            select(Message.conversation_id, Message.message_text)
            .where(Message.channel_id == waha_channel)
            .where(Message.message_text.like("message %"))
        )
        history: dict[str, Any] = {}

        async def imported() -> int:
            return len(await _read(db, imported_rows))

        async def inject() -> None:
            await at(0.02)
            async with httpx.AsyncClient(base_url=cluster.api_urls[1], timeout=20, trust_env=False) as api:
                r = await api.post(
                    f"/api/v1/channels/{waha_channel}/import-history",
                    headers={"X-API-Key": key},
                    json={"strategy": "all", "limit": IMPORT_PAGE},
                )
            assert r.status_code == 202, r.text
            history["workflow_id"] = r.json()["workflow_id"]
            await at(0.12)
            while await imported() < 2 * IMPORT_PAGE:  # some batches committed: the kill must not undo them
                await asyncio.sleep(0.1)
            # the worker whose Temporal worker runs the import's activity now: its heartbeat stops, and after the
            # heartbeat timeout the server gives the activity to the other worker, which resumes from the cursor
            victim = await activity_worker(cluster, history["workflow_id"])
            cluster.kill(victim)
            faults.kills += 1
            history["at_worker_kill"] = await imported()
            await asyncio.to_thread(cluster.restart, victim)
            faults.done.append(f"{victim} (running the import's activity) SIGKILLed and restarted")
            # the Temporal server, with the workflow in flight: its state is on disk, the clients reconnect
            history["at_temporal_kill"] = await imported()
            cluster.kill("temporal")
            faults.kills += 1
            await asyncio.sleep(2.0)
            await asyncio.to_thread(cluster.restart, "temporal")
            faults.done.append("temporal SIGKILLed for 2 s and restarted")
            fakes["waha"].page_delay = 0.0  # the import has been through its faults: let it finish at full speed
            await at(0.30)
            cluster.kill("api-1")
            faults.kills += 1
            await asyncio.to_thread(cluster.restart, "api-1")
            faults.done.append("api-1 SIGKILLed and restarted")
            await at(0.48)
            # the node leading the work queue's stream: its followers must elect a new leader
            await asyncio.to_thread(cluster.stop_component, work_leader)
            await asyncio.sleep(3.0)
            await asyncio.to_thread(cluster.restart, work_leader)
            faults.done.append(f"{work_leader} (the work stream's leader) stopped for 3 s and restarted")
            await at(0.66)
            sender.db_outages.append(Outage(time.monotonic()))
            await asyncio.to_thread(cluster.stop_component, "postgres")
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.restart, "postgres")
            sender.db_outages[-1].end = time.monotonic()
            faults.done.append("postgres restarted")
            await at(0.80)
            # a rolling restart: SIGTERM drains in-flight work (a worker acks or naks what it holds, a request
            # in progress is answered) and the process exits by itself, well before the SIGKILL escalation
            for name in ("worker-2", "api-2"):
                t0 = time.monotonic()
                code = await asyncio.to_thread(cluster.stop_component, name, 25.0)
                graceful[name] = (code, time.monotonic() - t0)
                await asyncio.to_thread(cluster.restart, name)
            faults.done.append("worker-2 and api-2 restarted with SIGTERM")

        async def send_replies() -> None:
            """Replies to Telegram customers while the faults happen, through the API with an idempotency key;
            the fake answers bursts of 429 and 5xx."""
            await at(0.08)
            tg = uuid.UUID(channels["telegram"]["id"])
            conversations: list[uuid.UUID] = []
            while len(conversations) < 12:
                rows = await _read(db, select(Conversation.id).where(Conversation.channel_id == tg))
                conversations = [r[0] for r in rows]
                await asyncio.sleep(0.5)
            telegram.throttle(times=3, retry_after=1)
            async with httpx.AsyncClient(timeout=20, trust_env=False) as api:
                for n in range(REPLIES):
                    if n == REPLIES // 3:
                        telegram.fail("sendMessage", 502, "Bad Gateway", times=3)
                    if n == 2 * REPLIES // 3:
                        telegram.fail("sendMessage", 500, "Internal Server Error", times=2)
                        telegram.throttle(times=2, retry_after=1)
                    text = f"fault reply {n}"
                    conversation = conversations[n % len(conversations)]
                    headers = {"X-API-Key": key, "Idempotency-Key": f"fault-reply-{n}"}
                    for attempt in itertools.count():
                        url = cluster.api_urls[attempt % len(cluster.api_urls)]
                        try:
                            r = await api.post(
                                f"{url}/api/v1/conversations/{conversation}/messages",
                                json={"text": text},
                                headers=headers,
                            )
                        except httpx.TransportError:
                            r = None
                        if r is not None and r.status_code == 201:
                            replies[r.json()["id"]] = text
                            break
                        if r is not None and r.status_code < 500:
                            reply_errors.append(f"{r.status_code} {r.text[:200]}")
                            break
                        assert attempt < 200, "reply never accepted"
                        await asyncio.sleep(0.3)
                    await asyncio.sleep(0.4)

        timeline: list[str] = []

        async def sample() -> None:
            while True:
                with contextlib.suppress(Exception):
                    rows = await _read(db, select(InboundEvent.status, func.count()).group_by(InboundEvent.status))
                    timeline.append(f"{time.monotonic() - load_started:.0f}s sent={sender.sent} {dict(rows)}")
                await asyncio.sleep(5)

        load_started = time.monotonic()
        sampler = asyncio.create_task(sample())
        phases: dict[str, float] = {}

        async def timed(name: str, coro) -> None:
            await coro
            phases[name] = time.monotonic() - load_started

        await asyncio.gather(timed("load", send_load()), timed("faults", inject()), timed("replies", send_replies()))
        assert not reply_errors, reply_errors

        # -- wait (bounded) until the cluster has caught up
        async def settled() -> dict[str, int]:
            async with db.system_read_session() as s:
                waiting = await s.scalar(
                    select(func.count()).select_from(InboundEvent).where(InboundEvent.status == "received")
                )
                unfinished = await s.scalar(
                    select(func.count())
                    .select_from(OutboundMessage)
                    .where(OutboundMessage.status.notin_(["sent", "failed"]))
                )
                deferred = await s.scalar(select(func.count()).select_from(DeferredUpdate))
            async with httpx.AsyncClient(base_url=cluster.api_urls[0], timeout=10, trust_env=False) as api:
                r = await api.get(
                    f"/api/v1/channels/{waha_channel}/import-history/{history['workflow_id']}",
                    headers={"X-API-Key": key},
                )
            history["progress"] = r.json()
            running = r.json()["state"] not in ("completed", "failed", "cancelled")
            return {
                "waiting": waiting or 0,
                "unfinished": unfinished or 0,
                "deferred": deferred or 0,
                "import_running": int(running),
            }

        drain_started = time.monotonic()
        state: dict[str, int] = {}
        while time.monotonic() - drain_started < 120:
            try:
                state = await settled()
            except Exception:  # the database just came back: ask again
                state = {"error": 1}
            if not any(state.values()):
                break
            await asyncio.sleep(0.5)
        drain_seconds = time.monotonic() - drain_started
        sampler.cancel()
        assert not any(state.values()), f"the cluster did not settle: {state}\n" + "\n".join(timeline)
        for name, (code, seconds) in graceful.items():
            # a worker returns 0; Uvicorn re-raises SIGTERM once its graceful shutdown is done (exit -15); SIGKILL
            # (-9) would mean the stop timed out
            clean = (0,) if name.startswith("worker") else (0, -signal.SIGTERM)
            assert code in clean and seconds < 25.0, f"{name} did not stop on SIGTERM: exit {code} after {seconds:.1f}s"
        assert not cluster.monitor(), f"components died: {cluster.monitor()}"

        rows = await _read(
            db,
            select(Channel.channel_type, Message.message_text, Message.direction, Message.status).join(
                Channel, Channel.id == Message.channel_id
            ),
        )
        stored: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for channel_type, text, direction, status in rows:
            if channel_type == "waha" and text.startswith("message "):
                continue  # imported history: its texts repeat from chat to chat, counted per conversation below
            stored.setdefault((channel_type, text), []).append((direction, status))
        history_rows = await _read(db, imported_rows)
        history_distinct = set(history_rows)
        history_expected = IMPORT_CHATS * IMPORT_PER_CHAT
        doubled = {k: v for k, v in stored.items() if len(v) > 1}
        missing = {p: [t for t in texts if (p, t) not in stored] for p, texts in load.texts.items()}
        statuses_wrong = {}
        for text, final in load.echoes.items():
            got = stored.get((text.split()[1], text))
            if got is None or got[0][1] != final:
                statuses_wrong[text] = (got[0][1] if got else "lost", final)
        failed_events = await _read(db, select(InboundEvent.error).where(InboundEvent.status == "failed"))
        outcomes = dict(
            (str(mid), status)
            for mid, status in await _read(db, select(OutboundMessage.message_id, OutboundMessage.status))
        )
        why_failed = sorted(
            f"{code}: {(error or '')[:120]}"
            for code, error in await _read(
                db,
                select(OutboundMessage.last_error_code, OutboundMessage.last_error).where(
                    OutboundMessage.status == "failed"
                ),
            )
        )
        on_platform = [m.get("text") for m in telegram.sent]
        twice = [text for text in replies.values() if on_platform.count(text) > 1]
        lost = [text for mid, text in replies.items() if outcomes.get(mid) == "sent" and on_platform.count(text) != 1]
        during_db_up = sender.fivexx_while_db_up()

        # -- the counts, recorded before the invariants are asserted so a failing run shows them too
        customer_messages = sum(len(t) for t in load.texts.values())
        lost_messages = sum(len(m) for m in missing.values())
        sent_replies = sum(1 for mid in replies if outcomes.get(mid) == "sent")
        figures = {
            "webhooks_sent": total,
            "platforms": len(PLATFORMS),
            "distinct": total - load.duplicates,
            "duplicates": load.duplicates,
            "out_of_order": load.out_of_order,
            "attempts": sender.attempts,
            "connection_errors": sender.connection_errors,
            "fivexx": len(sender.fivexx),
            "fivexx_while_db_up": len(during_db_up),
            "kills": faults.kills,
            "faults": faults.done,
            "customer_messages": customer_messages,
            "stored": customer_messages - lost_messages,
            "lost": lost_messages,
            "stored_twice": len(doubled),
            "echoes": len(load.echoes),
            "statuses_wrong": len(statuses_wrong),
            "events_failed": len(failed_events),
            "replies": REPLIES,
            "replies_sent": sent_replies,
            "replies_failed": sum(1 for mid in replies if outcomes.get(mid) == "failed"),
            "replies_sent_twice": len(twice),
            "replies_failed_why": why_failed,
            "history_import": {
                "state": history["progress"]["state"],
                "messages": history_expected,
                "stored": len(history_distinct),
                "stored_twice": len(history_rows) - len(history_distinct),
                "stored_at_worker_kill": history["at_worker_kill"],
                "stored_at_temporal_kill": history["at_temporal_kill"],
            },
            "seconds": {"boot": round(boot), "load": round(phases["load"]), "settle": round(drain_seconds)},
        }
        summary = (
            f"cluster faults: {total} webhooks sent from {len(PLATFORMS)} platforms ({total - load.duplicates} "
            f"distinct, {load.duplicates} duplicates injected, {load.out_of_order} moved out of order) in "
            f"{phases['load']:.0f}s; {sender.attempts} attempts, {sender.connection_errors} connection errors, "
            f"{len(sender.fivexx)} 5xx ({len(during_db_up)} while the database was up)\n"
            f"faults: {'; '.join(faults.done)}; {faults.kills} SIGKILLs\n"
            f"stored: {customer_messages - lost_messages} customer messages of {customer_messages}, lost="
            f"{lost_messages}, stored twice={len(doubled)}; {len(load.echoes)} echoes, {len(statuses_wrong)} "
            f"with a wrong status; events failed={len(failed_events)}\n"
            f"replies: {REPLIES} queued against 429/5xx bursts, {sent_replies} sent once, "
            f"{figures['replies_failed']} marked failed{' (' + '; '.join(why_failed) + ')' if why_failed else ''}, "
            f"{len(twice)} sent twice\n"
            f"history import (Temporal): {history['progress']['state']}, {len(history_distinct)} of "
            f"{history_expected} messages stored, {len(history_rows) - len(history_distinct)} twice; "
            f"{history['at_worker_kill']} stored at the worker kill, {history['at_temporal_kill']} at the Temporal "
            f"kill\n"
            f"time: cluster up in {boot:.0f}s, settled {drain_seconds:.0f}s after the load, "
            f"{time.monotonic() - started:.0f}s in all"
        )
        print("\n" + summary)
        reports.record("cluster-faults", figures, summary)

        # -- invariants
        assert not doubled, f"messages stored twice: {list(doubled)[:5]}"
        for platform, texts in missing.items():
            assert not texts, f"{platform}: {len(texts)} messages lost, e.g. {texts[:3]}"
        assert not statuses_wrong, f"statuses not applied (got, expected): {statuses_wrong}"
        assert not failed_events, f"{len(failed_events)} inbound events failed: {failed_events[:3]}"
        assert len(replies) == REPLIES
        for mid, text in replies.items():
            assert outcomes.get(mid) in ("sent", "failed"), (text, outcomes.get(mid))
        assert not twice, f"replies sent twice: {twice}"
        assert not lost, f"replies marked sent but not on the platform: {lost}"
        assert not during_db_up, f"5xx for valid webhooks while the database was up: {during_db_up[:5]}"
        assert history["progress"]["state"] == "completed", history["progress"]
        for fault in ("at_worker_kill", "at_temporal_kill"):
            assert history[fault] < history_expected, f"the import ended before the kill ({fault})"
        assert len(history_rows) == len(history_distinct) == history_expected, (len(history_rows), history_expected)
        passed = True
    finally:
        if sender is not None:
            await sender.client.aclose()
        if db is not None:
            with contextlib.suppress(Exception):
                await db.dispose()
        await asyncio.to_thread(cluster.stop, 5.0)
        for fake in fakes.values():
            fake.stop()
        if passed:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"cluster logs kept in {data_dir / 'logs'}")
