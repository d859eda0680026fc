"""The work queue against the real nats-server: ids published together travel as one message, each is handled,
a retry brings its whole message back, and a long message keeps its ack deadline moving."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from souk.bus.client import WORK_STREAM, Bus
from souk.bus.work import IDS_PER_MESSAGE, ConsumerSpec, Retry, consume, enqueue, enqueue_many, subject


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    bus = Bus(nats_url)
    await bus.connect()
    yield bus
    await bus.close()


async def _run_until(bus: Bus, spec: ConsumerSpec, done: asyncio.Event) -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(consume(bus, spec, stopping))
    try:
        await asyncio.wait_for(done.wait(), 30)
        await asyncio.sleep(spec.ack_wait + 0.5)  # long enough for any redelivery to show
    finally:
        stopping.set()
        await asyncio.wait_for(task, 15)


async def test_ids_published_together_are_each_handled_and_a_retry_repeats_only_their_message(bus: Bus) -> None:
    kind = f"test{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in range(IDS_PER_MESSAGE * 2 + 22)]
    retried = ids[IDS_PER_MESSAGE + 5]  # in the second message
    handled: Counter[str] = Counter()
    done = asyncio.Event()

    async def handler(row_id: str) -> None:
        handled[row_id] += 1
        if row_id == retried and handled[row_id] == 1:
            raise Retry("not yet", delay=0.2)
        await asyncio.sleep(0.08)  # 64 ids × 80 ms over 4 slots: a message outlives the 1 s ack deadline
        if set(handled) == set(ids) and handled[retried] == 2:
            done.set()

    assert await enqueue_many(bus, kind, ids) == []
    await enqueue(bus, kind, ids[0])  # a lone publish of an id sent already is the same message: dropped
    spec = ConsumerSpec(kind=kind, durable=kind, handler=handler, ack_wait=1.0, concurrency=4)
    await _run_until(bus, spec, done)

    second = set(ids[IDS_PER_MESSAGE : IDS_PER_MESSAGE * 2])
    assert {i for i, n in handled.items() if n == 2} == second, "only the retried message came back"
    assert {i for i, n in handled.items() if n == 1} == set(ids) - second
    assert bus.js is not None
    info = await bus.js.consumer_info(WORK_STREAM, kind)
    # three messages for 150 ids, plus the retried one's redelivery; nothing left pending
    assert info.delivered.consumer_seq == 4
    assert info.num_ack_pending == 0 and info.num_pending == 0
    await bus.js.delete_consumer(WORK_STREAM, kind)
    assert subject(kind) == f"work.{kind}"


async def test_a_batch_handler_takes_ids_in_order_and_a_failed_batch_is_handled_one_by_one(bus: Bus) -> None:
    kind = f"test{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in range(40)]
    poisoned = ids[17]  # its batch raises; then each id of it goes through the one-by-one handler
    batches: list[list[str]] = []
    one_by_one: Counter[str] = Counter()
    done = asyncio.Event()

    def check_done() -> None:
        finished = {i for batch in batches if poisoned not in batch for i in batch} | set(one_by_one)
        if finished == set(ids):
            done.set()

    async def batch_handler(batch: list[str]) -> None:
        batches.append(batch)
        if poisoned in batch:
            raise RuntimeError("one delivery of this batch breaks the transaction")
        check_done()

    async def handler(row_id: str) -> None:
        one_by_one[row_id] += 1
        if row_id == poisoned and one_by_one[row_id] == 1:
            raise Retry("not yet", delay=0.2)  # the one-by-one path keeps its retries
        check_done()

    for row_id in ids:  # one message each, so a pull brings several
        await enqueue(bus, kind, row_id)
    spec = ConsumerSpec(
        kind=kind, durable=kind, handler=handler, batch_handler=batch_handler, batch_ids=8, ack_wait=1.0
    )
    await _run_until(bus, spec, done)

    assert all(1 <= len(batch) <= 8 for batch in batches)
    first_time = [i for batch in batches for i in batch]
    assert sorted(dict.fromkeys(first_time), key=ids.index) == list(dict.fromkeys(first_time))  # in arrival order
    failed = next(batch for batch in batches if poisoned in batch)
    assert set(failed) <= set(one_by_one), "every id of the failed batch was handled alone"
    assert one_by_one[poisoned] == 2
    assert bus.js is not None
    info = await bus.js.consumer_info(WORK_STREAM, kind)
    assert info.num_ack_pending == 0 and info.num_pending == 0
    await bus.js.delete_consumer(WORK_STREAM, kind)
