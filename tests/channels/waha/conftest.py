"""A fresh fake WAHA per test, the app's worker running Souk's Temporal worker on a task queue of its own."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from souk.channels.models import Channel
from souk.messaging.models import Message
from souk.settings import Settings
from tests.support.fakes.waha import FakeWAHA

API_KEY = "waha-test-key"


@pytest.fixture
def waha() -> Iterator[FakeWAHA]:
    server = FakeWAHA(api_key=API_KEY)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def task_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    """Tests share one Temporal server: each app polls a queue of its own, or one test's worker takes another's
    activities against the wrong database."""
    name = f"souk-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("SOUK_TEMPORAL_TASK_QUEUE", name)
    return name


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, nats_url: str, temporal_address: str, task_queue: str
) -> Settings:
    """An ``e2e`` test runs its worker as a separate process: the app's own worker publishes the outbox only."""
    return Settings(
        run_worker_in_process=request.node.get_closest_marker("e2e") is None,
        database_url=db_url,
        data_dir=tmp_path / "data",
        nats_url=nats_url,
        temporal_address=temporal_address,
        env="test",
        log_level="warning",
        log_json=True,
        port=8000,
    )


def waha_config(server: FakeWAHA, **extra: Any) -> dict[str, Any]:
    return {
        "baseURL": server.url,
        "sessionID": "default",
        "auth": {"type": "api_key", "apiKey": API_KEY},
        **extra,
    }


async def create_waha_channel(client: httpx.AsyncClient, tenant: Any, server: FakeWAHA, **config: Any) -> dict:
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={"name": "WhatsApp (WAHA)", "channel_type": "waha", "config": waha_config(server, **config)},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def load_channel(app: Any, channel_id: str) -> Channel:
    async with app.state.db.system_read_session() as s:
        channel = await s.get(Channel, uuid.UUID(channel_id))
        assert channel is not None
        return channel


async def count_messages(app: Any, channel_id: str) -> int:
    """Messages of the channel, through a read-only session: on SQLite it reads the WAL snapshot and never queues for
    the write lock, which a worker importing back-to-back batches on a loaded machine can keep for a long time."""
    async with app.state.db.system_read_session() as s:
        stmt = select(func.count()).select_from(Message).where(Message.channel_id == uuid.UUID(channel_id))
        return int(await s.scalar(stmt) or 0)


async def wait_progress(
    client: httpx.AsyncClient, tenant: Any, channel_id: str, workflow_id: str, states: set[str], timeout: float = 120
) -> dict[str, Any]:
    """Poll the progress route until the import reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = await client.get(f"/api/v1/channels/{channel_id}/import-history/{workflow_id}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["state"] in states:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"import never reached {states}: {body}")
