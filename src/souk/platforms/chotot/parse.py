"""Chotot broker messages → canonical events (the assumed shape in docs/platforms/chotot.md).

Chotot has no webhooks: its chat events reach Souk on the broker subject ``vendors.chotot.<channel_id>`` (seed
002's inbound flow), one JSON object per message, or a JSON array when a relay batches them. Each object names
the shop account it was delivered for (``account_id``), which tells the shop's own messages from the buyer's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from souk.platforms.base import (
    Attribution,
    DeliveryStatus,
    Event,
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
    body_key,
    ts_millis,
)

#: attachment ``type`` → canonical media kind
ATTACHMENT_KINDS = {"image": "image", "video": "video", "audio": "audio", "file": "document", "sticker": "sticker"}


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ParseError(f"Chotot broker message is not JSON: {exc}") from exc


def _key(item: dict[str, Any]) -> str:
    if item.get("event") == "read":
        reader = (item.get("reader") or {}).get("id")
        return f"read:{item.get('channel_id')}:{item.get('message_id')}:{reader}"
    return str(item["message_id"])


def event_key(body: bytes) -> str:
    """``chotot:<message_id>`` for one message; the body hash for batches and anything unexpected."""
    try:
        item = json.loads(body)
        return f"chotot:{_key(item)}" if isinstance(item, dict) and item.get("message_id") else body_key(body)
    except (ValueError, KeyError, TypeError):
        return body_key(body)


def _attribution(item: dict[str, Any]) -> Attribution:
    """The listing the chat is about: Chotot chats always start from an ad (a post, in seed 001's terms)."""
    return Attribution(source=MessageSource.post, post_id=str(item["list_id"]), headline=item.get("name"), raw=item)


def _message(item: dict[str, Any]) -> Message:
    sender = item["sender"]
    outbound = bool(item.get("account_id")) and str(sender["id"]) == str(item["account_id"])
    marker = item.get("client_message_id") or None
    text = item.get("text") or None
    media, unknown = [], []
    for attachment in item.get("attachments") or []:
        kind = ATTACHMENT_KINDS.get(str(attachment.get("type")))
        if kind is None:  # kept as an unsupported message, never dropped
            unknown.append(attachment.get("type"))
            continue
        media.append(
            Media(
                kind=kind,
                url=attachment.get("url"),
                mime=attachment.get("mime_type"),
                size=attachment.get("size"),
                filename=attachment.get("name"),
                caption=text,
            )
        )
    listing = item.get("item") if isinstance(item.get("item"), dict) else None
    message_type = MessageType.text if text and not unknown else MessageType.unsupported
    metadata: dict[str, Any] = {"item": listing} if listing else {}
    if unknown:
        metadata["unsupported_attachments"] = unknown
    if media:
        message_type = MessageType(media[0].kind)
    return Message(
        key=str(item["message_id"]),
        timestamp=ts_millis(item["timestamp"]),
        raw=item,
        external_id=str(item["message_id"]),
        thread_id=str(item["channel_id"]),
        sender=Party(external_id=str(sender["id"]), name=sender.get("name")),
        message_type=message_type,
        text=text,
        direction="outbound" if outbound else "inbound",
        sent_by=(SentBy.souk if marker else SentBy.native_app) if outbound else SentBy.customer,
        recipient_id=str((item.get("recipient") or {}).get("id") or "") or None,
        media=media,
        reply_to=item.get("reply_to") or None,
        attribution=_attribution(listing) if listing and listing.get("list_id") is not None else None,
        echo_marker=marker if outbound else None,
        metadata=metadata,
    )


def _read(item: dict[str, Any]) -> Event:
    reader = str(item["reader"]["id"])
    timestamp = ts_millis(item["timestamp"])
    if item.get("account_id") and reader == str(item["account_id"]):
        return Ignored(key=_key(item), timestamp=timestamp, raw=item, reason="the shop read the buyer's messages")
    return StatusUpdate(
        key=_key(item),
        timestamp=timestamp,
        raw=item,
        status=DeliveryStatus.read,
        target_external_id=str(item["message_id"]),
        thread_id=str(item["channel_id"]),
        recipient_id=reader,
    )


def _event(item: dict[str, Any]) -> Event:
    kind = item.get("event")
    if kind == "message":
        return _message(item)
    if kind == "read":
        return _read(item)
    return Ignored(
        key=f"ignored:{kind}:{item.get('message_id') or item.get('timestamp')}",
        timestamp=ts_millis(item["timestamp"]),
        raw=item,
        reason=f"Chotot {kind} events are not used",
    )


def parse(body: bytes) -> list[Event]:
    data = _load(body)
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(item, dict) and "event" in item for item in items):
        raise ParseError("not a Chotot broker message: expected objects with an 'event' field")
    events: list[Event] = []
    for item in items:
        try:
            events.append(_event(item))
        except Exception as exc:  # a malformed message is kept for inspection; its siblings still parse
            timestamp = item.get("timestamp")
            events.append(
                ParseFailure(
                    key=f"failed:{item.get('message_id') or body_key(json.dumps(item, sort_keys=True).encode())}",
                    timestamp=ts_millis(timestamp) if isinstance(timestamp, int | float) else datetime.now(UTC),
                    raw=item,
                    reason=f"{type(exc).__name__}: {exc}",
                )
            )
    return events
