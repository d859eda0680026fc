"""The sender's HTTP clients: one per channel, kept for the next sends, the oldest closed beyond the bound."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from souk.messaging.channel_http import ChannelClients


async def test_each_channel_has_its_own_client_and_the_oldest_is_closed_beyond_the_bound():
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with ChannelClients(httpx.Timeout(1.0), max_clients=2, grace=0.05) as clients:
        first, second = clients.get(a), clients.get(b)
        assert clients.get(a) is first and second is not first  # a is now the most recently used
        third = clients.get(c)
        assert len(clients) == 2 and clients.get(a) is first and clients.get(c) is third
        assert not second.is_closed  # a send still using it may finish
        await asyncio.sleep(0.2)
        assert second.is_closed and not first.is_closed
    assert first.is_closed and third.is_closed
