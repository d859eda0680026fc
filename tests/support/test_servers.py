"""The session servers: NATS, Temporal and PostgreSQL (started here or taken from SOUK_TEST_*)."""

from __future__ import annotations

import doctest
import uuid

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client

from tests.support import servers


async def test_nats_url_is_started_once_and_usable() -> None:
    url = servers.nats_url()
    assert servers.nats_url() == url
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        assert (await nc.jetstream().account_info()).streams >= 0
    finally:
        await nc.close()


async def test_temporal_address_is_started_once_and_usable() -> None:
    address = servers.temporal_address()
    assert servers.temporal_address() == address
    client = await Client.connect(address)
    assert await client.service_client.check_health()


def test_asyncpg_url_doctests() -> None:
    result = doctest.testmod(servers, verbose=False)
    assert result.failed == 0 and result.attempted >= 2


async def test_create_connect_drop_database() -> None:
    admin = servers.postgres_admin_url()
    assert admin.startswith(("postgresql://", "postgres://"))
    name = f"souk_support_{uuid.uuid4().hex[:8]}"
    copy = f"{name}_copy"
    await servers.create_database(admin, name)
    try:
        conn = await servers.connect(admin, name)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            await conn.execute("CREATE TABLE marker (v int); INSERT INTO marker VALUES (42)")
        finally:
            await conn.close()

        await servers.create_database(admin, copy, template=name)
        engine = create_async_engine(servers.asyncpg_url(admin, copy))
        try:
            async with engine.connect() as sa_conn:
                assert (await sa_conn.execute(text("SELECT current_database()"))).scalar() == copy
                assert (await sa_conn.execute(text("SELECT v FROM marker"))).scalar() == 42
        finally:
            await engine.dispose()
    finally:
        await servers.drop_database(admin, copy)
        await servers.drop_database(admin, name)

    conn = await servers.connect(admin)
    try:
        query = "SELECT datname FROM pg_database WHERE datname = ANY($1::text[])"
        left = await conn.fetch(query, [name, copy])
    finally:
        await conn.close()
    assert left == []
    await servers.drop_database(admin, name)  # dropping a missing database is fine
