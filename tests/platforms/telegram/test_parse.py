"""Telegram Update → canonical events: one test per fixture or condition."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from souk.platforms.base import (
    Attribution,
    Deletion,
    Edit,
    Event,
    Ignored,
    Media,
    Message,
    MessageSource,
    MessageType,
    ParseError,
    ParseFailure,
    Party,
    Reaction,
    SentBy,
    UnknownKind,
    body_key,
)
from souk.platforms.telegram import PLATFORM
from souk.platforms.telegram.parse import split_thread, split_topic

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOMER = "5012345678"
GROUP = "-1001987654321"
BC = "AQADBQADc2xvd2Jvb2tzAAEBAAAA"
DATE = datetime(2024, 11, 24, 12, 6, 40, tzinfo=UTC)  # 1732450000
LAYLA = Party(external_id=CUSTOMER, name="Layla Hassan", username="layla_h", extra={"language_code": "ar"})


def load(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def parse(body: bytes | dict[str, Any]) -> list[Event]:
    return PLATFORM.parse(body if isinstance(body, bytes) else json.dumps(body).encode(), {})


def one(name: str) -> Any:
    [event] = parse(load(name))
    return event


def test_text_message() -> None:
    event = one("message_text")
    assert isinstance(event, Message)
    assert event == Message(
        key=f"{CUSTOMER}:1201",
        timestamp=DATE,
        raw=json.loads(load("message_text"))["message"],
        external_id=f"{CUSTOMER}:1201",
        thread_id=CUSTOMER,
        sender=LAYLA,
        message_type=MessageType.text,
        text="مرحبا، أريد شراء المنتج",
    )


def test_start_deep_link_is_a_command_with_referral_attribution() -> None:
    event = one("message_command_start")
    assert event.message_type == MessageType.command
    assert event.text == "/start ad_summer24"
    assert event.metadata == {"command": "start", "command_args": "ad_summer24"}
    assert event.attribution == Attribution(
        source=MessageSource.referral, ref="ad_summer24", raw={"start": "ad_summer24"}
    )


def test_command_addressed_to_the_bot_in_a_group() -> None:
    event = one("message_command")
    assert event.message_type == MessageType.command
    assert event.metadata == {"command": "price", "command_args": "jacket"}
    assert event.attribution is None
    assert event.group == {"id": GROUP, "title": "Souk Buyers", "topic_id": None, "participant": CUSTOMER}


def test_photo_takes_the_largest_size_and_the_caption() -> None:
    event = one("message_photo")
    assert event.message_type == MessageType.image
    assert event.text == "Do you have this in blue?"
    assert event.media == [
        Media(
            kind="image",
            platform_media_id="AgACAgQAAxkBAAIEsmc-large",
            size=98512,
            caption="Do you have this in blue?",
        )
    ]


@pytest.mark.parametrize(
    ("fixture", "kind", "media", "metadata"),
    [
        (
            "message_voice",
            MessageType.voice,
            Media(kind="voice", platform_media_id="AwACAgQAAxkBAAIEs2c-voice", mime="audio/ogg", size=14230),
            {},
        ),
        (
            "message_audio",
            MessageType.audio,
            Media(
                kind="audio",
                platform_media_id="CQACAgQAAxkBAAIEtGc-audio",
                mime="audio/mpeg",
                size=2940012,
                filename="jingle.mp3",
            ),
            {},
        ),
        (
            "message_video",
            MessageType.video,
            Media(
                kind="video",
                platform_media_id="BAACAgQAAxkBAAIEtWc-video",
                mime="video/mp4",
                size=3488001,
                caption="it arrived broken",
                filename="unboxing.mp4",
            ),
            {},
        ),
        (
            "message_video_note",
            MessageType.video,
            Media(kind="video", platform_media_id="DQACAgQAAxkBAAIEtmc-note", size=402211),
            {"video_note": True},
        ),
        (
            "message_document",
            MessageType.document,
            Media(
                kind="document",
                platform_media_id="BQACAgQAAxkBAAIEt2c-doc",
                mime="application/pdf",
                size=80211,
                caption="my invoice",
                filename="invoice-1042.pdf",
            ),
            {},
        ),
        (
            "message_animation",
            MessageType.video,
            Media(
                kind="video",
                platform_media_id="CgACAgQAAxkBAAIEuGc-anim",
                mime="video/mp4",
                size=50123,
                filename="thanks.mp4",
            ),
            {"animation": True},
        ),
        (
            "message_sticker",
            MessageType.sticker,
            Media(kind="sticker", platform_media_id="CAACAgIAAxkBAAIEuWc-sticker", size=22018),
            {"sticker_emoji": "👍"},
        ),
    ],
)
def test_media_messages(fixture: str, kind: MessageType, media: Media, metadata: dict[str, Any]) -> None:
    event = one(fixture)
    assert (event.message_type, event.media, event.metadata) == (kind, [media], metadata)
    assert event.text == media.caption
    assert (event.external_id, event.thread_id, event.sender) == (
        f"{CUSTOMER}:{event.raw['message_id']}",
        CUSTOMER,
        LAYLA,
    )


def test_location() -> None:
    event = one("message_location")
    assert event.message_type == MessageType.location
    assert event.location == {"latitude": 30.04442, "longitude": 31.235712, "horizontal_accuracy": 15.5}


def test_venue_is_a_named_location() -> None:
    event = one("message_venue")
    assert event.message_type == MessageType.location
    assert event.location == {
        "latitude": 30.0478,
        "longitude": 31.2336,
        "name": "Souk Store Downtown",
        "address": "26 Talaat Harb St, Cairo",
    }


def test_contact() -> None:
    event = one("message_contact")
    assert event.message_type == MessageType.contacts
    [contact] = event.contacts
    assert contact == {
        "name": "Karim Adel",
        "first_name": "Karim",
        "last_name": "Adel",
        "phones": [{"phone": "+201001234567"}],
        "user_id": "5099887766",
        "vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Karim Adel\nTEL;TYPE=CELL:+201001234567\nEND:VCARD",
    }


def test_poll_is_stored_as_unsupported_with_its_question() -> None:
    event = one("message_poll")
    assert event.message_type == MessageType.unsupported
    assert event.text == "Which colour should we stock?"
    assert event.metadata == {
        "telegram_type": "poll",
        "poll": {
            "id": "5891034732115787777",
            "question": "Which colour should we stock?",
            "type": "regular",
            "options": ["Blue", "Black"],
        },
    }


def test_unknown_content_is_unsupported_not_dropped() -> None:
    event = one("message_dice")
    assert (event.message_type, event.text, event.media) == (MessageType.unsupported, None, [])
    assert event.metadata == {"telegram_type": "dice"}


def test_forward_origin_goes_to_metadata() -> None:
    event = one("message_forwarded")
    assert event.text == "Is this offer still valid?"
    assert event.metadata["forward_origin"]["type"] == "channel"
    assert event.metadata["forward_origin"]["chat"]["id"] == -1001444333222


def test_reply_points_at_the_quoted_message_in_the_same_chat() -> None:
    event = one("message_reply")
    assert event.reply_to == f"{CUSTOMER}:1190"
    assert event.metadata == {"quote": "Which size"}


def test_group_message() -> None:
    event = one("message_group")
    assert (event.thread_id, event.external_id) == (GROUP, f"{GROUP}:1219")
    assert event.sender == LAYLA
    assert event.group == {"id": GROUP, "title": "Souk Buyers", "topic_id": None, "participant": CUSTOMER}


def test_forum_topic_message_is_not_a_reply_to_the_topic_root() -> None:
    event = one("message_forum_topic")
    assert (event.thread_id, event.external_id, event.reply_to) == (
        "-1001555000111/42",  # the topic is a conversation of its own; the message id stays the chat's
        "-1001555000111:77",
        None,
    )
    assert event.metadata == {"message_thread_id": 42}
    assert event.group == {
        "id": "-1001555000111",
        "title": "Souk Support",
        "topic_id": "42",
        "participant": CUSTOMER,
    }


def test_reply_inside_a_forum_topic() -> None:
    event = one("message_forum_reply")
    assert event.reply_to == "-1001555000111:77"
    assert event.metadata["message_thread_id"] == 42 and event.thread_id == "-1001555000111/42"


def test_a_reply_thread_outside_a_forum_stays_in_the_chat() -> None:
    """``message_thread_id`` also names a reply thread in an ordinary supergroup: no topic there."""
    update = json.loads(load("message_forum_reply"))
    del update["message"]["is_topic_message"]
    [event] = parse(update)
    assert event.thread_id == "-1001555000111"


def test_topic_threads_split_back_into_chat_and_topic() -> None:
    assert split_topic("-1001555000111/42") == ("-1001555000111", 42)
    assert split_topic("5012345678@AQAD") == ("5012345678@AQAD", None)
    assert split_thread("-1001555000111/42") == ("-1001555000111", None)


def test_message_from_another_bot_is_sent_by_bot() -> None:
    event = one("message_from_bot")
    assert (event.sent_by, event.direction, event.sender.is_bot) == (SentBy.bot, "inbound", True)


def test_service_message_is_ignored() -> None:
    event = one("message_new_chat_members")
    assert event == Ignored(
        key=f"{GROUP}:1221", timestamp=DATE, raw=event.raw, reason="service message: new_chat_members"
    )


def test_edited_message_is_an_edit_keyed_by_edit_date() -> None:
    event = one("edited_message")
    assert isinstance(event, Edit)
    assert event == Edit(
        key=f"edit:{CUSTOMER}:1201:1732450095",
        timestamp=DATE + timedelta(seconds=95),
        raw=event.raw,
        target_external_id=f"{CUSTOMER}:1201",
        thread_id=CUSTOMER,
        sender=LAYLA,
        new_text="مرحبا، أريد شراء المنتجين",
    )


def test_channel_post_is_a_post_from_the_channel() -> None:
    event = one("channel_post")
    assert (event.message_type, event.external_id, event.thread_id) == (
        MessageType.post,
        "-1001444333222:88",
        "-1001444333222",
    )
    assert event.sender == Party(
        external_id="-1001444333222", name="Souk Deals", username="souk_deals", extra={"chat_type": "channel"}
    )
    assert event.text == "Winter jacket for sale - 500 EGP"
    assert [m.platform_media_id for m in event.media] == ["AgACAgQAAxkBAAIEumc-post-l"]
    assert event.metadata == {"content_type": "image"}


def test_edited_channel_post_is_an_edit() -> None:
    event = one("edited_channel_post")
    assert isinstance(event, Edit)
    assert (event.target_external_id, event.new_text) == (
        "-1001444333222:88",
        "Winter jacket for sale - 450 EGP",
    )


def test_business_message_from_the_customer() -> None:
    event = one("business_message")
    thread = f"{CUSTOMER}@{BC}"
    assert (event.external_id, event.thread_id, event.key) == (f"{thread}:9001", thread, f"{thread}:9001")
    assert (event.direction, event.sent_by, event.sender) == ("inbound", SentBy.customer, LAYLA)
    assert event.metadata == {"business_connection_id": BC}


def test_business_message_typed_by_the_owner_is_outbound_native_app() -> None:
    event = one("business_message_owner")
    thread = f"{CUSTOMER}@{BC}"
    assert (event.direction, event.sent_by, event.recipient_id) == ("outbound", SentBy.native_app, CUSTOMER)
    assert event.sender.external_id == "7001002003"
    assert event.reply_to == f"{thread}:9001"
    assert event.echo_marker is None


def test_business_message_sent_by_the_connected_bot_is_ours() -> None:
    event = one("business_message_bot")
    assert (event.direction, event.sent_by, event.echo_marker) == ("outbound", SentBy.souk, "123456789")


def test_edited_business_message() -> None:
    event = one("edited_business_message")
    assert isinstance(event, Edit)
    assert event.target_external_id == f"{CUSTOMER}@{BC}:9001"
    assert event.key == f"edit:{CUSTOMER}@{BC}:9001:1732450030"


def test_deleted_business_messages_become_one_deletion_each() -> None:
    events = parse(load("deleted_business_messages"))
    thread = f"{CUSTOMER}@{BC}"
    assert [(type(e), e.key, e.target_external_id, e.thread_id) for e in events] == [
        (Deletion, f"delete:{thread}:9001", f"{thread}:9001", thread),
        (Deletion, f"delete:{thread}:9002", f"{thread}:9002", thread),
    ]


def test_one_malformed_deleted_id_keeps_its_siblings() -> None:
    update = json.loads(load("deleted_business_messages"))
    update["deleted_business_messages"]["message_ids"] = [9001, {"oops": 1}, 9002]
    events = parse(update)
    assert [type(e) for e in events] == [Deletion, ParseFailure, Deletion]
    failure = events[1]
    assert failure.key == f"update:{update['update_id']}:deleted:1"
    assert "not an integer" in failure.reason
    assert failure.raw == update["deleted_business_messages"]


def test_reaction() -> None:
    event = one("message_reaction")
    assert event == Reaction(
        key=f"reaction:{CUSTOMER}:1190:{CUSTOMER}:1732450010",
        timestamp=DATE + timedelta(seconds=10),
        raw=event.raw,
        target_external_id=f"{CUSTOMER}:1190",
        thread_id=CUSTOMER,
        sender=LAYLA,
        emoji="❤",
    )


def test_empty_new_reaction_means_removed() -> None:
    event = one("message_reaction_removed")
    assert isinstance(event, Reaction)
    assert event.emoji is None
    assert event.key == f"reaction:{CUSTOMER}:1190:{CUSTOMER}:1732450020"


def test_reaction_picks_the_newly_added_emoji_and_labels_custom_ones() -> None:
    update = json.loads(load("message_reaction"))
    update["message_reaction"]["old_reaction"] = [{"type": "emoji", "emoji": "❤"}]
    update["message_reaction"]["new_reaction"] = [
        {"type": "emoji", "emoji": "❤"},
        {"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"},
    ]
    [event] = parse(update)
    assert event.emoji == "custom_emoji:5368324170671202286"


def test_callback_query_is_a_callback_message_titled_by_its_button() -> None:
    before = datetime.now(UTC)
    event = one("callback_query")
    assert isinstance(event, Message)
    assert (event.key, event.external_id, event.thread_id) == ("cb:4382bfdwdsb323b2d9",) * 2 + (CUSTOMER,)
    assert (event.message_type, event.text, event.sender) == (MessageType.callback, "Buy now", LAYLA)
    assert event.interactive == {
        "id": "4382bfdwdsb323b2d9",
        "data": "buy:42",
        "chat_instance": "-8834591207734861232",
        "title": "Buy now",
    }
    assert event.reply_to == f"{CUSTOMER}:1191"
    assert before <= event.timestamp <= datetime.now(UTC)  # a callback_query carries no date


def test_callback_query_on_an_inline_message_is_threaded_by_the_user() -> None:
    event = one("callback_query_inline")
    assert (event.thread_id, event.reply_to, event.text) == (CUSTOMER, None, None)
    assert event.interactive["inline_message_id"] == "BAAAAKcXAAA2yx8AAAAAAAAAAA"


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("my_chat_member_kicked", f"my_chat_member in chat {CUSTOMER}: member -> kicked"),
        ("business_connection", "business_connection not used by Souk"),
    ],
)
def test_management_updates_are_ignored(fixture: str, reason: str) -> None:
    event = one(fixture)
    assert isinstance(event, Ignored)
    assert (event.key, event.reason) == (f"update:{json.loads(load(fixture))['update_id']}", reason)


def test_an_unknown_update_kind_is_not_silently_ignored() -> None:
    [event] = parse({"update_id": 11, "guest_message": {"date": 1732450000}})
    assert isinstance(event, UnknownKind)
    assert (event.key, event.kind, event.reason) == (
        "update:11",
        "guest_message",
        "unknown Telegram update kind 'guest_message'",
    )


def test_malformed_message_becomes_a_parse_failure() -> None:
    update = {"update_id": 10, "message": {"message_id": 1, "date": 1732450000, "text": "no chat"}}
    [event] = parse(update)
    assert isinstance(event, ParseFailure)
    assert (event.key, event.timestamp, event.raw) == ("update:10:message", DATE, update["message"])
    assert "KeyError" in event.reason


def test_an_unexpected_second_kind_keeps_the_first() -> None:
    update = json.loads(load("message_text"))
    update["edited_message"] = "garbage"
    events = parse(update)
    assert [type(e) for e in events] == [Message, ParseFailure]
    assert events[1].raw == {"value": "garbage"}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "7"}', b"\xff"])
def test_a_body_that_is_not_an_update_raises_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        PLATFORM.parse(body, {})


def test_event_key_is_the_update_id() -> None:
    assert PLATFORM.event_key(load("message_text"), {}) == "update:874100201"
    reordered = json.dumps({"message": {"text": "x"}, "update_id": 99}).encode()
    assert PLATFORM.event_key(reordered, {}) == "update:99"
    assert PLATFORM.event_key(b"not json", {}) == body_key(b"not json")
    assert PLATFORM.event_key(b'{"update_id": true}', {}) == body_key(b'{"update_id": true}')
