"""The Temporal client of a process, connected lazily (start-up never waits for Temporal)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client


class TemporalGateway:
    def __init__(self, address: str, namespace: str = "default") -> None:
        self.address = address
        self.namespace = namespace
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self, timeout: float = 5.0) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await asyncio.wait_for(Client.connect(self.address, namespace=self.namespace), timeout)
            return self._client

    async def ping(self, timeout: float = 2.0) -> None:
        client = await self.client(timeout)
        ok = await asyncio.wait_for(client.service_client.check_health(), timeout)
        if not ok:
            raise ConnectionError("Temporal reports not serving")
