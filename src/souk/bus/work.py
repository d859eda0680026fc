"""The work queue: ids of rows to process, on ``work.<kind>`` subjects of the ``SOUK_WORK`` stream.

The database row is the truth and the bus only carries its id, so a lost or duplicated message delays or repeats
work but never loses or doubles it: handlers are idempotent, and sweepers re-publish rows left unprocessed.

A message carries one id, or several separated by newlines: rows stored together (a group commit of webhooks) travel
as one message, one publish and one stream write for the lot instead of one each. The consumer runs each id's
handler on its own and acknowledges the message once all of them are done; if one must be retried the whole message
comes back, and the ids already done are no-ops the second time.

A consumer may also take a ``batch_handler``: the ids of the messages one pull brought are then handled together,
up to ``batch_ids`` at a time in the order they arrived, one call after another (one transaction for the lot instead
of one per id), and the messages are acknowledged once that call returned. A batch that raises is handled again one
id at a time by ``handler``, with that path's retries and failures (docs/decisions/0033).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from souk.bus.client import Bus, fetch_until_stopped
from souk.core.observability import WORK_HANDLED, log


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


#: the most ids one message carries: enough to share a publish among a busy moment's webhooks, few enough that a
#: worker finishes them long before its ack deadline (and keeps that deadline moving while it works)
IDS_PER_MESSAGE = 64


async def enqueue_many(bus: Bus, kind: str, row_ids: list[str]) -> list[Exception]:
    """Publish many row ids, up to ``IDS_PER_MESSAGE`` per message (PubAcks awaited together); returns the failures.

    A message is de-duplicated on its first id, the same key a lone publish of that id uses.
    """
    chunks = [row_ids[i : i + IDS_PER_MESSAGE] for i in range(0, len(row_ids), IDS_PER_MESSAGE)]
    return await bus.publish_many(subject(kind), [("\n".join(c).encode(), f"{kind}:{c[0]}") for c in chunks])


@dataclass
class ConsumerSpec:
    kind: str  # work.<kind>
    durable: str
    handler: Callable[[str], Awaitable[None]]
    batch: int = 32
    #: all the ids given, done together, or raise (then each goes through ``handler``); see the module's docstring
    batch_handler: Callable[[list[str]], Awaitable[None]] | None = None
    batch_ids: int = 32
    ack_wait: float = 30.0
    max_deliver: int = -1
    concurrency: int = 8


async def consume(bus: Bus, spec: ConsumerSpec, stopping: asyncio.Event) -> None:
    """Pull messages and run the handler on their ids, up to ``concurrency`` at once, until ``stopping``.

    Ack after the handler returned for every id of the message (its transactions committed); ``Retry`` → nak with
    its delay; any other exception is logged and nak'ed too (the handler is expected to record permanent failures
    in its row and return normally). A message of several ids tells the stream it is still being worked on every
    third of ``ack_wait``, so a long one is not redelivered to another worker meanwhile.
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
    in_flight = 0  # ids fetched and not yet done
    done, retried, failed = (WORK_HANDLED.labels(spec.kind, outcome) for outcome in ("done", "retry", "failed"))

    async def run_id(row_id: str) -> float | None:
        """None when done, else the delay after which the message should come back."""
        async with limit:
            try:
                await spec.handler(row_id)
            except Retry as exc:
                retried.inc()
                return exc.delay
            except asyncio.CancelledError:
                raise
            except Exception:
                failed.inc()
                log.exception("work handler failed; will be redelivered", kind=spec.kind, id=row_id)
                return 2.0
            done.inc()
            return None

    async def keep_alive(*msgs) -> None:
        while True:
            await asyncio.sleep(spec.ack_wait / 3)
            for msg in msgs:
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def run_batch(msgs: list, ids: list[list[str]]) -> None:
        """The ids of several messages in one ``batch_handler`` call; one by one if it raises. Then ack or nak."""
        flat = [i for msg_ids in ids for i in msg_ids]
        alive = asyncio.create_task(keep_alive(*msgs))
        try:
            try:
                await spec.batch_handler(flat)  # type: ignore[misc]
                done.inc(len(flat))
                delays: dict[str, float | None] = {}
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("work batch failed; handling its ids one by one", kind=spec.kind, error=str(exc))
                delays = {i: await run_id(i) for i in flat}
            for msg, msg_ids in zip(msgs, ids, strict=True):
                later = [d for i in msg_ids if (d := delays.get(i)) is not None]
                await (msg.nak(delay=max(later)) if later else msg.ack())
        finally:
            alive.cancel()

    async def run_one(msg, ids: list[str]) -> None:
        nonlocal in_flight
        alive = asyncio.create_task(keep_alive(msg)) if len(ids) > 1 else None
        try:
            delays = [d for d in await asyncio.gather(*(run_id(i) for i in ids)) if d is not None]
            if delays:
                await msg.nak(delay=max(delays))
            else:
                await msg.ack()
        finally:
            in_flight -= len(ids)
            if alive is not None:
                alive.cancel()

    pending: set[asyncio.Task[None]] = set()
    while not stopping.is_set():
        # back-pressure: never hold more than two rounds of work, so nothing waits past its ack deadline
        while in_flight >= spec.concurrency * 2 and pending and not stopping.is_set():
            await asyncio.wait(set(pending), return_when=asyncio.FIRST_COMPLETED, timeout=1.0)
        try:
            room = spec.batch if spec.batch_handler is not None else min(spec.batch, spec.concurrency * 2 - in_flight)
            msgs = await fetch_until_stopped(sub, max(1, room), stopping)
        except (NatsTimeout, TimeoutError):
            continue
        except Exception as exc:  # connection trouble: back off, the reconnect logic brings it back
            if stopping.is_set():
                break
            log.warning("work fetch failed", kind=spec.kind, error=str(exc))
            await asyncio.sleep(1.0)
            continue
        if spec.batch_handler is not None:
            # one batch after another: a batch holds the row locks of its conversations until it commits, and two
            # at once taking the same conversations in another order would deadlock each other
            group: tuple[list, list[list[str]]] = ([], [])
            for msg in msgs:
                group[0].append(msg)
                group[1].append(msg.data.decode().split())
                if sum(map(len, group[1])) >= spec.batch_ids:
                    await run_batch(*group)
                    group = ([], [])
            if group[0]:
                await run_batch(*group)
            continue
        for msg in msgs:
            ids = msg.data.decode().split()
            in_flight += len(ids)
            task = asyncio.create_task(run_one(msg, ids))
            pending.add(task)
            task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=10.0)
    with contextlib.suppress(Exception):
        await sub.unsubscribe()  # an open pull subscription would hold the connection's close for its drain timeout
