"""API keys, roles, web login and brute-force protection, through HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import TenantFixture, make_tenant


async def test_api_key_in_header_or_bearer_identifies_the_tenant(client: httpx.AsyncClient, tenant: TenantFixture):
    r1 = await client.get("/api/v1/auth/me", headers=tenant.headers)
    r2 = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tenant.key}"})
    assert r1.status_code == r2.status_code == 200
    assert r1.json()["tenant_slug"] == "acme" and r1.json()["actor_type"] == "api_key"


async def test_missing_or_wrong_key_is_401_problem(client: httpx.AsyncClient, tenant: TenantFixture):
    for headers in ({}, {"X-API-Key": "souk_wrong"}, {"Authorization": "Bearer nope"}):
        r = await client.get("/api/v1/auth/me", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 401


async def test_created_key_is_shown_once_and_stored_hashed(client: httpx.AsyncClient, tenant: TenantFixture, app):
    r = await client.post("/api/v1/api-keys", json={"name": "zap"}, headers=tenant.headers)
    assert r.status_code == 201
    body = r.json()
    key = body["key"]
    assert key.startswith(body["prefix"])
    listing = await client.get("/api/v1/api-keys", headers=tenant.headers)
    assert key not in listing.text
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": key})).status_code == 200
    from sqlalchemy import text

    async with app.state.db.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT key_hash FROM api_keys"))).scalars().all()
    assert key not in stored and all(len(h) == 64 for h in stored)


async def test_revoked_key_stops_working(client: httpx.AsyncClient, tenant: TenantFixture):
    created = (await client.post("/api/v1/api-keys", json={"name": "tmp"}, headers=tenant.headers)).json()
    r = await client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": created["key"]})).status_code == 401


async def test_expired_key_is_refused(client: httpx.AsyncClient, tenant: TenantFixture):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    created = (
        await client.post("/api/v1/api-keys", json={"name": "old", "expires_at": past}, headers=tenant.headers)
    ).json()
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": created["key"]})).status_code == 401


async def test_last_used_at_is_recorded(client: httpx.AsyncClient, tenant: TenantFixture):
    """Recorded just after the request (a request never waits for that write)."""
    await client.get("/api/v1/auth/me", headers=tenant.headers)
    for _ in range(50):
        keys = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"]
        if any(k["last_used_at"] for k in keys):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("last_used_at was never recorded")


async def test_agent_cannot_manage_keys_or_settings(client: httpx.AsyncClient, app, tenant: TenantFixture):
    created = (
        await client.post("/api/v1/api-keys", json={"name": "agent", "role": "agent"}, headers=tenant.headers)
    ).json()
    agent = {"X-API-Key": created["key"]}
    assert (await client.get("/api/v1/auth/me", headers=agent)).status_code == 200
    assert (await client.post("/api/v1/api-keys", json={"name": "x"}, headers=agent)).status_code == 403
    assert (await client.put("/api/v1/settings/k", json={"value": "v"}, headers=agent)).status_code == 403
    assert (await client.get("/api/v1/audit-log", headers=agent)).status_code == 403


async def test_other_tenants_objects_are_404(client: httpx.AsyncClient, app, tenant: TenantFixture):
    other = await make_tenant(app, "globex")
    theirs = (await client.post("/api/v1/api-keys", json={"name": "theirs"}, headers=other.headers)).json()
    r = await client.delete(f"/api/v1/api-keys/{theirs['id']}", headers=tenant.headers)
    assert r.status_code == 404
    mine = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()
    assert all(k["id"] != theirs["id"] for k in mine["items"])
    assert (await client.get("/api/v1/auth/me", headers={"X-API-Key": theirs["key"]})).status_code == 200


async def test_login_sets_a_session_cookie_and_logout_ends_it(client: httpx.AsyncClient, tenant: TenantFixture):
    r = await client.post("/api/v1/auth/login", json={"email": tenant.owner_email, "password": tenant.password})
    assert r.status_code == 200, r.text
    assert "souk_session" in r.cookies
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["user"]["email"] == tenant.owner_email
    assert (await client.post("/api/v1/auth/logout")).status_code == 204
    client.cookies.clear()
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_login_is_locked_after_repeated_failures(client: httpx.AsyncClient, tenant: TenantFixture, app):
    limit = app.state.settings.login_max_failures
    for _ in range(limit):
        r = await client.post("/api/v1/auth/login", json={"email": tenant.owner_email, "password": "wrong!"})
        assert r.status_code == 401
    r = await client.post("/api/v1/auth/login", json={"email": tenant.owner_email, "password": tenant.password})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert r.json()["title"] == "Too many requests"


async def test_one_ip_trying_many_accounts_is_locked_out_but_not_other_ips(
    client: httpx.AsyncClient, tenant: TenantFixture, app
):
    """Per IP as well as per account: an IP that fails on many accounts, none of them often enough to lock it, is
    refused even for an account with no failure, while the same account still logs in from another address."""
    app.state.settings = app.state.settings.model_copy(update={"login_max_failures": 1})
    per_ip = 4  # an office behind one NAT may try a few accounts: four times the per-account limit
    owner = {"email": tenant.owner_email, "password": tenant.password}
    for i in range(per_ip - 1):
        r = await client.post("/api/v1/auth/login", json={"email": f"guess{i}@acme.test", "password": "wrong!"})
        assert r.status_code == 401
    assert (await client.post("/api/v1/auth/login", json=owner)).status_code == 200  # one failure short
    r = await client.post("/api/v1/auth/login", json={"email": "guess-last@acme.test", "password": "wrong!"})
    assert r.status_code == 401
    r = await client.post("/api/v1/auth/login", json=owner)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    elsewhere = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://souk.test") as other_ip:
        assert (await other_ip.post("/api/v1/auth/login", json=owner)).status_code == 200


async def test_login_with_malformed_email_names_the_field(client: httpx.AsyncClient, tenant: TenantFixture):
    r = await client.post("/api/v1/auth/login", json={"email": "not-an-email", "password": "x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "email"


async def test_only_owner_changes_roles(client: httpx.AsyncClient, tenant: TenantFixture):
    admin_key = (
        await client.post("/api/v1/api-keys", json={"name": "adm", "role": "admin"}, headers=tenant.headers)
    ).json()["key"]
    adm = {"X-API-Key": admin_key}
    u = await client.post("/api/v1/users", json={"email": "a@acme.test", "password": "longenough"}, headers=adm)
    assert u.status_code == 201 and u.json()["role"] == "agent"
    r = await client.patch(f"/api/v1/users/{u.json()['id']}", json={"role": "admin"}, headers=adm)
    assert r.status_code == 403
    r = await client.patch(f"/api/v1/users/{u.json()['id']}", json={"role": "admin"}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = await client.post(
        "/api/v1/users", json={"email": "o@acme.test", "password": "longenough", "role": "owner"}, headers=adm
    )
    assert r.status_code == 403
