"""Media end to end, on both databases: a queued media row is fetched from its (fake) platform by the app's worker,
kept in the media store and served by ``GET /api/v1/media/{id}``; failures are retried, visible and retryable."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from tests.conftest import make_tenant
from tests.messaging.inbound.conftest import active_channel
from tests.messaging.media.conftest import LIMIT, MAX_ATTEMPTS, VIDEO_LIMIT, media_row, settled
from tests.support.webhooks import fixture, post, wait_idle

from souk.core.models import DomainEvent, Role
from souk.messaging.models import MediaStatus, Message, MessageMedia

PLATFORMS = ["whatsapp", "telegram", "waha", "messenger", "instagram", "tiktok"]


def _bytes(n: int = 3000) -> bytes:
    return os.urandom(n)


async def _given(fakes: dict[str, Any], make_media: Any, channel_type: str, data: bytes) -> tuple[uuid.UUID, str]:
    """A media row as the platform would describe ``data``; returns its id and the content type to expect."""
    graph = fakes["graph"]
    if channel_type == "whatsapp":
        media_id = graph.add_media(data, "image/jpeg")
        return await make_media("whatsapp", platform_media_id=media_id, mime="image/jpeg"), "image/jpeg"
    if channel_type == "telegram":
        file_id = fakes["telegram"].add_file(data, f"photos/file_{uuid.uuid4().hex[:6]}.jpg")
        return await make_media("telegram", platform_media_id=file_id), "image/jpeg"  # MIME from the file path
    if channel_type == "waha":
        url = fakes["waha"].add_file(data, "audio/ogg; codecs=opus", f"3EB0{uuid.uuid4().hex[:12].upper()}.oga")
        url = "http://localhost:3000" + url.split(fakes["waha"].url, 1)[1]  # the host WAHA believes it has
        return await make_media("waha", kind="voice", url=url, mime="audio/ogg; codecs=opus"), "audio/ogg"
    if channel_type == "messenger":
        return await make_media("messenger", url=graph.add_cdn_file(data, "image/png")), "image/png"
    if channel_type == "instagram":
        return await make_media("instagram", url=graph.add_cdn_file(data, "image/gif")), "image/gif"
    media_id = fakes["tiktok"].add_media(data, "image/png")
    return await make_media("tiktok", platform_media_id=media_id, external_id="tt-msg-1", thread_id="conv-9"), (
        "image/png"
    )


async def test_every_platforms_media_is_downloaded_stored_and_served(
    app, client, tenant, fakes, make_media, enqueue, settings
):
    """One app for all six platforms: each has its own route to the bytes (see media.DOWNLOADERS)."""
    given = {}
    for channel_type in PLATFORMS:
        data = _bytes()
        media_id, mime = await _given(fakes, make_media, channel_type, data)
        given[channel_type] = (media_id, mime, data)
    waha_before = len(fakes["waha"].requests)
    for media_id, _, _ in given.values():
        await enqueue(media_id)

    for channel_type, (media_id, mime, data) in given.items():
        row = await settled(app, media_id)
        assert (row.status, row.error, row.attempts) == (MediaStatus.stored, None, 1), channel_type
        assert row.size == len(data) and row.stored_at is not None and len(row.sha256 or "") == 64

        r = await client.get(f"/api/v1/media/{media_id}", headers=tenant.headers)
        assert r.status_code == 200, (channel_type, r.text)
        assert r.content == data, channel_type
        assert r.headers["content-type"].startswith(mime), (channel_type, r.headers["content-type"])
        assert r.headers["content-length"] == str(len(data))
        assert r.headers["x-content-type-options"] == "nosniff"

        at = row.created_at
        path = settings.data_dir / "media" / str(tenant.id) / f"{at:%Y}" / f"{at:%m}" / str(media_id)
        assert path.read_bytes() == data, channel_type
        # no temporary file of this download is left (the other platforms' downloads may still be writing theirs)
        assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{media_id}.") and p.name.endswith(".part")]

    async with app.state.db.system_session() as session:
        events = (await session.scalars(select(DomainEvent).where(DomainEvent.event_type == "message.updated"))).all()
    by_media = {e.payload["media"]["id"]: e.payload for e in events if "media" in e.payload}
    for channel_type, (media_id, _, _) in given.items():
        payload = by_media[str(media_id)]
        assert payload["media"]["status"] == "stored" and payload["fields"] == ["media"], channel_type

    # WAHA's files are fetched from the channel's baseURL (not the host in the URL), with its API key
    fetches = [r for r in fakes["waha"].requests[waha_before:] if r.path.startswith("/api/files/")]
    assert fetches and all(r.headers.get("x-api-key") == "waha-test-key" for r in fetches)


async def test_transient_failures_are_retried_with_the_error_visible_until_the_budget_is_spent(
    app, client, tenant, fakes, make_media, enqueue
):
    graph, telegram = fakes["graph"], fakes["telegram"]
    data = _bytes()
    recovers = await make_media("whatsapp", platform_media_id=graph.add_media(data, "image/jpeg"))
    graph.respond("GET", "/whatsapp_business/attachments/", 500, json={"error": "boom"}, times=2)
    file_path = f"documents/{uuid.uuid4().hex}.pdf"
    never = await make_media("telegram", kind="document", platform_media_id=telegram.add_file(_bytes(), file_path))
    telegram.respond("GET", f"/file/bot{telegram.token}/{file_path}", 503, json={"ok": False}, times=MAX_ATTEMPTS)
    await enqueue(recovers)
    await enqueue(never)

    row = await settled(app, recovers)
    assert (row.status, row.attempts, row.error) == (MediaStatus.stored, 3, None)
    r = await client.get(f"/api/v1/media/{recovers}", headers=tenant.headers)
    assert r.status_code == 200 and r.content == data

    row = await settled(app, never)
    assert row.status == MediaStatus.failed and row.attempts == MAX_ATTEMPTS
    assert row.error == f"gave up after {MAX_ATTEMPTS} attempts: the media download answered HTTP 503"
    assert telegram.token not in row.error
    r = await client.get(f"/api/v1/media/{never}", headers=tenant.headers)
    assert r.status_code == 409 and (r.json()["media_status"], r.json()["error"]) == ("failed", row.error)


async def test_a_permanent_404_fails_at_once_and_the_retry_endpoint_downloads_it_again(
    app, client, tenant, fakes, make_media, enqueue
):
    graph = fakes["graph"]
    name = f"gone-{uuid.uuid4().hex}"
    media_id = await make_media("messenger", url=f"{graph.url}/cdn/{name}?oh=x")
    r = await client.get(f"/api/v1/media/{media_id}", headers=tenant.headers)  # not fetched yet
    assert r.status_code == 409
    assert (r.json()["media_status"], r.json()["error"], r.json()["attempts"]) == ("pending", None, 0)
    r = await client.post(f"/api/v1/media/{media_id}/retry", headers=tenant.headers)
    assert r.status_code == 409 and r.json()["media_status"] == "pending"
    await enqueue(media_id)

    row = await settled(app, media_id)
    assert (row.status, row.attempts) == (MediaStatus.failed, 1)
    assert row.error == "the media download answered HTTP 404"
    r = await client.get(f"/api/v1/media/{media_id}", headers=tenant.headers)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert (problem["media_status"], problem["error"], problem["attempts"]) == ("failed", row.error, 1)

    async with app.state.db.system_session() as session:
        from souk.core import service

        session.info["tenant_id"] = tenant.id
        _, agent_key = await service.create_api_key(session, tenant.id, "agent", role=Role.agent)
    r = await client.post(f"/api/v1/media/{media_id}/retry", headers={"X-API-Key": agent_key})
    assert r.status_code == 403

    data = _bytes()
    graph.add_cdn_file(data, "image/webp", name=name)  # the platform has it again
    r = await client.post(f"/api/v1/media/{media_id}/retry", headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["error"], r.json()["id"]) == ("pending", None, str(media_id))

    row = await settled(app, media_id)
    assert (row.status, row.attempts) == (MediaStatus.stored, 1)
    r = await client.get(f"/api/v1/media/{media_id}", headers={"X-API-Key": agent_key})
    assert r.status_code == 200 and r.content == data and r.headers["content-type"] == "image/webp"

    r = await client.post(f"/api/v1/media/{media_id}/retry", headers=tenant.headers)
    assert r.status_code == 409 and r.json()["media_status"] == "stored"


async def test_oversize_media_fails_without_being_downloaded(app, fakes, make_media, enqueue):
    graph = fakes["graph"]
    big = graph.add_media(_bytes(LIMIT + 1), "video/mp4")
    declared = await make_media("whatsapp", kind="document", platform_media_id=big)
    video = await make_media("messenger", kind="video", url=graph.add_cdn_file(_bytes(VIDEO_LIMIT + 1), "video/mp4"))
    image = await make_media("messenger", kind="image", url=graph.add_cdn_file(_bytes(VIDEO_LIMIT + 1), "image/png"))
    downloads_before = len(graph.requests_to("GET", "/whatsapp_business/attachments/"))
    for media_id in (declared, video, image):
        await enqueue(media_id)

    row = await settled(app, declared)
    assert (row.status, row.attempts) == (MediaStatus.failed, 1)
    assert row.error == f"the document is {LIMIT + 1} bytes, over the {LIMIT}-byte limit; not downloaded"
    assert len(graph.requests_to("GET", "/whatsapp_business/attachments/")) == downloads_before
    row = await settled(app, video)
    assert row.status == MediaStatus.failed and f"over the {VIDEO_LIMIT}-byte limit" in (row.error or "")
    assert (await settled(app, image)).status == MediaStatus.stored  # the video limit is for videos only


async def test_media_is_served_only_to_its_tenant_and_never_as_a_page(app, client, tenant, fakes, make_media, enqueue):
    page = b"<html><script>alert(document.cookie)</script></html>"
    html = await make_media(
        "messenger", kind="document", url=fakes["graph"].add_cdn_file(page, "text/html"), filename="invoice.html"
    )
    data = _bytes()
    picture = await make_media("instagram", url=fakes["graph"].add_cdn_file(data, "image/jpeg"))
    await enqueue(html)
    await enqueue(picture)
    assert (await settled(app, html)).status == (await settled(app, picture)).status == MediaStatus.stored

    # a document a browser would render is an attachment, sandboxed; a picture is inline, cacheable by its hash
    r = await client.get(f"/api/v1/media/{html}", headers=tenant.headers)
    assert r.status_code == 200 and r.content == page
    assert r.headers["content-disposition"].startswith('attachment; filename="invoice.html"')
    assert "sandbox" in r.headers["content-security-policy"]
    r = await client.get(f"/api/v1/media/{picture}", headers=tenant.headers)
    assert r.headers["content-disposition"].startswith("inline")
    r2 = await client.get(f"/api/v1/media/{picture}", headers={**tenant.headers, "If-None-Match": r.headers["etag"]})
    assert r2.status_code == 304 and not r2.content

    # another tenant sees nothing; nobody without credentials either
    other = await make_tenant(app, "globex")
    r = await client.get(f"/api/v1/media/{picture}", headers=other.headers)
    assert r.status_code == 404 and r.json()["status"] == 404
    assert (await client.post(f"/api/v1/media/{picture}/retry", headers=other.headers)).status_code == 404
    assert (await client.get(f"/api/v1/media/{uuid.uuid4()}", headers=tenant.headers)).status_code == 404
    assert (await client.get(f"/api/v1/media/{picture}")).status_code == 401

    # the inbox's session cookie works as well as an API key
    login = {"email": tenant.owner_email, "password": tenant.password, "tenant": tenant.slug}
    assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
    r = await client.get(f"/api/v1/media/{picture}")
    assert r.status_code == 200 and r.content == data


async def test_the_sweeper_queues_media_whose_queue_message_was_lost(app, client, tenant, fakes, make_media):
    data = _bytes()
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    lost = await make_media("messenger", url=fakes["graph"].add_cdn_file(data, "image/png"), created_at=long_ago)
    # spent from the start: made in two steps, a sweep in between could queue it for one more try
    spent = await make_media(
        "messenger",
        url="https://cdn.example/x.png",
        created_at=long_ago,
        attempts=MAX_ATTEMPTS,
        error="the media download answered HTTP 502",
    )

    row = await settled(app, lost)  # never queued: only the sweeper can have found it
    assert row.status == MediaStatus.stored
    r = await client.get(f"/api/v1/media/{lost}", headers=tenant.headers)
    assert r.content == data
    row = await settled(app, spent)  # its last attempt died with its worker: the budget is spent
    assert row.status == MediaStatus.failed
    assert row.error == f"gave up after {MAX_ATTEMPTS} attempts: the media download answered HTTP 502"


async def test_a_duplicate_delivery_downloads_once(app, fakes, make_media, enqueue):
    from souk.bus import work

    data = _bytes()
    name = f"dup-{uuid.uuid4().hex}"
    media_id = await make_media("messenger", url=fakes["graph"].add_cdn_file(data, "image/png", name=name))
    await app.state.bus.wait_ready(10)
    await asyncio.gather(*(work.enqueue(app.state.bus, "media", str(media_id), dedup=False) for _ in range(5)))
    row = await settled(app, media_id)
    assert row.status == MediaStatus.stored
    await asyncio.sleep(0.3)  # let every other delivery be handled
    assert (await media_row(app, media_id)).attempts == 1
    assert len(fakes["graph"].requests_to("GET", f"/cdn/{name}")) == 1


async def test_a_whatsapp_image_webhook_is_downloaded_in_the_background_and_served(app, client, tenant, fakes):
    """From the platform's webhook to the bytes: the signed image message is stored with its media row at once,
    the worker resolves the media id on the (fake) Graph API and downloads it with the token, and the API serves
    it; nothing is queued by hand."""
    channel = await active_channel(client, tenant, fakes, "whatsapp")
    data = _bytes()
    platform_id = fakes["graph"].add_media(data, "image/jpeg")
    body = json.loads(fixture("whatsapp", "image"))
    image = body["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    image.update(id=platform_id, sha256=base64.b64encode(hashlib.sha256(data).digest()).decode())
    assert (await post(client, app, channel, body)).status_code == 200
    await wait_idle(app)
    async with app.state.db.system_session() as session:
        row = await session.scalar(select(MessageMedia).where(MessageMedia.platform_media_id == platform_id))
        message = await session.get(Message, row.message_id)
    assert (row.kind, row.mime, row.caption) == ("image", "image/jpeg", "This one please")
    assert message.message_type == "image" and message.message_text == "This one please"

    row = await settled(app, row.id)
    assert (row.status, row.error, row.size) == (MediaStatus.stored, None, len(data))
    r = await client.get(f"/api/v1/media/{row.id}", headers=tenant.headers)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"].startswith("image/jpeg")
    shown = await client.get(f"/api/v1/conversations/{message.conversation_id}/messages", headers=tenant.headers)
    [media] = shown.json()["items"][0]["media"]
    assert media["id"] == str(row.id) and media["platform_media_id"] == platform_id
