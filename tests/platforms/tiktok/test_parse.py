"""TikTok webhook → canonical events: one test per fixture or condition."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from souk.platforms.base import (
    Attribution,
    DeliveryStatus,
    Ignored,
    Media,
    Message,
    MessageSource,
    MessageType,
    ParseError,
    ParseFailure,
    Party,
    SentBy,
    StatusUpdate,
    UnknownKind,
    body_key,
)
from souk.platforms.tiktok import PLATFORM

FIXTURES = Path(__file__).parent / "fixtures"
BIZ = "biz-7000000000000000001"
CUSTOMER = "-000Kq3xNnYvD8mB2bTzPZgK1rWz9Xw1ea7C"
CONV = "0:1:7000000000000000001:7311234567890123456"
T = datetime(2024, 11, 24, 12, 6, 40, 123000, tzinfo=UTC)  # 1732450000123 ms
LAYLA = Party(external_id=CUSTOMER, name="layla.h", username="layla.h")


def load(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def one(body: bytes | dict[str, Any]) -> Any:
    [event] = PLATFORM.parse(body if isinstance(body, bytes) else json.dumps(body).encode(), {})
    return event


def raw(name: str) -> dict[str, Any]:
    envelope = json.loads(load(name))
    content = envelope["content"]
    return {**envelope, "content": json.loads(content) if isinstance(content, str) else content}


def test_text_message() -> None:
    event = one(load("im_receive_msg_text"))
    assert event == Message(
        key="v2:msg-7311-0001",
        timestamp=T,
        raw=raw("im_receive_msg_text"),
        external_id="v2:msg-7311-0001",
        thread_id=CONV,
        sender=LAYLA,
        message_type=MessageType.text,
        text="كم السعر؟",
        recipient_id=BIZ,
    )


def test_reply_references_the_quoted_message() -> None:
    event = one(load("im_receive_msg_reply"))
    assert (event.text, event.reply_to) == ("yes this one", "v2:msg-7311-0000")
    assert event.timestamp == T + timedelta(seconds=5)


def test_image_carries_the_media_id() -> None:
    event = one(load("im_receive_msg_image"))
    assert (event.message_type, event.text) == (MessageType.image, None)
    assert event.media == [Media(kind="image", platform_media_id="v0f025gc0000cmedia7311")]


def test_share_post_is_a_share_attributed_to_the_post() -> None:
    event = one(load("im_receive_msg_share_post"))
    url = "https://www.tiktok.com/embed/v2/7311000000000000004"
    assert event.message_type == MessageType.share
    assert event.metadata == {"embed_url": url}
    assert event.attribution == Attribution(source=MessageSource.post, source_url=url, raw={"embed_url": url})


def test_sticker_is_stored_as_unsupported() -> None:
    event = one(load("im_receive_msg_sticker"))
    assert (event.message_type, event.text, event.media) == (MessageType.unsupported, None, [])
    assert event.metadata == {"tiktok_type": "sticker"}
    assert (event.direction, event.sent_by) == ("inbound", SentBy.customer)


def test_content_may_arrive_as_an_object() -> None:
    event = one(load("im_receive_msg_content_object"))
    assert (event.external_id, event.text, event.thread_id) == ("v2:msg-7311-0006", "hello again", CONV)


def test_send_event_is_an_outbound_echo_typed_in_the_app_until_matched() -> None:
    event = one(load("im_send_msg"))
    assert isinstance(event, Message)
    assert (event.direction, event.sent_by, event.echo_marker) == ("outbound", SentBy.native_app, None)
    assert event.sender == Party(external_id=BIZ, name="souk.shop", username="souk.shop")
    assert (event.recipient_id, event.metadata) == (CUSTOMER, {"recipient_name": "layla.h"})
    assert (event.key, event.external_id, event.text) == (
        "v2:msg-7311-0007",
        "v2:msg-7311-0007",
        "It is 500 EGP, free delivery.",
    )


def test_customer_read_is_a_watermark_status() -> None:
    event = one(load("im_mark_read_msg"))
    watermark = T + timedelta(seconds=45)
    assert event == StatusUpdate(
        key="read:0:1:7000000000000000001:7311234567890123456:1732450045123",
        timestamp=watermark,
        raw=raw("im_mark_read_msg"),
        status=DeliveryStatus.read,
        watermark=watermark,
        thread_id=CONV,
        recipient_id=CUSTOMER,
    )


def test_business_reading_the_thread_is_ignored() -> None:
    event = one(load("im_mark_read_msg_by_business"))
    assert isinstance(event, Ignored)
    assert event.reason == "the business read the conversation"


def test_the_ping_is_ignored() -> None:
    body = load("tiktok_ping")
    event = one(body)
    assert isinstance(event, Ignored)
    assert (event.key, event.reason) == (f"tiktok.ping:{body_key(body)}", "tiktok.ping not used")
    assert event.timestamp == T  # the envelope's create_time


def test_an_unknown_event_is_not_silently_ignored() -> None:
    body = load("tiktok_ping").replace(b"tiktok.ping", b"im_brand_new_event")
    event = one(body)
    assert isinstance(event, UnknownKind)
    assert (event.kind, event.reason) == ("im_brand_new_event", "unknown TikTok event 'im_brand_new_event'")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "JSONDecodeError"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"type": "text", "message_id": "m1", "conversation_id": "c"}), "KeyError"),
    ],
)
def test_malformed_content_becomes_a_parse_failure(content: str, reason: str) -> None:
    envelope = {
        "event": "im_receive_msg",
        "user_openid": BIZ,
        "create_time": 1732450000123,
        "content": content,
    }
    body = json.dumps(envelope).encode()
    event = one(body)
    assert isinstance(event, ParseFailure)
    assert (event.key, event.timestamp, event.raw) == (f"im_receive_msg:{body_key(body)}", T, envelope)
    assert reason in event.reason


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"content": "{}"}', b'{"event": 3}'])
def test_a_body_that_is_not_a_tiktok_webhook_raises_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        PLATFORM.parse(body, {})


def test_event_key_uses_the_message_id() -> None:
    assert PLATFORM.event_key(load("im_receive_msg_text"), {}) == "im_receive_msg:v2:msg-7311-0001"
    assert PLATFORM.event_key(load("im_receive_msg_content_object"), {}) == "im_receive_msg:v2:msg-7311-0006"
    assert PLATFORM.event_key(load("im_send_msg"), {}) == "im_send_msg:v2:msg-7311-0007"
    for name in ("im_mark_read_msg", "tiktok_ping"):
        assert PLATFORM.event_key(load(name), {}) == body_key(load(name))
    assert PLATFORM.event_key(b"not json", {}) == body_key(b"not json")
