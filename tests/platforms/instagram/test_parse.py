"""Instagram messaging webhook payloads (one fixture per event kind) parsed into canonical events."""

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
)
from souk.platforms.instagram import PLATFORM
from souk.platforms.instagram.parse import parse_body

FIXTURES = Path(__file__).parent / "fixtures"
IG = "17841405822304914"
IGSID = "1254459154682919"
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
    assert message.key == message.external_id and message.external_id.startswith("aWdfZAG1")
    assert message.thread_id == message.sender.external_id == IGSID
    assert message.recipient_id == IG
    assert (message.message_type, message.text) == (MessageType.text, "How much is the ring in the last post?")
    assert message.timestamp == at(T0)
    assert (message.direction, message.sent_by) == ("inbound", SentBy.customer)


def test_image() -> None:
    message = one("image")
    assert message.message_type is MessageType.image
    assert message.media == [
        Media(kind="image", url="https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17912345&signature=abc")
    ]


def test_share_keeps_only_the_url() -> None:
    message = one("share")
    assert message.message_type is MessageType.share
    assert message.metadata == {
        "shares": [
            {"type": "share", "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1790000&signature=def"}
        ]
    }


def test_shared_reel() -> None:
    message = one("ig_reel")
    assert message.message_type is MessageType.share
    (share,) = message.metadata["shares"]
    assert (share["type"], share["reel_video_id"], share["title"]) == (
        "ig_reel",
        "18020000000000000",
        "Styling the silver ring",
    )


def test_shared_post() -> None:
    (share,) = one("ig_post").metadata["shares"]
    assert (share["type"], share["ig_post_media_id"]) == ("ig_post", "17990000000000000")


def test_story_mention_is_attributed_to_the_story() -> None:
    message = one("story_mention")
    assert message.message_type is MessageType.story_mention
    assert message.media == []  # story media must not be stored, only its CDN URL
    assert message.attribution.source is MessageSource.story
    assert message.attribution.source_url.startswith("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17850000")


def test_story_reply() -> None:
    message = one("story_reply")
    assert message.message_type is MessageType.story_reply
    assert message.text == "Love this one! Price?"
    attribution = message.attribution
    assert (attribution.source, attribution.post_id) == (MessageSource.story, "17860000000000000")
    assert attribution.source_url.endswith("asset_id=17860000&signature=mno")
    assert message.reply_to is None


def test_reply_to_a_message() -> None:
    assert one("reply_to").reply_to == "aWdf_OURS01"


def test_quick_reply() -> None:
    message = one("quick_reply")
    assert message.message_type is MessageType.interactive
    assert message.interactive == {"type": "quick_reply", "title": "Size 7", "payload": "RING_SIZE_7"}


def test_click_to_instagram_direct_ad() -> None:
    attribution = one("ad_referral").attribution
    assert (attribution.source, attribution.ad_id, attribution.ref) == (
        MessageSource.ad,
        "120200000000000456",
        "ring-ad",
    )
    assert attribution.headline == "Silver rings"


def test_echo_of_our_send() -> None:
    message = one("echo")
    assert (message.direction, message.sent_by, message.echo_marker) == ("outbound", SentBy.souk, "souk:out_01J60A")
    assert message.thread_id == message.recipient_id == IGSID
    assert message.sender.external_id == IG


def test_echo_typed_in_the_instagram_app() -> None:
    message = one("echo_native_app")
    assert (message.direction, message.sent_by) == ("outbound", SentBy.native_app)
    assert message.thread_id == IGSID


def test_echo_matched_by_app_id_when_known() -> None:
    raw = json.loads(body("echo"))
    del raw["entry"][0]["messaging"][0]["message"]["metadata"]
    assert PLATFORM.parse(json.dumps(raw).encode(), {})[0].sent_by is SentBy.other_app
    (message,) = parse_body(json.dumps(raw).encode(), our_app_id=OUR_APP)
    assert (message.sent_by, message.echo_marker) == (SentBy.souk, OUR_APP)


def test_unsend_is_a_deletion_of_that_mid() -> None:
    deletion = one("deleted")
    assert isinstance(deletion, Deletion)
    assert (deletion.key, deletion.target_external_id, deletion.thread_id) == (
        "deleted:aWdf_IMAGE01",
        "aWdf_IMAGE01",
        IGSID,
    )


def test_gif_or_sticker_is_unsupported() -> None:
    message = one("unsupported")
    assert (message.message_type, message.external_id) == (MessageType.unsupported, "aWdf_GIF01")


def test_seen_marks_that_message_read() -> None:
    update = one("seen")
    assert isinstance(update, StatusUpdate)
    assert (update.key, update.status, update.target_external_id) == (
        "status:aWdf_ECHO01:read",
        DeliveryStatus.read,
        "aWdf_ECHO01",
    )
    assert update.watermark is None and update.thread_id == IGSID
    assert update.timestamp == at(T0 + 10000)


def test_reaction() -> None:
    reaction = one("reaction")
    assert isinstance(reaction, Reaction)
    assert (reaction.target_external_id, reaction.emoji) == ("aWdf_ECHO01", "\u2764\ufe0f")


def test_unreaction() -> None:
    reaction = one("unreaction")
    assert reaction.emoji is None


def test_icebreaker_postback() -> None:
    message = one("postback_icebreaker")
    assert message.external_id == "aWdf_POSTBACK01"
    assert message.interactive == {"type": "postback", "title": "Do you ship abroad?", "payload": "ICEBREAKER_SHIPPING"}


def test_ig_me_referral() -> None:
    message = one("referral_igme")
    assert message.message_type is MessageType.system
    assert (message.attribution.source, message.attribution.ref) == (MessageSource.referral, "bio-link")


def test_message_edit() -> None:
    edit = one("message_edit")
    assert isinstance(edit, Edit)
    assert edit.new_text == "How much is the ring in your last post?"


def test_comment_is_a_message_attributed_to_the_post() -> None:
    message = one("comment")
    assert isinstance(message, Message)
    assert message.key == "comment:17865799348089039"
    assert message.external_id == "17865799348089039"
    assert message.thread_id == message.sender.external_id == IGSID
    assert message.sender.username == "linh.tran"
    assert (message.message_type, message.text) == (MessageType.text, "Price please?")
    assert message.timestamp == datetime.fromtimestamp(1722503600, UTC)
    attribution = message.attribution
    assert attribution.source is MessageSource.post_comment
    assert (attribution.comment_id, attribution.post_id) == ("17865799348089039", "17990000000000000")
    assert message.metadata == {"field": "comments", "media_product_type": "FEED"}


def test_the_accounts_own_comment_is_ignored() -> None:
    event = one("comment_reply_by_account")
    assert isinstance(event, Ignored)
    assert event.key == "comment:17865799348089040"


def test_comment_given_in_the_entry_itself() -> None:
    message = one("comment_in_entry")
    assert message.attribution.post_id == "18000000000000000"
    assert message.metadata["media_product_type"] == "REELS"


def test_mentions_are_ignored_with_why() -> None:
    """Only ids, no author: nothing Souk could open a conversation with (docs/decisions/0029)."""
    event = one("mentions")
    assert isinstance(event, Ignored) and event.key.startswith("change:mentions:")
    assert event.reason == "mentions carry only a media and comment id, no author to answer"


def test_batch_with_malformed_sub_events_keeps_the_siblings() -> None:
    events = parse("batch_with_malformed")
    assert [type(e) for e in events] == [Message, ParseFailure, Message, ParseFailure, Message]
    assert [e.key for e in events if isinstance(e, Message)] == ["aWdf_B1", "aWdf_B3", "comment:1787"]
    assert events[1].raw["read"] == {}
    assert events[3].raw == {"field": "comments", "value": {"id": "1786", "text": "no author"}}


@pytest.mark.parametrize("raw", [b"", b"null", b'{"object": "page", "entry": []}', b'{"object": "instagram"}'])
def test_unusable_body_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        PLATFORM.parse(raw, {})
