"""Every channel route for every channel type, in one pass per database (one app, so it stays cheap), with the
webhook base taken from ``SOUK_PUBLIC_URL``."""

from __future__ import annotations

from typing import Any

import pytest

from souk.settings import Settings
from tests.channels.test_channels_api import TYPES, create
from tests.support.webhooks import fixture, post, wait_idle

PUBLIC = "https://public.souk.example"
FOREIGN_HOOK = {"url": "https://crm.example/waha-hook", "events": ["message"]}


@pytest.fixture
def settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The same settings, with the public base URL read from the environment as ``souk run`` reads it."""
    monkeypatch.setenv("SOUK_PUBLIC_URL", PUBLIC + "/")
    return Settings(**settings.model_dump(exclude_unset=True))


async def test_every_route_for_every_channel_type(client, app, tenant, channel_configs, fakes):
    assert app.state.settings.base_url == PUBLIC
    kinds = {t["channel_type"]: t for t in (await client.get("/api/v1/channel-types", headers=tenant.headers)).json()}
    pipeline = (await client.post("/api/v1/pipelines", headers=tenant.headers, json={"name": "Sales"})).json()["id"]
    waha, telegram = fakes["waha"], fakes["telegram"]
    waha.add_session("default", working=True, config={"webhooks": [dict(FOREIGN_HOOK)]})
    for channel_type in TYPES:
        kind: dict[str, Any] = kinds[channel_type]
        ch = await create(client, tenant, channel_type, channel_configs[channel_type])
        cid, base, h = ch["id"], f"/api/v1/channels/{ch['id']}", tenant.headers
        where = f"{channel_type}: "

        got = await client.get(base, headers=h)
        assert got.status_code == 200 and got.json()["vendor"]["name"] == channel_type, where + got.text

        # PATCH: a plain change, a masked secret sent back (kept), and a key the platform does not have (422)
        masked = {k: ch["config"][k] for k in kind["secret_fields"] if k in ch["config"]}
        r = await client.patch(base, headers=h, json={"name": f"Renamed {channel_type}", "config": masked})
        assert r.status_code == 200, where + r.text
        assert r.json()["name"] == f"Renamed {channel_type}" and r.json()["config"] == ch["config"]
        bad = await client.patch(base, headers=h, json={"name": "never", "config": {"noSuchKey": 1}})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "config.noSuchKey", where + bad.text
        assert (await client.get(base, headers=h)).json()["name"] == f"Renamed {channel_type}"

        # configure-webhook without a body: the channel's URL under SOUK_PUBLIC_URL
        hook = await client.post(base + "/configure-webhook", headers=h)
        if not kind["receives_webhooks"]:
            assert hook.status_code == 409 and hook.json()["broker_subject"] == f"vendors.{channel_type}.{cid}"
        else:
            assert hook.status_code == 200, where + hook.text
            url = f"{PUBLIC}/webhooks/{channel_type}/{cid}"
            assert hook.json()["webhook_url"] == url and hook.json()["webhook_configured"] is True
            assert hook.json()["registered_with_platform"] is kind["registers_webhook"]
            assert bool(hook.json()["verify_token"]) is kind["has_handshake"]
            if not kind["registers_webhook"]:
                assert hook.json()["instructions"]  # a URL to paste, where the platform wants it pasted
            info = (await client.get(base + "/webhook-info", headers=h)).json()
            assert (info["webhook_url"], info["webhook_active"]) == (url, True) and info[
                "last_webhook_received"
            ] is None
            assert info["broker_subject"] is None

        # rotate-webhook-secret: re-registered where Souk registered the webhook
        before = (telegram.webhook_secret, [dict(x) for x in waha.sessions["default"].config.get("webhooks") or []])
        rotated = await client.post(base + "/rotate-webhook-secret", headers=h)
        if not kind["receives_webhooks"]:
            assert rotated.status_code == 409, where + rotated.text
        else:
            assert rotated.status_code == 200 and rotated.json()["webhook_url"] == url, where + rotated.text
            if channel_type == "telegram":
                assert telegram.webhook_secret != before[0]
            if channel_type == "waha":
                hooks = waha.sessions["default"].config["webhooks"]
                assert hooks[0] == FOREIGN_HOOK and [x["url"] for x in hooks] == [FOREIGN_HOOK["url"], url]
                assert hooks[1]["hmac"]["key"] != before[1][1]["hmac"]["key"]
            if channel_type in ("messenger", "instagram"):  # no webhookToken of their own: the secret is the token
                assert rotated.json()["verify_token"] != hook.json()["verify_token"]

        # activate (webhook configured, or none needed), pipeline association, deactivate
        r = await client.post(base + "/activate", headers=h)
        assert r.status_code == 200 and r.json()["status"] == "active", where + r.text
        if channel_type == "telegram":  # a delivery shows in webhook-info
            delivered = await post(client, app, ch, fixture("telegram", "message_text"))
            assert delivered.status_code == 200, delivered.text
            await wait_idle(app)
            info = (await client.get(base + "/webhook-info", headers=h)).json()
            assert info["last_webhook_received"] is not None
        r = await client.post(base + "/associate-pipeline", headers=h, json={"pipeline_id": pipeline})
        assert r.status_code == 200 and r.json()["pipeline_id"] == pipeline, where + r.text
        r = await client.post(base + "/disassociate-pipeline", headers=h)
        assert r.status_code == 200 and r.json()["pipeline_id"] is None, where + r.text
        r = await client.post(base + "/deactivate", headers=h)
        assert r.status_code == 200 and r.json()["status"] == "inactive", where + r.text

        # DELETE: gone from the API; the platform-side webhook removed where Souk set one (and only Souk's)
        r = await client.delete(base, headers=h)
        assert r.status_code == 200 and r.json()["warning"] is None, where + r.text
        assert (await client.get(base, headers=h)).status_code == 404
        if channel_type == "telegram":
            assert telegram.webhook.get("url", "") == ""
        if channel_type == "waha":
            assert waha.sessions["default"].config["webhooks"] == [FOREIGN_HOOK]

    # the platform cannot be reached: the channel is deleted anyway, with a warning
    ch = await create(client, tenant, "telegram", channel_configs["telegram"])
    base = f"/api/v1/channels/{ch['id']}"
    assert (await client.post(base + "/configure-webhook", headers=tenant.headers)).status_code == 200
    r = await client.patch(base, headers=tenant.headers, json={"config": {"apiBaseURL": "http://127.0.0.1:1"}})
    assert r.status_code == 200, r.text
    r = await client.delete(base, headers=tenant.headers)
    assert r.status_code == 200 and "could not be removed" in r.json()["warning"]
    assert (await client.get(base, headers=tenant.headers)).status_code == 404
