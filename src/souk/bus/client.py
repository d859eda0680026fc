"""The NATS JetStream connection of a process, and the streams Souk uses.

Streams (created idempotently at start):

* ``SOUK_WORK`` — work queue of ids (``work.<kind>``): inbound events, outbound sends, media, automations. Each
  message is consumed by exactly one worker and redelivered if not acked; the database row is the truth.
* ``SOUK_VENDORS`` — seed 002's inbound broker flow: vendors without webhooks (Chotot) publish their events on
  ``vendors.<vendor>.<souk channel id>``; Souk stores each one like a webhook delivery.
* ``SOUK_EVENTS`` — domain events ``souk.<tenant>.<event>`` for the inbox (SSE), outgoing webhooks and metrics,
  kept for a day so a reconnecting inbox can catch up.

On a JetStream cluster the streams are replicated on ``SOUK_NATS_REPLICAS`` servers (3 on a 3-node cluster: one
node can be down without losing a message or stopping the queue); their consumers inherit the stream's replicas.
``SOUK_NATS_URL`` may list several servers, comma separated; the client also learns the others from the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from souk.core.observability import log

WORK_STREAM = "SOUK_WORK"
EVENTS_STREAM = "SOUK_EVENTS"
VENDORS_STREAM = "SOUK_VENDORS"

STREAMS = [
    StreamConfig(
        name=WORK_STREAM,
        subjects=["work.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=120.0,
    ),
    StreamConfig(
        name=VENDORS_STREAM,
        subjects=["vendors.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_age=7 * 24 * 3600.0,
        duplicate_window=120.0,
    ),
    StreamConfig(
        name=EVENTS_STREAM,
        subjects=["souk.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=24 * 3600.0,
        duplicate_window=120.0,
    ),
]


class Bus:
    """One NATS connection per process with reconnects forever; callers check :attr:`connected`."""

    def __init__(self, url: str, *, replicas: int = 1) -> None:
        self.url = url
        self.replicas = replicas
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self._ready = asyncio.Event()
        self._publishing = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    @property
    def ready(self) -> bool:
        """Connected, and the streams exist (consumers must not be created before them)."""
        return self._ready.is_set() and self.connected

    async def connect(self, *, timeout: float = 5.0) -> None:
        async def _error(exc: Exception) -> None:
            log.debug("nats error", error=str(exc))

        async def _disconnected() -> None:
            log.warning("nats disconnected; reconnecting", url=self.url)

        self.nc = await nats.connect(
            server_list(self.url),
            connect_timeout=timeout,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
            name="souk",
            error_cb=_error,
            disconnected_cb=_disconnected,
        )
        self.js = self.nc.jetstream(timeout=10.0)
        await ensure_streams(self.js, replicas=self.replicas)
        self._ready.set()

    async def connect_in_background(self) -> asyncio.Task[None]:
        """Keep trying to connect without blocking start-up; /readyz reports the state meanwhile."""

        async def _loop() -> None:
            delay = 0.2
            while True:
                try:
                    await self.connect()
                    log.info("bus connected", url=self.url)
                    return
                except Exception as exc:
                    log.warning("bus not reachable yet", url=self.url, error=str(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

        return asyncio.create_task(_loop(), name="bus-connect")

    async def wait_ready(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def publish(self, subject: str, payload: bytes, *, msg_id: str | None = None) -> None:
        """Publish to JetStream and wait for the stream's ack; ``msg_id`` de-duplicates retries."""
        if self.js is None:
            raise RuntimeError("bus not connected")
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await self.js.publish(subject, payload, headers=headers)

    async def publish_many(
        self, subject: str, messages: list[tuple[bytes, str | None]], *, timeout: float = 5.0
    ) -> list[Exception]:
        """Publish ``(payload, msg_id)`` pairs without waiting for each PubAck in turn, then wait for all of them.

        Returns the failures (an empty list when the stream acknowledged every message); a message whose PubAck has
        not arrived within ``timeout`` counts as failed. Calls are serialized, so the pending acks of one call never
        mix with another's.
        """
        if self.js is None:
            raise RuntimeError("bus not connected")
        js = self.js
        async with self._publishing:
            futures: list[asyncio.Future[Any]] = []
            failures: list[Exception] = []
            try:
                for payload, msg_id in messages:
                    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
                    futures.append(await js.publish_async(subject, payload, headers=headers))
            except Exception as exc:  # connection trouble mid-way: what was not sent is a failure
                failures.extend([exc] * (len(messages) - len(futures)))
            if futures:
                _, pending = await asyncio.wait(futures, timeout=timeout)
                for fut in pending:
                    fut.cancel()
                    failures.append(TimeoutError("no PubAck"))
                failures.extend(
                    exc
                    for fut in futures
                    if fut not in pending and not fut.cancelled() and (exc := fut.exception()) is not None
                )
            return failures

    async def ping(self, timeout: float = 1.0) -> None:
        if self.nc is None or not self.nc.is_connected:
            raise ConnectionError("not connected to NATS")
        await self.nc.flush(timeout=timeout)

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.nc.drain()
            except Exception:
                await self.nc.close()


def server_list(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` → one URL per server (the client tries them in turn and on reconnects)."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create Souk's streams, or bring an existing one to this configuration (replicas included)."""
    for base in STREAMS:
        cfg = dataclasses.replace(base, num_replicas=replicas)
        try:
            await js.add_stream(cfg)
        except BadRequestError:
            await js.update_stream(cfg)


def payload_json(data: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(data)


async def fetch_until_stopped(
    sub: JetStreamContext.PullSubscription, batch: int, stopping: asyncio.Event, timeout: float = 1.0
) -> list[Any]:
    """One pull of up to ``batch`` messages, cut short when ``stopping`` is set.

    A pull waits up to ``timeout`` for work; without the race a stopping worker would sit that out once per
    consumer on every shutdown. Messages a cancelled pull was about to hand over are not acked, so JetStream
    delivers them again: nothing is lost. A pull that times out raises as ``sub.fetch`` does.
    """
    fetch = asyncio.ensure_future(sub.fetch(batch, timeout=timeout))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not fetch.done():
        fetch.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await fetch
        return []
    return fetch.result()
