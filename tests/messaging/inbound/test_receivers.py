"""Receivers: signatures on raw bytes, durable before ack, duplicates, inactive and unknown channels."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from sqlalchemy import func, select

from souk.channels.models import Channel
from souk.core.models import DomainEvent
from souk.messaging.models import Conversation, DeferredUpdate, InboundEvent, Message, MessageMedia
from souk.platforms.tiktok.verify import sign as tiktok_sign
from tests.messaging.inbound.fixture_expectations import EXPECTED, LANDERS
from tests.support.webhooks import FIXTURE_DIRS, channel_secrets, fixture, fixture_names, post, sign, wait_idle

PLATFORMS = ["whatsapp", "messenger", "instagram", "telegram", "waha", "tiktok"]


async def count(app, model, *where) -> int:
    async with app.state.db.system_session() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.mark.parametrize("channel_type", PLATFORMS)
async def test_every_documented_payload_is_stored_and_processed(client, app, make_channel, channel_type):
    """Every fixture (one per documented event kind) posted with a real signature: 200, then exactly what its entry
    in ``fixture_expectations`` says: the delivery's outcome and reason, the messages it stores (type, direction,
    sender, source, reply, referral, group, thread, media) and what its updates did to their target (reactions,
    edits with history, deletions, monotonic statuses). Only the malformed fixtures fail, each with its reason."""
    table = EXPECTED[channel_type]
    names = fixture_names(channel_type)
    assert set(names) == set(table), "every fixture has an expectation, and every expectation a fixture"
    channel = await make_channel(channel_type)
    first = [n for n in names if not table[n].late]
    second = [n for n in names if table[n].late]
    for name in first:
        r = await post(client, app, channel, fixture(channel_type, name))
        assert r.status_code == 200 and r.json()["status"] in ("stored", "duplicate"), (name, r.text)
    await wait_idle(app)
    waiting = await _deferred_targets(app)
    for n, target in enumerate(waiting):  # updates whose message no fixture carries: land it, they apply
        assert (await post(client, app, channel, LANDERS[channel_type](target, n))).status_code == 200
    await wait_idle(app)
    assert await _deferred_targets(app) == []
    await _check(app, channel_type, first, waiting)
    for name in second:
        r = await post(client, app, channel, fixture(channel_type, name))
        assert r.status_code == 200, (name, r.text)
    await wait_idle(app)
    await _check(app, channel_type, second, waiting)


async def _deferred_targets(app) -> list[str]:
    async with app.state.db.system_session() as s:
        return sorted(set((await s.scalars(select(DeferredUpdate.target_external_id))).all()))


async def _check(app, channel_type: str, names: list[str], landed: list[str]) -> None:
    table = EXPECTED[channel_type]
    async with app.state.db.system_session() as s:
        events = {e.body: e for e in (await s.scalars(select(InboundEvent))).all()}
        rows = {m.external_id: m for m in (await s.scalars(select(Message))).all()}
        threads = {c.id: c.external_thread_id for c in (await s.scalars(select(Conversation))).all()}
        media = {(x.message_id, x.kind) for x in (await s.scalars(select(MessageMedia))).all()}
        channel = await s.scalar(select(Channel))
    expected_ids = {msg.ext for e in table.values() for msg in e.msgs}
    assert set(rows) == expected_ids | set(landed), "no message missing, none extra"
    for name in names:
        want = table[name]
        event = events[fixture(channel_type, name)]
        assert event.status == want.outcome, (name, event.status, event.error)
        if want.reason:
            assert want.reason in (event.error or ""), (name, event.error)
        else:
            assert event.error is None, (name, event.error)
        for msg in want.msgs:
            row = rows[msg.ext]
            got = {
                "type": row.message_type,
                "dir": row.direction,
                "by": row.sent_by,
                "src": row.message_source,
                "reply_to": row.reply_to,
                "ref": row.referral_source,
                "ad": row.ad_id is not None,
                "post": row.post_id is not None,
                "participant": ((row.message_metadata or {}).get("group") or {}).get("participant"),
            }
            wanted = {k: getattr(msg, k) for k in got}
            assert got == wanted, (name, msg.ext)
            if msg.thread is not None:
                assert threads[row.conversation_id] == msg.thread, (name, msg.ext)
            if msg.media is not None:
                assert (row.id, msg.media) in media, (name, msg.ext)
            if msg.dir == "inbound":
                assert row.status == "received", (name, msg.ext, row.status)
        for u in want.updates:
            row = rows[u.target]
            if u.reaction is not None:
                emojis = [r["emoji"] for r in row.reactions or []]
                assert emojis == ([u.reaction] if u.reaction else []), (name, emojis)
            if u.text is not None:
                assert row.message_text == u.text and row.edited_at is not None, (name, row.message_text)
                assert row.edit_history, (name, "the replaced text is kept")
            if u.was is not None:
                assert u.was in [h["text"] for h in row.edit_history], (name, row.edit_history)
            if u.deleted:
                assert row.deleted_at is not None, (name, "marked deleted; the row and its content stay")
            if u.status is not None:
                assert row.status == u.status, (name, u.target, row.status)
            if u.error_code is not None:
                assert row.error_code == u.error_code and row.error_message, (name, row.error_code)
        if want.session is not None:
            assert channel.config.get("sessionStatus") == want.session, (name, channel.config.get("sessionStatus"))


TEXT_FIXTURE = {
    "whatsapp": "text",
    "messenger": "text",
    "instagram": "text",
    "telegram": "message_text",
    "waha": "message_text",
    "tiktok": "im_receive_msg_text",
}


def forgeries(channel_type: str, body: bytes, secrets: dict) -> list[dict[str, str]]:
    """Headers a forger could send: a wrong signature, none at all, and for TikTok a real one gone stale."""
    json_type = {"Content-Type": "application/json"}
    if channel_type in ("whatsapp", "messenger", "instagram"):
        forged = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    elif channel_type == "telegram":
        forged = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
    elif channel_type == "waha":
        forged = {"X-Webhook-Hmac": "0" * 128, "X-Webhook-Hmac-Algorithm": "sha512"}
    else:
        forged = {"Tiktok-Signature": f"t={int(time.time())},s={'0' * 64}"}
    tries = [{**json_type, **forged}, json_type]
    if channel_type == "tiktok":
        tries.append(
            {**json_type, "Tiktok-Signature": tiktok_sign(secrets["appSecret"], int(time.time()) - 3600, body)}
        )
    return tries


async def test_forged_and_missing_signatures_are_refused_counted_and_noted(client, app, make_channel, tenant):
    """On every platform: 401 with a problem, nothing stored, the channel's counter in /metrics and its
    last_error say so; the real signature still passes. (One app for the six platforms: it is cheaper.)"""
    for channel_type in PLATFORMS:
        channel = await make_channel(channel_type)
        body = fixture(channel_type, TEXT_FIXTURE[channel_type])
        tries = forgeries(channel_type, body, await channel_secrets(app, channel["id"]))
        for headers in tries:
            r = await post(client, app, channel, body, headers=headers)
            assert r.status_code == 401, (channel_type, headers, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert await count(app, InboundEvent, InboundEvent.channel_id == uuid.UUID(channel["id"])) == 0, channel_type
        metrics = (await client.get("/metrics")).text
        line = f'souk_webhook_signature_failures_total{{channel_id="{channel["id"]}",channel_type="{channel_type}"}}'
        assert f"{line} {float(len(tries))}" in metrics, channel_type
        got = (await client.get(f"/api/v1/channels/{channel['id']}", headers=tenant.headers)).json()
        assert got["last_error"].startswith("webhook refused: "), (channel_type, got["last_error"])
        assert (await post(client, app, channel, body)).status_code == 200, channel_type


async def test_unknown_channel_is_404(client, app, make_channel):
    channel = await make_channel("telegram")
    r = await client.post(f"/webhooks/telegram/{'0' * 8}-0000-0000-0000-{'0' * 12}", content=b"{}")
    assert r.status_code == 404
    r = await client.post(f"/webhooks/whatsapp/{channel['id']}", content=b"{}")  # right id, wrong type
    assert r.status_code == 404
    r = await client.post("/webhooks/telegram/not-a-uuid", content=b"{}")
    assert r.status_code == 404


async def test_inactive_channel_is_acknowledged_and_ignored(client, app, make_channel, tenant):
    channel = await make_channel("whatsapp")
    await client.post(f"/api/v1/channels/{channel['id']}/deactivate", headers=tenant.headers)
    r = await post(client, app, channel, fixture("whatsapp", "text"))
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    async with app.state.db.system_session() as s:
        ev = await s.scalar(select(InboundEvent))
        raised = (await s.scalars(select(DomainEvent.event_type).where(DomainEvent.event_type.like("inbound%")))).all()
    assert ev.status == "ignored" and ev.error == "channel inactive or deleted" and await count(app, Message) == 0
    assert raised == ["inbound_event.ignored"]
    again = await post(client, app, channel, fixture("whatsapp", "text"))
    assert again.json()["status"] == "duplicate" and await count(app, InboundEvent) == 1


async def test_duplicate_delivery_twice_and_twenty_concurrently_is_one_message(client, app, make_channel):
    channel = await make_channel("whatsapp")
    body = fixture("whatsapp", "text")
    first = await post(client, app, channel, body)
    second = await post(client, app, channel, body)
    assert first.json()["status"] == "stored" and second.json()["status"] == "duplicate"
    other = fixture("whatsapp", "image")
    results = await asyncio.gather(*[post(client, app, channel, other) for _ in range(20)])
    assert all(r.status_code == 200 for r in results)
    assert sum(r.json()["status"] == "stored" for r in results) == 1
    await wait_idle(app)
    assert await count(app, InboundEvent) == 2
    assert await count(app, Message) == 2


async def test_same_message_in_different_envelopes_is_one_message(client, app, make_channel):
    """WAHA sends the same message as `message` and `message.any`; Meta may re-batch: dedup on the message id."""
    channel = await make_channel("waha")
    inbound = json.loads(fixture("waha", "message_any_inbound"))
    as_message = {**inbound, "event": "message", "id": "evt_other"}
    await post(client, app, channel, inbound)
    await post(client, app, channel, as_message)
    await wait_idle(app)
    assert await count(app, InboundEvent) == 2
    assert await count(app, Message) == 1


async def test_oversized_body_is_413(client, app, make_channel):
    channel = await make_channel("telegram")
    big = b'{"update_id": 1, "pad": "' + b"x" * (app.state.settings.max_body_bytes + 10) + b'"}'
    r = await post(client, app, channel, big)
    assert r.status_code == 413


async def test_meta_handshake(client, app, make_channel):
    channel = await make_channel("whatsapp")
    base = f"/webhooks/whatsapp/{channel['id']}"
    ok = await client.get(
        base, params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = await client.get(base, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert bad.status_code == 403
    tg = await make_channel("telegram")
    assert (await client.get(f"/webhooks/telegram/{tg['id']}")).status_code == 405


async def test_fixture_dirs_cover_every_platform():
    assert set(PLATFORMS) <= set(FIXTURE_DIRS)


async def test_a_waha_channel_without_an_hmac_key_takes_its_api_key_header(client, app, make_channel, tenant, fakes):
    """`webhookVerification: api_key`: Souk registers the key as a WAHA custom header, and a delivery carrying it
    is stored and processed; without it, or with another key, 401."""
    channel = await make_channel("waha")
    base = f"/api/v1/channels/{channel['id']}"
    r = await client.patch(base, headers=tenant.headers, json={"config": {"webhookVerification": "api_key"}})
    assert r.status_code == 200, r.text
    hooked = await client.post(f"{base}/configure-webhook", headers=tenant.headers, json={"webhook_url": "https://h"})
    assert hooked.status_code == 200, hooked.text
    key = (await channel_secrets(app, channel["id"]))["auth"]["apiKey"]
    # the fake's session is shared by the module's tests: other channels' hooks on it are kept, as on a real WAHA
    [hook] = [h for h in fakes["waha"].sessions["default"].config["webhooks"] if channel["id"] in h["url"]]
    assert hook["customHeaders"] == [{"name": "X-Api-Key", "value": key}] and "hmac" not in hook
    body = fixture("waha", "message_text")
    signed = sign("waha", body, await channel_secrets(app, channel["id"]))  # an HMAC does not replace the key
    for headers in ({"Content-Type": "application/json"}, signed, {"X-Api-Key": "guess"}):
        assert (await post(client, app, channel, body, headers=headers)).status_code == 401
    r = await post(client, app, channel, body, headers={"X-Api-Key": key, "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["status"] == "stored"
    await wait_idle(app)
    assert await count(app, Message) == 1
