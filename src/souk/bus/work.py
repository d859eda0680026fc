"""The work queue: ids of rows to process, on ``work.<kind>`` subjects of the ``SOUK_WORK`` stream.

The database row is the truth and the bus only carries its id, so a lost or duplicated message delays or repeats
work but never loses or doubles it: handlers are idempotent, and sweepers re-publish rows left unprocessed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from souk.bus.client import Bus
from souk.core.observability import log


class Retry(Exception):
    """Raised by a handler for a transient failure: the message is redelivered after ``delay`` seconds."""

    def __init__(self, reason: str, delay: float = 2.0) -> None:
        super().__init__(reason)
        self.delay = delay


def subject(kind: str) -> str:
    return f"work.{kind}"


async def enqueue(bus: Bus, kind: str, row_id: str, *, dedup: bool = True) -> None:
    """Publish a row id; within the stream's duplicate window the same id is stored once."""
    await bus.publish(subject(kind), row_id.encode(), msg_id=f"{kind}:{row_id}" if dedup else None)


async def enqueue_many(bus: Bus, kind: str, row_ids: list[str]) -> list[Exception]:
    """Publish many row ids at once (acks awaited together, not one after another); returns the failures."""
    return await bus.publish_many(subject(kind), [(rid.encode(), f"{kind}:{rid}") for rid in row_ids])


@dataclass
class ConsumerSpec:
    kind: str  # work.<kind>
    durable: str
    handler: Callable[[str], Awaitable[None]]
    batch: int = 32
    ack_wait: float = 30.0
    max_deliver: int = -1
    concurrency: int = 8


async def consume(bus: Bus, spec: ConsumerSpec, stopping: asyncio.Event) -> None:
    """Pull ids and run the handler, up to ``concurrency`` at once, until ``stopping``.

    Ack after the handler returns (its transaction committed); ``Retry`` → nak with delay; any other exception is
    logged and nak'ed too (the handler is expected to record permanent failures in its row and return normally).
    """
    while not stopping.is_set() and not bus.ready:
        await asyncio.sleep(0.2)
    assert bus.js is not None
    config = ConsumerConfig(
        durable_name=spec.durable,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=spec.ack_wait,
        max_deliver=spec.max_deliver,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject=subject(spec.kind),
        max_ack_pending=max(spec.batch * 4, 256),
    )
    sub = await bus.js.pull_subscribe(subject(spec.kind), durable=spec.durable, config=config)
    limit = asyncio.Semaphore(spec.concurrency)

    async def run_one(msg) -> None:
        async with limit:
            row_id = msg.data.decode()
            try:
                await spec.handler(row_id)
                await msg.ack()
            except Retry as exc:
                await msg.nak(delay=exc.delay)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("work handler failed; will be redelivered", kind=spec.kind, id=row_id)
                await msg.nak(delay=2.0)

    pending: set[asyncio.Task[None]] = set()
    while not stopping.is_set():
        # back-pressure: never hold more than two rounds of work, so nothing waits past its ack deadline
        while len(pending) >= spec.concurrency * 2 and not stopping.is_set():
            await asyncio.wait(set(pending), return_when=asyncio.FIRST_COMPLETED, timeout=1.0)
        try:
            msgs = await sub.fetch(spec.batch, timeout=1.0)
        except (NatsTimeout, TimeoutError):
            continue
        except Exception as exc:  # connection trouble: back off, the reconnect logic brings it back
            if stopping.is_set():
                break
            log.warning("work fetch failed", kind=spec.kind, error=str(exc))
            await asyncio.sleep(1.0)
            continue
        for msg in msgs:
            task = asyncio.create_task(run_one(msg))
            pending.add(task)
            task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=10.0)
    with contextlib.suppress(Exception):
        await sub.unsubscribe()  # an open pull subscription would hold the connection's close for its drain timeout
