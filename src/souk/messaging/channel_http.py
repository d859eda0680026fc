"""One HTTP client per channel for the sender: each channel gets its own connection pool and cookie jar.

A shared client would let one slow platform (a WAHA server on a slow phone, a Graph API outage holding
connections until the timeout) take every pooled connection and stall every other channel's sends, and it would
keep cookies one platform set in a jar that the next tenant's requests carry. Clients are made on first use, kept
for the next sends, and the least recently used ones are closed beyond :data:`MAX_CLIENTS`, after a grace period
so a send still using an evicted client finishes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict

import httpx

from souk import __version__

MAX_CLIENTS = 256
CONNECTIONS_PER_CHANNEL = 20  # above the sender's 16 concurrent sends, so one channel never waits on its own pool


class ChannelClients:
    """``get(channel_id)`` returns that channel's client; ``aclose()`` (or ``async with``) closes them all."""

    def __init__(self, timeout: httpx.Timeout, *, max_clients: int = MAX_CLIENTS, grace: float | None = None) -> None:
        self.timeout = timeout
        self.max_clients = max_clients
        #: how long an evicted client stays open for the sends still using it: longer than one request
        self.grace = grace if grace is not None else (timeout.read or 15.0) + 5.0
        self._clients: OrderedDict[uuid.UUID, httpx.AsyncClient] = OrderedDict()
        self._closing: dict[asyncio.Task[None], httpx.AsyncClient] = {}

    def get(self, channel_id: uuid.UUID) -> httpx.AsyncClient:
        client = self._clients.get(channel_id)
        if client is not None:
            self._clients.move_to_end(channel_id)
            return client
        client = httpx.AsyncClient(
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=CONNECTIONS_PER_CHANNEL, max_keepalive_connections=4),
            headers={"User-Agent": f"Souk/{__version__}"},
        )
        self._clients[channel_id] = client
        while len(self._clients) > self.max_clients:
            _, evicted = self._clients.popitem(last=False)
            task = asyncio.create_task(self._close_later(evicted))
            self._closing[task] = evicted
            task.add_done_callback(self._closing.pop)
        return client

    async def _close_later(self, client: httpx.AsyncClient) -> None:
        await asyncio.sleep(self.grace)
        await client.aclose()

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *self._closing.values()]
        for task in list(self._closing):
            task.cancel()
        self._clients.clear()
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)

    async def __aenter__(self) -> ChannelClients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __len__(self) -> int:
        return len(self._clients)
