"""What every simulated platform shares: scripted customers, a local stand-in server, and its demo channel.

A :class:`StandIn` plays one platform. It serves the few endpoints Souk calls on that platform when it sends (and
tests a connection), answering in the platform's documented shape; it points a "Demo <Platform> (simulated)" channel
at itself through Souk's own API; it posts each customer message to the channel's webhook in the platform's format
with the platform's signature (or, for a vendor that pushes through the broker, publishes it on the channel's broker
subject); and when Souk's reply arrives it sends the platform's delivery and read receipts back the same way, a
moment apart, the way the customer's phone would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute


@dataclass(frozen=True)
class Customer:
    """A scripted customer: ``id`` is the thread Souk answers on the platform (chat id, wa_id, PSID, IGSID, WAHA chat
    id, TikTok conversation id, Chotot chat room id); ``user_id`` is the person, where the platform names the
    conversation apart from them (TikTok's open id, Chotot's buyer id)."""

    id: str
    name: str
    language: str
    script: tuple[str, ...]
    user_id: str = ""


#: ``(stand-in, customer, reply text)`` for every message Souk sends to a simulated customer
OnReply = Callable[["StandIn", Customer, str], None]


class StandIn(ABC):
    """One simulated platform: its API server, its demo channel, its customers' webhooks and receipts."""

    channel_type: ClassVar[str]
    label: ClassVar[str]
    customers: ClassVar[tuple[Customer, ...]]

    def __init__(self, on_reply: OnReply, *, receipt_delay: float = 1.0, broker_url: str | None = None) -> None:
        self.on_reply = on_reply
        self.receipt_delay = receipt_delay
        self.broker_url = broker_url  # the NATS server(s) Souk reads, for a vendor that publishes there
        self.url = ""  # where this stand-in listens, once started
        self.webhook_url: str | None = None  # where Souk receives this channel's webhooks
        self.sent: dict[str, list[str]] = {}  # customer id → texts Souk sent
        self.channel: dict[str, Any] = {}
        self.account = ""  # the account Souk's connection test found on the stand-in
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None

    @property
    def channel_name(self) -> str:
        return f"Demo {self.label} (simulated)"

    @property
    def inbound(self) -> str:
        """Where the customers' messages go, to show: the channel's webhook URL."""
        return self.webhook_url or ""

    def customer(self, customer_id: str) -> Customer:
        found = next((c for c in self.customers if c.id == customer_id), None)
        return found or Customer(customer_id, customer_id, "en", ())

    # -- what each platform says ----------------------------------------------------------------------------------

    @abstractmethod
    def routes(self) -> list[BaseRoute]:
        """The platform API endpoints Souk calls."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The channel config pointing Souk at this stand-in (``self.url``), with the secrets it signs with."""

    @abstractmethod
    async def write(self, customer: Customer, text: str) -> None:
        """Post ``text`` from ``customer`` to Souk as the platform's webhook."""

    async def receipts(self, customer: Customer, message_id: str) -> None:
        """Tell Souk the reply ``message_id`` reached the customer and was read (none by default)."""
        return

    async def registered(self, api: httpx.AsyncClient, answer: dict[str, Any]) -> None:
        """After ``configure-webhook``: what the platform does then (Meta's handshake, for instance)."""
        return

    async def route(self, api: httpx.AsyncClient, channel: dict[str, Any], souk_url: str) -> None:
        """Open the way from the customers to the channel: its webhook, configured (a vendor that pushes through the
        broker has none, and overrides this)."""
        r = await api.post(f"/api/v1/channels/{channel['id']}/configure-webhook", json={"webhook_url": souk_url})
        r.raise_for_status()
        answer = r.json()
        self.webhook_url = self.webhook_url or answer["webhook_url"]
        await self.registered(api, answer)

    # -- shared plumbing ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        app = Starlette(routes=self.routes())
        self._server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serving.done():
                await self._serving  # raises what stopped it
            await asyncio.sleep(0.02)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._http = httpx.AsyncClient(timeout=30)

    async def stop(self, *, drain: float = 10.0) -> None:
        """Let pending receipts go out (up to ``drain`` seconds), then stop serving."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=drain)
            for task in pending:
                task.cancel()
        if self._http is not None:
            await self._http.aclose()
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving

    async def connect(self, api: httpx.AsyncClient, souk_url: str) -> dict[str, Any]:
        """The demo channel, created once, pointed at this run's stand-in (its port changes), inbound set, active."""
        r = await api.get("/api/v1/channels", params={"type": self.channel_type, "q": self.channel_name, "limit": 100})
        r.raise_for_status()
        found = r.json()["items"]
        channel = next(
            (c for c in found if c["name"] == self.channel_name and c["channel_type"] == self.channel_type), None
        )
        if channel is None:
            body = {"name": self.channel_name, "channel_type": self.channel_type, "config": self.config()}
            r = await api.post("/api/v1/channels", json={**body, "ai_enabled": True})
        else:
            r = await api.patch(f"/api/v1/channels/{channel['id']}", json={"config": self.config(), "ai_enabled": True})
        r.raise_for_status()
        channel = r.json()
        await self.route(api, channel, souk_url)
        if channel["status"] != "active":
            (await api.post(f"/api/v1/channels/{channel['id']}/activate")).raise_for_status()
        r = await api.post(f"/api/v1/channels/{channel['id']}/test-connection")  # what a person checks first
        r.raise_for_status()
        self.account = r.json().get("name") or r.json().get("external_id") or ""
        self.channel = channel
        return channel

    async def deliver(self, body: dict[str, Any], headers: Callable[[bytes], dict[str, str]]) -> None:
        """POST ``body`` to Souk's webhook, signed by ``headers(raw body)``."""
        if not self.webhook_url or self._http is None:
            raise RuntimeError(f"the simulated {self.label} has no webhook to post to")
        raw = json.dumps(body).encode()  # ASCII with \\u escapes, as Meta sends it
        r = await self._http.post(
            self.webhook_url, content=raw, headers={"Content-Type": "application/json", **headers(raw)}
        )
        r.raise_for_status()

    async def bodies(self, customer: Customer, text: str) -> list[bytes]:
        """The webhook bodies :meth:`write` would post for ``text``, kept instead of posted (the seeded inbox,
        ``souk.simulate.seed``, parses them with the platform's own parser; no server needed)."""
        kept: list[bytes] = []

        async def keep(body: dict[str, Any], headers: Callable[[bytes], dict[str, str]] | None = None) -> None:
            kept.append(json.dumps(body).encode())

        self.deliver = keep  # type: ignore[method-assign]
        try:
            await self.write(customer, text)
        finally:
            del self.deliver
        return kept

    def replied(self, customer_id: str, text: str, message_id: str | None) -> None:
        """Souk sent ``text`` to a customer: print it, and send the receipts a moment later."""
        customer = self.customer(customer_id)
        self.sent.setdefault(customer.id, []).append(text)
        self.on_reply(self, customer, text)
        if message_id:
            task = asyncio.create_task(self._receipts(customer, message_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _receipts(self, customer: Customer, message_id: str) -> None:
        # Souk stopped, or the channel was changed meanwhile: the receipts are lost, as from a phone gone offline
        with contextlib.suppress(httpx.HTTPError, RuntimeError):
            await self.receipts(customer, message_id)

    async def pause(self, steps: float = 1.0) -> None:
        await asyncio.sleep(self.receipt_delay * steps)
