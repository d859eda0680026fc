"""Queueing replies: what each platform accepts, its messaging window, idempotency keys, and the outbox row.

A send is validated here against the channel's platform (content types, sizes, windows, templates) and stored in
one transaction as an outbound :class:`Message` (status ``pending``, ``sent_by: souk``) plus its
:class:`OutboundMessage` row; :mod:`souk.messaging.sender` does the platform call. Bad input raises before
anything is written, so a refused request queues nothing. The API, automations and the AI agent all call
:func:`queue_message`; services never commit, the caller does (and enqueues the outbox id after the commit).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import orjson
from pydantic import Field, model_validator
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from souk.channels.models import Channel, ChannelStatus
from souk.channels.service import client_for, platform_of
from souk.core import events
from souk.core.errors import Conflict, NotFound, Unprocessable, field_error
from souk.core.observability import log
from souk.core.schemas import Strict
from souk.db.types import utcnow
from souk.messaging.models import ChannelIdentity, Conversation, Customer, Direction, Message
from souk.messaging.outbox_models import IdempotencyKey, OutboundMessage, OutboundStatus
from souk.platforms.plugin import PlatformError

MB = 1024 * 1024
MEDIA_TYPES = frozenset({"image", "video", "audio", "voice", "document", "sticker"})
TEXT_TYPES = frozenset({"text", "buttons", "list", "quick_replies"})
MARKER_PREFIX = "souk:"

#: how long the customer-initiated windows stay open after the customer's last message
WHATSAPP_WINDOW = timedelta(hours=24)
META_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
TIKTOK_WINDOW = timedelta(hours=48)
TIKTOK_QUOTA = 10
TEMPLATE_CACHE_SECONDS = 300.0


# -- what each platform accepts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """A send rate: ``per_second`` sustained, ``burst`` sends allowed back to back (GCRA)."""

    per_second: float
    burst: int = 1

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        return (self.burst - 1) * self.interval


@dataclass(frozen=True)
class PlatformRules:
    """One platform's send rules, from docs/protocols.md (numbers tagged [S]/[R] there are best knowledge)."""

    types: frozenset[str]
    text_limit: int
    #: media types that carry a caption, and its length limit (none: send the text as its own message)
    captioned: frozenset[str] = frozenset()
    caption_limit: int = 1024
    #: largest upload per media type; empty means the platform takes media by URL only
    upload_limits: Mapping[str, int] = field(default_factory=dict)
    upload_mimes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_buttons: int = 0
    button_title: int = 20
    url_buttons: bool = False
    max_quick_replies: int = 0
    quick_reply_title: int = 20
    window: Literal["whatsapp", "meta", "tiktok"] | None = None
    #: the config key naming the business side (the message's ``sender_id``)
    sender_key: str | None = None
    #: how the metadata marker travels: ``marker`` (Meta metadata / biz_opaque_callback_data), ``client_message_id``
    marker_field: str | None = None
    channel_limit: Limit = Limit(10)
    recipient_limit: Limit | None = None
    group_limit: Limit | None = None
    #: a tighter channel-wide rate for heavy media (Meta: 10 calls/s for audio and video)
    media_limit: Limit | None = None
    #: what the sweeper does with an attempt interrupted between the platform call and the commit
    reconcile: Literal["idempotent", "history", "echo", "none"] = "none"


RULES: dict[str, PlatformRules] = {
    "whatsapp": PlatformRules(
        types=frozenset({"text", "image", "video", "audio", "document", "sticker", "template", "buttons", "list"}),
        text_limit=4096,
        captioned=frozenset({"image", "video", "document"}),
        upload_limits={"image": 5 * MB, "video": 16 * MB, "audio": 16 * MB, "document": 100 * MB, "sticker": MB // 2},
        upload_mimes={"image": ("image/jpeg", "image/png"), "sticker": ("image/webp",)},
        max_buttons=3,
        window="whatsapp",
        sender_key="phoneNumberID",
        marker_field="marker",
        channel_limit=Limit(80, 80),  # 80 messages/s per phone number
        recipient_limit=Limit(1 / 6, 45),  # pair rate: ~1 per 6 s, bursts up to 45
        reconcile="echo",  # statuses carry biz_opaque_callback_data
    ),
    "telegram": PlatformRules(
        types=frozenset(
            {"text", "image", "video", "audio", "voice", "document", "sticker", "buttons", "quick_replies"}
        ),
        text_limit=4096,
        captioned=frozenset({"image", "video", "audio", "voice", "document"}),
        upload_limits={
            "image": 10 * MB,
            "video": 50 * MB,
            "audio": 50 * MB,
            "voice": 50 * MB,
            "document": 50 * MB,
            "sticker": 50 * MB,
        },
        max_buttons=20,
        button_title=64,
        url_buttons=True,
        max_quick_replies=20,
        quick_reply_title=64,
        channel_limit=Limit(30),  # ~30 messages/s per bot
        recipient_limit=Limit(1),  # ~1 message/s per chat
        group_limit=Limit(20 / 60),  # 20 messages/min per group
        reconcile="none",  # no echo, no idempotency: an interrupted send's outcome is unknowable
    ),
    "messenger": PlatformRules(
        types=frozenset({"text", "image", "video", "audio", "document", "buttons", "quick_replies"}),
        text_limit=2000,
        max_buttons=3,
        url_buttons=True,
        max_quick_replies=13,
        upload_limits={"image": 25 * MB, "video": 25 * MB, "audio": 25 * MB, "document": 25 * MB},
        window="meta",
        sender_key="pageID",
        marker_field="marker",
        channel_limit=Limit(300),  # Send API: 300 calls/s per Page
        media_limit=Limit(10),  # 10 calls/s for audio and video
        reconcile="echo",
    ),
    "instagram": PlatformRules(
        types=frozenset({"text", "image", "video", "audio", "buttons", "quick_replies"}),
        text_limit=1000,
        max_buttons=3,
        url_buttons=True,
        max_quick_replies=13,
        window="meta",
        sender_key="instagramAccountID",
        marker_field="marker",
        channel_limit=Limit(300),
        media_limit=Limit(10),
        reconcile="echo",
    ),
    "tiktok": PlatformRules(
        types=frozenset({"text", "image"}),
        text_limit=6000,
        upload_limits={"image": 3 * MB},
        upload_mimes={"image": ("image/jpeg", "image/png")},
        window="tiktok",
        sender_key="businessID",
        channel_limit=Limit(10),  # undocumented; 40064 "too fast" is retried
        reconcile="none",  # the im_send_msg echo carries no marker
    ),
    "waha": PlatformRules(
        types=frozenset({"text", "image", "video", "audio", "voice", "document"}),
        text_limit=65536,
        captioned=frozenset({"image", "video", "audio", "voice", "document"}),
        caption_limit=4096,
        upload_limits={"image": 16 * MB, "video": 16 * MB, "audio": 16 * MB, "voice": 16 * MB, "document": 100 * MB},
        sender_key="sessionID",
        channel_limit=Limit(1, 3),  # pace a phone session: WhatsApp bans bursty numbers
        recipient_limit=Limit(1),
        reconcile="history",  # the chat's history shows whether the send went out
    ),
    "chotot": PlatformRules(
        types=frozenset({"text", "image", "video", "audio", "document"}),
        text_limit=2000,
        captioned=frozenset({"image", "video", "audio", "document"}),
        caption_limit=2000,
        sender_key="accountID",
        marker_field="client_message_id",
        channel_limit=Limit(10),  # assumed partner API: no documented limit
        reconcile="idempotent",  # client_message_id: a repeated send returns the first message
    ),
}


def rules_for(channel: Channel) -> PlatformRules:
    platform = platform_of(channel).channel_type
    rules = RULES.get(platform)
    if rules is None:
        raise Unprocessable(f"Souk cannot send through {platform} channels yet", channel_type=platform)
    return rules


def rate_limits(channel: Channel) -> dict[str, Limit | None]:
    """The channel's limits: the platform's, or ``metadata.send_rate_limits`` when the shop has a higher tier.

    ``{"channel": {"per_second": 1000, "burst": 1000}, "recipient": null}`` is WhatsApp's 1,000 mps tier
    without the pair limit, for example.
    """
    rules = rules_for(channel)
    limits: dict[str, Limit | None] = {
        "channel": rules.channel_limit,
        "recipient": rules.recipient_limit,
        "group": rules.group_limit,
        "media": rules.media_limit,
    }
    override = (channel.meta or {}).get("send_rate_limits")
    if isinstance(override, dict):
        for name, value in override.items():
            if name in limits and value is None:
                limits[name] = None
            elif name in limits and isinstance(value, dict) and float(value.get("per_second") or 0) > 0:
                limits[name] = Limit(float(value["per_second"]), max(1, int(value.get("burst") or 1)))
    return limits


def sender_id_of(channel: Channel) -> str:
    """The business side's id on the platform (phone number id, Page, bot, session, account)."""
    rules = rules_for(channel)
    if rules.sender_key and (channel.config or {}).get(rules.sender_key):
        return str(channel.config[rules.sender_key])
    token = (channel.secrets or {}).get("botToken")
    if isinstance(token, str) and ":" in token:
        return token.split(":", 1)[0]
    return channel.external_id or str(channel.id)


def marker_of(message_id: uuid.UUID) -> str:
    """The loop-prevention marker every send carries where the platform lets it: ``souk:<message uuid>``."""
    return f"{MARKER_PREFIX}{message_id}"


# -- the request ---------------------------------------------------------------------------------------------------

SendType = Literal[
    "text", "image", "video", "audio", "voice", "document", "sticker", "template", "buttons", "list", "quick_replies"
]


class MediaIn(Strict):
    url: str = Field(max_length=2048, description="An HTTPS URL the platform fetches the file from.")
    filename: str | None = Field(None, max_length=255, description="Shown for documents.")
    mime_type: str | None = Field(None, max_length=100, examples=["image/jpeg"])


class TemplateIn(Strict):
    name: str = Field(min_length=1, max_length=512, examples=["order_update"])
    language: str = Field("en_US", min_length=2, max_length=15, examples=["en_US"])
    components: list[dict[str, Any]] = Field(
        default_factory=list,
        description="WhatsApp template components with their parameters, as the Cloud API takes them.",
        examples=[[{"type": "body", "parameters": [{"type": "text", "text": "#123"}]}]],
    )


class ButtonIn(Strict):
    id: str | None = Field(None, max_length=256, description="What comes back when the customer taps it.")
    title: str = Field(min_length=1, max_length=64)
    url: str | None = Field(None, max_length=2048, description="A link button (Messenger, Instagram, Telegram).")


class ListRowIn(Strict):
    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=24)
    description: str | None = Field(None, max_length=72)


class ListSectionIn(Strict):
    title: str | None = Field(None, max_length=24)
    rows: list[ListRowIn] = Field(min_length=1)


class ListIn(Strict):
    button: str = Field(min_length=1, max_length=20, description="The label of the button that opens the list.")
    sections: list[ListSectionIn] = Field(min_length=1, max_length=10)


class QuickReplyIn(Strict):
    title: str = Field(min_length=1, max_length=64)
    payload: str | None = Field(None, max_length=1000)


# aliases: inside SendMessageIn the field ``list`` shadows the builtin for every annotation
Buttons = list[ButtonIn]
QuickReplies = list[QuickReplyIn]


class SendMessageIn(Strict):
    """One reply. ``type`` defaults to ``text`` (or to the kind of object given: template, buttons, list...)."""

    type: SendType = "text"
    text: str | None = Field(None, max_length=65536, description="The text, or the body of buttons/lists.")
    media: MediaIn | None = Field(None, description="Media by URL (uploads use multipart/form-data).")
    caption: str | None = Field(None, max_length=4096)
    template: TemplateIn | None = Field(None, description="A WhatsApp message template.")
    buttons: Buttons | None = Field(None, max_length=100)
    list: ListIn | None = Field(None, description="A WhatsApp list message.")
    quick_replies: QuickReplies | None = Field(None, max_length=100)
    reply_to: str | None = Field(
        None, max_length=255, description="A message of this conversation to quote: its Souk id or platform id."
    )
    tag: Literal["HUMAN_AGENT"] | None = Field(
        None, description="Messenger/Instagram: send up to 7 days after the customer's last message."
    )
    message_thread_id: int | None = Field(None, description="Telegram forum topic (defaults to the quoted one).")

    @model_validator(mode="before")
    @classmethod
    def _infer_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" not in data:
            for kind in ("template", "buttons", "list", "quick_replies"):
                if data.get(kind) is not None:
                    return {**data, "type": kind}
        return data


@dataclass
class Upload:
    """A file sent with the request (multipart)."""

    filename: str
    mime: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Sender:
    """Who asked for the send (kept in ``message_metadata.sender``)."""

    type: str  # "user" | "api_key" | "automation" | "agent"
    id: str | None
    label: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "label": self.label}


@dataclass
class Queued:
    message: Message
    outbox: OutboundMessage
    replayed: bool = False


class WindowClosed(Unprocessable):
    """The platform's messaging window is closed for this kind of message."""

    title, slug = "Messaging window closed", "window-closed"


class ChannelUnavailable(Unprocessable):
    title, slug = "Channel cannot send", "channel-unavailable"


def request_hash(conversation_id: uuid.UUID, body: Mapping[str, Any], upload: Upload | None) -> str:
    """What makes two requests "the same" for an idempotency key: the conversation, the body, the file's bytes."""
    canonical = orjson.dumps(
        {"conversation": str(conversation_id), "body": body, "file": upload.sha256 if upload else None},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


# -- validation ----------------------------------------------------------------------------------------------------


def _refuse(message: str, errors: list[dict[str, Any]], **extra: Any) -> Unprocessable:
    return Unprocessable(message, errors=errors, **extra)


def _human_size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.0f} KB"


def validate_content(platform: str, rules: PlatformRules, body: SendMessageIn, upload: Upload | None) -> None:
    """Refuse what ``platform`` cannot send, naming the field; nothing is stored when this raises."""
    kind = body.type
    if kind not in rules.types:
        supported = ", ".join(sorted(rules.types))
        raise _refuse(
            f"{platform} channels cannot send {kind} messages (supported: {supported})",
            [field_error("type", f"not supported on {platform}", "unsupported")],
        )
    if kind in TEXT_TYPES:
        if not (body.text or "").strip():
            raise _refuse("the message is empty", [field_error("text", "must not be empty", "missing")])
        if len(body.text or "") > rules.text_limit:
            raise _refuse(
                f"the text is longer than {platform} accepts ({rules.text_limit} characters)",
                [field_error("text", f"at most {rules.text_limit} characters on {platform}", "too_long")],
            )
    elif body.text is not None:
        raise _refuse(
            f"{kind} messages take no text (use caption for media)",
            [field_error("text", f"not used by {kind} messages", "extra_forbidden")],
        )
    if kind in MEDIA_TYPES:
        _validate_media(platform, rules, body, upload)
    elif body.media is not None or upload is not None or body.caption is not None:
        name = "media" if body.media is not None else "file" if upload is not None else "caption"
        raise _refuse(f"{kind} messages carry no media", [field_error(name, f"not used by {kind} messages")])
    if kind == "template" and body.template is None:
        raise _refuse("a template message needs template", [field_error("template", "required", "missing")])
    if kind == "buttons":
        _validate_buttons(platform, rules, body)
    if kind == "list":
        _validate_list(body)
    if kind == "quick_replies":
        options = body.quick_replies or []
        if not options or len(options) > rules.max_quick_replies:
            raise _refuse(
                f"{platform} takes 1 to {rules.max_quick_replies} quick replies",
                [field_error("quick_replies", f"1 to {rules.max_quick_replies} items", "length")],
            )
        for i, option in enumerate(options):
            if len(option.title) > rules.quick_reply_title:
                raise _refuse(
                    f"quick reply titles are at most {rules.quick_reply_title} characters on {platform}",
                    [field_error(f"quick_replies.{i}.title", f"at most {rules.quick_reply_title} characters")],
                )
    for name in ("template", "buttons", "list", "quick_replies"):
        if getattr(body, name) is not None and name != kind:
            raise _refuse(
                f"{name} is only used by {name} messages", [field_error(name, f"not used by {kind} messages")]
            )
    if body.tag is not None and rules.window != "meta":
        raise _refuse("tag is for Messenger and Instagram", [field_error("tag", f"not used on {platform}")])
    if body.message_thread_id is not None and platform != "telegram":
        raise _refuse(
            "message_thread_id is for Telegram", [field_error("message_thread_id", f"not used on {platform}")]
        )


def _validate_media(platform: str, rules: PlatformRules, body: SendMessageIn, upload: Upload | None) -> None:
    kind = body.type
    if body.media is None and upload is None:
        raise _refuse(
            f"a {kind} message needs media (a URL) or an uploaded file",
            [field_error("media", "required: media.url, or a file in multipart/form-data", "missing")],
        )
    if body.media is not None and not body.media.url.startswith(("https://", "http://")):
        raise _refuse("media.url must be an http(s) URL", [field_error("media.url", "not an http(s) URL")])
    if upload is not None:
        limit = rules.upload_limits.get(kind)
        if not rules.upload_limits:
            raise _refuse(
                f"{platform} takes media by URL only; give media.url instead of uploading a file",
                [field_error("file", f"uploads are not supported on {platform}", "unsupported")],
            )
        if not upload.data:
            raise _refuse("the uploaded file is empty", [field_error("file", "empty file", "missing")])
        if limit is not None and len(upload.data) > limit:
            raise _refuse(
                f"the file is {_human_size(len(upload.data))}; {platform} accepts {kind} files up to "
                f"{_human_size(limit)}",
                [field_error("file", f"larger than {_human_size(limit)}", "too_large")],
                size=len(upload.data),
                max_size=limit,
            )
    allowed_mimes = rules.upload_mimes.get(kind)
    mime = upload.mime if upload is not None else (body.media.mime_type if body.media else None)
    if allowed_mimes and mime and mime.split(";")[0].strip().lower() not in allowed_mimes:
        raise _refuse(
            f"{platform} accepts {kind} files of type {', '.join(allowed_mimes)} (got {mime})",
            [field_error("file" if upload is not None else "media.mime_type", "unsupported media type")],
        )
    if body.caption is not None:
        if kind not in rules.captioned:
            raise _refuse(
                f"{platform} {kind} messages carry no caption; send the text as its own message",
                [field_error("caption", f"not supported for {kind} on {platform}", "unsupported")],
            )
        if len(body.caption) > rules.caption_limit:
            raise _refuse(
                f"captions are at most {rules.caption_limit} characters on {platform}",
                [field_error("caption", f"at most {rules.caption_limit} characters", "too_long")],
            )


def _validate_buttons(platform: str, rules: PlatformRules, body: SendMessageIn) -> None:
    buttons = body.buttons or []
    if not buttons or len(buttons) > rules.max_buttons:
        raise _refuse(
            f"{platform} takes 1 to {rules.max_buttons} buttons",
            [field_error("buttons", f"1 to {rules.max_buttons} items", "length")],
        )
    for i, button in enumerate(buttons):
        if len(button.title) > rules.button_title:
            raise _refuse(
                f"button titles are at most {rules.button_title} characters on {platform}",
                [field_error(f"buttons.{i}.title", f"at most {rules.button_title} characters", "too_long")],
            )
        if button.url is not None and not rules.url_buttons:
            raise _refuse(f"{platform} has no link buttons", [field_error(f"buttons.{i}.url", "not supported")])
        if button.url is None and not button.id:
            raise _refuse("a reply button needs an id", [field_error(f"buttons.{i}.id", "required", "missing")])
        if platform == "telegram" and button.id and len(button.id.encode()) > 64:
            raise _refuse(
                "Telegram button ids are at most 64 bytes", [field_error(f"buttons.{i}.id", "at most 64 bytes")]
            )


def _validate_list(body: SendMessageIn) -> None:
    if body.list is None:
        raise _refuse("a list message needs list", [field_error("list", "required", "missing")])
    rows = sum(len(section.rows) for section in body.list.sections)
    if rows > 10:
        raise _refuse(
            "a WhatsApp list has at most 10 rows in total", [field_error("list.sections", "more than 10 rows")]
        )


# -- windows and templates -----------------------------------------------------------------------------------------

_templates_cache: dict[uuid.UUID, tuple[float, list[dict[str, Any]]]] = {}


async def whatsapp_templates(channel: Channel, http: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    """The channel's approved templates (cached a few minutes per process); None when they cannot be listed."""
    cached = _templates_cache.get(channel.id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    client = client_for(channel, http)
    try:
        raw = await client.list_templates()  # type: ignore[attr-defined]
    except (PlatformError, AttributeError) as exc:
        log.info("whatsapp templates not available", channel_id=str(channel.id), error=str(exc))
        return None
    approved = [
        {
            "name": t.get("name"),
            "language": t.get("language"),
            "category": t.get("category"),
            "body": next((c.get("text") for c in t.get("components") or [] if c.get("type") == "BODY"), None),
        }
        for t in raw
        if str(t.get("status", "APPROVED")).upper() == "APPROVED"
    ]
    _templates_cache[channel.id] = (time.monotonic() + TEMPLATE_CACHE_SECONDS, approved)
    return approved


def template_parameters(body: str | None) -> int:
    """How many distinct ``{{n}}`` placeholders a template body has (what a send must fill)."""
    return len(set(re.findall(r"\{\{\s*(\w+)\s*\}\}", body or "")))


async def templates_for(
    session: AsyncSession, conversation_id: uuid.UUID, *, http: httpx.AsyncClient
) -> list[dict[str, Any]] | None:
    """The approved templates the conversation's channel can send (with their parameter count): empty for a platform
    without templates, None when WhatsApp could not list them."""
    conversation = await session.scalar(select(Conversation).where(Conversation.id == conversation_id))
    if conversation is None:
        raise NotFound("no such conversation")
    channel = await session.scalar(select(Channel).where(Channel.id == conversation.channel_id))
    if channel is None or "template" not in rules_for(channel).types:
        return []
    templates = await whatsapp_templates(channel, http)
    if templates is None:
        return None
    return [{**t, "parameters": template_parameters(t.get("body"))} for t in templates]


def _check_template(body: SendMessageIn, templates: list[dict[str, Any]] | None) -> None:
    assert body.template is not None
    if templates is None:
        return  # cannot list them (no business account id, Graph down): the platform will judge
    wanted = (body.template.name, body.template.language)
    match = next((t for t in templates if (t["name"], t["language"]) == wanted), None)
    if match is None:
        names = sorted({f"{t['name']} ({t['language']})" for t in templates})
        raise _refuse(
            f"no approved template {wanted[0]!r} in language {wanted[1]!r}",
            [field_error("template.name", "unknown template", "unknown")],
            templates=templates,
            known=names,
        )
    expected = template_parameters(match.get("body"))
    given = sum(
        len(c.get("parameters") or []) for c in body.template.components if str(c.get("type", "")).lower() == "body"
    )
    if expected != given:
        raise _refuse(
            f"template {wanted[0]!r} has {expected} body parameter(s); {given} given",
            [field_error("template.components", f"{expected} body parameter(s) expected")],
        )


_WINDOWS: dict[str, tuple[str, timedelta]] = {
    "whatsapp": ("whatsapp_customer_service", WHATSAPP_WINDOW),
    "meta": ("standard_messaging", META_WINDOW),
    "tiktok": ("tiktok", TIKTOK_WINDOW),
}


def reply_window(channel: Channel, last_inbound_at: datetime | None, now: datetime) -> dict[str, Any] | None:
    """Where the conversation's messaging window stands (what the inbox shows before a send is refused); None for
    platforms without one. The same rules as :func:`check_window`, except TikTok's per-window quota."""
    try:
        rules = rules_for(channel)
    except Exception:  # a platform Souk cannot send through: no window to speak of
        return None
    if rules.window is None:
        return None
    kind, length = _WINDOWS[rules.window]
    closes_at = last_inbound_at + length if last_inbound_at is not None else None
    if rules.window == "whatsapp":
        when_closed = "template"
    elif rules.window == "meta" and last_inbound_at is not None and now - last_inbound_at <= HUMAN_AGENT_WINDOW:
        when_closed = "human_agent_tag"
    else:
        when_closed = "nothing"
    return {
        "kind": kind,
        "hours": int(length.total_seconds() // 3600),
        "open": closes_at is not None and now <= closes_at,
        "closes_at": closes_at,
        "when_closed": when_closed,
    }


async def check_window(
    session: AsyncSession,
    channel: Channel,
    conversation: Conversation,
    body: SendMessageIn,
    *,
    http: httpx.AsyncClient,
    now: datetime,
) -> None:
    """Refuse a send the platform would refuse for timing: WhatsApp 24 h, Messenger/Instagram 24 h + HUMAN_AGENT
    7 days, TikTok 48 h and 10 messages. Telegram, WAHA and Chotot have no window."""
    rules = rules_for(channel)
    last = conversation.last_inbound_at
    since = now - last if last is not None else None
    info = {"last_inbound_at": last.isoformat() if last else None}
    if rules.window == "whatsapp":
        if body.type == "template":
            _check_template(body, await whatsapp_templates(channel, http))
            return
        if since is None or since > WHATSAPP_WINDOW:
            templates = await whatsapp_templates(channel, http)
            listed = "; templates: " + ", ".join(t["name"] for t in templates) if templates else ""
            raise WindowClosed(
                "WhatsApp's 24-hour customer service window is closed"
                + (f" (the customer last wrote at {last.isoformat()})" if last else " (the customer never wrote)")
                + f": only an approved template can be sent{listed}",
                errors=[field_error("type", "only template messages outside the 24-hour window", "window_closed")],
                window={"kind": "whatsapp_customer_service", "hours": 24, **info},
                templates=templates or [],
            )
    elif rules.window == "meta":
        if since is not None and since <= META_WINDOW:
            return
        if body.tag == "HUMAN_AGENT" and since is not None and since <= HUMAN_AGENT_WINDOW:
            return
        if since is not None and since <= HUMAN_AGENT_WINDOW:
            hint = "; a person may still answer for 7 days: send with tag HUMAN_AGENT"
        else:
            hint = "; the HUMAN_AGENT tag reaches 7 days, which have passed too" if since else ""
        raise WindowClosed(
            "the 24-hour standard messaging window is closed" + hint,
            errors=[field_error("tag", "outside the window: HUMAN_AGENT up to 7 days", "window_closed")],
            window={"kind": "standard_messaging", "hours": 24, "human_agent_days": 7, **info},
        )
    elif rules.window == "tiktok":
        if since is None or since > TIKTOK_WINDOW:
            raise WindowClosed(
                "TikTok lets a business answer only within 48 hours of the customer's last message",
                errors=[field_error("type", "outside TikTok's 48-hour window", "window_closed")],
                window={"kind": "tiktok", "hours": 48, "quota": TIKTOK_QUOTA, **info},
            )
        sent = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.outbound,
                Message.status != "failed",
                Message.timestamp > last,
            )
        )
        if (sent or 0) >= TIKTOK_QUOTA:
            raise WindowClosed(
                f"TikTok allows {TIKTOK_QUOTA} messages per customer message; wait for the customer to write",
                errors=[field_error("type", f"{TIKTOK_QUOTA} messages already sent in this window", "quota")],
                window={"kind": "tiktok", "hours": 48, "quota": TIKTOK_QUOTA, "sent": sent, **info},
            )


def check_channel(channel: Channel) -> None:
    if channel.deleted_at is not None:
        raise ChannelUnavailable(
            "the conversation's channel was deleted",
            errors=[field_error("channel", "deleted")],
            channel_id=str(channel.id),
        )
    if channel.status != ChannelStatus.active:
        raise ChannelUnavailable(
            f"the channel {channel.name!r} is {channel.status}: activate it to send",
            errors=[field_error("channel", f"channel is {channel.status}", "inactive")],
            channel_id=str(channel.id),
            channel_status=channel.status,
        )


# -- building the platform request ---------------------------------------------------------------------------------


def build_content(
    platform: str,
    rules: PlatformRules,
    body: SendMessageIn,
    *,
    message_id: uuid.UUID,
    reply_to: str | None,
    thread_id: int | None,
) -> dict[str, Any]:
    """The content dict the platform client's ``send_message`` takes (uploads are added by the sender)."""
    kind = body.type
    content: dict[str, Any] = {"type": kind}
    if kind == "text":
        content["text"] = body.text
    elif kind in MEDIA_TYPES:
        if body.media is not None:
            content["url"] = body.media.url
            if body.media.filename:
                content["filename"] = body.media.filename
            if body.media.mime_type:
                content["mimetype"] = body.media.mime_type
        if body.caption:
            content["caption"] = body.caption
    elif kind == "template":
        assert body.template is not None
        content.update(body.template.model_dump())
    elif kind == "buttons":
        content["text"] = body.text
        content["buttons"] = [b.model_dump(exclude_none=True) for b in body.buttons or []]
    elif kind == "list":
        assert body.list is not None
        content.update(
            text=body.text, button=body.list.button, sections=body.list.model_dump(exclude_none=True)["sections"]
        )
    elif kind == "quick_replies":
        content["text"] = body.text
        content["options"] = [o.model_dump(exclude_none=True) for o in body.quick_replies or []]
    if reply_to:
        content["reply_to"] = reply_to
    if body.tag:
        content["tag"] = body.tag
    if thread_id is not None:
        content["message_thread_id"] = thread_id
    if rules.marker_field:
        content[rules.marker_field] = marker_of(message_id)
    return content


def summary_text(body: SendMessageIn) -> str | None:
    """What the inbox shows as the message's text."""
    if body.type in TEXT_TYPES:
        return body.text
    if body.type == "template" and body.template is not None:
        return f"[template {body.template.name} ({body.template.language})]"
    return body.caption


def message_type_of(kind: str) -> str:
    return "interactive" if kind in ("buttons", "list", "quick_replies") else kind


async def _resolve_reply(session: AsyncSession, conversation: Conversation, reply_to: str) -> tuple[str, Message]:
    """A Souk id or a platform id of a message in this conversation → its platform id."""
    conditions = [Message.external_id == reply_to]
    with contextlib.suppress(ValueError):
        conditions.append(Message.id == uuid.UUID(reply_to))
    target = await session.scalar(
        select(Message).where(Message.conversation_id == conversation.id, or_(*conditions)).limit(1)
    )
    if target is None:
        raise _refuse("reply_to names no message of this conversation", [field_error("reply_to", "not found")])
    if not target.external_id:
        raise _refuse(
            "the quoted message has no platform id yet (it is not sent)", [field_error("reply_to", "not sent yet")]
        )
    return target.external_id, target


#: a Messenger/Instagram recipient that is a comment (a private reply), not a person's inbox id
COMMENT_RECIPIENT = "comment:"


async def _recipient(session: AsyncSession, platform: str, conversation: Conversation) -> str:
    """Who the platform addresses: the thread (chat, wa_id, PSID, conversation), or for Chotot the buyer.

    A Messenger or Instagram conversation whose customer last wrote in a comment under a post is answered with a
    private reply to that comment: the commenter's id is no inbox Meta can write to until they answer in the
    chat, which then arrives as a direct message and is answered the usual way.
    """
    if platform in ("messenger", "instagram"):
        latest = (
            await session.execute(
                select(Message.message_source, Message.comment_id)
                .where(Message.conversation_id == conversation.id, Message.direction == Direction.inbound)
                .order_by(Message.timestamp.desc())
                .limit(1)
            )
        ).first()
        if latest is not None and latest.message_source == "post_comment" and latest.comment_id:
            return f"{COMMENT_RECIPIENT}{latest.comment_id}"
    if platform != "chotot":
        return conversation.external_thread_id
    if conversation.identity_id is not None:
        identity = await session.scalar(select(ChannelIdentity).where(ChannelIdentity.id == conversation.identity_id))
        if identity is not None:
            return identity.external_id
    customer = await session.scalar(select(Customer).where(Customer.id == conversation.customer_id))
    if customer is None or not customer.psid:
        raise _refuse("the conversation has no Chotot buyer to write to", [field_error("conversation", "no buyer")])
    return customer.psid


# -- idempotency ---------------------------------------------------------------------------------------------------


async def _replay(session: AsyncSession, key: IdempotencyKey, digest: str) -> Queued:
    if key.request_hash != digest:
        raise _refuse(
            "this Idempotency-Key was used with a different request; use a new key for a new message",
            [field_error("header.Idempotency-Key", "reused with a different request", "idempotency_conflict")],
        )
    message = await session.scalar(select(Message).where(Message.id == key.message_id))
    outbox = await session.scalar(select(OutboundMessage).where(OutboundMessage.message_id == key.message_id))
    if message is None or outbox is None:
        raise Conflict("the message this Idempotency-Key created no longer exists")
    return Queued(message, outbox, replayed=True)


async def _existing_key(session: AsyncSession, key: str) -> IdempotencyKey | None:
    return await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == key))


async def _claim_key(session: AsyncSession, tenant_id: uuid.UUID, key: str, digest: str) -> uuid.UUID | None:
    """Insert the key unless it exists (waits for a concurrent request holding it); its row id, or None if taken."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    row_id = uuid.uuid4()
    stmt = (
        insert(IdempotencyKey)
        .values(id=row_id, tenant_id=tenant_id, key=key, request_hash=digest, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        .returning(IdempotencyKey.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# -- commands ------------------------------------------------------------------------------------------------------


async def queue_message(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    body: SendMessageIn,
    *,
    sender: Sender,
    http: httpx.AsyncClient,
    upload: Upload | None = None,
    idempotency_key: str | None = None,
    digest: str | None = None,
) -> Queued:
    """Validate and store one outbound message with its outbox row; emits ``message.created``.

    With ``idempotency_key`` (and the request's ``digest``), a repeat of the same request returns the first
    message (``replayed``) and a different request under the same key is a 422.
    """
    conversation = await session.scalar(select(Conversation).where(Conversation.id == conversation_id))
    if conversation is None:
        raise NotFound("no such conversation")
    if idempotency_key is not None:
        digest = digest or request_hash(conversation_id, body.model_dump(mode="json", exclude_unset=True), upload)
        existing = await _existing_key(session, idempotency_key)
        if existing is not None:
            return await _replay(session, existing, digest)
    channel = await session.scalar(select(Channel).where(Channel.id == conversation.channel_id))
    if channel is None:
        raise ChannelUnavailable("the conversation's channel no longer exists", errors=[field_error("channel", "gone")])
    check_channel(channel)
    rules = rules_for(channel)
    platform = platform_of(channel).channel_type
    validate_content(platform, rules, body, upload)
    reply_external, reply_target = (None, None)
    if body.reply_to:
        reply_external, reply_target = await _resolve_reply(session, conversation, body.reply_to)
    now = utcnow()
    await check_window(session, channel, conversation, body, http=http, now=now)
    recipient = await _recipient(session, platform, conversation)
    thread_id = body.message_thread_id
    if platform == "telegram" and thread_id is None:
        topic = (reply_target.message_metadata or {}).get("message_thread_id") if reply_target else None
        topic = topic or (conversation.group or {}).get("topic_id")
        thread_id = int(topic) if topic is not None and str(topic).lstrip("-").isdigit() else None

    key_row_id = None
    if idempotency_key is not None:
        assert digest is not None
        key_row_id = await _claim_key(session, tenant_id, idempotency_key, digest)
        if key_row_id is None:  # a concurrent request with this key committed first
            existing = await _existing_key(session, idempotency_key)
            assert existing is not None
            return await _replay(session, existing, digest)

    message_id = uuid.uuid4()
    content = build_content(platform, rules, body, message_id=message_id, reply_to=reply_external, thread_id=thread_id)
    metadata: dict[str, Any] = {"sender": sender.as_dict(), "marker": marker_of(message_id), "content": content}
    if upload is not None:
        metadata["media"] = {"filename": upload.filename, "mime": upload.mime, "size": len(upload.data)}
    elif body.media is not None:
        metadata["media"] = body.media.model_dump(exclude_none=True)
    if idempotency_key is not None:
        metadata["idempotency_key"] = idempotency_key
    message = Message(
        id=message_id,
        tenant_id=tenant_id,
        channel_id=channel.id,
        conversation_id=conversation.id,
        customer_id=conversation.customer_id,
        sender_id=sender_id_of(channel),
        recipient_id=recipient,
        message_text=summary_text(body),
        direction=Direction.outbound,
        status="pending",
        timestamp=now,
        message_type=message_type_of(body.type),
        message_metadata=metadata,
        platform=platform,
        sent_by="souk",
        reply_to=reply_external,
        status_at=now,
    )
    outbox = OutboundMessage(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        message_id=message_id,
        channel_id=channel.id,
        conversation_id=conversation.id,
        status=OutboundStatus.queued,
        queued_at=now,
        next_attempt_at=now,
        request={"thread": conversation.external_thread_id, "recipient": recipient, "content": content},
    )
    if upload is not None:
        outbox.upload_data = upload.data
        outbox.upload_filename = upload.filename
        outbox.upload_mime = upload.mime
        outbox.upload_size = len(upload.data)
    session.add_all([message, outbox])
    await session.flush()
    if key_row_id is not None:
        await session.execute(
            update(IdempotencyKey).where(IdempotencyKey.id == key_row_id).values(message_id=message_id)
        )
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(last_activity=now, message_count=Conversation.message_count + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    events.emit(session, tenant_id, "message.created", event_payload(message))
    return Queued(message, outbox)


async def resend(session: AsyncSession, message_id: uuid.UUID, *, http: httpx.AsyncClient) -> Queued:
    """Queue a failed message again (same content, same marker); emits ``message.updated``."""
    message = await session.scalar(select(Message).where(Message.id == message_id))
    if message is None:
        raise NotFound("no such message")
    outbox = await session.scalar(select(OutboundMessage).where(OutboundMessage.message_id == message_id))
    if outbox is None:
        raise Conflict("only messages sent through Souk can be resent")
    if outbox.status != OutboundStatus.failed:
        raise Conflict(
            f"only failed messages can be resent; this one is {outbox.status}", delivery_status=outbox.status
        )
    channel = await session.scalar(select(Channel).where(Channel.id == message.channel_id))
    conversation = await session.scalar(select(Conversation).where(Conversation.id == message.conversation_id))
    if channel is None or conversation is None:
        raise ChannelUnavailable("the message's channel or conversation no longer exists")
    check_channel(channel)
    content = outbox.request.get("content") or {}
    body = SendMessageIn.model_construct(
        type=content.get("type", "text"),
        tag=content.get("tag"),
        template=TemplateIn.model_validate({k: content[k] for k in ("name", "language", "components") if k in content})
        if content.get("type") == "template"
        else None,
    )
    now = utcnow()
    await check_window(session, channel, conversation, body, http=http, now=now)
    outbox.status = OutboundStatus.queued
    outbox.attempts = 0
    outbox.queued_at = outbox.next_attempt_at = now
    outbox.attempt_started_at = outbox.lease_until = None
    outbox.last_error = outbox.last_error_code = None
    message.status = "pending"
    message.error_code = message.error_message = None
    message.status_at = now
    await session.flush()
    events.emit(session, message.tenant_id, "message.updated", event_payload(message))
    return Queued(message, outbox)


def event_payload(message: Message) -> dict[str, Any]:
    return {
        "message_id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "channel_id": str(message.channel_id),
        "customer_id": str(message.customer_id),
        "direction": message.direction,
        "message_type": message.message_type,
        "status": message.status,
        "sent_by": message.sent_by,
        "external_id": message.external_id,
        "error_code": message.error_code,
    }
