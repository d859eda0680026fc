"""A worker process killed with SIGKILL in the middle of a batch, then restarted: every event processed once. The
restarted worker serves its metrics on a port (SOUK_WORKER_METRICS_PORT), which count the events it handled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from souk.app import create_app
from souk.bus.embedded import find_free_port
from souk.channels.models import Channel
from souk.messaging.models import Conversation, InboundEvent, Message
from tests.channels.conftest import fakes  # noqa: F401 - fixture
from tests.conftest import make_tenant
from tests.messaging.inbound.conftest import active_channel
from tests.messaging.inbound.payloads import tg_text
from tests.support.webhooks import post

pytestmark = pytest.mark.e2e
N = 200


def start_worker(settings, metrics_port: int | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "SOUK_DATABASE_URL": settings.effective_database_url,
        "SOUK_NATS_URL": settings.nats_url,
        "SOUK_DATA_DIR": str(settings.data_dir),
        "SOUK_LOG_LEVEL": "warning",
        "SOUK_SWEEP_AFTER_SECONDS": "3",
        "SOUK_SWEEP_INTERVAL_SECONDS": "1",
        "SOUK_INBOUND_ACK_WAIT_SECONDS": "5",
        **({"SOUK_WORKER_METRICS_PORT": str(metrics_port)} if metrics_port else {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "souk.cli", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def inbound_handled(metrics: str) -> float:
    """``souk_work_handled_total{kind="inbound",outcome="done"}`` in a Prometheus text exposition."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "souk_work_handled_total" and sample.labels == {"kind": "inbound", "outcome": "done"}
    )


async def counts(app) -> tuple[int, int]:
    async with app.state.db.system_read_session() as s:
        done = await s.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.status == "processed"))
        messages = await s.scalar(select(func.count()).select_from(Message))
    return done or 0, messages or 0


async def test_sigkilled_worker_resumes_and_processes_each_event_once(settings, fakes):  # noqa: F811
    settings = settings.model_copy(update={"run_worker_in_process": False})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.bus.wait_ready(10)
        tenant = await make_tenant(app, "killco")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            channel = await active_channel(client, tenant, fakes, "telegram")
            for i in range(N):
                r = await post(
                    client,
                    app,
                    channel,
                    tg_text(1000 + i, i + 1, f"message {i}", 1722503523 + i, chat_id=5000 + i % 40),
                )
                assert r.status_code == 200
        worker = start_worker(settings)
        try:
            deadline = time.monotonic() + 60
            while (await counts(app))[0] < N // 4:
                assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
                assert time.monotonic() < deadline, "worker made no progress"
                await asyncio.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            done_at_kill, _ = await counts(app)
            assert done_at_kill < N, "the worker finished before it could be killed; raise N"
            metrics_port = find_free_port()
            worker = start_worker(settings, metrics_port)
            deadline = time.monotonic() + 90
            while (await counts(app))[0] < N:
                assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
                assert time.monotonic() < deadline, f"stuck at {await counts(app)}"
                await asyncio.sleep(0.1)
            handled = inbound_handled(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text)
            assert handled >= N - done_at_kill, handled  # what was left, plus redeliveries of what was done
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        done, messages = await counts(app)
        print(f"killed after {done_at_kill}/{N} events; after restart {done} processed, {messages} messages")
        assert done == N and messages == N
        async with app.state.db.system_read_session() as s:
            ids = (await s.scalars(select(Message.external_id))).all()
            received = await s.scalar(select(Channel.messages_received).where(Channel.id == uuid.UUID(channel["id"])))
            per_conversation = (await s.scalars(select(Conversation.message_count))).all()
        assert len(set(ids)) == N
        # the counters moved once per message too: a killed attempt rolled back its increments with its rows
        assert received == N
        assert sum(per_conversation) == N and len(per_conversation) == 40
