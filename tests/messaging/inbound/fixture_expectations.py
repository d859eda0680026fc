"""What every documented fixture must leave in the database once posted through HTTP: one entry per fixture file.

A fixture is posted in the first round, or in the second (``late``) when it undoes or outranks another one (a
reaction removed, an old receipt arriving after a newer one, a watermark that must find the echoes already stored).
Updates whose target message is in no fixture wait in ``deferred_updates``; the sweep then lands each such target
(an echo or a message with that id, see :data:`LANDERS`) and the expectations are checked on the landed message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tests.messaging.inbound.payloads import tg_text, wa_echo
from tests.support.webhooks import fixture


@dataclass(frozen=True)
class Msg:
    """A message row, found by its ``external_id``; the named fields must match."""

    ext: str
    type: str
    dir: str = "inbound"
    by: str = "customer"
    src: str = "direct_message"
    reply_to: str | None = None
    ref: str | None = None  # referral_source
    ad: bool = False  # linked to an ad campaign
    post: bool = False  # linked to a post
    participant: str | None = None  # group sender kept in the message's group metadata
    thread: str | None = None  # the conversation's thread (chat, group, forum topic)
    media: str | None = None  # kind of its media row


@dataclass(frozen=True)
class Update:
    """What a reaction, edit, deletion or receipt did to its target message."""

    target: str
    reaction: str | None = None  # "" = no reaction left; else an emoji the target carries
    text: str | None = None  # the text after an edit
    was: str | None = None  # the text an edit replaced, kept in edit_history
    deleted: bool = False  # marked deleted, content kept
    status: str | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class Expect:
    outcome: str = "processed"  # the delivery's inbound_events.status
    reason: str | None = None  # part of inbound_events.error
    msgs: tuple[Msg, ...] = ()
    updates: tuple[Update, ...] = ()
    session: str | None = None  # WAHA: the session status written on the channel
    late: bool = False


def m(ext: str, type_: str, **fields: Any) -> Expect:
    return Expect(msgs=(Msg(ext, type_, **fields),))


def msgs(*items: Msg) -> Expect:
    return Expect(msgs=items)


def upd(target: str, **fields: Any) -> Expect:
    return Expect(updates=(Update(target, **fields),))


def ign(reason: str) -> Expect:
    return Expect(outcome="ignored", reason=reason)


def fail(reason: str, *items: Msg) -> Expect:
    return Expect(outcome="failed", reason=reason, msgs=items)


def late(expect: Expect) -> Expect:
    return replace(expect, late=True)


# -- WhatsApp Cloud API ---------------------------------------------------------------------------------------

W = "wamid.HBgLMTYzMTU1NTExODEVAgASGBQz"  # the common prefix of the customer's message ids
W_OURS = "wamid.HBgLMTYzMTU1NTExODEVAgARGBJBQkNERUYxMjM0NTY3ODkwAA=="  # one of our sends: receipts, a reaction
W_ECHO = "wamid.HBgLMTYzMTU1NTExODEVAgARGBJFQ0hPMDAwMDAwMDAwMDAwMDAA"
W_TEXT = f"{W}QTRBNjVFNzZBQ0YyMDM0MkE1NwA="
W_IMAGE = f"{W}QUJDMTIzNDU2Nzg5MDEyMzQ1NgA="
W_FAILED = "wamid.HBgLMTYzMTU1NTExODEVAgARGBJGQUlMRUQwMDAwMDAwMDAwMDAA"
W_VOICE_NOTE = "wamid.HBgLMTYzMTU1NTExODEVAgARGBJWT0lDRU5PVEUwMDAwMDAwMDAA"

WHATSAPP: dict[str, Expect] = {
    "account_update": ign("account_update is not a conversation field"),
    "audio": m(f"{W}QUFVRElPMDAwMDAwMDAwMDAxAA==", "audio", media="audio"),
    "batch_with_malformed": fail(
        "KeyError: 'id'",
        Msg("wamid.BATCH1", "text"),
        Msg("wamid.BATCH3", "text"),
        Msg("wamid.BATCH4", "text", thread="84912345678"),
    ),
    "button": m(
        f"{W}QUJVVFRPTjAwMDAwMDAwMDAwMDAxAA==",
        "interactive",
        reply_to="wamid.HBgLMTYzMTU1NTExODEVAgARGBJURU1QTEFURTAwMDAwMDAwMDAA",
    ),
    "contacts": m(f"{W}QUNPTlRBQ1RTMDAwMDAwMDAxAA==", "contacts"),
    "document": m(f"{W}QURPQzAwMDAwMDAwMDAwMDAxAA==", "document", media="document"),
    "edit": upd(
        W_TEXT, text="Hi! Is the linen shirt still available in L?", was="Hi! Is the linen shirt still available in M?"
    ),
    "forwarded": m(f"{W}QUZPUldBUkRFRDAwMDAwMDAwMDAxAA==", "text"),
    "image": m(W_IMAGE, "image", media="image"),
    "interactive_button_reply": m(f"{W}QUJVVFRPTlJFUExZMDAwMDAxAA==", "interactive", reply_to=W_OURS),
    "interactive_list_reply": m(f"{W}QUxJU1RSRVBMWTAwMDAwMDAxAA==", "interactive"),
    "interactive_nfm_reply": m(f"{W}QU5GTVJFUExZMDAwMDAwMDAxAA==", "interactive"),
    "interactive_without_body": m(f"{W}QUlOVEVSQUNUSVZFRVJSMDAwMDAxAA==", "unsupported"),
    "location": m(f"{W}QUxPQ0FUSU9OMDAwMDAwMDAxAA==", "location"),
    "message_template_status_update": ign("message_template_status_update is not a conversation field"),
    "order": m(f"{W}QU9SREVSMDAwMDAwMDAwMDAwMDAxAA==", "order"),
    "reaction": upd(W_OURS, reaction="\u2764\ufe0f"),
    "reaction_removed": late(upd(W_OURS, reaction="")),
    "referral_ad": m(f"{W}QVJFRkVSUkFMQUQwMDAwMDAwMDAxAA==", "text", src="ad", ref="https://fb.me/3cr4Wqqkv", ad=True),
    "referral_post": m(
        f"{W}QVJFRkVSUkFMUE9TVDAwMDAwMDAxAA==",
        "text",
        src="post",
        ref="https://www.facebook.com/soukshop/posts/987654321",
        post=True,
    ),
    "reply": m(f"{W}QVJFUExZMDAwMDAwMDAwMDAwMDAxAA==", "text", reply_to=W_OURS),
    "request_welcome": m(f"{W}QVdFTENPTUUwMDAwMDAwMDAwMDAxAA==", "system"),
    "revoke": upd(W_IMAGE, deleted=True),
    "smb_message_echo_edit": upd(
        W_ECHO, text="Yes we ship to Da Nang, 1-2 days", was="Yes we ship to Da Nang, 2 days", deleted=True
    ),
    "smb_message_echo_revoke": upd(W_ECHO, deleted=True),
    "smb_message_echo_text": m(W_ECHO, "text", dir="outbound", by="native_app"),
    # two receipts: our send (landed) and one from the batch fixture's sibling
    "status_delivered": upd(W_OURS, status="read"),
    "status_failed": upd(W_FAILED, status="failed", error_code="131047"),
    "status_played": upd(W_VOICE_NOTE, status="played"),
    "status_read": upd(W_OURS, status="read"),
    "status_sent": late(upd(W_OURS, status="read")),  # arrives after `read`: monotonic, it changes nothing
    "sticker": m(f"{W}QVNUSUNLRVIwMDAwMDAwMDAxAA==", "sticker", media="sticker"),
    "system_user_changed_number": m(f"{W}QVNZU1RFTTAwMDAwMDAwMDAwMDAxAA==", "system"),
    "text": m(W_TEXT, "text", thread="16315551181"),
    "unsupported": m(f"{W}QVVOU1VQUE9SVEVEMDAwMDAwMDAxAA==", "unsupported"),
    "video": m(f"{W}QVZJREVPMDAwMDAwMDAwMDAxAA==", "video", media="video"),
    "voice": m(f"{W}QVZPSUNFMDAwMDAwMDAwMDAxAA==", "voice", media="voice"),
}

# -- WAHA -----------------------------------------------------------------------------------------------------

WA_CHAT = "15551234567@c.us"
WA_OURS = f"true_{WA_CHAT}_3EB0A1B2C3D4E5F60718"  # our send through WAHA (the `source: api` echo)
WA_TEXT = f"false_{WA_CHAT}_3EB0C767D26A1D8E7F41"
WA_GROUP = "120363041234567890@g.us"

WAHA: dict[str, Expect] = {
    "call_received": ign("WAHA call.received not used"),
    "message_ack": upd(WA_OURS, status="read"),
    "message_ack_failed": late(upd(WA_OURS, status="failed")),
    "message_ack_group": upd(f"true_{WA_GROUP}_3EB0GRP0000000000001", status="delivered"),
    "message_any_from_me_api": m(WA_OURS, "text", dir="outbound", by="souk"),
    "message_any_from_me_app": m(f"true_{WA_CHAT}_3A9F00112233445566AA", "text", dir="outbound", by="native_app"),
    "message_any_inbound": m(WA_TEXT, "text", thread=WA_CHAT),  # the same message as `message_text`: one row
    "message_document": m(f"false_{WA_CHAT}_3EB0DOC0000000000001", "document", media="document"),
    "message_edited": upd(
        WA_TEXT, text="Hi, is the red jacket still available?", was="Hi, is the blue jacket still available?"
    ),
    "message_group": m(
        f"false_{WA_GROUP}_3EB0FF00112233445566", "text", participant="15557654321@c.us", thread=WA_GROUP
    ),
    "message_image": m(f"false_{WA_CHAT}_3EB0IMG0000000000001", "image", media="image"),
    "message_location": m(f"false_{WA_CHAT}_3EB0LOC0000000000001", "location"),
    "message_malformed": fail("message: ValueError: not an id"),
    "message_media_not_downloaded": m(f"false_{WA_CHAT}_3EB0VID0000000000001", "video", media="video"),
    "message_newsletter": ign("@newsletter is a status/broadcast/newsletter chat"),
    "message_reaction": upd(WA_OURS, reaction="\U0001f64f"),
    "message_reaction_removed": late(upd(WA_OURS, reaction="")),
    "message_reply": m(f"false_{WA_CHAT}_3EB0REP0000000000001", "text", reply_to=WA_OURS),
    "message_revoked": upd(WA_TEXT, deleted=True),
    "message_status_broadcast": ign("status@broadcast is a status/broadcast/newsletter chat"),
    "message_text": m(WA_TEXT, "text"),
    "message_unsupported": m(f"false_{WA_CHAT}_3EB0POL0000000000001", "unsupported"),
    "message_vcard": m(f"false_{WA_CHAT}_3EB0VCF0000000000001", "contacts"),
    "message_voice": m(f"false_{WA_CHAT}_3EB0PTT0000000000001", "voice", media="voice"),
    "presence_update": Expect(),  # the customer typing: a live signal, nothing stored
    "session_status_scan_qr": Expect(session="SCAN_QR_CODE"),
    "session_status_working": late(Expect(session="WORKING")),
}

# -- Telegram -------------------------------------------------------------------------------------------------

TG = "5012345678"
TG_BIZ = f"{TG}@AQADBQADc2xvd2Jvb2tzAAEBAAAA"  # a chat through a business connection
TG_GROUP = "-1001987654321"
TG_FORUM = "-1001555000111"
TG_TEXT = "مرحبا، أريد شراء المنتج"
TG_EDITED = "مرحبا، أريد شراء المنتجين"

TELEGRAM: dict[str, Expect] = {
    "business_connection": ign("business_connection not used by Souk"),
    "business_message": m(f"{TG_BIZ}:9001", "text", thread=TG_BIZ),
    "business_message_bot": m(f"{TG_BIZ}:9003", "text", dir="outbound", by="souk"),
    "business_message_owner": m(f"{TG_BIZ}:9002", "text", dir="outbound", by="native_app", reply_to=f"{TG_BIZ}:9001"),
    "callback_query": m("cb:4382bfdwdsb323b2d9", "callback", reply_to=f"{TG}:1191"),
    "callback_query_inline": m("cb:4382bfdwdsb323b2e0", "callback"),
    "channel_post": m("-1001444333222:88", "post", media="image", thread="-1001444333222"),
    "deleted_business_messages": Expect(
        updates=(Update(f"{TG_BIZ}:9001", deleted=True), Update(f"{TG_BIZ}:9002", deleted=True))
    ),
    "edited_business_message": upd(f"{TG_BIZ}:9001", text="Hi, is the black jacket available?"),
    "edited_channel_post": upd("-1001444333222:88", text="Winter jacket for sale - 450 EGP"),
    "edited_message": upd(f"{TG}:1201", text=TG_EDITED, was=TG_TEXT),
    "message_animation": m(f"{TG}:1210", "video", media="video"),
    "message_audio": m(f"{TG}:1206", "audio", media="audio"),
    "message_command": m(f"{TG_GROUP}:1203", "command", participant=TG, thread=TG_GROUP),
    "message_command_start": m(f"{TG}:1202", "command", src="referral", ref="ad_summer24"),
    "message_contact": m(f"{TG}:1214", "contacts"),
    "message_dice": m(f"{TG}:1216", "unsupported"),
    "message_document": m(f"{TG}:1209", "document", media="document"),
    # a forum topic is a conversation of its own (the chat and the topic's message_thread_id)
    "message_forum_reply": m(
        f"{TG_FORUM}:78", "text", reply_to=f"{TG_FORUM}:77", participant=TG, thread=f"{TG_FORUM}/42"
    ),
    "message_forum_topic": m(f"{TG_FORUM}:77", "text", participant=TG, thread=f"{TG_FORUM}/42"),
    "message_forwarded": m(f"{TG}:1217", "text"),
    "message_from_bot": m(f"{TG_GROUP}:1220", "text", by="bot", participant="6100200300"),
    "message_group": m(f"{TG_GROUP}:1219", "text", participant=TG, thread=TG_GROUP),
    "message_location": m(f"{TG}:1212", "location"),
    "message_new_chat_members": ign("service message: new_chat_members"),
    "message_photo": m(f"{TG}:1204", "image", media="image"),
    "message_poll": m(f"{TG}:1215", "unsupported"),
    "message_reaction": upd(f"{TG}:1190", reaction="\u2764"),
    "message_reaction_removed": late(upd(f"{TG}:1190", reaction="")),
    "message_reply": m(f"{TG}:1218", "text", reply_to=f"{TG}:1190"),
    "message_sticker": m(f"{TG}:1211", "sticker", media="sticker"),
    "message_text": m(f"{TG}:1201", "text", thread=TG),
    "message_venue": m(f"{TG}:1213", "location"),
    "message_video": m(f"{TG}:1207", "video", media="video"),
    "message_video_note": m(f"{TG}:1208", "video", media="video"),
    "message_voice": m(f"{TG}:1205", "voice", media="voice"),
    "my_chat_member_kicked": ign(f"my_chat_member in chat {TG}: member -> kicked"),
}

# -- Messenger ------------------------------------------------------------------------------------------------

FB_PAGE = "1067280970047460"
FB_PSID = "6857413490973921"
FB_COMMENT = "912345678901234_1188220453377201"
FB_TEXT = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"

MESSENGER: dict[str, Expect] = {
    "audio": m("m_AUDIO0001", "audio", media="audio"),
    "batch_with_malformed": fail(
        "sender has neither id nor user_ref", Msg("m_BATCH1", "text"), Msg("m_BATCH4", "text")
    ),
    "chat_plugin_user_ref": m("m_PLUGIN0001", "text", thread="ref-2b6f0c8a"),
    "dashboard_test": m("test_message_id", "text"),
    "dashboard_test_in_changes": m("postback:12334:1527459824", "interactive"),
    "delivery": Expect(updates=(Update("m_OUT0001", status="delivered"), Update("m_OUT0002", status="delivered"))),
    "echo_native_app": m("m_ECHONATIVE0001", "text", dir="outbound", by="native_app"),
    "echo_other_app": m("m_ECHOOTHER0001", "interactive", dir="outbound", by="other_app"),
    "echo_souk": m("m_ECHOSOUK0001", "text", dir="outbound", by="souk"),
    "fallback": m("m_FALLBACK0001", "share"),
    "feed_change": ign("feed reaction add is not a conversation event"),
    # a comment under a Page post opens the commenter's conversation, attributed to the post
    "feed_comment": m(FB_COMMENT, "text", src="post_comment", post=True, thread="7241998374650012"),
    "feed_comment_by_page": ign("the Page's own comment"),
    # its author edits it, then removes it: the same message, with the first words in its edit history
    "feed_comment_edited": upd(
        FB_COMMENT, text="How much is the brown bag in size M?", was="How much is the brown bag?"
    ),
    "feed_comment_hidden": ign("feed comment hide is not a conversation event"),  # still there, seen by its author
    "feed_comment_removed": upd(FB_COMMENT, deleted=True),
    "file": m("m_FILE0001", "document", media="document"),
    "image": m("m_IMAGE0001", "image", media="image"),
    "location": m("m_LOCATION0001", "location"),
    "message_edit": upd(FB_TEXT, text="Hello, do you have this bag in brown?"),
    "message_with_ad_referral": m("m_ADREF0001", "text", src="ad", ref="bag-campaign", ad=True, post=True),
    "optin": ign("optin event"),
    "postback": m("m_POSTBACK0001", "interactive"),
    "postback_get_started_with_referral": m(
        f"postback:{FB_PSID}:1722503536000", "interactive", src="referral", ref="summer-sale"
    ),
    "quick_reply": m("m_QUICKREPLY0001", "interactive"),
    "reaction": upd("m_OURPHOTO0001", reaction="\u2764\ufe0f"),
    # the watermark covers every earlier outbound message: the echoes and the landed sends
    "read": late(
        Expect(
            updates=(
                Update("m_ECHONATIVE0001", status="read"),
                Update("m_ECHOOTHER0001", status="read"),
                Update("m_ECHOSOUK0001", status="read"),
                Update("m_OUT0001", status="read"),
            )
        )
    ),
    "referral_ads": m(f"referral:{FB_PSID}:1722503538000", "system", src="ad", ref="bag-campaign", ad=True, post=True),
    "referral_shortlink": m(f"referral:{FB_PSID}:1722503537000", "system", src="referral", ref="qr-store-front"),
    "reply_to": m("m_REPLY0001", "text", reply_to="m_OURPHOTO0001"),
    "standby": m("m_STANDBY0001", "text"),
    "sticker": m("m_STICKER0001", "sticker", media="sticker"),
    "text": m(FB_TEXT, "text", thread=FB_PSID),
    "unreaction": late(upd("m_OURPHOTO0001", reaction="")),
    "video": m("m_VIDEO0001", "video", media="video"),
}

# -- Instagram ------------------------------------------------------------------------------------------------

IG_TEXT = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI2MDAxNTI5"
    "NzgzNjI2NzU4OQZDZD"
)
IG_CDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="

INSTAGRAM: dict[str, Expect] = {
    "ad_referral": m("aWdf_ADREF01", "text", src="ad", ref="ring-ad", ad=True),
    "batch_with_malformed": fail(
        "read receipt has neither mids, mid nor watermark",
        Msg("aWdf_B1", "text"),
        Msg("aWdf_B3", "text"),
        Msg("1787", "text", src="post_comment", post=True),
    ),
    "comment": m("17865799348089039", "text", src="post_comment", post=True),
    "comment_in_entry": m("17865799348089041", "text", src="post_comment", post=True),
    "comment_reply_by_account": ign("the account's own comment"),
    "deleted": upd("aWdf_IMAGE01", deleted=True),
    "echo": m("aWdf_ECHO01", "text", dir="outbound", by="souk"),
    "echo_native_app": m("aWdf_ECHO02", "text", dir="outbound", by="native_app"),
    "ig_post": m("aWdf_POST01", "share"),
    "ig_reel": m("aWdf_REEL01", "share"),
    "image": m("aWdf_IMAGE01", "image", media="image"),
    "mentions": ign("mentions carry only a media and comment id, no author to answer"),  # decision 0029
    "message_edit": upd(IG_TEXT, text="How much is the ring in your last post?"),
    "postback_icebreaker": m("aWdf_POSTBACK01", "interactive"),
    "quick_reply": m("aWdf_QR01", "interactive"),
    "reaction": upd("aWdf_ECHO01", reaction="\u2764\ufe0f"),
    "referral_igme": m("referral:1254459154682919:1722503537000", "system", src="referral", ref="bio-link"),
    "reply_to": m("aWdf_REPLY01", "text", reply_to="aWdf_OURS01"),
    "seen": late(upd("aWdf_ECHO01", status="read")),
    "share": m("aWdf_SHARE01", "share"),
    "story_mention": m("aWdf_MENTION01", "story_mention", src="story", ref=f"{IG_CDN}17850000&signature=jkl"),
    "story_reply": m("aWdf_STORYREPLY01", "story_reply", src="story", ref=f"{IG_CDN}17860000&signature=mno", post=True),
    "text": m(IG_TEXT, "text", thread="1254459154682919"),
    "unreaction": late(upd("aWdf_ECHO01", reaction="")),
    "unsupported": m("aWdf_GIF01", "unsupported"),
}

# -- TikTok ---------------------------------------------------------------------------------------------------

TT_THREAD = "0:1:7000000000000000001:7311234567890123456"

TIKTOK: dict[str, Expect] = {
    "im_mark_read_msg": late(upd("v2:msg-7311-0007", status="read")),  # a watermark after the echo's time
    "im_mark_read_msg_by_business": ign("the business read the conversation"),
    "im_receive_msg_content_object": m("v2:msg-7311-0006", "text"),
    "im_receive_msg_image": m("v2:msg-7311-0003", "image", media="image"),
    "im_receive_msg_reply": m("v2:msg-7311-0002", "text", reply_to="v2:msg-7311-0000"),
    "im_receive_msg_share_post": m(
        "v2:msg-7311-0004", "share", src="post", ref="https://www.tiktok.com/embed/v2/7311000000000000004"
    ),
    "im_receive_msg_sticker": m("v2:msg-7311-0005", "unsupported"),
    "im_receive_msg_text": m("v2:msg-7311-0001", "text", thread=TT_THREAD),
    "im_send_msg": m("v2:msg-7311-0007", "text", dir="outbound", by="native_app"),
    "tiktok_ping": ign("tiktok.ping not used"),
}

EXPECTED: dict[str, dict[str, Expect]] = {
    "whatsapp": WHATSAPP,
    "waha": WAHA,
    "telegram": TELEGRAM,
    "messenger": MESSENGER,
    "instagram": INSTAGRAM,
    "tiktok": TIKTOK,
}


# -- landing the targets no fixture carries: a business-side message with that id ---------------------------


def _whatsapp(target: str, n: int) -> dict[str, Any]:
    return wa_echo(target, f"landed {n}", 1722503000 + n)


def _messenger(target: str, n: int) -> dict[str, Any]:
    echo = {
        "sender": {"id": FB_PAGE},
        "recipient": {"id": FB_PSID},
        "timestamp": 1722503500000 + n,  # before the read watermark
        "message": {"mid": target, "is_echo": True, "text": f"landed {n}"},
    }
    return {"object": "page", "entry": [{"id": FB_PAGE, "time": 1722503500000 + n, "messaging": [echo]}]}


def _telegram(target: str, n: int) -> dict[str, Any]:
    chat, message_id = target.rsplit(":", 1)
    return tg_text(874199000 + n, int(message_id), f"landed {n}", 1732449000, chat_id=int(chat))


def _waha(target: str, n: int) -> dict[str, Any]:
    envelope = json.loads(fixture("waha", "message_any_from_me_app"))
    chat = target.split("_")[1]
    envelope["id"] = f"evt_landed_{n:04d}"
    envelope["payload"].update(id=target, to=chat, body=f"landed {n}")
    return envelope


LANDERS: dict[str, Callable[[str, int], dict[str, Any]]] = {
    "whatsapp": _whatsapp,
    "messenger": _messenger,
    "telegram": _telegram,
    "waha": _waha,
}
