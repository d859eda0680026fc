"""The canonical model every platform parser produces, and the errors it may raise.

A webhook request is verified over its raw bytes (:class:`SignatureError` when forged or missing), given a cheap
event key for de-duplication at ingest (:func:`body_key` by default), and later parsed into a list of
:class:`Event` objects. One request may carry many events; a malformed sub-event becomes a :class:`ParseFailure`
so it never drops its siblings. Only a body that is not parseable at all raises :class:`ParseError`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class SignatureError(Exception):
    """The request is not from the platform: forged, missing or stale signature. ``status`` is 401 or 403."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class HandshakeError(Exception):
    """A GET verification handshake that must be refused (403)."""


class ParseError(Exception):
    """The whole body cannot be understood (not JSON, wrong envelope). Stored as a failed event, replayable."""


def body_key(body: bytes) -> str:
    """Default event key: a retry of the same delivery sends the same bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def ts_seconds(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


def ts_millis(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value) / 1000.0, UTC)


class MessageType(StrEnum):
    text = "text"
    image = "image"
    video = "video"
    audio = "audio"
    voice = "voice"
    document = "document"
    sticker = "sticker"
    location = "location"
    contacts = "contacts"
    order = "order"
    interactive = "interactive"  # button / list replies, quick replies, postbacks
    callback = "callback"  # Telegram callback_query
    command = "command"  # Telegram /command
    story_reply = "story_reply"
    story_mention = "story_mention"
    share = "share"
    post = "post"  # Telegram channel posts
    system = "system"
    unsupported = "unsupported"


class MessageSource(StrEnum):
    """Seed 001's message_source: where the conversation came from."""

    direct_message = "direct_message"
    ad = "ad"
    post = "post"
    post_comment = "post_comment"
    referral = "referral"  # m.me / ig.me links with ref, shortlinks, Telegram /start payloads
    story = "story"


class SentBy(StrEnum):
    customer = "customer"
    souk = "souk"  # one of our own sends (echo matched)
    native_app = "native_app"  # a person typing in the platform's own app
    other_app = "other_app"  # another integration on the same page/number
    bot = "bot"


@dataclass
class Party:
    external_id: str
    name: str | None = None
    username: str | None = None
    phone: str | None = None
    profile_pic: str | None = None
    is_bot: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. WhatsApp BSUID, language_code


@dataclass
class Media:
    kind: str  # image | video | audio | voice | document | sticker
    platform_media_id: str | None = None
    url: str | None = None
    mime: str | None = None
    size: int | None = None
    caption: str | None = None
    filename: str | None = None
    sha256: str | None = None


@dataclass
class Attribution:
    source: MessageSource
    ad_id: str | None = None
    post_id: str | None = None
    comment_id: str | None = None
    ref: str | None = None
    source_url: str | None = None
    headline: str | None = None
    body: str | None = None
    ctwa_clid: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Event:
    """Base of every canonical event. ``key`` de-duplicates it within its channel."""

    key: str
    timestamp: datetime
    raw: dict[str, Any]


@dataclass
class Message(Event):
    external_id: str  # the platform's message id, unique per channel
    thread_id: str  # the platform's conversation: chat id, wa_id, PSID, conversation_id
    sender: Party
    message_type: MessageType
    text: str | None = None
    direction: str = "inbound"  # "outbound" for echoes of the business side
    sent_by: SentBy = SentBy.customer
    recipient_id: str | None = None
    media: list[Media] = field(default_factory=list)
    reply_to: str | None = None  # external id of the quoted message
    location: dict[str, Any] | None = None
    contacts: list[dict[str, Any]] | None = None
    order: dict[str, Any] | None = None
    interactive: dict[str, Any] | None = None  # {"id", "title", "payload", ...}
    attribution: Attribution | None = None
    group: dict[str, Any] | None = None  # {"id", "participant", "topic_id", "title"}
    echo_marker: str | None = None  # our metadata marker / app id, for loop prevention
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reaction(Event):
    target_external_id: str
    thread_id: str
    sender: Party
    emoji: str | None  # None or "" = reaction removed


@dataclass
class Edit(Event):
    target_external_id: str
    thread_id: str
    sender: Party
    new_text: str | None


@dataclass
class Deletion(Event):
    target_external_id: str
    thread_id: str
    sender: Party | None = None


class DeliveryStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    delivered = "delivered"
    read = "read"
    played = "played"
    failed = "failed"

    @property
    def rank(self) -> int:
        return ["pending", "sent", "delivered", "read", "played", "failed"].index(self.value)


@dataclass
class StatusUpdate(Event):
    """A receipt for one of our messages, or a watermark (Messenger, TikTok) covering every earlier one."""

    status: DeliveryStatus
    target_external_id: str | None = None
    watermark: datetime | None = None
    thread_id: str | None = None
    recipient_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class SessionStatus(Event):
    """WAHA session lifecycle (STARTING, SCAN_QR_CODE, WORKING, FAILED, STOPPED …)."""

    status: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Typing(Event):
    """The customer started or stopped typing in a chat: shown live in the open inboxes, never stored."""

    thread_id: str
    sender: Party
    typing: bool


@dataclass
class Ignored(Event):
    """An event we understand and deliberately do nothing with (online/offline presence, management fields)."""

    reason: str


@dataclass
class UnknownKind(Event):
    """A well-formed envelope of an event kind the parser does not know (a new platform feature, a field Souk
    never subscribed to). Unlike :class:`Ignored` it is not a deliberate choice: the delivery ends ``failed`` with
    ``reason``, visible and replayable once a parser handles it (docs/decisions/0027)."""

    kind: str
    reason: str


@dataclass
class ParseFailure(Event):
    """A sub-event that could not be understood; kept with its reason so one bad event drops no sibling."""

    reason: str
