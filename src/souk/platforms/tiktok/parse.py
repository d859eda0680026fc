"""TikTok Business Messaging webhook → canonical events (protocols.md §6).

One delivery is one event: ``{"event", "user_openid": <business id>, "content": "<JSON string>", ...}``;
``content`` is also accepted as an object. Messages are keyed by ``message_id``, threaded by
``conversation_id``, timed in milliseconds.

* ``im_receive_msg``: a customer's message. text, image (``media_id``: download it with the client), and
  share_post (``MessageType.share``; the shared video is also the message's post :class:`Attribution`);
  stickers and anything newer are stored as ``unsupported``.
* ``im_send_msg``: the echo of a business-side message, ours or typed in the TikTok app; TikTok gives no
  marker to tell them apart, so it is ``native_app`` until the worker matches its ``message_id`` with an
  outbound send.
* ``im_mark_read_msg``: the customer read everything up to ``last_read_timestamp`` (a watermark). The same
  event for the business reading the thread says nothing about delivery and is :class:`Ignored`.
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
    UnknownKind,
    body_key,
    ts_millis,
    ts_seconds,
)

MESSAGE_EVENTS = ("im_receive_msg", "im_send_msg")
READ_EVENT = "im_mark_read_msg"
#: events TikTok sends that carry no conversation (the portal's "test webhook" ping)
UNUSED_EVENTS = frozenset({"tiktok.ping"})


def event_key(body: bytes) -> str:
    """``<event>:<message_id>`` for message events (two small json.loads), else the body hash."""
    try:
        envelope = json.loads(body)
        message_id = _content(envelope).get("message_id")
        if message_id and envelope["event"] in MESSAGE_EVENTS:
            return f"{envelope['event']}:{message_id}"
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return body_key(body)


def parse_event(body: bytes) -> list[Event]:
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise ParseError(f"TikTok webhook is not JSON: {exc}") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("event"), str):
        raise ParseError("not a TikTok webhook: no event name")
    event = envelope["event"]
    try:
        if event in MESSAGE_EVENTS:
            return [_message(envelope, _content(envelope))]
        if event == READ_EVENT:
            return [_read(envelope, _content(envelope))]
        key = f"{event}:{body_key(body)}"
        if event in UNUSED_EVENTS:
            return [Ignored(key=key, timestamp=_created(envelope), raw=envelope, reason=f"{event} not used")]
        reason = f"unknown TikTok event {event!r}"
        return [UnknownKind(key=key, timestamp=_created(envelope), raw=envelope, kind=event, reason=reason)]
    except Exception as exc:  # malformed content becomes a ParseFailure, never an exception
        reason = f"{event}: {type(exc).__name__}: {exc}"
        key = f"{event}:{body_key(body)}"
        return [ParseFailure(key=key, timestamp=_created(envelope), raw=envelope, reason=reason)]


def _content(envelope: dict[str, Any]) -> dict[str, Any]:
    content = envelope.get("content")
    if isinstance(content, str):
        content = json.loads(content)
    if not isinstance(content, dict):
        raise ValueError("content is not a JSON object")
    return content


def _message(envelope: dict[str, Any], content: dict[str, Any]) -> Message:
    business_id = str(envelope.get("user_openid") or "")
    message_id = str(content["message_id"])
    sender_id = str(content["from_user"]["id"])
    recipient_id = (content.get("to_user") or {}).get("id")
    outbound = envelope["event"] == "im_send_msg" or sender_id == business_id
    kind = content.get("type")
    text: str | None = None
    media: list[Media] = []
    attribution: Attribution | None = None
    metadata: dict[str, Any] = {}
    if kind == "text":
        message_type, text = MessageType.text, content["text"]["body"]
    elif kind == "image":
        message_type = MessageType.image
        media = [Media(kind="image", platform_media_id=str(content["image"]["media_id"]))]
    elif kind == "share_post":
        share = content["share_post"]
        message_type = MessageType.share
        metadata["embed_url"] = share["embed_url"]
        attribution = Attribution(source=MessageSource.post, source_url=share["embed_url"], raw=share)
    else:
        message_type = MessageType.unsupported
        metadata["tiktok_type"] = kind
    if outbound and content.get("to"):
        metadata["recipient_name"] = content["to"]
    referenced = (content.get("referenced_message_info") or {}).get("referenced_message_id")
    return Message(
        key=message_id,
        timestamp=ts_millis(content["timestamp"]),
        raw={**envelope, "content": content},
        external_id=message_id,
        thread_id=str(content["conversation_id"]),
        sender=Party(external_id=sender_id, name=content.get("from"), username=content.get("from")),
        message_type=message_type,
        text=text,
        direction="outbound" if outbound else "inbound",
        sent_by=SentBy.native_app if outbound else SentBy.customer,
        recipient_id=str(recipient_id) if recipient_id is not None else None,
        media=media,
        reply_to=str(referenced) if referenced else None,
        attribution=attribution,
        metadata=metadata,
    )


def _read(envelope: dict[str, Any], content: dict[str, Any]) -> Event:
    conversation_id = str(content["conversation_id"])
    reader = str(content["from_user"]["id"])
    last_read = content["read"]["last_read_timestamp"]
    watermark = ts_millis(last_read)
    raw = {**envelope, "content": content}
    if reader == str(envelope.get("user_openid") or ""):
        key = f"read:{conversation_id}:{reader}:{last_read}"
        return Ignored(key=key, timestamp=watermark, raw=raw, reason="the business read the conversation")
    return StatusUpdate(
        key=f"read:{conversation_id}:{last_read}",
        timestamp=watermark,
        raw=raw,
        status=DeliveryStatus.read,
        watermark=watermark,
        thread_id=conversation_id,
        recipient_id=reader,
    )


def _created(envelope: dict[str, Any]) -> datetime:
    """``create_time`` when the envelope has it (ms in the samples seen; seconds accepted), else now."""
    try:
        created = float(envelope["create_time"])
        return ts_millis(created) if created > 1e11 else ts_seconds(created)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)
