"""/readyz is 200 only when the database, NATS and a real Temporal server answer."""

from __future__ import annotations

import httpx
import pytest

from souk.app import create_app


@pytest.mark.e2e
async def test_readyz_ok_with_all_dependencies(settings, temporal_address: str):
    application = create_app(settings.model_copy(update={"temporal_address": temporal_address}))
    async with application.router.lifespan_context(application):
        await application.state.bus.wait_ready(10)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "nats": "ok", "temporal": "ok"}
