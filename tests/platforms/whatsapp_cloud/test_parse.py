"""WhatsApp Cloud API webhook payloads (one fixture per event kind) parsed into canonical events."""

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
from souk.platforms.whatsapp_cloud import PLATFORM

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOMER = "16315551181"
PHONE_NUMBER_ID = "106540352242922"
SENT_WAMID = "wamid.HBgLMTYzMTU1NTExODEVAgARGBJBQkNERUYxMjM0NTY3ODkwAA=="


def parse(name: str) -> list[Event]:
    return PLATFORM.parse((FIXTURES / f"{name}.json").read_bytes(), {})


def one(name: str) -> Any:
    events = parse(name)
    assert len(events) == 1, events
    return events[0]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_text_message_has_sender_profile_and_bsuid() -> None:
    message = one("text")
    assert isinstance(message, Message)
    assert message.key == message.external_id == "wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQTRBNjVFNzZBQ0YyMDM0MkE1NwA="
    assert message.thread_id == CUSTOMER
    assert message.sender.external_id == CUSTOMER
    assert message.sender.name == "Kerry Fisher"
    assert message.sender.phone == CUSTOMER
    assert message.sender.extra == {"user_id": "US.10987654321098765"}
    assert message.message_type is MessageType.text
    assert message.text == "Hi! Is the linen shirt still available in M?"
    assert message.timestamp == at(1722503523)
    assert (message.direction, message.sent_by) == ("inbound", SentBy.customer)
    assert message.reply_to is None and message.attribution is None
    assert message.raw["id"] == message.external_id


def test_image_with_caption() -> None:
    message = one("image")
    assert message.message_type is MessageType.image
    assert message.text == "This one please"
    assert message.media == [
        Media(
            kind="image",
            platform_media_id="1003383421387256",
            mime="image/jpeg",
            caption="This one please",
            sha256="Ws3xS8zQ1m7fQ0kIyvoYjXmYw4t6pGqMHn2bTZ0xJYc=",
        )
    ]


def test_video() -> None:
    message = one("video")
    assert message.message_type is MessageType.video
    assert message.text is None
    assert [(m.kind, m.platform_media_id, m.mime) for m in message.media] == [
        ("video", "2142336149521848", "video/mp4")
    ]


def test_audio_file_is_audio() -> None:
    message = one("audio")
    assert message.message_type is MessageType.audio
    assert [(m.kind, m.mime) for m in message.media] == [("audio", "audio/mpeg")]


def test_voice_note_is_voice() -> None:
    message = one("voice")
    assert message.message_type is MessageType.voice
    assert [(m.kind, m.platform_media_id, m.mime) for m in message.media] == [
        ("voice", "1226458721788735", "audio/ogg; codecs=opus")
    ]


def test_document_keeps_filename_and_caption() -> None:
    message = one("document")
    assert message.message_type is MessageType.document
    assert message.text == "My order list"
    assert (message.media[0].filename, message.media[0].caption) == ("order.pdf", "My order list")


def test_animated_sticker() -> None:
    message = one("sticker")
    assert message.message_type is MessageType.sticker
    assert message.media[0].kind == "sticker"
    assert message.metadata == {"animated": True}


def test_location() -> None:
    message = one("location")
    assert message.message_type is MessageType.location
    assert message.location == {
        "latitude": 10.7769,
        "longitude": 106.7009,
        "name": "Ben Thanh Market",
        "address": "Le Loi, District 1, Ho Chi Minh City",
        "url": "https://maps.example.com/?q=ben-thanh",
    }


def test_shared_contacts() -> None:
    message = one("contacts")
    assert message.message_type is MessageType.contacts
    assert message.contacts is not None
    assert message.contacts[0]["name"]["formatted_name"] == "Lan Nguyen"
    assert message.contacts[0]["phones"][0]["wa_id"] == "84901234567"


def test_button_reply_is_interactive_and_quotes_our_message() -> None:
    message = one("interactive_button_reply")
    assert message.message_type is MessageType.interactive
    assert message.interactive == {"type": "button_reply", "id": "size_m", "title": "Size M"}
    assert message.text == "Size M"
    assert message.reply_to == SENT_WAMID


def test_list_reply_keeps_description() -> None:
    message = one("interactive_list_reply")
    assert message.interactive == {
        "type": "list_reply",
        "id": "ship_express",
        "title": "Express",
        "description": "Delivered tomorrow",
    }


def test_flow_reply_decodes_response_json() -> None:
    message = one("interactive_nfm_reply")
    assert message.message_type is MessageType.interactive
    assert message.text == "Sent"
    assert message.interactive == {
        "type": "nfm_reply",
        "name": "flow",
        "body": "Sent",
        "response": {"flow_token": "order-42", "size": "M", "colour": "blue"},
    }


def test_interactive_without_body_is_unsupported_and_webhook_error_ignored() -> None:
    message, error = parse("interactive_without_body")
    assert isinstance(message, Message) and message.message_type is MessageType.unsupported
    assert isinstance(error, Ignored) and "131000" in error.reason


def test_template_quick_reply_button() -> None:
    message = one("button")
    assert message.message_type is MessageType.interactive
    assert message.interactive == {"type": "button", "title": "Track my order", "payload": "TRACK_ORDER_42"}
    assert message.text == "Track my order"
    assert message.reply_to == "wamid.HBgLMTYzMTU1NTExODEVAgARGBJURU1QTEFURTAwMDAwMDAwMDAA"


def test_reaction() -> None:
    reaction = one("reaction")
    assert isinstance(reaction, Reaction)
    assert reaction.key == "reaction:wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQVJFQUNUSU9OMDAwMDAwMDAxAA=="
    assert reaction.target_external_id == SENT_WAMID
    assert reaction.emoji == "\u2764\ufe0f"
    assert reaction.thread_id == CUSTOMER and reaction.sender.name == "Kerry Fisher"


def test_empty_emoji_removes_the_reaction() -> None:
    reaction = one("reaction_removed")
    assert isinstance(reaction, Reaction)
    assert reaction.emoji is None


def test_missing_emoji_removes_the_reaction() -> None:
    body = json.loads((FIXTURES / "reaction_removed.json").read_text())
    del body["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["emoji"]
    (reaction,) = PLATFORM.parse(json.dumps(body).encode(), {})
    assert isinstance(reaction, Reaction) and reaction.emoji is None


def test_order() -> None:
    message = one("order")
    assert message.message_type is MessageType.order
    assert message.text == "Please gift wrap"
    assert message.order == {
        "catalog_id": "823451267734915",
        "text": "Please gift wrap",
        "product_items": [
            {"product_retailer_id": "SHIRT-LINEN-M", "quantity": 2, "item_price": 350000, "currency": "VND"},
            {"product_retailer_id": "HAT-STRAW", "quantity": 1, "item_price": 120000, "currency": "VND"},
        ],
    }


def test_system_message_number_change() -> None:
    message = one("system_user_changed_number")
    assert message.message_type is MessageType.system
    assert message.text == "Kerry Fisher changed from 16315551181 to 16315551182"
    assert message.metadata["system"]["type"] == "user_changed_number"
    assert message.metadata["system"]["wa_id"] == "16315551182"


def test_request_welcome_is_a_system_message() -> None:
    message = one("request_welcome")
    assert message.message_type is MessageType.system
    assert message.metadata == {"system": {"type": "request_welcome"}}


def test_edit() -> None:
    edit = one("edit")
    assert isinstance(edit, Edit)
    assert edit.key == "edit:wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQUVESVQwMDAwMDAwMDAwMDAwMDAxAA=="
    assert edit.target_external_id == "wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQTRBNjVFNzZBQ0YyMDM0MkE1NwA="
    assert edit.new_text == "Hi! Is the linen shirt still available in L?"
    assert edit.thread_id == CUSTOMER and edit.timestamp == at(1722503760)


def test_revoke_is_a_deletion() -> None:
    deletion = one("revoke")
    assert isinstance(deletion, Deletion)
    assert deletion.target_external_id == "wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQUJDMTIzNDU2Nzg5MDEyMzQ1NgA="
    assert deletion.thread_id == CUSTOMER
    assert deletion.sender is not None and deletion.sender.external_id == CUSTOMER


def test_unsupported_message_is_kept_with_its_errors() -> None:
    message = one("unsupported")
    assert message.message_type is MessageType.unsupported
    assert message.metadata["errors"][0]["code"] == 131051


def test_unknown_message_type_is_kept_as_unsupported() -> None:
    body = json.loads((FIXTURES / "text.json").read_text())
    msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
    msg["type"] = "hologram"
    msg["hologram"] = {"id": "1"}
    (message,) = PLATFORM.parse(json.dumps(body).encode(), {})
    assert message.message_type is MessageType.unsupported
    assert message.metadata == {"original_type": "hologram"}


def test_reply_to_a_message() -> None:
    message = one("reply")
    assert message.reply_to == SENT_WAMID
    assert message.text == "Yes, that one"


def test_forwarded_flags_in_metadata() -> None:
    message = one("forwarded")
    assert message.metadata == {"forwarded": True, "frequently_forwarded": True}
    assert message.reply_to is None


def test_click_to_whatsapp_ad_referral() -> None:
    message = one("referral_ad")
    attribution = message.attribution
    assert attribution is not None
    assert attribution.source is MessageSource.ad
    assert attribution.ad_id == "120210000000000123" and attribution.post_id is None
    assert attribution.headline == "Linen shirts -20%"
    assert attribution.body == "Breathable linen for the summer"
    assert attribution.source_url == "https://fb.me/3cr4Wqqkv"
    assert attribution.ctwa_clid is not None and attribution.ctwa_clid.startswith("ARAkLkA8")
    assert attribution.raw["image_url"] == "https://scontent.example.com/ad.jpg"


def test_post_referral() -> None:
    attribution = one("referral_post").attribution
    assert attribution.source is MessageSource.post
    assert (attribution.post_id, attribution.ad_id, attribution.ctwa_clid) == ("987654321", None, None)
    assert attribution.raw["video_url"] == "https://video.example.com/post.mp4"


@pytest.mark.parametrize(
    ("name", "status", "seconds"),
    [
        ("status_sent", DeliveryStatus.sent, 1722503900),
        ("status_delivered", DeliveryStatus.delivered, 1722503905),
        ("status_read", DeliveryStatus.read, 1722503960),
    ],
)
def test_status_updates(name: str, status: DeliveryStatus, seconds: int) -> None:
    update = one(name)
    assert isinstance(update, StatusUpdate)
    assert update.key == f"status:{SENT_WAMID}:{status.value}"
    assert (update.status, update.target_external_id, update.timestamp) == (status, SENT_WAMID, at(seconds))
    assert update.thread_id == update.recipient_id == CUSTOMER
    assert update.watermark is None and update.error_code is None


def test_played_status_of_a_voice_note() -> None:
    update = one("status_played")
    assert update.status is DeliveryStatus.played
    assert update.target_external_id == "wamid.HBgLMTYzMTU1NTExODEVAgARGBJWT0lDRU5PVEUwMDAwMDAwMDAA"


def test_failed_status_carries_the_error() -> None:
    update = one("status_failed")
    assert update.status is DeliveryStatus.failed
    assert update.error_code == "131047"
    assert update.error_message is not None and "24 hours" in update.error_message


def test_failed_status_without_details_uses_the_title() -> None:
    body = json.loads((FIXTURES / "status_failed.json").read_text())
    error = body["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]
    del error["error_data"], error["message"]
    (update,) = PLATFORM.parse(json.dumps(body).encode(), {})
    assert (update.error_code, update.error_message) == ("131047", "Re-engagement message")


def test_business_app_echo_is_outbound_from_the_native_app() -> None:
    message = one("smb_message_echo_text")
    assert isinstance(message, Message)
    assert (message.direction, message.sent_by) == ("outbound", SentBy.native_app)
    assert message.thread_id == message.recipient_id == CUSTOMER
    assert message.sender.external_id == PHONE_NUMBER_ID
    assert message.text == "Yes we ship to Da Nang, 2 days"
    assert message.metadata == {"to_user_id": "US.10987654321098765"}


def test_business_app_edit_echo_with_swapped_from_and_to_keeps_the_customer_thread() -> None:
    edit = one("smb_message_echo_edit")
    assert isinstance(edit, Edit)
    assert edit.thread_id == CUSTOMER
    assert edit.sender.external_id == PHONE_NUMBER_ID
    assert edit.target_external_id == "wamid.HBgLMTYzMTU1NTExODEVAgARGBJFQ0hPMDAwMDAwMDAwMDAwMDAA"
    assert edit.new_text == "Yes we ship to Da Nang, 1-2 days"


def test_business_app_revoke_echo() -> None:
    deletion = one("smb_message_echo_revoke")
    assert isinstance(deletion, Deletion)
    assert deletion.thread_id == CUSTOMER
    assert deletion.target_external_id == "wamid.HBgLMTYzMTU1NTExODEVAgARGBJFQ0hPMDAwMDAwMDAwMDAwMDAA"


@pytest.mark.parametrize("name", ["account_update", "message_template_status_update"])
def test_management_fields_are_ignored(name: str) -> None:
    event = one(name)
    assert isinstance(event, Ignored)
    assert name in event.reason
    assert event.key.startswith(f"field:{name}:")


def test_batch_with_malformed_sub_events_keeps_the_siblings() -> None:
    events = parse("batch_with_malformed")
    kinds = [(type(e).__name__, getattr(e, "key", None)) for e in events]
    assert [k for k, _ in kinds] == ["Message", "ParseFailure", "Message", "StatusUpdate", "ParseFailure", "Message"]
    assert [e.external_id for e in events if isinstance(e, Message)] == ["wamid.BATCH1", "wamid.BATCH3", "wamid.BATCH4"]
    failures = [e for e in events if isinstance(e, ParseFailure)]
    assert failures[0].raw == {"from": CUSTOMER, "type": "text", "text": {"body": "no id and no timestamp"}}
    assert "id" in failures[0].reason
    assert failures[1].raw["id"] == "wamid.OUT2"
    last = events[-1]
    assert isinstance(last, Message) and (last.thread_id, last.sender.name) == ("84912345678", "Minh Tran")


def test_keys_are_stable_across_retries() -> None:
    first = [e.key for e in parse("batch_with_malformed")]
    assert first == [e.key for e in parse("batch_with_malformed")]
    assert len(set(first)) == len(first)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"object": "page", "entry": []}', b'{"object": "whatsapp_business_account"}'],
)
def test_unusable_body_raises_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        PLATFORM.parse(body, {})


def test_entry_without_changes_is_a_failure_not_an_error() -> None:
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1"}, "junk"]}
    events = PLATFORM.parse(json.dumps(body).encode(), {})
    assert [type(e) for e in events] == [ParseFailure, ParseFailure]
    assert events[1].raw == {"value": "junk"}
