"""Refused sends name their cause in problem+json and queue nothing."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TenantFixture, make_tenant
from tests.messaging.outbound.conftest import Fakes, counts, make_channel, make_thread, send


def problem(r: httpx.Response, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


@pytest.mark.parametrize(
    ("platform", "body", "field", "words"),
    [
        ("telegram", {"text": ""}, "text", "empty"),
        ("telegram", {"text": "   \n"}, "text", "empty"),
        ("telegram", {}, "text", "empty"),
        ("telegram", {"text": "hi", "colour": "red"}, "colour", "colour"),
        (
            "telegram",
            {"type": "list", "text": "x", "list": {"button": "b", "sections": [{"rows": [{"id": "1", "title": "t"}]}]}},
            "type",
            "cannot send list",
        ),
        ("telegram", {"type": "image"}, "media", "needs media"),
        ("telegram", {"text": "x" * 4097}, "text", "4096"),
        ("messenger", {"text": "hi", "buttons": [{"id": str(i), "title": "b"} for i in range(4)]}, "buttons", "1 to 3"),
        ("messenger", {"type": "image", "media": {"url": "https://x/y.jpg"}, "caption": "c"}, "caption", "no caption"),
        ("whatsapp", {"text": "hi", "buttons": [{"url": "https://x", "title": "go"}]}, "buttons.0.url", "link"),
        (
            "whatsapp",
            {"template": {"name": "no_such_template", "language": "en_US"}},
            "template.name",
            "no approved template",
        ),
        (
            "whatsapp",
            {"template": {"name": "order_update", "language": "en_US"}},
            "template.components",
            "1 body parameter",
        ),
        ("whatsapp", {"template": {"name": "draft_one", "language": "en_US"}}, "template.name", "no approved"),
        ("telegram", {"text": "hi", "reply_to": "999:1"}, "reply_to", "no message"),
        ("telegram", {"text": "hi", "tag": "HUMAN_AGENT"}, "tag", "Messenger"),
        ("tiktok", {"type": "image", "media": {"url": "https://x/y.jpg"}, "caption": "c"}, "caption", "no caption"),
    ],
)
async def test_bad_content_is_refused_and_queues_nothing(
    platform: str,
    body: dict,
    field: str,
    words: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: TenantFixture,
    fakes: Fakes,
):
    t = await make_thread(app, tenant, fakes, platform)
    detail = problem(await send(client, t, body), 422, field)["detail"]
    assert words in detail
    assert await counts(app, tenant) == (0, 0)


async def test_media_too_large_for_the_platform(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "tiktok")
    big = b"\x89PNG" + b"\0" * (3 * 1024 * 1024)
    body = problem(await send(client, t, files={"file": ("big.png", big, "image/png")}), 422, "file")
    assert "tiktok accepts image files up to 3.0 MB" in body["detail"] and body["max_size"] == 3 * 1024 * 1024
    jpeg_only = problem(await send(client, t, files={"file": ("a.gif", b"GIF89a", "image/gif")}), 422, "file")
    assert "image/jpeg" in jpeg_only["detail"]
    m = await make_thread(app, tenant, fakes, "instagram")
    url_only = problem(await send(client, m, files={"file": ("a.png", b"x", "image/png")}), 422, "file")
    assert "by URL only" in url_only["detail"]
    assert await counts(app, tenant) == (0, 0)


async def test_not_json_and_unknown_form_fields(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "telegram")
    problem(await send(client, t, content=b"{nope", headers={"content-type": "application/json"}), 422, "body")
    problem(await send(client, t, content=b"[1]", headers={"content-type": "application/json"}), 422, "body")
    problem(await send(client, t, files={"file": ("a.png", b"x", "image/png")}, data={"text": "hi"}), 422, "text")
    problem(await send(client, t, data={"caption": "no file"}, files={"other": ("a", b"x", "text/plain")}), 422, "file")
    assert await counts(app, tenant) == (0, 0)


async def test_another_tenants_conversation_is_404(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    other = await make_tenant(app, "globex")
    theirs = await make_thread(app, other, fakes, "telegram")
    r = await client.post(
        f"/api/v1/conversations/{theirs.conversation_id}/messages", json={"text": "hi"}, headers=tenant.headers
    )
    problem(r, 404)
    assert await counts(app, other) == (0, 0)
    problem(await client.post(f"/api/v1/messages/{theirs.conversation_id}/resend", headers=tenant.headers), 404)


async def test_a_deactivated_channel_cannot_send(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    channel = await make_channel(app, tenant, "telegram", fakes, status="inactive")
    t = await make_thread(app, tenant, fakes, "telegram", channel_id=channel)
    body = problem(await send(client, t, {"text": "hi"}), 422, "channel")
    assert "inactive" in body["detail"] and body["channel_status"] == "inactive"
    assert body["type"].endswith("/channel-unavailable")
    assert await counts(app, tenant) == (0, 0)
