"""WAHA envelopes → canonical events, one test per fixture or condition."""

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
    Ignored,
    Message,
    MessageType,
    ParseError,
    ParseFailure,
    Reaction,
    SentBy,
    SessionStatus,
    StatusUpdate,
    Typing,
    UnknownKind,
    body_key,
)
from souk.platforms.waha import PLATFORM
from souk.platforms.waha.parse import normalize_id, parse_wamessage

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOMER = "15551234567@c.us"
ME = "15550009999@c.us"


def _body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def _fixture(name: str) -> dict[str, Any]:
    return json.loads(_body(name))


def _one(name: str) -> Any:
    events = PLATFORM.parse(_body(name), {})
    assert len(events) == 1
    return events[0]


def test_inbound_text() -> None:
    event = _one("message_text")
    assert isinstance(event, Message)
    assert event.key == event.external_id == "false_15551234567@c.us_3EB0C767D26A1D8E7F41"
    assert event.thread_id == CUSTOMER
    assert (event.sender.external_id, event.sender.name) == (CUSTOMER, "Layla")
    assert event.message_type is MessageType.text
    assert event.text == "Hi, is the blue jacket still available?"
    assert event.timestamp == datetime.fromtimestamp(1741249700, UTC)
    assert (event.direction, event.sent_by) == ("inbound", SentBy.customer)
    assert event.recipient_id == ME
    assert event.group is None and event.reply_to is None and event.media == []
    assert event.raw == _fixture("message_text")["payload"]


def test_message_and_message_any_of_one_message_share_the_key() -> None:
    plain, anyone = _one("message_text"), _one("message_any_inbound")
    assert plain.key == anyone.key
    assert plain.text == anyone.text and plain.thread_id == anyone.thread_id
    # the deliveries themselves are different events (different evt_ ids)
    assert PLATFORM.event_key(_body("message_text"), {}) != PLATFORM.event_key(_body("message_any_inbound"), {})


def test_own_message_sent_through_the_api_is_an_outbound_souk_echo() -> None:
    event = _one("message_any_from_me_api")
    assert (event.direction, event.sent_by) == ("outbound", SentBy.souk)
    assert event.thread_id == CUSTOMER and event.recipient_id == CUSTOMER
    assert (event.sender.external_id, event.sender.name) == (ME, "Souk Shop")
    assert event.external_id == "true_15551234567@c.us_3EB0A1B2C3D4E5F60718"
    assert event.metadata["source"] == "api"


def test_own_message_typed_on_the_phone_is_native_app() -> None:
    event = _one("message_any_from_me_app")
    assert (event.direction, event.sent_by) == ("outbound", SentBy.native_app)
    assert event.thread_id == CUSTOMER and event.text == "Typed on the phone"


def test_group_message_uses_participant_and_drops_the_id_suffix() -> None:
    event = _one("message_group")
    assert event.thread_id == "120363041234567890@g.us"
    assert event.sender.external_id == "15557654321@c.us" and event.sender.name == "Omar"
    assert event.group == {"id": "120363041234567890@g.us", "participant": "15557654321@c.us"}
    assert event.key == event.external_id == "false_120363041234567890@g.us_3EB0FF00112233445566"
    assert event.metadata["waha_id"].endswith("_15557654321@c.us")


def test_image_with_caption() -> None:
    event = _one("message_image")
    assert event.message_type is MessageType.image
    assert event.text == "Like this one"
    (media,) = event.media
    assert (media.kind, media.mime, media.caption) == ("image", "image/jpeg", "Like this one")
    assert media.url == "http://waha:3000/api/files/default/3EB0IMG0000000000001.jpeg"


def test_push_to_talk_ogg_is_voice() -> None:
    event = _one("message_voice")
    assert event.message_type is MessageType.voice
    assert event.text is None
    assert event.media[0].kind == "voice" and event.media[0].mime == "audio/ogg; codecs=opus"


def test_document_keeps_filename() -> None:
    event = _one("message_document")
    assert event.message_type is MessageType.document
    assert (event.media[0].filename, event.media[0].mime) == ("invoice.pdf", "application/pdf")


def test_media_not_downloaded_still_has_its_kind() -> None:
    event = _one("message_media_not_downloaded")
    assert event.message_type is MessageType.video
    assert event.media[0].url is None and event.media[0].mime == "video/mp4"


@pytest.mark.parametrize(
    ("mime", "data", "kind"),
    [
        ("audio/ogg; codecs=opus", {"type": "audio"}, "audio"),
        ("audio/mpeg", {"type": "ptt"}, "audio"),
        ("audio/ogg; codecs=opus", {"message": {"audioMessage": {"ptt": True}}}, "voice"),
        ("image/webp", {"type": "sticker"}, "sticker"),
        ("application/zip", {}, "document"),
        (None, {"type": "ptt"}, "voice"),
        (None, {}, "document"),
    ],
)
def test_media_kind_by_mimetype(mime: str | None, data: dict[str, Any], kind: str) -> None:
    payload = {
        "id": "false_1@c.us_X",
        "timestamp": 1,
        "from": "1@c.us",
        "fromMe": False,
        "hasMedia": True,
        "media": {"url": None, "mimetype": mime},
        "_data": data,
    }
    assert parse_wamessage(payload).media[0].kind == kind


def test_location() -> None:
    event = _one("message_location")
    assert event.message_type is MessageType.location
    assert event.location == {"latitude": 30.0444, "longitude": 31.2357, "name": "Tahrir Square, Cairo"}
    assert event.text == "Tahrir Square, Cairo"  # not the base64 thumbnail WEBJS puts in body


def test_vcard_contact() -> None:
    event = _one("message_vcard")
    assert event.message_type is MessageType.contacts
    (contact,) = event.contacts
    assert contact["name"] == "Sara Ahmed" and contact["phones"] == ["+20 100 123 4567"]
    assert event.text is None


def test_reply_to_our_message_is_widened_to_its_full_id() -> None:
    event = _one("message_reply")
    assert event.reply_to == "true_15551234567@c.us_3EB0A1B2C3D4E5F60718"


def test_reply_without_author_keeps_the_bare_id() -> None:
    payload = _fixture("message_reply")["payload"]
    payload["replyTo"] = {"id": "3EB0ABCDEF"}
    assert parse_wamessage(payload, me={"id": ME}).reply_to == "3EB0ABCDEF"


def test_message_without_content_is_unsupported_not_dropped() -> None:
    event = _one("message_unsupported")
    assert event.message_type is MessageType.unsupported
    assert event.text is None and event.external_id == "false_15551234567@c.us_3EB0POL0000000000001"


@pytest.mark.parametrize("name", ["message_status_broadcast", "message_newsletter"])
def test_status_broadcast_and_newsletters_are_ignored(name: str) -> None:
    event = _one(name)
    assert isinstance(event, Ignored)
    assert "broadcast" in event.reason or "newsletter" in event.reason


def test_reaction() -> None:
    event = _one("message_reaction")
    assert isinstance(event, Reaction)
    assert event.target_external_id == "true_15551234567@c.us_3EB0A1B2C3D4E5F60718"
    assert event.thread_id == CUSTOMER and event.sender.external_id == CUSTOMER
    assert event.emoji == "\U0001f64f"
    assert event.timestamp == datetime.fromtimestamp(1741249711.853, UTC)
    assert event.key == f"reaction:true_15551234567@c.us_3EB0A1B2C3D4E5F60718:{CUSTOMER}:1741249711.853"


def test_reaction_removed() -> None:
    event = _one("message_reaction_removed")
    assert isinstance(event, Reaction) and event.emoji == ""
    assert event.key != _one("message_reaction").key


def test_ack_read() -> None:
    event = _one("message_ack")
    assert isinstance(event, StatusUpdate)
    assert event.status is DeliveryStatus.read
    assert event.target_external_id == "true_15551234567@c.us_3EB0A1B2C3D4E5F60718"
    assert event.key == "ack:true_15551234567@c.us_3EB0A1B2C3D4E5F60718:3"
    assert event.thread_id == CUSTOMER
    assert event.error_code is None


def test_ack_error_is_failed() -> None:
    event = _one("message_ack_failed")
    assert event.status is DeliveryStatus.failed
    assert event.key == "ack:true_15551234567@c.us_3EB0A1B2C3D4E5F60718:-1"
    assert event.error_code == "ERROR" and event.error_message
    assert event.timestamp == datetime.fromtimestamp(1741249702.485, UTC)  # envelope time: no payload time


@pytest.mark.parametrize(("ack", "status"), [(0, "pending"), (1, "sent"), (2, "delivered"), (4, "played")])
def test_every_ack_value(ack: int, status: str) -> None:
    envelope = _fixture("message_ack")
    envelope["payload"]["ack"] = ack
    (event,) = PLATFORM.parse(json.dumps(envelope).encode(), {})
    assert event.status == DeliveryStatus(status)


def test_group_ack_is_per_participant() -> None:
    event = _one("message_ack_group")
    assert event.status is DeliveryStatus.delivered
    assert event.target_external_id == "true_120363041234567890@g.us_3EB0GRP0000000000001"
    assert event.thread_id == "120363041234567890@g.us"
    assert event.recipient_id == "9999@lid"
    assert event.key == "ack:true_120363041234567890@g.us_3EB0GRP0000000000001:2:9999@lid"


def test_edit() -> None:
    event = _one("message_edited")
    assert isinstance(event, Edit)
    assert event.target_external_id == "false_15551234567@c.us_3EB0C767D26A1D8E7F41"
    assert event.new_text == "Hi, is the red jacket still available?"
    assert event.thread_id == CUSTOMER and event.sender.external_id == CUSTOMER
    assert event.key.startswith("edit:false_15551234567@c.us_3EB0C767D26A1D8E7F41:")


def test_revoke() -> None:
    event = _one("message_revoked")
    assert isinstance(event, Deletion)
    assert event.target_external_id == "false_15551234567@c.us_3EB0C767D26A1D8E7F41"
    assert event.key == "revoke:false_15551234567@c.us_3EB0C767D26A1D8E7F41"
    assert event.thread_id == CUSTOMER and event.sender.external_id == CUSTOMER
    assert event.timestamp == datetime.fromtimestamp(1741249900, UTC)


def test_session_status_scan_qr() -> None:
    event = _one("session_status_scan_qr")
    assert isinstance(event, SessionStatus)
    assert event.status == "SCAN_QR_CODE"
    assert event.timestamp == datetime.fromtimestamp(1741249605, UTC)
    assert [s["status"] for s in event.detail["statuses"]] == ["STOPPED", "STARTING", "SCAN_QR_CODE"]
    assert event.detail["session"] == "default" and event.detail["me"]["id"] == ME
    assert event.key == f"session:{_fixture('session_status_scan_qr')['id']}"


def test_session_status_working() -> None:
    event = _one("session_status_working")
    assert event.status == "WORKING" and event.detail["engine"] == "WEBJS"


def test_repeated_qr_rotations_get_distinct_keys() -> None:
    first = _fixture("session_status_scan_qr")
    second = {**first, "id": "evt_01jnpd0fsh3d4qh8x7f2k9mqqq"}
    (a,) = PLATFORM.parse(json.dumps(first).encode(), {})
    (b,) = PLATFORM.parse(json.dumps(second).encode(), {})
    assert a.key != b.key


def test_call_and_other_unused_events_are_ignored() -> None:
    event = _one("call_received")
    assert isinstance(event, Ignored)
    assert event.key == f"ignored:{_fixture('call_received')['id']}"


@pytest.mark.parametrize(("presence", "typing"), [("typing", True), ("recording", True), ("paused", False)])
def test_a_customer_typing_is_a_typing_signal(presence: str, typing: bool) -> None:
    envelope = _fixture("presence_update")
    envelope["payload"]["presences"][0]["lastKnownPresence"] = presence
    [event] = PLATFORM.parse(json.dumps(envelope).encode(), {})
    assert isinstance(event, Typing)
    assert (event.thread_id, event.sender.external_id, event.typing) == ("15551234567@c.us", "15551234567@c.us", typing)
    assert event.sender.phone == "+15551234567"


def test_online_offline_and_the_sessions_own_presence_are_ignored() -> None:
    envelope = _fixture("presence_update")
    envelope["payload"]["presences"][0]["lastKnownPresence"] = "online"
    [online] = PLATFORM.parse(json.dumps(envelope).encode(), {})
    assert isinstance(online, Ignored) and online.reason == "WAHA presence online not used"
    envelope["payload"]["presences"] = [{"participant": envelope["me"]["id"], "lastKnownPresence": "typing"}]
    [own] = PLATFORM.parse(json.dumps(envelope).encode(), {})
    assert isinstance(own, Ignored)


def test_an_unknown_event_is_not_silently_ignored() -> None:
    envelope = {**_fixture("presence_update"), "event": "message.brand_new"}
    [event] = PLATFORM.parse(json.dumps(envelope).encode(), {})
    assert isinstance(event, UnknownKind)
    assert (event.kind, event.reason) == ("message.brand_new", "unknown WAHA event 'message.brand_new'")


def test_malformed_payload_is_a_parse_failure() -> None:
    event = _one("message_malformed")
    assert isinstance(event, ParseFailure)
    assert event.raw == _fixture("message_malformed")["payload"]
    assert "id" in event.reason


def test_bad_ack_value_is_a_parse_failure() -> None:
    envelope = _fixture("message_ack")
    envelope["payload"]["ack"] = 9
    (event,) = PLATFORM.parse(json.dumps(envelope).encode(), {})
    assert isinstance(event, ParseFailure) and "ack" in event.reason


def test_non_json_raises() -> None:
    with pytest.raises(ParseError):
        PLATFORM.parse(b"<html>nope</html>", {})


@pytest.mark.parametrize("body", [b"[]", b'{"payload": {}}', b'"message"'])
def test_not_an_envelope_raises(body: bytes) -> None:
    with pytest.raises(ParseError):
        PLATFORM.parse(body, {})


def test_event_key_is_the_envelope_id() -> None:
    assert PLATFORM.event_key(_body("message_text"), {}) == f"waha:{_fixture('message_text')['id']}"


def test_event_key_without_envelope_id_is_the_body_hash() -> None:
    body = b'{"event":"message","session":"default","engine":"WEBJS"}'
    assert PLATFORM.event_key(body, {}) == body_key(body)


def test_event_key_ignores_payload_ids() -> None:
    body = json.dumps({"event": "message", "payload": {"id": "false_1@c.us_AAA"}}).encode()
    assert PLATFORM.event_key(body, {}) == body_key(body)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("false_120363@g.us_3EB0AA_1555@c.us", "false_120363@g.us_3EB0AA"),
        ("true_1555@c.us_3EB0AA", "true_1555@c.us_3EB0AA"),
        ("3EB0AA", "3EB0AA"),
    ],
)
def test_normalize_id(raw: str, normalized: str) -> None:
    assert normalize_id(raw) == normalized


def test_webjs_object_ids_are_serialized() -> None:
    payload = _fixture("message_text")["payload"]
    payload["id"] = {
        "fromMe": False,
        "remote": CUSTOMER,
        "id": "3EB0C767D26A1D8E7F41",
        "_serialized": "false_15551234567@c.us_3EB0C767D26A1D8E7F41",
    }
    assert parse_wamessage(payload).external_id == "false_15551234567@c.us_3EB0C767D26A1D8E7F41"
