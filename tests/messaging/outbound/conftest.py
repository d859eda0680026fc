"""Fixtures for the send path: fake platforms, channels pointing at them, customers and conversations as ORM rows,
and helpers to send through the API and wait for the worker's verdict."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from souk.bus.client import Bus
from souk.channels.models import Channel
from souk.channels.service import split_config
from souk.core.service import default_project
from souk.db.types import utcnow
from souk.messaging.models import ChannelIdentity, Conversation, Customer, Message
from souk.messaging.outbox_models import OutboundMessage
from souk.platforms import registry
from souk.settings import Settings
from tests.conftest import TenantFixture
from tests.support.fakes.chotot import FakeChotot
from tests.support.fakes.graph import FakeGraphServer
from tests.support.fakes.telegram import DEFAULT_TOKEN, FakeTelegram
from tests.support.fakes.tiktok import FakeTikTok
from tests.support.fakes.waha import FakeWAHA

WABA_ID = "987654321"
TEMPLATES = [
    {
        "name": "order_update",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Your order {{1}} is on its way."}],
    },
    {
        "name": "welcome_back",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "We missed you!"}],
    },
    {"name": "draft_one", "language": "en_US", "status": "PENDING", "category": "UTILITY", "components": []},
]


class Timed:
    """Records when each request arrived and can answer slowly (a platform under load)."""

    delay = 0.0

    def _init_timing(self) -> None:
        self.arrivals: list[tuple[float, str, Any]] = []  # (monotonic time, path, JSON body)
        self.delay = 0.0

    async def handle(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
        self.arrivals.append((time.monotonic(), request.url.path, body))
        if self.delay:
            await asyncio.sleep(self.delay)  # keeps going when the caller disconnects, like a real server
        return await super().handle(request)  # type: ignore[misc]


class TimedTelegram(Timed, FakeTelegram):
    def __init__(self) -> None:
        super().__init__()
        self._init_timing()


class TimedChotot(Timed, FakeChotot):
    def __init__(self) -> None:
        super().__init__()
        self._init_timing()


@dataclass
class Fakes:
    telegram: TimedTelegram
    graph: FakeGraphServer
    waha: FakeWAHA
    tiktok: FakeTikTok
    chotot: TimedChotot


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    f = Fakes(TimedTelegram(), FakeGraphServer(), FakeWAHA(), FakeTikTok(), TimedChotot())
    for server in (f.telegram, f.graph, f.waha, f.tiktok, f.chotot):
        server.start()
    f.waha.add_session("default", working=True)
    f.graph.respond("GET", f"/v21.0/{WABA_ID}/message_templates", 200, json={"data": TEMPLATES}, times=None)
    yield f
    for server in (f.telegram, f.graph, f.waha, f.tiktok, f.chotot):
        server.stop()


def config_for(channel_type: str, fakes: Fakes) -> dict[str, Any]:
    g = fakes.graph
    return {
        "telegram": {"botToken": DEFAULT_TOKEN, "apiBaseURL": fakes.telegram.url},
        "whatsapp": {
            "phoneNumberID": g.PHONE_NUMBER_ID,
            "businessAccountID": WABA_ID,
            "accessToken": g.TOKEN,
            "appSecret": "app-secret",
            "graphBaseURL": g.url,
        },
        "messenger": {
            "pageID": g.PAGE_ID,
            "pageAccessToken": g.TOKEN,
            "appSecret": "app-secret",
            "graphBaseURL": g.url,
        },
        "instagram": {
            "instagramAccountID": g.IG_ID,
            "pageAccessToken": g.TOKEN,
            "appSecret": "app-secret",
            "graphBaseURL": g.url,
        },
        "waha": {
            "baseURL": fakes.waha.url,
            "sessionID": "default",
            "auth": {"type": "api_key", "apiKey": "waha-test-key"},
        },
        "tiktok": {
            "businessID": fakes.tiktok.business_id,
            "appKey": "app-key",
            "appSecret": fakes.tiktok.app_secret,
            "accessToken": fakes.tiktok.access_token,
            "apiBaseURL": fakes.tiktok.url,
        },
        "chotot": {
            "baseURL": fakes.chotot.url,
            "partnerID": fakes.chotot.partner_id,
            "apiKey": fakes.chotot.api_key,
            "accountID": fakes.chotot.account_id,
        },
    }[channel_type]


@dataclass
class Thread:
    """A conversation ready to be answered."""

    tenant: TenantFixture
    channel_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    platform: str
    thread: str  # the platform's thread id (chat, wa_id, PSID, conversation)
    recipient: str  # who the platform addresses (the thread, or the Chotot buyer)


async def make_channel(
    app: FastAPI,
    tenant: TenantFixture,
    channel_type: str,
    fakes: Fakes,
    *,
    status: str = "active",
    meta: dict[str, Any] | None = None,
) -> uuid.UUID:
    platform = registry.get(channel_type)
    config = platform.config_model.model_validate(config_for(channel_type, fakes))
    plain, secret = split_config(platform, config.model_dump(mode="json", exclude_none=True, by_alias=True))
    secret["webhookSecret"] = secrets.token_urlsafe(16)
    channel_id = uuid.uuid4()
    async with app.state.db.tenant_session(tenant.id) as session:
        project = await default_project(session, tenant.id)
        session.add(
            Channel(
                id=channel_id,
                tenant_id=tenant.id,
                project_id=project.id,
                name=f"{channel_type} test",
                channel_type=channel_type,
                status=status,
                config=plain,
                secrets=secret,
                meta=meta or {},
                webhook_id=str(channel_id),
            )
        )
    return channel_id


def new_thread_id(platform: str, fakes: Fakes, *, group: bool = False) -> tuple[str, str]:
    """A fresh (thread, recipient) on the platform, so tests never see each other's sends on the shared fakes."""
    n = secrets.randbelow(10**9) + 10**9
    if platform == "telegram":
        chat = f"-100{n}" if group else str(n)
        return chat, chat
    if platform in ("whatsapp",):
        return f"1555{n}", f"1555{n}"
    if platform == "waha":
        return f"1555{n}@c.us", f"1555{n}@c.us"
    if platform == "tiktok":
        return f"conv-{n}", f"conv-{n}"
    if platform == "chotot":
        chat = fakes.chotot.add_chat(buyer_id=str(n))
        return chat["id"], chat["participants"][0]["id"]
    return str(n), str(n)  # Messenger PSID / Instagram IGSID


async def make_thread(
    app: FastAPI,
    tenant: TenantFixture,
    fakes: Fakes,
    platform: str,
    *,
    channel_id: uuid.UUID | None = None,
    last_inbound_at: datetime | str | None = "now",
    group: dict[str, Any] | None = None,
    thread: str | None = None,
) -> Thread:
    """A customer, its identity and an open conversation on a (new) channel of ``platform``."""
    channel_id = channel_id or await make_channel(app, tenant, platform, fakes)
    thread_id, recipient = new_thread_id(platform, fakes, group=group is not None)
    thread_id = thread or thread_id
    last = utcnow() - timedelta(minutes=5) if last_inbound_at == "now" else last_inbound_at
    async with app.state.db.tenant_session(tenant.id) as session:
        customer = Customer(id=uuid.uuid4(), platform=platform, psid=recipient, display_name="Test Customer")
        identity = ChannelIdentity(
            id=uuid.uuid4(), customer_id=customer.id, channel_id=channel_id, platform=platform, external_id=recipient
        )
        conversation = Conversation(
            id=uuid.uuid4(),
            channel_id=channel_id,
            customer_id=customer.id,
            identity_id=identity.id,
            external_thread_id=thread_id,
            thread_id=thread_id,
            last_inbound_at=last,
            group=group,
        )
        session.add(customer)
        await session.flush()
        session.add(identity)
        await session.flush()
        session.add(conversation)
    return Thread(tenant, channel_id, conversation.id, customer.id, platform, thread_id, recipient)


async def add_inbound(
    app: FastAPI, t: Thread, external_id: str, text: str = "hi", *, comment_id: str | None = None, **metadata: Any
) -> uuid.UUID:
    """A message the customer sent (something to quote); with ``comment_id``, a comment under a post."""
    message_id = uuid.uuid4()
    async with app.state.db.tenant_session(t.tenant.id) as session:
        session.add(
            Message(
                id=message_id,
                channel_id=t.channel_id,
                conversation_id=t.conversation_id,
                customer_id=t.customer_id,
                external_id=external_id,
                sender_id=t.recipient,
                message_text=text,
                direction="inbound",
                status="received",
                timestamp=utcnow(),
                platform=t.platform,
                message_metadata=metadata,
                message_source="post_comment" if comment_id else "direct_message",
                comment_id=comment_id,
            )
        )
    return message_id


async def send(client: httpx.AsyncClient, t: Thread, body: Any = None, **kwargs: Any) -> httpx.Response:
    url = f"/api/v1/conversations/{t.conversation_id}/messages"
    headers = {**t.tenant.headers, **kwargs.pop("headers", {})}
    if body is not None:
        kwargs["json"] = body
    return await client.post(url, headers=headers, **kwargs)


@dataclass
class Outcome:
    message: Message
    outbox: OutboundMessage


async def load(app: FastAPI, tenant: TenantFixture, message_id: uuid.UUID | str) -> Outcome:
    mid = uuid.UUID(str(message_id))
    async with app.state.db.tenant_session(tenant.id) as session:
        # the outbox row first: the message changes in the same transaction, so it is read at least as new
        outbox = await session.scalar(select(OutboundMessage).where(OutboundMessage.message_id == mid))
        message = await session.scalar(select(Message).where(Message.id == mid))
    assert message is not None and outbox is not None
    return Outcome(message, outbox)


async def wait_done(
    app: FastAPI, tenant: TenantFixture, message_id: uuid.UUID | str, *, timeout: float = 15.0
) -> Outcome:
    """Poll until the worker has sent or failed the message."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = await load(app, tenant, message_id)
        if outcome.outbox.status in ("sent", "failed"):
            return outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"message {message_id} still {outcome.outbox.status} after {timeout}s: {outcome}")
        await asyncio.sleep(0.05)


async def counts(app: FastAPI, tenant: TenantFixture) -> tuple[int, int]:
    """(outbound messages, outbox rows) of the tenant: what a refused request must leave at zero."""
    async with app.state.db.tenant_session(tenant.id) as session:
        messages = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "outbound")
        )
        rows = await session.scalar(select(func.count()).select_from(OutboundMessage))
    return int(messages or 0), int(rows or 0)


async def channel_sent(app: FastAPI, tenant: TenantFixture, channel_id: uuid.UUID) -> int:
    async with app.state.db.tenant_session(tenant.id) as session:
        return int(await session.scalar(select(Channel.messages_sent).where(Channel.id == channel_id)) or 0)


def quick_drain(bus: Bus) -> None:
    """``souk.bus.work.consume`` leaves its pull subscription open, so closing the connection waits out nats-py's
    30 s drain timeout; tests do not wait for it (the fix belongs in ``consume``: unsubscribe on exit)."""
    if bus.nc is not None:
        bus.nc.options["drain_timeout"] = 0.5


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The suite's ``app`` (worker in-process), closing its NATS connection without the drain wait."""
    from souk.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        quick_drain(application.state.bus)


@pytest.fixture
async def api_only_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The API without the in-process worker: sends stay queued until a test runs a worker itself."""
    from souk.app import create_app

    application = create_app(settings.model_copy(update={"run_worker_in_process": False}))
    async with application.router.lifespan_context(application):
        yield application
        quick_drain(application.state.bus)


@pytest.fixture
async def api_only_client(api_only_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api_only_app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://souk.test") as c:
        yield c
