"""Normalization through the whole stack: HTTP receiver → inbound_events → NATS → worker → rows, on both databases."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import nats
from sqlalchemy import select

from souk.channels.models import Channel
from souk.core.models import DomainEvent
from souk.crm.models import AdCampaign
from souk.messaging.models import ChannelIdentity, Conversation, Customer, DeferredUpdate, InboundEvent, Message
from souk.platforms.base import MessageSource
from tests.messaging.inbound import payloads as p
from tests.support.webhooks import fixture, post, wait_idle

T0 = 1722503523


async def rows(app, model, *where, order=None):
    async with app.state.db.system_session() as s:
        stmt = select(model).where(*where)
        if order is not None:
            stmt = stmt.order_by(order)
        return (await s.scalars(stmt)).all()


async def send(client, app, channel, *payloads):
    for body in payloads:
        r = await post(client, app, channel, body)
        assert r.status_code == 200, r.text
    await wait_idle(app)


async def test_text_message_makes_customer_identity_conversation_and_message(client, app, make_channel):
    ch = await make_channel("whatsapp")
    await send(client, app, ch, p.wa_text("wamid.A", "Hi! Is the linen shirt available?", T0))
    [msg] = await rows(app, Message)
    assert (msg.sender_id, msg.message_text, msg.direction, msg.message_type, msg.platform, msg.external_id) == (
        p.WA_CUSTOMER,
        "Hi! Is the linen shirt available?",
        "inbound",
        "text",
        "whatsapp",
        "wamid.A",
    )
    assert msg.timestamp == datetime.fromtimestamp(T0, UTC) and msg.message_source == MessageSource.direct_message
    [customer] = await rows(app, Customer)
    assert (customer.first_name, customer.last_name, customer.platform) == ("Kerry", "Fisher", "whatsapp")
    [identity] = await rows(app, ChannelIdentity)
    assert identity.external_id == p.WA_CUSTOMER and identity.customer_id == customer.id
    [conv] = await rows(app, Conversation)
    assert (conv.message_count, conv.thread_id, conv.customer_id) == (1, p.WA_CUSTOMER, customer.id)
    assert conv.last_inbound_at == msg.timestamp
    [channel] = await rows(app, Channel)
    assert channel.messages_received == 1 and channel.last_message_at is not None
    await send(client, app, ch, p.wa_text("wamid.B", "and in L?", T0 + 60))
    [conv] = await rows(app, Conversation)
    assert conv.message_count == 2 and len(await rows(app, Customer)) == 1


async def test_statuses_are_monotonic_and_may_arrive_before_their_message(client, app, make_channel):
    ch = await make_channel("whatsapp")
    # the read receipt arrives before the echo of the message it is about
    await send(client, app, ch, p.wa_status("wamid.OUT", "read", T0 + 30))
    await send(client, app, ch, p.wa_echo("wamid.OUT", "Yes, we have it", T0))
    [msg] = await rows(app, Message)
    assert msg.direction == "outbound" and msg.sent_by == "native_app" and msg.status == "read"
    # an old "delivered" arriving late does not move it back
    await send(client, app, ch, p.wa_status("wamid.OUT", "delivered", T0 + 10))
    [msg] = await rows(app, Message)
    assert msg.status == "read"
    await send(
        client,
        app,
        ch,
        p.wa_status("wamid.OUT", "failed", T0 + 40, errors=[{"code": 131047, "title": "Re-engagement message"}]),
    )
    [msg] = await rows(app, Message)
    assert msg.status == "failed" and msg.error_code == "131047" and "Re-engagement" in msg.error_message


async def test_message_interleaved_with_its_status_and_echo_is_one_message(client, app, make_channel):
    ch = await make_channel("whatsapp")
    bodies = [
        p.wa_echo("wamid.X", "hello", T0),
        p.wa_status("wamid.X", "delivered", T0 + 1),
        p.wa_echo("wamid.X", "hello", T0),
        p.wa_status("wamid.X", "sent", T0),
        p.wa_status("wamid.X", "delivered", T0 + 1),
    ]
    await asyncio.gather(*[post(client, app, ch, b) for b in bodies])
    await wait_idle(app)
    [msg] = await rows(app, Message)
    assert msg.status == "delivered"


async def test_reaction_edit_and_revoke(client, app, make_channel):
    ch = await make_channel("whatsapp")
    # the reaction is delivered before the message it reacts to
    await send(client, app, ch, p.wa_reaction("wamid.R1", "wamid.M", "👍", T0 + 5))
    await send(client, app, ch, p.wa_text("wamid.M", "price?", T0))
    [msg] = await rows(app, Message)
    assert [r["emoji"] for r in msg.reactions] == ["👍"]
    await send(client, app, ch, p.wa_reaction("wamid.R2", "wamid.M", "", T0 + 6))
    [msg] = await rows(app, Message)
    assert msg.reactions == []
    await send(client, app, ch, p.wa_edit("wamid.E", "wamid.M", "price of the jacket?", T0 + 7))
    [msg] = await rows(app, Message)
    assert msg.message_text == "price of the jacket?" and msg.edit_history[0]["text"] == "price?"
    assert msg.edited_at is not None
    await send(client, app, ch, p.wa_revoke("wamid.D", "wamid.M", T0 + 8))
    [msg] = await rows(app, Message)
    assert msg.deleted_at is not None and msg.message_text == "price of the jacket?"  # kept for the audit


async def test_a_page_comment_is_edited_and_removed_even_when_the_edit_comes_first(client, app, make_channel):
    """A Facebook comment's edit and removal land on its message like other platforms' edits and deletions:
    the first words kept in the edit history, the row kept when removed, ``message.updated`` for the inbox; an
    edit delivered before its comment waits for it; a redelivery changes nothing."""
    ch = await make_channel("messenger")
    await send(client, app, ch, p.fb_comment("900_1", "add", T0, "How much?"))
    edit = p.fb_comment("900_1", "edited", T0 + 60, "How much for two?")
    await send(client, app, ch, edit, p.fb_comment("900_1", "remove", T0 + 120))
    # the edit of another comment is delivered before the comment itself
    await send(client, app, ch, p.fb_comment("900_2", "edited", T0 + 90, "Size M please"))
    await send(client, app, ch, p.fb_comment("900_2", "add", T0 + 30, "Size L please"))
    await send(client, app, ch, json.loads(json.dumps(edit)) | {"resent": True})  # Meta's retry, a new body
    first, second = await rows(app, Message, order=Message.timestamp)
    assert (first.external_id, first.message_text, [h["text"] for h in first.edit_history]) == (
        "900_1",
        "How much for two?",
        ["How much?"],
    )
    assert first.edited_at is not None and first.deleted_at is not None and first.message_source == "post_comment"
    assert (second.external_id, second.message_text, [h["text"] for h in second.edit_history]) == (
        "900_2",
        "Size M please",
        ["Size L please"],
    )
    assert second.deleted_at is None and await rows(app, DeferredUpdate) == []
    updated = await rows(app, DomainEvent, DomainEvent.event_type == "message.updated")
    by_message = sorted(e.payload["message_id"] for e in updated)
    assert by_message == sorted([str(first.id), str(first.id), str(second.id)])  # edit + removal, one edit


async def test_messenger_watermarks_cover_every_earlier_message(client, app, make_channel):
    ch = await make_channel("messenger")
    ms = T0 * 1000
    await send(
        client,
        app,
        ch,
        p.fb_text("m_in", "hi", ms),
        p.fb_echo("m_1", "one", ms + 1000),
        p.fb_echo("m_2", "two", ms + 2000),
        p.fb_echo("m_3", "three", ms + 9000),
    )
    await send(client, app, ch, p.fb_delivery(ms + 5000))
    by_mid = {m.external_id: m for m in await rows(app, Message)}
    assert by_mid["m_1"].status == by_mid["m_2"].status == "delivered"
    assert by_mid["m_3"].status == "sent" and by_mid["m_in"].direction == "inbound"
    await send(client, app, ch, p.fb_read(ms + 9500))
    assert {m.status for m in await rows(app, Message, Message.direction == "outbound")} == {"read"}


async def test_echo_of_our_own_send_is_merged_not_duplicated(client, app, make_channel, tenant):
    ch = await make_channel("messenger")
    ms = T0 * 1000
    await send(client, app, ch, p.fb_text("m_in", "hi", ms))
    [inbound] = await rows(app, Message)
    ours = uuid.uuid4()
    async with app.state.db.tenant_session(tenant.id) as s:
        s.add(
            Message(
                id=ours,
                channel_id=inbound.channel_id,
                conversation_id=inbound.conversation_id,
                customer_id=inbound.customer_id,
                sender_id=p.PAGE_ID,
                recipient_id=p.PSID,
                message_text="Welcome!",
                direction="outbound",
                status="pending",
                timestamp=datetime.now(UTC),
                message_type="text",
                platform="messenger",
                sent_by="souk",
                reactions=[],
                edit_history=[],
                message_metadata={},
            )
        )
    await send(client, app, ch, p.fb_echo("m_ours", "Welcome!", ms + 1000, metadata=f"souk:{ours}"))
    outbound = await rows(app, Message, Message.direction == "outbound")
    assert len(outbound) == 1 and outbound[0].id == ours
    assert outbound[0].external_id == "m_ours" and outbound[0].status == "sent" and outbound[0].sent_by == "souk"


async def test_a_new_session_opens_after_the_channel_timeout(client, app, make_channel):
    ch = await make_channel("whatsapp", default_session_timeout_minutes=30)
    await send(client, app, ch, p.wa_text("wamid.1", "hi", T0), p.wa_text("wamid.2", "still there?", T0 + 600))
    assert len(await rows(app, Conversation)) == 1
    await send(client, app, ch, p.wa_text("wamid.3", "back again", T0 + 600 + 31 * 60))
    convs = await rows(app, Conversation, order=Conversation.started_at)
    assert [c.is_active for c in convs] == [False, True] and convs[1].message_count == 1
    assert len(await rows(app, Customer)) == 1


async def test_click_to_whatsapp_ad_fills_attribution_and_links_the_campaign(client, app, make_channel):
    ch = await make_channel("whatsapp")
    await send(client, app, ch, fixture("whatsapp", "referral_ad"))
    [msg] = await rows(app, Message)
    [ad] = await rows(app, AdCampaign)
    assert msg.message_source == "ad" and msg.ad_id == ad.id
    assert msg.message_metadata["attribution"]["ctwa_clid"]


async def test_telegram_start_payload_is_a_referral(client, app, make_channel):
    ch = await make_channel("telegram")
    await send(client, app, ch, p.tg_text(1, 10, "/start summer_sale", T0))
    [msg] = await rows(app, Message)
    assert msg.message_type == "command" and msg.message_source == "referral" and msg.referral_source == "summer_sale"


async def test_one_bad_event_keeps_its_siblings(client, app, make_channel):
    ch = await make_channel("whatsapp")
    await send(client, app, ch, fixture("whatsapp", "batch_with_malformed"))
    [event] = await rows(app, InboundEvent)
    assert event.status == "failed" and "KeyError: 'id'" in event.error and "KeyError: 'timestamp'" in event.error
    assert sorted(m.external_id for m in await rows(app, Message)) == ["wamid.BATCH1", "wamid.BATCH3", "wamid.BATCH4"]


async def test_malformed_json_is_kept_failed_and_replayable(client, app, make_channel, tenant):
    ch = await make_channel("telegram")
    r = await post(client, app, ch, b"{not json")
    assert r.status_code == 200
    await wait_idle(app)
    [event] = await rows(app, InboundEvent)
    assert event.status == "failed" and "unreadable" in event.error
    listed = (await client.get("/api/v1/inbound-events?status=failed", headers=tenant.headers)).json()
    assert listed["total"] == 1 and listed["items"][0]["error"]
    replay = await client.post(f"/api/v1/inbound-events/{event.id}/replay", headers=tenant.headers)
    assert replay.status_code == 202
    await wait_idle(app)
    [event] = await rows(app, InboundEvent)
    assert event.status == "failed" and event.attempts == 2


async def test_a_valid_envelope_of_an_unknown_kind_fails_visibly_and_replayably(client, app, make_channel, tenant):
    """Not `processed` in silence: the delivery fails with the kind it did not know, listed and replayable; a kind
    Souk knows and leaves alone is `ignored` with why."""
    ch = await make_channel("telegram")
    unknown = {"update_id": 990001, "guest_message": {"message_id": 5, "date": T0, "text": "hi"}}
    await send(client, app, ch, unknown, fixture("telegram", "business_connection"))
    listed = (await client.get("/api/v1/inbound-events?status=failed", headers=tenant.headers)).json()
    [failed] = listed["items"]
    assert "unknown Telegram update kind 'guest_message'" in failed["error"]
    ignored = (await client.get("/api/v1/inbound-events?status=ignored", headers=tenant.headers)).json()
    assert [e["error"] for e in ignored["items"]] == ["business_connection not used by Souk"]
    replay = await client.post(f"/api/v1/inbound-events/{failed['id']}/replay", headers=tenant.headers)
    assert replay.status_code == 202
    await wait_idle(app)
    again = (await client.get(f"/api/v1/inbound-events/{failed['id']}", headers=tenant.headers)).json()
    assert again["status"] == "failed" and again["attempts"] == 2 and "guest_message" in again["error"]
    assert await rows(app, Message) == []


async def test_domain_events_are_published(client, app, make_channel, tenant, nats_url):
    """Messages, conversations and customers, and every delivery's outcome: processed, failed, and ignored (by
    the worker, or at intake for an inactive channel)."""
    ch = await make_channel("telegram")
    off = await make_channel("whatsapp")
    await client.post(f"/api/v1/channels/{off['id']}/deactivate", headers=tenant.headers)
    nc = await nats.connect(nats_url)
    got: list[dict] = []

    async def on(msg):
        got.append(json.loads(msg.data))

    await nc.subscribe(f"souk.{tenant.id}.>", cb=on)
    unknown = {"update_id": 990002, "guest_message": {"message_id": 6, "date": T0}}
    await send(client, app, ch, p.tg_text(1, 10, "hello", T0), unknown, fixture("telegram", "business_connection"))
    assert (await post(client, app, off, fixture("whatsapp", "text"))).json()["status"] == "ignored"
    wanted = {
        "message.created",
        "conversation.created",
        "customer.created",
        "inbound_event.processed",
        "inbound_event.failed",
        "inbound_event.ignored",
    }
    for _ in range(100):
        outcomes = [e for e in got if e["type"].startswith("inbound_event.")]
        if wanted <= {e["type"] for e in got} and len(outcomes) >= 4:
            break
        await asyncio.sleep(0.1)
    await nc.close()
    assert wanted <= {e["type"] for e in got}
    by_channel = sorted(
        (e["type"], e["data"]["channel_id"] == off["id"], e["data"]["error"] or "")
        for e in got
        if e["type"].startswith("inbound_event.")
    )
    assert by_channel == [
        ("inbound_event.failed", False, "update:990002: unknown Telegram update kind 'guest_message'"),
        ("inbound_event.ignored", False, "business_connection not used by Souk"),
        ("inbound_event.ignored", True, "channel inactive or deleted"),
        ("inbound_event.processed", False, ""),
    ]


async def test_group_messages_keep_participant_and_group(client, app, make_channel):
    ch = await make_channel("waha")
    await send(client, app, ch, fixture("waha", "message_group"))
    [msg] = await rows(app, Message)
    [conv] = await rows(app, Conversation)
    assert conv.group and conv.thread_id.endswith("@g.us")
    assert msg.sender_id != conv.thread_id


async def test_each_telegram_forum_topic_is_a_conversation_and_replies_go_to_its_topic(
    client, app, make_channel, tenant, fakes
):
    """Two topics and the General thread of one forum: three conversations; a reply sent in one of them (no quote,
    no message_thread_id given) lands in that topic."""
    ch = await make_channel("telegram")
    other = json.loads(fixture("telegram", "message_forum_topic"))
    other["update_id"] += 100
    other["message"].update(message_id=90, message_thread_id=43, text="where is my refund?")
    del other["message"]["reply_to_message"]
    general = json.loads(fixture("telegram", "message_group"))
    general["update_id"] += 100
    general["message"]["chat"] = other["message"]["chat"]
    forum = fixture("telegram", "message_forum_topic")
    await send(client, app, ch, forum, fixture("telegram", "message_forum_reply"), other, general)
    convs = {c.external_thread_id: c for c in await rows(app, Conversation)}
    chat = "-1001555000111"
    assert sorted(convs) == [chat, f"{chat}/42", f"{chat}/43"]
    assert (convs[f"{chat}/42"].message_count, convs[f"{chat}/43"].message_count, convs[chat].message_count) == (
        2,
        1,
        1,
    )
    assert convs[f"{chat}/43"].group["topic_id"] == "43"

    r = await client.post(
        f"/api/v1/conversations/{convs[f'{chat}/43'].id}/messages", headers=tenant.headers, json={"text": "on it"}
    )
    assert r.status_code == 201, r.text
    for _ in range(200):
        posted = [m for m in fakes["telegram"].messages_in(chat) if m.get("text") == "on it"]
        if posted:
            break
        await asyncio.sleep(0.05)
    assert [m["message_thread_id"] for m in posted] == [43]
