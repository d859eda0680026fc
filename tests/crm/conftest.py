"""CRM tests write their data as ORM rows (the messaging read-API helper) and drive the customers API over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from souk.bus.client import EVENTS_STREAM
from souk.crm.scoring_worker import SUBJECTS, consume
from souk.settings import Settings
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Only the outbox publisher runs in the app; the scoring consumer is started by the tests that need it."""
    return settings.model_copy(update={"run_worker_in_process": False})


@pytest.fixture
def rows(app: FastAPI, tenant: TenantFixture) -> Rows:
    return Rows(app.state.db, tenant.id)


@pytest.fixture
def other_rows(app: FastAPI, other_tenant: TenantFixture) -> Rows:
    return Rows(app.state.db, other_tenant.id)


@asynccontextmanager
async def scoring_consumer(app: FastAPI, tenant: TenantFixture) -> AsyncIterator[None]:
    """The scoring consumer, on a durable of its own made beforehand to start now and on this tenant: the worker's
    starts a few minutes back on its first start, and the tests share one NATS server (every other test's events)."""
    await app.state.bus.wait_ready(5)
    durable = f"crm-test-{uuid.uuid4().hex}"
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,
        filter_subjects=[s.replace("souk.*.", f"souk.{tenant.id}.") for s in SUBJECTS],
    )
    await app.state.bus.js.add_consumer(EVENTS_STREAM, config)
    stopping = asyncio.Event()
    task = asyncio.create_task(consume(app.state.db, app.state.bus, stopping, durable=durable))
    try:
        yield
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)
