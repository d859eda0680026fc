"""Small builders for platform payloads in their documented shapes, for tests that need exact ids and times."""

from __future__ import annotations

from typing import Any

PHONE_ID = "106540352242922"
WA_CUSTOMER = "16315551181"


def wa_envelope(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    base = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": {**base, **value}, "field": field}]}],
    }


def wa_text(
    mid: str,
    text: str,
    ts: int,
    *,
    frm: str = WA_CUSTOMER,
    name: str = "Kerry Fisher",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    msg = {"from": frm, "id": mid, "timestamp": str(ts), "type": "text", "text": {"body": text}, **(extra or {})}
    return wa_envelope({"contacts": [{"profile": {"name": name}, "wa_id": frm}], "messages": [msg]})


def wa_status(mid: str, status: str, ts: int, **extra: Any) -> dict[str, Any]:
    return wa_envelope(
        {"statuses": [{"id": mid, "status": status, "timestamp": str(ts), "recipient_id": WA_CUSTOMER, **extra}]}
    )


def wa_echo(mid: str, text: str, ts: int) -> dict[str, Any]:
    echo = {
        "from": "15550783881",
        "to": WA_CUSTOMER,
        "id": mid,
        "timestamp": str(ts),
        "type": "text",
        "text": {"body": text},
    }
    return wa_envelope({"message_echoes": [echo]}, field="smb_message_echoes")


def wa_reaction(mid: str, target: str, emoji: str, ts: int) -> dict[str, Any]:
    msg = {
        "from": WA_CUSTOMER,
        "id": mid,
        "timestamp": str(ts),
        "type": "reaction",
        "reaction": {"message_id": target, "emoji": emoji},
    }
    return wa_envelope({"contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": WA_CUSTOMER}], "messages": [msg]})


def wa_edit(mid: str, target: str, text: str, ts: int) -> dict[str, Any]:
    msg = {
        "from": WA_CUSTOMER,
        "id": mid,
        "timestamp": str(ts),
        "type": "edit",
        "edit": {"original_message_id": target, "message": {"type": "text", "text": {"body": text}}},
    }
    return wa_envelope({"contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": WA_CUSTOMER}], "messages": [msg]})


def wa_revoke(mid: str, target: str, ts: int) -> dict[str, Any]:
    msg = {
        "from": WA_CUSTOMER,
        "id": mid,
        "timestamp": str(ts),
        "type": "revoke",
        "revoke": {"original_message_id": target},
    }
    return wa_envelope({"contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": WA_CUSTOMER}], "messages": [msg]})


PAGE_ID = "104000000000001"
PSID = "6500000000000001"


def fb_entry(messaging: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": 1722503523000, "messaging": messaging}]}


def fb_echo(mid: str, text: str, ts_ms: int, *, metadata: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"mid": mid, "text": text, "is_echo": True, "app_id": 1517776481860111}
    if metadata:
        message["metadata"] = metadata
    return fb_entry([{"sender": {"id": PAGE_ID}, "recipient": {"id": PSID}, "timestamp": ts_ms, "message": message}])


def fb_delivery(watermark_ms: int) -> dict[str, Any]:
    return fb_entry(
        [
            {
                "sender": {"id": PSID},
                "recipient": {"id": PAGE_ID},
                "timestamp": watermark_ms,
                "delivery": {"watermark": watermark_ms},
            }
        ]
    )


def fb_read(watermark_ms: int) -> dict[str, Any]:
    return fb_entry(
        [
            {
                "sender": {"id": PSID},
                "recipient": {"id": PAGE_ID},
                "timestamp": watermark_ms,
                "read": {"watermark": watermark_ms},
            }
        ]
    )


def fb_text(mid: str, text: str, ts_ms: int) -> dict[str, Any]:
    return fb_entry(
        [
            {
                "sender": {"id": PSID},
                "recipient": {"id": PAGE_ID},
                "timestamp": ts_ms,
                "message": {"mid": mid, "text": text},
            }
        ]
    )


def fb_comment(comment_id: str, verb: str, ts: int, message: str | None = None) -> dict[str, Any]:
    """A Page ``feed`` change about a customer's comment under a post: ``add``, ``edited``, ``remove``."""
    value: dict[str, Any] = {
        "from": {"id": PSID, "name": "Lan Nguyen"},
        "post_id": f"{PAGE_ID}_900",
        "comment_id": comment_id,
        "parent_id": f"{PAGE_ID}_900",
        "created_time": ts,
        "item": "comment",
        "verb": verb,
    }
    if message is not None:
        value["message"] = message
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": ts, "changes": [{"field": "feed", "value": value}]}]}


def tg_text(
    update_id: int, message_id: int, text: str, date: int, *, chat_id: int = 424242, first_name: str = "Layla"
) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": first_name, "language_code": "ar"}
    message = {
        "message_id": message_id,
        "from": user,
        "chat": {"id": chat_id, "type": "private", "first_name": first_name},
        "date": date,
        "text": text,
    }
    if text.startswith("/"):  # Telegram marks commands with a bot_command entity
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}
