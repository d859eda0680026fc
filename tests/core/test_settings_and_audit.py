"""AppSettings CRUD with sensitive values, and the audit log that records every change."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.conftest import TenantFixture, make_tenant

SECRET = "AIzaSyD-very-secret-gemini-key-1234"


async def test_sensitive_setting_is_masked_and_encrypted(client: httpx.AsyncClient, tenant: TenantFixture, app):
    r = await client.put(
        "/api/v1/settings/gemini_api_key",
        headers=tenant.headers,
        json={
            "value": SECRET,
            "category": "ai",
            "is_sensitive": True,
            "description": "Google Gemini API Key",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["value"] == "AIza…1234"
    got = (await client.get("/api/v1/settings/gemini_api_key", headers=tenant.headers)).json()
    assert SECRET not in str(got)
    async with app.state.db.engine.connect() as conn:
        raw = (await conn.execute(text("SELECT value, secret_value FROM app_settings"))).all()
    assert raw and all(SECRET not in str(v) for row in raw for v in row)
    from souk.core import service

    async with app.state.db.tenant_session(tenant.id) as session:
        assert await service.setting(session, "gemini_api_key") == SECRET


async def test_plain_setting_roundtrip_filter_and_delete(client: httpx.AsyncClient, tenant: TenantFixture):
    await client.put(
        "/api/v1/settings/lead_score_threshold",
        headers=tenant.headers,
        json={"value": "75", "category": "system"},
    )
    await client.put("/api/v1/settings/other", headers=tenant.headers, json={"value": "x", "category": "ui"})
    listed = (await client.get("/api/v1/settings?category=system", headers=tenant.headers)).json()
    assert [s["key"] for s in listed["items"]] == ["lead_score_threshold"]
    assert listed["items"][0]["value"] == "75" and listed["total"] == 1
    assert (await client.delete("/api/v1/settings/other", headers=tenant.headers)).status_code == 204
    assert (await client.get("/api/v1/settings/other", headers=tenant.headers)).status_code == 404


async def test_settings_are_per_tenant(client: httpx.AsyncClient, tenant: TenantFixture, app):
    other = await make_tenant(app, "globex")
    await client.put("/api/v1/settings/theme", headers=other.headers, json={"value": "dark"})
    assert (await client.get("/api/v1/settings/theme", headers=tenant.headers)).status_code == 404
    await client.put("/api/v1/settings/theme", headers=tenant.headers, json={"value": "light"})
    assert (await client.get("/api/v1/settings/theme", headers=other.headers)).json()["value"] == "dark"


async def test_unknown_field_is_refused_and_changes_nothing(client: httpx.AsyncClient, tenant: TenantFixture):
    r = await client.put("/api/v1/settings/x", headers=tenant.headers, json={"value": "1", "valeu": "typo"})
    assert r.status_code == 422
    assert any(e["field"] == "valeu" for e in r.json()["errors"])
    assert (await client.get("/api/v1/settings/x", headers=tenant.headers)).status_code == 404


async def test_audit_log_records_who_what_and_masks_secrets(client: httpx.AsyncClient, tenant: TenantFixture):
    await client.put(
        "/api/v1/settings/gemini_api_key",
        headers=tenant.headers,
        json={"value": SECRET, "is_sensitive": True},
    )
    await client.put(
        "/api/v1/settings/gemini_api_key",
        headers=tenant.headers,
        json={"value": SECRET + "2", "is_sensitive": True},
    )
    r = await client.get("/api/v1/audit-log?entity_type=setting", headers=tenant.headers)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["action"] for i in items] == ["setting.updated", "setting.created"]
    assert items[0]["actor_type"] == "api_key" and items[0]["entity_id"] == "gemini_api_key"
    assert items[0]["request_id"]
    assert SECRET not in r.text


async def test_audit_log_is_per_tenant(client: httpx.AsyncClient, tenant: TenantFixture, app):
    other = await make_tenant(app, "globex")
    await client.put("/api/v1/settings/a", headers=other.headers, json={"value": "1"})
    r = await client.get("/api/v1/audit-log", headers=tenant.headers)
    assert r.json()["total"] == 0
