"""Invitations through HTTP: a link shown once, stored hashed; accepting it makes the user with the invited role and
logs them in; used, withdrawn, expired and unknown links are refused; another tenant can neither see nor revoke."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import text, update

from souk.core.models import Invite
from souk.db.types import utcnow
from tests.conftest import TenantFixture, make_tenant


async def _invite(
    client: httpx.AsyncClient, tenant: TenantFixture, email: str = "amira@acme.test", role: str = "agent"
):
    r = await client.post("/api/v1/invites", json={"email": email, "role": role}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()


def _token(created: dict) -> str:
    return created["path"].rsplit("/", 1)[1]


async def test_invite_link_is_shown_once_and_stored_hashed(client: httpx.AsyncClient, tenant: TenantFixture, app):
    created = await _invite(client, tenant, "Amira@Acme.test", "admin")
    assert created["email"] == "amira@acme.test" and created["role"] == "admin"
    assert created["path"].startswith("/invite/") and created["url"].endswith(created["path"])
    token = _token(created)
    listing = await client.get("/api/v1/invites", headers=tenant.headers)
    assert listing.status_code == 200
    assert [i["email"] for i in listing.json()["items"]] == ["amira@acme.test"]
    assert token not in listing.text and "url" not in listing.json()["items"][0]
    async with app.state.db.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT token_hash FROM invites"))).scalars().all()
    assert token not in stored and all(len(h) == 64 for h in stored)
    expires = created["expires_at"]
    assert expires > (utcnow() + timedelta(days=6)).isoformat()[:19]


async def test_accepting_creates_the_user_with_the_role_and_logs_in(client: httpx.AsyncClient, tenant: TenantFixture):
    token = _token(await _invite(client, tenant, role="admin"))
    page = await client.get(f"/invite/{token}")
    assert page.status_code == 200 and "amira@acme.test" in page.text and 'id="invite-form"' in page.text
    r = await client.post("/api/v1/invites/accept", json={"token": token, "name": "Amira", "password": "s3cret pass"})
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "amira@acme.test" and r.json()["role"] == "admin" and r.json()["name"] == "Amira"
    assert "souk_session" in r.cookies
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["label"] == "amira@acme.test" and me.json()["role"] == "admin"
    assert me.json()["tenant_slug"] == "acme"
    client.cookies.clear()
    login = await client.post("/api/v1/auth/login", json={"email": "amira@acme.test", "password": "s3cret pass"})
    assert login.status_code == 200
    client.cookies.clear()
    # used: the API and the page both say so, and the invitation is no longer pending
    again = await client.post("/api/v1/invites/accept", json={"token": token, "name": "X", "password": "other pass"})
    assert again.status_code == 410 and "already used" in again.json()["detail"]
    page = await client.get(f"/invite/{token}")
    assert page.status_code == 410 and "already used" in page.text and 'id="invite-form"' not in page.text
    assert (await client.get("/api/v1/invites", headers=tenant.headers)).json()["total"] == 0


async def test_revoked_expired_and_unknown_links_are_refused(client: httpx.AsyncClient, tenant: TenantFixture, app):
    revoked = await _invite(client, tenant, "r@acme.test")
    assert (await client.delete(f"/api/v1/invites/{revoked['id']}", headers=tenant.headers)).status_code == 204
    expired = await _invite(client, tenant, "e@acme.test")
    async with app.state.db.system_session() as session:
        await session.execute(
            update(Invite).where(Invite.email == "e@acme.test").values(expires_at=utcnow() - timedelta(minutes=1))
        )
    cases = [(_token(revoked), "withdrawn"), (_token(expired), "expired"), ("x" * 43, "not valid")]
    for token, words in cases:
        r = await client.post("/api/v1/invites/accept", json={"token": token, "name": "N", "password": "long enough"})
        assert r.status_code == 410 and words in r.json()["detail"], r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        page = await client.get(f"/invite/{token}")
        assert page.status_code == 410 and words in page.text
    assert (await client.get("/api/v1/invites", headers=tenant.headers)).json()["total"] == 0
    assert (await client.get("/api/v1/users", headers=tenant.headers)).json()["total"] == 1


async def test_inviting_again_replaces_the_earlier_link(client: httpx.AsyncClient, tenant: TenantFixture):
    first = await _invite(client, tenant)
    second = await _invite(client, tenant)
    items = (await client.get("/api/v1/invites", headers=tenant.headers)).json()["items"]
    assert [i["id"] for i in items] == [second["id"]]
    r = await client.post(
        "/api/v1/invites/accept", json={"token": _token(first), "name": "A", "password": "long enough"}
    )
    assert r.status_code == 410


async def test_another_tenant_cannot_see_or_revoke_or_reuse(
    client: httpx.AsyncClient, tenant: TenantFixture, other_tenant: TenantFixture
):
    created = await _invite(client, tenant)
    assert (await client.get("/api/v1/invites", headers=other_tenant.headers)).json()["total"] == 0
    r = await client.delete(f"/api/v1/invites/{created['id']}", headers=other_tenant.headers)
    assert r.status_code == 404
    assert (await client.get("/api/v1/invites", headers=tenant.headers)).json()["total"] == 1
    # the accepted user lands in the inviting tenant only
    r = await client.post(
        "/api/v1/invites/accept", json={"token": _token(created), "name": "A", "password": "long enough"}
    )
    assert r.status_code == 201
    others = (await client.get("/api/v1/users", headers=other_tenant.headers)).json()["items"]
    assert "amira@acme.test" not in [u["email"] for u in others]


async def test_bad_input_names_the_field(client: httpx.AsyncClient, tenant: TenantFixture):
    r = await client.post("/api/v1/invites", json={"email": "not-an-email", "role": "agent"}, headers=tenant.headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["email"]
    r = await client.post("/api/v1/invites", json={"email": "a@acme.test", "role": "boss"}, headers=tenant.headers)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["role"]
    r = await client.post("/api/v1/invites", json={"email": tenant.owner_email}, headers=tenant.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "email"
    token = _token(await _invite(client, tenant))
    r = await client.post("/api/v1/invites/accept", json={"token": token, "name": "", "password": "short"})
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"name", "password"}
    # nothing was used up by the refused attempt
    r = await client.post("/api/v1/invites/accept", json={"token": token, "name": "A", "password": "long enough"})
    assert r.status_code == 201


async def test_only_an_owner_invites_admins(app, client: httpx.AsyncClient):
    admin_tenant = await make_tenant(app, "initech", role="admin")
    r = await client.post(
        "/api/v1/invites", json={"email": "boss@initech.test", "role": "admin"}, headers=admin_tenant.headers
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/invites", json={"email": "agent@initech.test", "role": "agent"}, headers=admin_tenant.headers
    )
    assert r.status_code == 201
    agent_tenant = await make_tenant(app, "hooli", role="agent")
    r = await client.get("/api/v1/invites", headers=agent_tenant.headers)
    assert r.status_code == 403


async def test_two_tabs_accepting_one_link_make_one_user(client: httpx.AsyncClient, tenant: TenantFixture):
    token = _token(await _invite(client, tenant))
    body = {"token": token, "name": "A", "password": "long enough"}
    answers = await asyncio.gather(*(client.post("/api/v1/invites/accept", json=body) for _ in range(2)))
    assert sorted(r.status_code for r in answers) == [201, 410]
    emails = [u["email"] for u in (await client.get("/api/v1/users", headers=tenant.headers)).json()["items"]]
    assert emails.count("amira@acme.test") == 1
