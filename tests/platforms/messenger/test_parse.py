"""Messenger webhook payloads (one fixture per event kind) parsed into canonical events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from souk.platforms.base import (
    Deletion,
    DeliveryStatus,
    Edit,
    Event,
    Ignored,
    Media,
    Message,
    MessageSource,
    MessageType,
    ParseError,
    ParseFailure,
    Reaction,
    SentBy,
    StatusUpdate,
    UnknownKind,
)
from souk.platforms.messenger import PLATFORM
from souk.platforms.messenger.parse import parse_body

FIXTURES = Path(__file__).parent / "fixtures"
PAGE = "1067280970047460"
PSID = "6857413490973921"
OUR_APP = "1517386205634512"
T0 = 1722503523000


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def parse(name: str) -> list[Event]:
    return PLATFORM.parse(body(name), {})


def one(name: str) -> Any:
    events = parse(name)
    assert len(events) == 1, events
    return events[0]


def at(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def test_text_message() -> None:
    message = one("text")
    assert isinstance(message, Message)
    mid = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
    assert message.key == message.external_id == mid
    assert message.thread_id == message.sender.external_id == PSID
    assert message.recipient_id == PAGE
    assert (message.message_type, message.text) == (MessageType.text, "Hello, do you have this bag in black?")
    assert message.timestamp == at(T0)
    assert (message.direction, message.sent_by, message.echo_marker) == ("inbound", SentBy.customer, None)
    assert message.raw["message"]["mid"] == mid


def test_images_keep_every_attachment() -> None:
    message = one("image")
    assert message.message_type is MessageType.image
    assert message.media == [
        Media(kind="image", url="https://scontent.xx.fbcdn.net/v/t1.15752-9/image.jpg?_nc_cat=1"),
        Media(kind="image", url="https://scontent.xx.fbcdn.net/v/t1.15752-9/image2.jpg?_nc_cat=1"),
    ]


def test_sticker() -> None:
    message = one("sticker")
    assert message.message_type is MessageType.sticker
    assert [m.kind for m in message.media] == ["sticker"]
    assert message.metadata == {"sticker_id": "369239263222822"}


def test_audio() -> None:
    message = one("audio")
    assert message.message_type is MessageType.audio
    assert message.media == [Media(kind="audio", url="https://cdn.fbsbx.com/v/t59.3654-21/audioclip.mp4")]


def test_video_with_text_is_a_video_captioned_by_the_text() -> None:
    message = one("video")
    assert message.message_type is MessageType.video
    assert message.text == "look at the stitching"


def test_file_is_a_document() -> None:
    message = one("file")
    assert message.message_type is MessageType.document
    assert message.media[0].kind == "document"


def test_location() -> None:
    message = one("location")
    assert message.message_type is MessageType.location
    assert message.location == {
        "latitude": 21.0285,
        "longitude": 105.8542,
        "name": "Pinned Location",
        "url": "https://l.facebook.com/l.php?u=maps",
    }


def test_fallback_link_is_a_share() -> None:
    message = one("fallback")
    assert message.message_type is MessageType.share
    assert message.metadata == {
        "shares": [{"type": "fallback", "title": "Summer sale", "url": "https://shop.example.com/sale"}]
    }


def test_quick_reply_is_interactive() -> None:
    message = one("quick_reply")
    assert message.message_type is MessageType.interactive
    assert message.interactive == {"type": "quick_reply", "title": "Black", "payload": "COLOUR_BLACK"}
    assert message.text == "Black"


def test_reply_to() -> None:
    assert one("reply_to").reply_to == "m_OURPHOTO0001"


def test_first_message_after_an_ad_carries_the_attribution() -> None:
    attribution = one("message_with_ad_referral").attribution
    assert attribution is not None
    assert attribution.source is MessageSource.ad
    assert (attribution.ad_id, attribution.ref, attribution.headline) == (
        "23851234567890123",
        "bag-campaign",
        "Leather bags",
    )
    assert attribution.post_id == "1067280970047460_123456789"
    assert attribution.source_url == "https://scontent.example.com/ad.jpg"


def test_echo_with_our_marker_is_souk() -> None:
    message = one("echo_souk")
    assert (message.direction, message.sent_by) == ("outbound", SentBy.souk)
    assert message.echo_marker == "souk:out_01J5ZK"
    assert message.thread_id == message.recipient_id == PSID
    assert message.sender.external_id == PAGE
    assert message.metadata == {"app_id": OUR_APP}


def test_echo_without_app_id_is_typed_in_meta_apps() -> None:
    message = one("echo_native_app")
    assert (message.direction, message.sent_by, message.echo_marker) == ("outbound", SentBy.native_app, None)
    assert message.thread_id == PSID


def test_echo_from_another_app() -> None:
    message = one("echo_other_app")
    assert (message.direction, message.sent_by) == ("outbound", SentBy.other_app)
    assert message.echo_marker == "263902037430900"
    assert message.message_type is MessageType.interactive
    assert message.text == "Track your order"
    assert message.interactive["template"]["template_type"] == "button"


def test_echo_with_our_app_id_is_souk_when_the_app_id_is_known() -> None:
    raw = json.loads(body("echo_other_app"))
    raw["entry"][0]["messaging"][0]["message"]["app_id"] = int(OUR_APP)
    (message,) = parse_body(json.dumps(raw).encode(), our_app_id=OUR_APP)
    assert message.sent_by is SentBy.souk
    (message,) = parse_body(body("echo_other_app"), our_app_id=OUR_APP)
    assert message.sent_by is SentBy.other_app


def test_postback_is_interactive() -> None:
    message = one("postback")
    assert message.key == message.external_id == "m_POSTBACK0001"
    assert message.message_type is MessageType.interactive
    assert message.interactive == {"type": "postback", "title": "Buy now", "payload": "BUY_SKU_42"}
    assert message.text == "Buy now"
    assert message.attribution is None


def test_get_started_postback_with_referral_and_no_mid() -> None:
    message = one("postback_get_started_with_referral")
    assert message.external_id == f"postback:{PSID}:{T0 + 13000}"
    assert message.interactive["payload"] == "GET_STARTED"
    assert message.attribution is not None
    assert (message.attribution.source, message.attribution.ref) == (MessageSource.referral, "summer-sale")


def test_standalone_shortlink_referral_is_a_system_message_with_attribution() -> None:
    message = one("referral_shortlink")
    assert message.key == message.external_id == f"referral:{PSID}:{T0 + 14000}"
    assert (message.message_type, message.text) == (MessageType.system, None)
    assert message.attribution.source is MessageSource.referral
    assert message.attribution.ref == "qr-store-front"
    assert message.attribution.raw == {"ref": "qr-store-front", "source": "SHORTLINK", "type": "OPEN_THREAD"}


def test_standalone_ad_referral() -> None:
    attribution = one("referral_ads").attribution
    assert attribution.source is MessageSource.ad
    assert attribution.ad_id == "23851234567890123"
    assert attribution.source_url == "https://video.example.com/ad.mp4"


def test_reaction() -> None:
    reaction = one("reaction")
    assert isinstance(reaction, Reaction)
    assert reaction.key == f"reaction:m_OURPHOTO0001:{PSID}:react:{T0 + 16000}"
    assert (reaction.target_external_id, reaction.emoji, reaction.thread_id) == ("m_OURPHOTO0001", "\u2764\ufe0f", PSID)


def test_unreact_removes_the_reaction() -> None:
    reaction = one("unreaction")
    assert reaction.emoji is None
    assert reaction.key.endswith(f":unreact:{T0 + 17000}")


def test_delivery_gives_one_update_per_mid_and_the_watermark() -> None:
    first, second, watermark = parse("delivery")
    assert all(isinstance(e, StatusUpdate) and e.status is DeliveryStatus.delivered for e in (first, second))
    assert [first.key, second.key] == ["status:m_OUT0001:delivered", "status:m_OUT0002:delivered"]
    assert (first.target_external_id, first.thread_id) == ("m_OUT0001", PSID)
    assert watermark.key == f"delivered:{PSID}:{T0 + 18000}"
    assert watermark.watermark == watermark.timestamp == at(T0 + 18000)  # the delivery's timestamp is 0
    assert watermark.target_external_id is None
    assert first.timestamp == at(T0 + 18000)


def test_read_watermark() -> None:
    update = one("read")
    assert isinstance(update, StatusUpdate)
    assert (update.status, update.watermark, update.timestamp) == (DeliveryStatus.read, at(T0 + 19000), at(T0 + 19500))
    assert update.key == f"read:{PSID}:{T0 + 19000}"
    assert update.thread_id == PSID


def test_message_edit() -> None:
    edit = one("message_edit")
    assert isinstance(edit, Edit)
    assert edit.target_external_id.startswith("m_AG5Hz2Uq")
    assert edit.new_text == "Hello, do you have this bag in brown?"
    assert edit.key == f"edit:{edit.target_external_id}:1"


def test_standby_messages_are_kept_and_flagged() -> None:
    message = one("standby")
    assert message.external_id == "m_STANDBY0001"
    assert message.metadata == {"standby": True}


def test_dashboard_test_payload_is_stored_without_crashing() -> None:
    message = one("dashboard_test")
    assert isinstance(message, Message)
    assert (message.external_id, message.text, message.thread_id) == ("test_message_id", "test_message", "12334")
    assert message.timestamp == datetime.fromtimestamp(1527459824, UTC)


def test_dashboard_test_payload_inside_changes() -> None:
    message = one("dashboard_test_in_changes")
    assert message.interactive == {"type": "postback", "title": "TITLE-FOR-THE-CTA", "payload": "USER-DEFINED-PAYLOAD"}


def test_page_feed_change_is_ignored() -> None:
    event = one("feed_change")
    assert isinstance(event, Ignored)
    assert event.key.startswith("change:feed:")
    assert event.reason == "feed reaction add is not a conversation event"


def test_comment_on_a_page_post_is_a_message_attributed_to_the_post() -> None:
    message = one("feed_comment")
    assert isinstance(message, Message)
    comment_id, post_id, author = (
        "912345678901234_1188220453377201",
        "1067280970047460_912345678901234",
        "7241998374650012",
    )
    assert (message.key, message.external_id) == (f"comment:{comment_id}", comment_id)
    assert message.thread_id == message.sender.external_id == author
    assert message.sender.name == "Lan Nguyen"
    assert (message.message_type, message.text) == (MessageType.text, "How much is the brown bag?")
    assert message.timestamp == datetime.fromtimestamp(1722503538, UTC)
    assert message.attribution is not None
    attribution = message.attribution
    assert (attribution.source, attribution.post_id, attribution.comment_id) == (
        MessageSource.post_comment,
        post_id,
        comment_id,
    )
    assert message.metadata == {"field": "feed"}  # a top-level comment: its parent is the post


def test_the_pages_own_comment_is_ignored() -> None:
    event = one("feed_comment_by_page")
    assert isinstance(event, Ignored) and event.reason == "the Page's own comment"


def test_an_edited_comment_is_an_edit_of_its_message() -> None:
    event = one("feed_comment_edited")
    assert isinstance(event, Edit)
    assert (event.target_external_id, event.thread_id, event.new_text) == (
        "912345678901234_1188220453377201",
        "7241998374650012",
        "How much is the brown bag in size M?",
    )
    assert event.timestamp == datetime.fromtimestamp(1722503600, UTC)  # the notification's, not the comment's
    assert event.key == one("feed_comment_edited").key  # a retry is the same edit


def test_a_removed_comment_is_a_deletion_of_its_message() -> None:
    event = one("feed_comment_removed")
    assert isinstance(event, Deletion)
    assert (event.target_external_id, event.thread_id, event.key) == (
        "912345678901234_1188220453377201",
        "7241998374650012",
        "comment-remove:912345678901234_1188220453377201",
    )


@pytest.mark.parametrize("verb", ["edited", "remove"])
def test_edits_and_removals_of_the_pages_own_comments_are_ignored(verb: str) -> None:
    value = {"item": "comment", "verb": verb, "post_id": "1_2", "comment_id": "2_3", "from": {"id": PAGE}}
    raw = {
        "object": "page",
        "entry": [{"id": PAGE, "time": 1722503540, "changes": [{"field": "feed", "value": value}]}],
    }
    (event,) = PLATFORM.parse(json.dumps(raw).encode(), {})
    assert isinstance(event, Ignored) and event.reason == "the Page's own comment"


@pytest.mark.parametrize(("item", "verb"), [("comment", "hide"), ("comment", "unhide"), ("status", "add")])
def test_other_feed_changes_stay_ignored(item: str, verb: str) -> None:
    value = {"item": item, "verb": verb, "post_id": "1_2", "comment_id": "2_3", "from": {"id": "9"}}
    raw = {
        "object": "page",
        "entry": [{"id": PAGE, "time": 1722503540, "changes": [{"field": "feed", "value": value}]}],
    }
    (event,) = PLATFORM.parse(json.dumps(raw).encode(), {})
    assert isinstance(event, Ignored) and event.reason == f"feed {item} {verb} is not a conversation event"


def test_chat_plugin_visitor_is_identified_by_user_ref() -> None:
    message = one("chat_plugin_user_ref")
    assert message.thread_id == message.sender.external_id == "ref-2b6f0c8a"
    assert message.sender.extra == {"user_ref": True}


def test_optin_is_ignored() -> None:
    event = one("optin")
    assert isinstance(event, Ignored) and event.reason == "optin event"


def test_unknown_messaging_event_is_ignored() -> None:
    raw = {
        "object": "page",
        "entry": [
            {
                "id": PAGE,
                "time": T0,
                "messaging": [
                    {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": T0, "brand_new_event": {}}
                ],
            }
        ],
    }
    (event,) = PLATFORM.parse(json.dumps(raw).encode(), {})
    assert isinstance(event, UnknownKind) and event.kind == "brand_new_event" and "brand_new_event" in event.reason


def test_batch_with_malformed_sub_events_keeps_the_siblings() -> None:
    events = parse("batch_with_malformed")
    assert [type(e) for e in events] == [Message, ParseFailure, ParseFailure, Message, StatusUpdate]
    assert [e.external_id for e in events if isinstance(e, Message)] == ["m_BATCH1", "m_BATCH4"]
    no_mid, no_sender = events[1], events[2]
    assert no_mid.raw["message"] == {"text": "a message without mid"} and "mid" in no_mid.reason
    assert "sender" in no_sender.reason
    assert no_mid.timestamp == at(T0 + 30000)  # the entry's time
    assert [e.key for e in events] == [e.key for e in parse("batch_with_malformed")]


@pytest.mark.parametrize(
    "raw",
    [b"<html>", b'"page"', b'{"object": "instagram", "entry": []}', b'{"object": "page", "entry": {}}'],
)
def test_unusable_body_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        PLATFORM.parse(raw, {})


def test_entry_that_is_not_an_object_is_a_failure() -> None:
    (event,) = PLATFORM.parse(b'{"object": "page", "entry": [7]}', {})
    assert isinstance(event, ParseFailure) and event.raw == {"value": 7}
