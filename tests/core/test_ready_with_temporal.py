"""/readyz is 200 only when the database, NATS and a real Temporal server answer, and a 503 naming the one that
does not otherwise. A dependency is "down" by pointing the application at a port nothing listens on: no mocks."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from souk.app import create_app
from souk.bus.embedded import find_free_port
from souk.settings import Settings

pytestmark = pytest.mark.e2e


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            client.app = application  # type: ignore[attr-defined]
            yield client


async def test_readyz_ok_with_all_dependencies(settings, temporal_address: str):
    async with serving(settings.model_copy(update={"temporal_address": temporal_address})) as client:
        await client.app.state.bus.wait_ready(10)  # type: ignore[attr-defined]
        r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "nats": "ok", "temporal": "ok"}


@pytest.mark.parametrize("down", ["database", "nats", "temporal"])
async def test_readyz_is_503_naming_what_is_down(
    down: str, sqlite_template: Path, tmp_path: Path, nats_url: str, temporal_address: str
):
    closed = find_free_port()
    database = tmp_path / "souk.db"
    shutil.copyfile(sqlite_template, database)
    settings = Settings(
        database_url=(
            f"postgresql+asyncpg://souk:souk@127.0.0.1:{closed}/souk"
            if down == "database"
            else f"sqlite+aiosqlite:///{database}"
        ),
        data_dir=tmp_path / "data",
        nats_url=f"nats://127.0.0.1:{closed}" if down == "nats" else nats_url,
        temporal_address=f"127.0.0.1:{closed}" if down == "temporal" else temporal_address,
        env="test",
        log_level="error",
        log_json=True,
    )
    async with serving(settings) as client:
        if down != "nats":
            await client.app.state.bus.wait_ready(10)  # type: ignore[attr-defined]
        r = await client.get("/readyz")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "unavailable" and body["detail"] == f"not ready: {down}", body
    assert {name for name, state in body["checks"].items() if state != "ok"} == {down}, body
