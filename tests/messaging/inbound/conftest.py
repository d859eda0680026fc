"""Active channels of every type, pointing at the fake platforms, ready to receive webhooks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.channels.conftest import configs, fakes  # noqa: F401 - re-exported fixture

HOOK_BASE = "https://hooks.souk.example"


async def active_channel(client, tenant, fakes_: dict[str, Any], channel_type: str, **extra: Any) -> dict[str, Any]:
    if channel_type == "waha" and "default" not in fakes_["waha"].sessions:
        fakes_["waha"].add_session("default", working=True)
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={
            "name": f"{channel_type} inbox",
            "channel_type": channel_type,
            "config": configs(fakes_)[channel_type],
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    channel = r.json()
    if channel_type != "chotot":
        hook = await client.post(
            f"/api/v1/channels/{channel['id']}/configure-webhook",
            headers=tenant.headers,
            json={"webhook_url": HOOK_BASE},
        )
        assert hook.status_code == 200, hook.text
    act = await client.post(f"/api/v1/channels/{channel['id']}/activate", headers=tenant.headers)
    assert act.status_code == 200, act.text
    return channel


@pytest.fixture
def make_channel(client, tenant, fakes):  # noqa: F811
    async def _make(channel_type: str, **extra: Any) -> dict[str, Any]:
        return await active_channel(client, tenant, fakes, channel_type, **extra)

    return _make
