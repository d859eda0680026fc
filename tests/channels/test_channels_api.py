"""Seed 004's channel API through HTTP, per route and per channel type, on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from tests.conftest import TenantFixture, make_tenant

TYPES = ["waha", "whatsapp", "telegram", "messenger", "instagram", "tiktok", "chotot"]
HOOK_BASE = "https://hooks.souk.example"


async def create(
    client: httpx.AsyncClient, tenant: TenantFixture, channel_type: str, config: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={"name": f"My {channel_type}", "channel_type": channel_type, "config": config, **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("channel_type", TYPES)
async def test_create_each_type_masks_and_encrypts_secrets(client, tenant, app, channel_configs, channel_type):
    from souk.platforms import registry

    config = channel_configs[channel_type]
    body = await create(client, tenant, channel_type, config)
    assert body["status"] == "connecting" and body["channel_type"] == channel_type
    assert body["tenant_id"] == str(tenant.id) and body["vendor"]["name"] == channel_type
    secret_fields = registry.get(channel_type).secret_fields
    dumped = str(body)
    async with app.state.db.engine.connect() as conn:
        raw = str((await conn.execute(text("SELECT config, secrets FROM channels"))).all())
    for key in secret_fields:
        value = config.get(key)
        for secret in [value] if isinstance(value, str) else [v for v in (value or {}).values() if v != "api_key"]:
            assert secret not in dumped, f"{key} returned in clear"
            assert secret not in raw, f"{key} stored in clear"
    assert body["requires_partner_credentials"] is (channel_type == "chotot")


async def test_unknown_channel_type_lists_the_known_ones(client, tenant):
    r = await client.post(
        "/api/v1/channels", headers=tenant.headers, json={"name": "x", "channel_type": "myspace", "config": {}}
    )
    assert r.status_code == 422
    detail = str(r.json())
    for t in TYPES:
        assert t in detail


async def test_config_for_the_wrong_type_names_each_field(client, tenant, channel_configs):
    r = await client.post(
        "/api/v1/channels",
        headers=tenant.headers,
        json={"name": "x", "channel_type": "telegram", "config": channel_configs["whatsapp"]},
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert "config.botToken" in fields  # missing
    assert "config.phoneNumberID" in fields  # unknown for telegram


async def test_list_filters_search_and_seed_shape(client, tenant, channel_configs):
    await create(client, tenant, "telegram", channel_configs["telegram"], name="Support bot")
    await create(client, tenant, "waha", channel_configs["waha"], name="Main WhatsApp")
    r = (
        await client.get("/api/v1/channels?type=waha&status=connecting&page=1&limit=20", headers=tenant.headers)
    ).json()
    assert r["total"] == 1 and r["channels"] == r["items"] and r["channels"][0]["name"] == "Main WhatsApp"
    assert (r["page"], r["limit"]) == (1, 20)
    found = (await client.get("/api/v1/channels?q=support", headers=tenant.headers)).json()
    assert [c["name"] for c in found["channels"]] == ["Support bot"]
    bad = await client.get("/api/v1/channels?type=myspace", headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "type"
    assert all(t in bad.json()["errors"][0]["message"] for t in TYPES)


async def test_get_patch_delete(client, tenant, channel_configs):
    ch = await create(client, tenant, "whatsapp", channel_configs["whatsapp"])
    got = (await client.get(f"/api/v1/channels/{ch['id']}", headers=tenant.headers)).json()
    assert got["config"]["phoneNumberID"] == channel_configs["whatsapp"]["phoneNumberID"]
    masked_token = got["config"]["accessToken"]
    r = await client.patch(
        f"/api/v1/channels/{ch['id']}",
        headers=tenant.headers,
        json={"name": "Renamed", "ai_enabled": True, "config": {"apiVersion": "v22.0", "accessToken": masked_token}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed" and r.json()["ai_enabled"] is True
    assert r.json()["config"]["apiVersion"] == "v22.0"
    assert r.json()["config"]["accessToken"] == masked_token  # masked value sent back keeps the stored secret
    bad = await client.patch(
        f"/api/v1/channels/{ch['id']}", headers=tenant.headers, json={"config": {"phoneNumberID": 12}}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "config.phoneNumberID"
    d = await client.delete(f"/api/v1/channels/{ch['id']}", headers=tenant.headers)
    assert d.status_code == 200 and d.json()["success"] is True
    assert (await client.get(f"/api/v1/channels/{ch['id']}", headers=tenant.headers)).status_code == 404


async def test_other_tenants_channel_is_404_everywhere(client, app, tenant, channel_configs):
    other = await make_tenant(app, "globex")
    ch = await create(client, other, "telegram", channel_configs["telegram"])
    cid = ch["id"]
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/activate"),
        ("POST", "/deactivate"),
        ("POST", "/configure-webhook"),
        ("GET", "/webhook-info"),
        ("POST", "/test-connection"),
        ("POST", "/rotate-webhook-secret"),
        ("POST", "/disassociate-pipeline"),
    ]:
        kwargs: dict[str, Any] = {"json": {}} if method in ("PATCH",) else {}
        r = await client.request(method, f"/api/v1/channels/{cid}{path}", headers=tenant.headers, **kwargs)
        assert r.status_code == 404, (method, path, r.status_code)
    listed = (await client.get("/api/v1/channels", headers=tenant.headers)).json()
    assert listed["total"] == 0


async def test_agents_cannot_manage_channels(client, tenant, channel_configs):
    key = (await client.post("/api/v1/api-keys", json={"name": "a", "role": "agent"}, headers=tenant.headers)).json()[
        "key"
    ]
    r = await client.post(
        "/api/v1/channels",
        headers={"X-API-Key": key},
        json={"name": "x", "channel_type": "telegram", "config": channel_configs["telegram"]},
    )
    assert r.status_code == 403
    assert (await client.get("/api/v1/channels", headers={"X-API-Key": key})).status_code == 200


async def test_activation_needs_a_webhook_and_follows_the_state_machine(client, tenant, channel_configs, fakes):
    ch = await create(client, tenant, "telegram", channel_configs["telegram"])
    base = f"/api/v1/channels/{ch['id']}"
    r = await client.post(base + "/activate", headers=tenant.headers)
    assert r.status_code == 409 and "webhook" in r.json()["detail"]
    hook = await client.post(base + "/configure-webhook", headers=tenant.headers, json={"webhook_url": HOOK_BASE})
    assert hook.status_code == 200, hook.text
    r = await client.post(base + "/activate", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["activated_at"]
    assert r.json()["success"] is True and r.json()["channel_id"] == ch["id"]
    again = await client.post(base + "/activate", headers=tenant.headers)
    assert again.status_code == 409 and again.json()["current_status"] == "active"
    r = await client.post(base + "/deactivate", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["status"] == "inactive" and r.json()["deactivated_at"]
    assert (await client.post(base + "/deactivate", headers=tenant.headers)).status_code == 409


async def test_chotot_activates_without_a_webhook(client, tenant, channel_configs):
    """Chotot delivers on the broker: configuring (or rotating) a webhook is a 409 naming the subject, not a URL to
    paste, and changes nothing."""
    ch = await create(client, tenant, "chotot", channel_configs["chotot"])
    base = f"/api/v1/channels/{ch['id']}"
    subject = f"vendors.chotot.{ch['id']}"
    for path, body in (
        ("/configure-webhook", {"webhook_url": HOOK_BASE}),
        ("/configure-webhook", None),
        ("/rotate-webhook-secret", None),
    ):
        r = await client.post(base + path, headers=tenant.headers, json=body)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["broker_subject"] == subject and "broker" in r.json()["detail"]
    got = (await client.get(base, headers=tenant.headers)).json()
    assert got["webhook_url"] is None and got["webhook_active"] is False and got["updated_at"] == ch["updated_at"]
    info = (await client.get(base + "/webhook-info", headers=tenant.headers)).json()
    assert info["broker_subject"] == subject and info["webhook_active"] is False
    r = await client.post(base + "/activate", headers=tenant.headers)
    assert r.status_code == 200


async def test_concurrent_activations_one_wins(client, tenant, channel_configs, app):
    ch = await create(client, tenant, "chotot", channel_configs["chotot"])
    base = f"/api/v1/channels/{ch['id']}"
    results = await asyncio.gather(*[client.post(base + "/activate", headers=tenant.headers) for _ in range(4)])
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 1 and set(codes) == {200, 409}, codes


async def test_concurrent_activate_and_deactivate_one_wins_the_other_409(client, tenant, channel_configs, app):
    """From ``connecting`` both commands are legal, and one after the other both would apply; sent together (real
    concurrent requests through the app), one wins and the other is refused, on either database."""
    from souk.core.models import DomainEvent

    channels = [await create(client, tenant, "chotot", channel_configs["chotot"]) for _ in range(3)]
    requests = [
        client.post(f"/api/v1/channels/{ch['id']}/{command}", headers=tenant.headers)
        for ch in channels
        for command in ("activate", "deactivate")
    ]
    results = await asyncio.gather(*requests)
    winners = []
    for i, ch in enumerate(channels):
        pair = results[2 * i : 2 * i + 2]
        assert sorted(r.status_code for r in pair) == [200, 409], [(r.status_code, r.text) for r in pair]
        won = next(r for r in pair if r.status_code == 200).json()["status"]
        lost = next(r for r in pair if r.status_code == 409)
        assert lost.headers["content-type"].startswith("application/problem+json")
        # refused on the status it finds (committed first) or by the version column (overlapping transactions)
        assert lost.json()["requested_status"] != won and lost.json().get("current_status", won) == won
        got = (await client.get(f"/api/v1/channels/{ch['id']}", headers=tenant.headers)).json()
        assert got["status"] == won
        winners.append(won)
    async with app.state.db.system_session() as s:
        names = (await s.scalars(select(DomainEvent.event_type).where(DomainEvent.tenant_id == tenant.id))).all()
    assert names.count("channel.activated") + names.count("channel.deactivated") == 3  # the losers emitted nothing
    # one after the other, both still apply
    base = f"/api/v1/channels/{channels[0]['id']}"
    first, second = ("deactivate", "activate") if winners[0] == "active" else ("activate", "deactivate")
    assert (await client.post(f"{base}/{first}", headers=tenant.headers)).status_code == 200
    assert (await client.post(f"{base}/{second}", headers=tenant.headers)).status_code == 200


async def test_telegram_configure_webhook_registers_secret_token(client, tenant, channel_configs, fakes):
    ch = await create(client, tenant, "telegram", channel_configs["telegram"])
    r = await client.post(
        f"/api/v1/channels/{ch['id']}/configure-webhook", headers=tenant.headers, json={"webhook_url": HOOK_BASE}
    )
    body = r.json()
    assert body["webhook_url"] == f"{HOOK_BASE}/webhooks/telegram/{ch['id']}"
    assert body["registered_with_platform"] is True and body["verify_token"] is None
    tg = fakes["telegram"]
    assert tg.webhook["url"] == body["webhook_url"] and tg.webhook_secret
    assert "message" in tg.webhook["allowed_updates"] and "callback_query" in tg.webhook["allowed_updates"]
    info = (await client.get(f"/api/v1/channels/{ch['id']}/webhook-info", headers=tenant.headers)).json()
    assert info["webhook_url"] == body["webhook_url"] and info["webhook_active"] is True
    assert info["webhook_configured_at"] and info["last_webhook_received"] is None
    for bad in ("ftp://hooks.example", "hooks.souk.example", "/webhooks", "https://", "https://h:99999", "http://a b"):
        r = await client.post(
            f"/api/v1/channels/{ch['id']}/configure-webhook", headers=tenant.headers, json={"webhook_url": bad}
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "webhook_url", (bad, r.text)
    # the channel's full URL is taken as it is, not as a base
    full = await client.post(
        f"/api/v1/channels/{ch['id']}/configure-webhook",
        headers=tenant.headers,
        json={"webhook_url": body["webhook_url"]},
    )
    assert full.json()["webhook_url"] == body["webhook_url"]
    old = tg.webhook_secret
    r = await client.post(f"/api/v1/channels/{ch['id']}/rotate-webhook-secret", headers=tenant.headers)
    assert r.status_code == 200 and tg.webhook_secret != old
    # deleting the channel removes the webhook at Telegram too
    assert (await client.delete(f"/api/v1/channels/{ch['id']}", headers=tenant.headers)).status_code in (200, 204)
    assert tg.webhook.get("url", "") == "" and tg.requests_to("POST", f"/bot{tg.token}/deleteWebhook")


async def test_waha_configure_webhook_sets_hmac_on_the_session(client, tenant, channel_configs, fakes):
    fakes["waha"].add_session("default", working=True)
    ch = await create(client, tenant, "waha", channel_configs["waha"])
    r = await client.post(
        f"/api/v1/channels/{ch['id']}/configure-webhook", headers=tenant.headers, json={"webhook_url": HOOK_BASE}
    )
    assert r.status_code == 200, r.text
    hooks = fakes["waha"].sessions["default"].config["webhooks"]
    assert hooks[0]["url"] == r.json()["webhook_url"] and hooks[0]["hmac"]["key"]
    assert "message" in hooks[0]["events"] and "session.status" in hooks[0]["events"]


@pytest.mark.parametrize("channel_type", ["whatsapp", "messenger", "instagram"])
async def test_meta_configure_webhook_shows_url_and_verify_token(client, tenant, channel_configs, channel_type):
    ch = await create(client, tenant, channel_type, channel_configs[channel_type])
    r = (await client.post(f"/api/v1/channels/{ch['id']}/configure-webhook", headers=tenant.headers)).json()
    assert r["registered_with_platform"] is False and r["verify_token"] and "dashboard" in r["instructions"]
    assert r["webhook_url"].endswith(f"/webhooks/{channel_type}/{ch['id']}")
    if channel_type == "whatsapp":
        assert r["verify_token"] == "verify-me"
    info = (await client.get(f"/api/v1/channels/{ch['id']}/webhook-info", headers=tenant.headers)).json()
    assert info["verify_token"] == r["verify_token"]


@pytest.mark.parametrize("channel_type", TYPES)
async def test_test_connection_per_type(client, tenant, channel_configs, fakes, channel_type):
    if channel_type == "waha":
        fakes["waha"].add_session("default", working=True)
    ch = await create(client, tenant, channel_type, channel_configs[channel_type])
    r = await client.post(f"/api/v1/channels/{ch['id']}/test-connection", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and r.json()["external_id"]


async def test_test_connection_with_bad_credentials_is_502_and_recorded(client, tenant, channel_configs):
    config = {**channel_configs["telegram"], "botToken": "999:wrong-token"}
    ch = await create(client, tenant, "telegram", config)
    r = await client.post(f"/api/v1/channels/{ch['id']}/test-connection", headers=tenant.headers)
    assert r.status_code == 502 and "telegram" in r.json()["detail"]
    got = (await client.get(f"/api/v1/channels/{ch['id']}", headers=tenant.headers)).json()
    assert got["last_error"] and got["last_error_at"]


async def test_pipeline_association(client, app, tenant, channel_configs):
    import uuid

    other = await make_tenant(app, "globex")
    theirs = (await client.post("/api/v1/pipelines", headers=other.headers, json={"name": "Theirs"})).json()["id"]
    for refused in (str(uuid.uuid4()), theirs):  # made up, or another tenant's
        r = await client.post(
            "/api/v1/channels",
            headers=tenant.headers,
            json={
                "name": "x",
                "channel_type": "telegram",
                "config": channel_configs["telegram"],
                "pipeline_id": refused,
            },
        )
        assert r.status_code == 404 and r.json()["errors"][0]["field"] == "pipeline_id", r.text
    assert (await client.get("/api/v1/channels", headers=tenant.headers)).json()["total"] == 0
    ch = await create(client, tenant, "telegram", channel_configs["telegram"])
    for refused in (str(uuid.uuid4()), theirs):
        r = await client.post(
            f"/api/v1/channels/{ch['id']}/associate-pipeline", headers=tenant.headers, json={"pipeline_id": refused}
        )
        assert r.status_code == 404 and r.json()["errors"][0]["field"] == "pipeline_id"
        # PATCH does not change the pipeline: associate-pipeline does, with its event
        r = await client.patch(f"/api/v1/channels/{ch['id']}", headers=tenant.headers, json={"pipeline_id": refused})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pipeline_id"
    got = (await client.get(f"/api/v1/channels/{ch['id']}", headers=tenant.headers)).json()
    assert got["pipeline_id"] is None and got["updated_at"] == ch["updated_at"]
    pid = (await client.post("/api/v1/pipelines", headers=tenant.headers, json={"name": "Sales"})).json()["id"]
    made = await create(client, tenant, "telegram", channel_configs["telegram"], name="Routed", pipeline_id=pid)
    assert made["pipeline_id"] == pid
    r = await client.post(
        f"/api/v1/channels/{ch['id']}/associate-pipeline", headers=tenant.headers, json={"pipeline_id": pid}
    )
    assert r.status_code == 200 and r.json()["pipeline_id"] == pid
    r = await client.post(f"/api/v1/channels/{ch['id']}/disassociate-pipeline", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["pipeline_id"] is None


async def test_vendor_and_metadata_seed_002(client, tenant, channel_configs):
    ch = await create(
        client,
        tenant,
        "chotot",
        channel_configs["chotot"],
        vendor={"channel_id": "room-77", "name": "chotot"},
        metadata={"ItemName": "Honda Wave"},
    )
    assert ch["vendor"] == {"channel_id": "room-77", "name": "chotot"}
    assert ch["metadata"] == {"ItemName": "Honda Wave"}
    # vendor.name is the detection key: naming another (or no known) vendor is refused, never obeyed.
    for name in ("chotot", "myspace"):
        r = await client.post(
            "/api/v1/channels",
            headers=tenant.headers,
            json={
                "name": "tg",
                "channel_type": "telegram",
                "config": channel_configs["telegram"],
                "vendor": {"name": name},
            },
        )
        assert r.status_code == 422, r.text
        (error,) = r.json()["errors"]
        assert error["field"] == "vendor.name" and "'telegram'" in error["message"]
    assert (await client.get("/api/v1/channels", headers=tenant.headers)).json()["total"] == 1
    ch = await create(client, tenant, "telegram", channel_configs["telegram"], vendor={"name": "telegram"})
    assert ch["vendor"]["name"] == "telegram" and ch["requires_partner_credentials"] is False
    r = await client.patch(f"/api/v1/channels/{ch['id']}", headers=tenant.headers, json={"vendor": {"name": "chotot"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "vendor.name"
    got = (await client.get(f"/api/v1/channels/{ch['id']}", headers=tenant.headers)).json()
    assert got["vendor"]["name"] == "telegram" and got["updated_at"] == ch["updated_at"]
    # still a telegram channel: activation needs its webhook
    assert (await client.post(f"/api/v1/channels/{ch['id']}/activate", headers=tenant.headers)).status_code == 409


async def test_channel_types_describe_each_platform(client, tenant):
    r = await client.get("/api/v1/channel-types", headers=tenant.headers)
    assert r.status_code == 200
    by_type = {t["channel_type"]: t for t in r.json()}
    assert set(TYPES) <= set(by_type)
    assert by_type["chotot"]["requires_partner_credentials"] is True and by_type["chotot"]["receives_webhooks"] is False
    assert by_type["telegram"]["registers_webhook"] is True and by_type["whatsapp"]["has_handshake"] is True
    assert "botToken" in by_type["telegram"]["config_schema"]["properties"]
    assert "accessToken" in by_type["whatsapp"]["secret_fields"]


async def test_channel_types_describe_each_config_as_form_fields(client, tenant):
    r = await client.get("/api/v1/channel-types", headers=tenant.headers)
    by_type = {t["channel_type"]: {f["name"]: f for f in t["fields"]} for t in r.json()}
    telegram = by_type["telegram"]
    assert telegram["botToken"] | {"description": None} == {
        "name": "botToken",
        "label": "Bot token",
        "kind": "secret",
        "required": True,
        "description": None,
        "default": None,
        "choices": None,
        "when": None,
        "advanced": False,
    }
    assert telegram["apiBaseURL"]["advanced"] is True and telegram["apiBaseURL"]["default"]
    assert "webhookURL" not in telegram  # informational only: Souk registers its own URL
    whatsapp = by_type["whatsapp"]
    assert [whatsapp[k]["label"] for k in ("phoneNumberID", "businessAccountID", "apiVersion")] == [
        "Phone number ID",
        "Business account ID",
        "API version",
    ]
    assert {k for k, f in whatsapp.items() if f["kind"] == "secret"} == {"accessToken", "webhookToken", "appSecret"}
    waha = by_type["waha"]
    assert waha["auth.type"]["kind"] == "choice" and waha["auth.type"]["choices"] == ["basic", "api_key"]
    assert waha["auth.password"]["when"] == {"auth.type": "basic"} and waha["auth.password"]["kind"] == "secret"
    assert waha["auth.apiKey"]["when"] == {"auth.type": "api_key"}
    assert not {"qrCode", "qrCodeExpiresAt", "sessionStatus", "webhookURL", "importCompleted"} & set(waha)
    assert by_type["tiktok"]["signatureToleranceSeconds"]["kind"] == "number"
    assert by_type["chotot"]["apiKey"]["kind"] == "secret" and by_type["chotot"]["partnerID"]["required"] is True
