"""Chotot broker messages (the assumed shape, docs/platforms/chotot.md) → canonical events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from souk.platforms.base import (
    DeliveryStatus,
    Ignored,
    Message,
    MessageSource,
    MessageType,
    ParseError,
    ParseFailure,
    SentBy,
    StatusUpdate,
    body_key,
)
from souk.platforms.chotot import PLATFORM

FIXTURES = Path(__file__).parent / "fixtures"
ROOM = "65f1c0ffee0000000000a001"
BUYER = "2000001"
SHOP = "1000001"


def _body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def _one(name: str) -> Any:
    events = PLATFORM.parse(_body(name), {})
    assert len(events) == 1
    return events[0]


def test_buyer_text_about_a_listing() -> None:
    event = _one("message_text")
    assert isinstance(event, Message)
    assert event.key == event.external_id == "65f1c0ffee00000000000b01"
    assert event.thread_id == ROOM
    assert (event.sender.external_id, event.sender.name) == (BUYER, "Nguyễn Văn A")
    assert event.message_type is MessageType.text and event.text == "Áo này còn không bạn?"
    assert event.timestamp == datetime.fromtimestamp(1741249700.123, UTC)
    assert (event.direction, event.sent_by, event.recipient_id) == ("inbound", SentBy.customer, SHOP)
    assert event.metadata == {"item": {"list_id": 112233445, "name": "Áo khoác xanh", "price": 500000}}
    attribution = event.attribution
    assert attribution is not None and attribution.source is MessageSource.post
    assert (attribution.post_id, attribution.headline) == ("112233445", "Áo khoác xanh")
    assert event.raw == json.loads(_body("message_text"))


def test_image_attachment() -> None:
    event = _one("message_image")
    assert event.message_type is MessageType.image and event.text is None
    (media,) = event.media
    assert (media.kind, media.url, media.mime, media.size, media.filename) == (
        "image",
        "https://cdn.chotot.example/chat/abc.jpg",
        "image/jpeg",
        48213,
        "abc.jpg",
    )


def test_file_attachment_is_a_document_with_caption() -> None:
    event = _one("message_file")
    assert event.message_type is MessageType.document and event.text == "Hóa đơn"
    assert event.media[0].caption == "Hóa đơn" and event.media[0].filename == "hoadon.pdf"


def test_echo_of_our_own_send_is_outbound_souk() -> None:
    event = _one("message_echo_souk")
    assert (event.direction, event.sent_by) == ("outbound", SentBy.souk)
    assert event.echo_marker == "0b7f3c2e-5d1a-4f7e-9a61-2c8d1e4b5a70"
    assert event.recipient_id == BUYER and event.thread_id == ROOM
    assert event.reply_to == "65f1c0ffee00000000000b01"


def test_message_typed_in_the_chotot_app_is_native_app() -> None:
    event = _one("message_echo_app")
    assert (event.direction, event.sent_by, event.echo_marker) == ("outbound", SentBy.native_app, None)


def test_unknown_attachment_is_kept_as_unsupported() -> None:
    event = _one("message_unknown_attachment")
    assert isinstance(event, Message) and event.message_type is MessageType.unsupported
    assert event.media == [] and event.metadata["unsupported_attachments"] == ["poll"]


def test_message_without_listing_has_no_attribution() -> None:
    event = _one("message_without_item")
    assert event.attribution is None and event.metadata == {}


def test_buyer_read_our_message() -> None:
    event = _one("read")
    assert isinstance(event, StatusUpdate)
    assert event.status is DeliveryStatus.read
    assert (event.target_external_id, event.thread_id, event.recipient_id) == ("65f1c0ffee00000000000b04", ROOM, BUYER)
    assert event.key == f"read:{ROOM}:65f1c0ffee00000000000b04:{BUYER}"


def test_shop_reading_is_ignored() -> None:
    assert isinstance(_one("read_by_shop"), Ignored)


def test_other_events_are_ignored() -> None:
    event = _one("typing")
    assert isinstance(event, Ignored) and "typing" in event.reason


def test_batch_with_a_malformed_message_keeps_its_siblings() -> None:
    first, broken, third = PLATFORM.parse(_body("batch_with_malformed"), {})
    assert isinstance(first, Message) and first.text == "Tin 1"
    assert isinstance(third, Message) and third.text == "Tin 3"
    assert isinstance(broken, ParseFailure)
    assert broken.key == "failed:65f1c0ffee00000000000b12"
    assert "sender" in broken.reason
    assert broken.raw["text"] == "no sender"
    assert broken.timestamp == datetime.fromtimestamp(1741249702, UTC)


def test_non_json_raises() -> None:
    with pytest.raises(ParseError):
        PLATFORM.parse(b"\x00\x01 not json", {})


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"message_id": "x"}', b"[1, 2]", b'"message"'])
def test_not_a_broker_message_raises(body: bytes) -> None:
    with pytest.raises(ParseError):
        PLATFORM.parse(body, {})


def test_event_key_is_the_message_id() -> None:
    assert PLATFORM.event_key(_body("message_text"), {}) == "chotot:65f1c0ffee00000000000b01"


def test_event_key_of_a_read_receipt() -> None:
    assert PLATFORM.event_key(_body("read"), {}) == f"chotot:read:{ROOM}:65f1c0ffee00000000000b04:{BUYER}"


@pytest.mark.parametrize("name", ["batch_with_malformed", "typing"])
def test_event_key_falls_back_to_the_body_hash(name: str) -> None:
    assert PLATFORM.event_key(_body(name), {}) == body_key(_body(name))


def test_event_key_of_garbage_is_the_body_hash() -> None:
    assert PLATFORM.event_key(b"nope", {}) == body_key(b"nope")
