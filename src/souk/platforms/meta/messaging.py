"""The ``entry[].messaging[]`` webhook shape shared by Messenger (``object: page``) and Instagram (``object:
instagram``), turned into canonical events.

Each ``messaging`` (or ``standby``, when another app owns the thread) item holds exactly one event, recognised
by its key: ``message`` (customer messages and ``is_echo`` echoes of the business side), ``message_edit``,
``reaction``, ``delivery`` / ``read`` (watermarks; Instagram's ``read.mid`` is per message), ``postback`` and
``referral``. Every item is parsed on its own, so one malformed item becomes a :class:`ParseFailure` and never
drops its siblings. ``changes[]`` (comments, feed, the App Dashboard's test payloads) go to a per-platform
handler.

The thread of a conversation is the customer's page-/Instagram-scoped id: the sender of inbound events, the
recipient of echoes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from souk.platforms.base import (
    Attribution,
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
    Party,
    Reaction,
    SentBy,
    StatusUpdate,
    UnknownKind,
)

#: The prefix Souk puts in the Send API's ``message.metadata``, so that the echo of a send is known as ours.
MARKER_PREFIX = "souk:"

#: messaging[] keys we understand and deliberately leave alone (handover protocol, opt-ins, account linking).
_IGNORED_KINDS = (
    "optin",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "policy_enforcement",
    "account_linking",
    "messaging_feedback",
    "game_play",
    "response_feedback",
)

#: the keys every messaging[] item has besides the one naming its kind
_ENVELOPE_KEYS = frozenset({"sender", "recipient", "timestamp"})

_MEDIA_KINDS = {"image": "image", "video": "video", "audio": "audio", "file": "document"}
_SHARE_KINDS = frozenset({"share", "fallback", "ig_reel", "reel", "ig_post", "post", "ig_story"})

ChangeParser = Callable[[Mapping[str, Any], str | None, datetime], list[Event]]


def meta_time(value: Any) -> datetime:
    """A Meta timestamp as aware UTC: messaging events use milliseconds, ``changes`` and test payloads seconds
    (sometimes as strings); values past 1e11 can only be milliseconds (1e11 s is the year 5138)."""
    number = float(value)
    return datetime.fromtimestamp(number / 1000.0 if abs(number) >= 1e11 else number, UTC)


def raw_key(prefix: str, raw: Any) -> str:
    """A stable key for an event without a platform id: a retry carries the same sub-dict."""
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"{prefix}:{digest}"


def failure(raw: Any, when: datetime, reason: str) -> ParseFailure:
    """A sub-event kept for inspection with the reason it could not be understood."""
    kept = raw if isinstance(raw, dict) else {"value": raw}
    return ParseFailure(key=raw_key("failure", kept), timestamp=when, raw=kept, reason=reason)


def guarded(raw: Any, when: datetime, parse: Callable[[], list[Event]]) -> list[Event]:
    """Run one sub-event's parser; any error becomes a :class:`ParseFailure`, so siblings still parse."""
    try:
        return parse()
    except Exception as exc:  # a malformed sub-event may fail in any way; it must not drop the others
        return [failure(raw, when, f"{type(exc).__name__}: {exc}")]


def load_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or :class:`ParseError`."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ParseError("body is not a JSON object")
    return data


def referral_attribution(referral: Mapping[str, Any]) -> Attribution:
    """Attribution from a Messenger/Instagram ``referral`` (ads, m.me / ig.me links, chat plugin, product)."""
    context = referral.get("ads_context_data") or {}
    source = str(referral.get("source") or "").upper()
    if source == "ADS" or referral.get("ad_id"):
        return Attribution(
            source=MessageSource.ad,
            ad_id=_str(referral.get("ad_id")),
            post_id=_str(context.get("post_id")),
            ref=_str(referral.get("ref")),
            headline=context.get("ad_title"),
            source_url=context.get("photo_url") or context.get("video_url") or referral.get("referer_uri"),
            raw=dict(referral),
        )
    return Attribution(
        source=MessageSource.referral,
        ref=_str(referral.get("ref")),
        source_url=referral.get("referer_uri"),
        raw=dict(referral),
    )


def echo_sent_by(app_id: Any, marker: str | None, our_app_id: str | None = None) -> SentBy:
    """Who sent a message the Page/IG account echoes back (protocols.md §0 rule 5, §4.3).

    Ours when it carries our marker or our app id; a person in Meta's own apps when no app id is given; else
    another integration on the same Page. Meta sends ``app_id`` as a number, so it is compared as a string.
    """
    if (marker or "").startswith(MARKER_PREFIX) or (our_app_id and app_id is not None and str(app_id) == our_app_id):
        return SentBy.souk
    return SentBy.native_app if app_id in (None, "") else SentBy.other_app


def parse_messaging_body(
    body: bytes, *, object_type: str, change_parser: ChangeParser | None = None, our_app_id: str | None = None
) -> list[Event]:
    """Every event of a Messenger (``object_type="page"``) or Instagram (``"instagram"``) delivery.

    ``our_app_id`` (the channel's ``appID``) tells echoes of our own sends from other apps' when the caller
    knows the config; without it only the ``souk:`` metadata marker identifies ours.
    """
    data = load_json(body)
    changes = change_parser or default_change_parser(our_app_id)
    if "object" not in data and "field" in data and "value" in data:
        # The App Dashboard's "Test" button posts a bare {"field", "value"} (protocols.md §4.2).
        now = datetime.now(UTC)
        return guarded(data, now, lambda: changes(data, None, now))
    if data.get("object") != object_type:
        raise ParseError(f"object is {data.get('object')!r}, expected {object_type!r}")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise ParseError("entry is not a list")
    events: list[Event] = []
    for entry in entries:
        events.extend(_parse_entry(entry, changes, our_app_id))
    return events


def _parse_entry(entry: Any, changes: ChangeParser, our_app_id: str | None) -> list[Event]:
    if not isinstance(entry, dict):
        return [failure(entry, datetime.now(UTC), "entry is not an object")]
    entry_id = _str(entry.get("id"))
    when = meta_time(entry["time"]) if entry.get("time") else datetime.now(UTC)
    events: list[Event] = []
    for standby, items in ((False, entry.get("messaging")), (True, entry.get("standby"))):
        for item in items or []:
            events.extend(
                guarded(
                    item,
                    when,
                    lambda item=item, standby=standby: parse_messaging_event(
                        item, entry_id=entry_id, entry_time=when, standby=standby, our_app_id=our_app_id
                    ),
                )
            )
    for change in entry.get("changes") or []:
        events.extend(guarded(change, when, lambda change=change: changes(change, entry_id, when)))
    if "field" in entry and "value" in entry:  # the Instagram examples page puts one change in the entry itself
        events.extend(guarded(entry, when, lambda: changes(entry, entry_id, when)))
    return events


def default_change_parser(our_app_id: str | None = None) -> ChangeParser:
    """``changes[]`` handling for Messenger: a change whose value is a messaging event (the Dashboard's test
    payloads) is parsed as one; anything else (page management, and feed changes the Messenger parser leaves to
    it) is understood and ignored."""

    def parse(change: Mapping[str, Any], entry_id: str | None, when: datetime) -> list[Event]:
        value = change.get("value")
        if isinstance(value, dict) and "sender" in value:
            return parse_messaging_event(value, entry_id=entry_id, entry_time=when, our_app_id=our_app_id)
        return [
            Ignored(
                key=raw_key(f"change:{change.get('field')}", change),
                timestamp=when,
                raw=dict(change),
                reason=f"{change.get('field')} change is not a conversation event",
            )
        ]

    return parse


def parse_messaging_event(
    item: Mapping[str, Any],
    *,
    entry_id: str | None,
    entry_time: datetime,
    standby: bool = False,
    our_app_id: str | None = None,
) -> list[Event]:
    """The canonical events of one ``messaging[]`` / ``standby[]`` item."""
    raw = dict(item)
    sender = _party(item.get("sender") or {})
    recipient_id = _str((item.get("recipient") or {}).get("id"))
    when = meta_time(item["timestamp"]) if item.get("timestamp") else entry_time
    extra = {"standby": True} if standby else {}
    if "message" in item:
        return [_message(item["message"], raw, sender, recipient_id, when, extra, our_app_id)]
    if "message_edit" in item:
        edit = item["message_edit"]
        mid = edit["mid"]
        return [
            Edit(
                key=f"edit:{mid}:{edit.get('num_edit', '')}",
                timestamp=when,
                raw=raw,
                target_external_id=mid,
                thread_id=sender.external_id,
                sender=sender,
                new_text=edit.get("text"),
            )
        ]
    if "reaction" in item:
        reaction = item["reaction"]
        mid = reaction["mid"]
        action = reaction.get("action") or "react"
        emoji = None if action == "unreact" else (reaction.get("emoji") or reaction.get("reaction"))
        return [
            Reaction(
                key=f"reaction:{mid}:{sender.external_id}:{action}:{item.get('timestamp')}",
                timestamp=when,
                raw=raw,
                target_external_id=mid,
                thread_id=sender.external_id,
                sender=sender,
                emoji=emoji,
            )
        ]
    if "delivery" in item:
        return _receipts(item["delivery"], DeliveryStatus.delivered, raw, sender, when)
    if "read" in item:
        return _receipts(item["read"], DeliveryStatus.read, raw, sender, when)
    if "postback" in item:
        return [_postback(item["postback"], raw, sender, recipient_id, when, extra)]
    if "referral" in item:
        key = f"referral:{sender.external_id}:{item.get('timestamp')}"
        return [
            Message(
                key=key,
                timestamp=when,
                raw=raw,
                external_id=key,
                thread_id=sender.external_id,
                sender=sender,
                message_type=MessageType.system,
                recipient_id=recipient_id,
                attribution=referral_attribution(item["referral"]),
                metadata={**extra, "event": "referral"},
            )
        ]
    kind = next((k for k in _IGNORED_KINDS if k in item), None)
    if kind:
        return [Ignored(key=raw_key(f"ignored:{kind}", raw), timestamp=when, raw=raw, reason=f"{kind} event")]
    unknown = next((k for k in sorted(item) if k not in _ENVELOPE_KEYS), "none")
    reason = f"unknown messaging event {unknown!r} (keys {sorted(item)})"
    return [UnknownKind(key=raw_key(f"unknown:{unknown}", raw), timestamp=when, raw=raw, kind=unknown, reason=reason)]


def _message(
    msg: Mapping[str, Any],
    raw: dict[str, Any],
    sender: Party,
    recipient_id: str | None,
    when: datetime,
    extra: dict[str, Any],
    our_app_id: str | None,
) -> Event:
    mid = msg["mid"]
    is_echo = bool(msg.get("is_echo"))
    thread_id = recipient_id if is_echo else sender.external_id
    if not thread_id:
        raise ValueError("message has no customer id (recipient of an echo, sender otherwise)")
    if msg.get("is_deleted"):
        return Deletion(
            key=f"deleted:{mid}",
            timestamp=when,
            raw=raw,
            target_external_id=mid,
            thread_id=thread_id,
            sender=sender,
        )
    content = _content(msg)
    metadata = {**extra, **content.pop("metadata")}
    message = Message(
        key=mid,
        timestamp=when,
        raw=raw,
        external_id=mid,
        thread_id=thread_id,
        sender=sender,
        recipient_id=recipient_id,
        metadata=metadata,
        **content,
    )
    if is_echo:
        marker = msg.get("metadata")
        app_id = msg.get("app_id")
        message.direction = "outbound"
        message.sent_by = echo_sent_by(app_id, marker, our_app_id)
        message.echo_marker = marker or (str(app_id) if app_id is not None else None)
        if app_id is not None:
            message.metadata["app_id"] = str(app_id)
    return message


def _content(msg: Mapping[str, Any]) -> dict[str, Any]:
    """Type, text, media, reply, interactive, attribution and metadata of a ``message`` object."""
    text = msg.get("text")
    media: list[Media] = []
    metadata: dict[str, Any] = {}
    message_type: MessageType | None = None  # the first attachment decides; the text is then its caption
    location = interactive = attribution = None
    for attachment in msg.get("attachments") or []:
        kind = attachment.get("type")
        payload = attachment.get("payload") or {}
        if kind == "image" and (payload.get("sticker_id") or msg.get("sticker_id")):
            media.append(Media(kind="sticker", url=payload.get("url")))
            metadata["sticker_id"] = _str(payload.get("sticker_id") or msg.get("sticker_id"))
            message_type = message_type or MessageType.sticker
        elif kind in _MEDIA_KINDS:
            media.append(Media(kind=_MEDIA_KINDS[kind], url=payload.get("url")))
            message_type = message_type or MessageType(_MEDIA_KINDS[kind])
        elif kind == "location":
            coordinates = payload.get("coordinates") or {}
            location = {
                "latitude": coordinates.get("lat"),
                "longitude": coordinates.get("long"),
                "name": attachment.get("title") or payload.get("title"),
                "url": attachment.get("url") or payload.get("url"),
            }
            message_type = message_type or MessageType.location
        elif kind == "story_mention":
            attribution = Attribution(source=MessageSource.story, source_url=payload.get("url"), raw=dict(attachment))
            message_type = MessageType.story_mention
        elif kind in _SHARE_KINDS:
            title = {"title": attachment["title"]} if attachment.get("title") else {}
            metadata.setdefault("shares", []).append({"type": kind, **title, **payload})
            message_type = message_type or MessageType.share
        elif kind == "template":
            interactive = {"type": "template", "template": payload}
            text = text or payload.get("text")
            message_type = message_type or MessageType.interactive
        else:
            metadata.setdefault("unknown_attachments", []).append(attachment)
    if message_type is None and text:
        message_type = MessageType.text
    if msg.get("quick_reply"):
        interactive = {"type": "quick_reply", "title": text, "payload": msg["quick_reply"].get("payload")}
        message_type = MessageType.interactive
    reply = msg.get("reply_to") or {}
    if reply.get("story"):
        story = reply["story"]
        attribution = Attribution(
            source=MessageSource.story,
            post_id=_str(story.get("id")),
            source_url=story.get("url"),
            raw=dict(story),
        )
        message_type = MessageType.story_reply
    if msg.get("referral"):
        attribution = referral_attribution(msg["referral"])
    if reply.get("is_self_reply"):
        metadata["is_self_reply"] = True
    if msg.get("is_unsupported") or message_type is None:
        message_type = MessageType.unsupported
    return {
        "message_type": message_type,
        "text": text,
        "media": media,
        "location": location,
        "interactive": interactive,
        "attribution": attribution,
        "reply_to": _str(reply.get("mid")),
        "metadata": metadata,
    }


def _postback(
    postback: Mapping[str, Any],
    raw: dict[str, Any],
    sender: Party,
    recipient_id: str | None,
    when: datetime,
    extra: dict[str, Any],
) -> Message:
    """A button press (Get Started, persistent menu, template buttons, Icebreakers): interactive input."""
    external_id = postback.get("mid") or f"postback:{sender.external_id}:{raw.get('timestamp')}"
    referral = postback.get("referral")
    return Message(
        key=external_id,
        timestamp=when,
        raw=raw,
        external_id=external_id,
        thread_id=sender.external_id,
        sender=sender,
        message_type=MessageType.interactive,
        text=postback.get("title"),
        recipient_id=recipient_id,
        interactive={"type": "postback", "title": postback.get("title"), "payload": postback.get("payload")},
        attribution=referral_attribution(referral) if referral else None,
        metadata=dict(extra),
    )


def _receipts(
    receipt: Mapping[str, Any], status: DeliveryStatus, raw: dict[str, Any], sender: Party, when: datetime
) -> list[Event]:
    """Messenger watermarks (every message before it) and per-message ids (``mids``, Instagram's ``mid``)."""
    customer = sender.external_id
    watermark = meta_time(receipt["watermark"]) if receipt.get("watermark") else None
    if watermark and not raw.get("timestamp"):  # deliveries may carry timestamp 0: the watermark is the time
        when = watermark
    events: list[Event] = []
    mids = list(receipt.get("mids") or []) + ([receipt["mid"]] if receipt.get("mid") else [])
    for mid in mids:
        events.append(
            StatusUpdate(
                key=f"status:{mid}:{status.value}",
                timestamp=when,
                raw=raw,
                status=status,
                target_external_id=mid,
                thread_id=customer,
                recipient_id=customer,
            )
        )
    if watermark:
        events.append(
            StatusUpdate(
                key=f"{status.value}:{customer}:{receipt['watermark']}",
                raw=raw,
                status=status,
                timestamp=when,
                watermark=watermark,
                thread_id=customer,
                recipient_id=customer,
            )
        )
    if not events:
        raise ValueError(f"{status.value} receipt has neither mids, mid nor watermark")
    return events


def _party(sender: Mapping[str, Any]) -> Party:
    """The sender: a page-/Instagram-scoped id, or the chat plugin's ``user_ref`` for visitors without one."""
    if sender.get("id"):
        return Party(external_id=str(sender["id"]))
    if sender.get("user_ref"):
        return Party(external_id=str(sender["user_ref"]), extra={"user_ref": True})
    raise ValueError("sender has neither id nor user_ref")


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
