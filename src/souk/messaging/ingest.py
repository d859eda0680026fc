"""Normalization: canonical platform events become customers, conversations and messages, exactly once.

Every write is keyed on a natural unique key, so applying the same event twice (a platform retry, a redelivery after
a worker crash, a replay) changes nothing the second time. Updates that arrive before their message (a reaction, an
edit, a receipt) wait in ``deferred_updates`` and are applied when the message lands.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.channels.models import TRANSITIONS, Channel, ChannelStatus
from souk.core import events
from souk.crm.models import AdCampaign, Post, PostType
from souk.db.types import utcnow
from souk.messaging.customers import conversation_for, identity_for
from souk.messaging.models import Conversation, Customer, DeferredUpdate, Message, MessageMedia
from souk.platforms.base import (
    Attribution,
    Deletion,
    DeliveryStatus,
    Edit,
    Event,
    Ignored,
    MessageSource,
    ParseFailure,
    Party,
    Reaction,
    SentBy,
    SessionStatus,
    StatusUpdate,
    Typing,
)
from souk.platforms.base import Message as MessageEvent

MARKER_PREFIX = "souk:"


class SubEventFailed(Exception):
    """One event of a delivery could not be applied; its siblings still are."""


@dataclasses.dataclass
class Applied:
    media_ids: list[uuid.UUID] = dataclasses.field(default_factory=list)
    messages_created: int = 0
    #: live signals (tenant, kind, payload) to pass on once the delivery is committed; they are never stored
    signals: list[tuple[uuid.UUID, str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    #: the channel's received counter is raised by :func:`count_received` at the end of the transaction (one UPDATE
    #: of the channel's row per batch of deliveries, taken last) instead of once per message
    count_later: bool = False
    inbound_received: int = 0
    channel_id: uuid.UUID | None = None


async def count_received(session: AsyncSession, done: list[Applied]) -> None:
    """Raise the channels' ``messages_received`` by the inbound messages of ``done`` (``count_later``), one UPDATE
    per channel, in the channels' order (two batches never wait for each other's channel rows the other way)."""
    per_channel: dict[uuid.UUID, int] = {}
    for applied in done:
        if applied.inbound_received and applied.channel_id is not None:
            per_channel[applied.channel_id] = per_channel.get(applied.channel_id, 0) + applied.inbound_received
    for channel_id in sorted(per_channel):
        await _raise_received(session, channel_id, per_channel[channel_id])


async def _raise_received(session: AsyncSession, channel_id: uuid.UUID, n: int) -> None:
    await session.execute(
        update(Channel)
        .where(Channel.id == channel_id)
        .values(messages_received=Channel.messages_received + n, last_message_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def apply_typing(session: AsyncSession, channel: Channel, ev: Typing, applied: Applied) -> None:
    """A customer typing in a chat Souk already has a conversation for: a live ``conversation.typing`` signal,
    spelled like a person's (the inbox shows "<name> is typing…"). A chat Souk never saw opens nothing."""
    conversation = await session.scalar(
        select(Conversation)
        .where(Conversation.channel_id == channel.id, Conversation.external_thread_id == ev.thread_id)
        .order_by(Conversation.created_at.desc())
        .limit(1)
    )
    if conversation is None:
        return
    customer = await session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    name = ev.sender.name or (customer.display_name if customer else None) or ev.sender.external_id
    signal = {
        "conversation_id": str(conversation.id),
        "by": ev.sender.external_id,
        "name": name,
        "typing": ev.typing,
        "customer": True,
    }
    applied.signals.append((channel.tenant_id, "conversation.typing", signal))


async def apply(
    session: AsyncSession, channel: Channel, ev: Event, *, inbound_event_id: uuid.UUID | None, applied: Applied
) -> None:
    if isinstance(ev, MessageEvent):
        await apply_message(session, channel, ev, inbound_event_id=inbound_event_id, applied=applied)
    elif isinstance(ev, Reaction | Edit | Deletion | StatusUpdate):
        await apply_update(session, channel, ev)
    elif isinstance(ev, SessionStatus):
        await apply_session_status(session, channel, ev)
    elif isinstance(ev, ParseFailure):
        raise SubEventFailed(ev.reason)
    elif isinstance(ev, Typing):
        await apply_typing(session, channel, ev, applied)
    elif isinstance(ev, Ignored):
        return
    else:
        raise SubEventFailed(f"no handler for {type(ev).__name__}")


# -- messages ---------------------------------------------------------------------------------------------------


async def serialize(session: AsyncSession, channel_id: uuid.UUID, external_id: str | None) -> None:
    """Take a transaction lock on one platform message id (PostgreSQL; SQLite's writers are serial already).

    A message and a receipt for it processed at the same time could each miss the other: the receipt finds no
    message and parks itself, while the message, not yet seeing the parked receipt, commits without it. Both take
    this lock before looking, so the second one sees what the first committed. The sender takes it too before it
    writes a platform id it was answered, so an echo of that send and the send's own record meet in one order (the
    lock, then the unique key) and never deadlock.
    """
    if external_id and session.get_bind().dialect.name == "postgresql":
        key = f"{channel_id}:{external_id}"
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


async def _by_external_id(session: AsyncSession, channel: Channel, external_id: str) -> Message | None:
    return await session.scalar(
        select(Message).where(Message.channel_id == channel.id, Message.external_id == external_id)
    )


async def _own_send(session: AsyncSession, ev: MessageEvent) -> Message | None:
    """An echo carrying our marker (``souk:<message id>``) is the confirmation of one of our sends."""
    marker = ev.echo_marker or ""
    if not marker.startswith(MARKER_PREFIX):
        return None
    try:
        mid = uuid.UUID(marker[len(MARKER_PREFIX) :])
    except ValueError:
        return None
    return await session.get(Message, mid)


def _raise_status(
    msg: Message, status: DeliveryStatus, at: datetime | None, *, code: str | None = None, text: str | None = None
) -> bool:
    """Monotonic: sent < delivered < read < played; failed is terminal. Returns whether it changed."""
    try:
        current = DeliveryStatus(msg.status)
    except ValueError:
        current = DeliveryStatus.pending
    if current == DeliveryStatus.failed or (status != DeliveryStatus.failed and status.rank <= current.rank):
        return False
    msg.status = status
    msg.status_at = at or utcnow()
    if status == DeliveryStatus.failed:
        msg.error_code, msg.error_message = code, text
    return True


async def apply_message(
    session: AsyncSession, channel: Channel, ev: MessageEvent, *, inbound_event_id: uuid.UUID | None, applied: Applied
) -> None:
    await serialize(session, channel.id, ev.external_id)
    existing = await _by_external_id(session, channel, ev.external_id)
    outbound = ev.direction == "outbound"
    if existing is None and outbound:
        existing = await _own_send(session, ev)
        if existing is not None and existing.channel_id == channel.id:
            existing.external_id = existing.external_id or ev.external_id
    if existing is not None:
        if outbound and existing.direction == "outbound" and _raise_status(existing, DeliveryStatus.sent, ev.timestamp):
            _emit_updated(session, existing)
        return
    # an echo is addressed to the customer; an inbound message comes from them
    customer_party = Party(external_id=ev.recipient_id or ev.thread_id) if outbound else ev.sender
    identity, customer = await identity_for(session, channel, customer_party)
    conv, opened = await conversation_for(
        session, channel, ev.thread_id, customer, identity, ev.timestamp, inbound=not outbound, group=ev.group
    )
    if opened:
        from souk.automation.routing import route_new_conversation  # routing builds on messaging

        await route_new_conversation(session, channel, conv, customer)
    msg = Message(
        id=uuid.uuid4(),
        channel_id=channel.id,
        conversation_id=conv.id,
        customer_id=customer.id,
        external_id=ev.external_id,
        sender_id=ev.sender.external_id,
        recipient_id=ev.recipient_id,
        message_text=ev.text,
        direction=ev.direction,
        status=DeliveryStatus.sent if outbound else "received",
        timestamp=ev.timestamp,
        message_type=ev.message_type,
        message_metadata=_metadata(ev),
        platform=channel.channel_type,
        # inbound is a customer's, unless the platform says a bot wrote it (never fed back to our own bot)
        sent_by=ev.sent_by if outbound or ev.sent_by == SentBy.bot else SentBy.customer,
        reply_to=ev.reply_to,
        reactions=[],
        edit_history=[],
        inbound_event_id=inbound_event_id,
    )
    if ev.attribution is not None:
        await _attribute(session, channel, msg, ev.attribution)
    try:
        async with session.begin_nested():
            session.add(msg)
            await session.flush()
    except IntegrityError:
        return  # stored meanwhile by a concurrent delivery of the same message
    for media in ev.media:
        row = MessageMedia(
            message_id=msg.id,
            channel_id=channel.id,
            kind=media.kind,
            mime=media.mime,
            size=media.size,
            caption=media.caption,
            filename=media.filename,
            platform_media_id=media.platform_media_id,
            url=media.url,
            sha256=media.sha256,
        )
        session.add(row)
        await session.flush()
        applied.media_ids.append(row.id)
    await _count(session, channel, conv, customer, msg, applied)
    applied.messages_created += 1
    events.emit(session, channel.tenant_id, "message.created", _payload(msg))
    await apply_deferred(session, msg, locked=True)
    if msg.message_type == "order" and not outbound:
        from souk.commerce.hooks import on_message_created  # commerce builds on messaging, not the reverse

        await on_message_created(session, channel, msg)


async def apply_deferred(session: AsyncSession, msg: Message, *, locked: bool = False) -> None:
    """Apply, in arrival order, the reactions, edits, deletions and receipts that waited for this message (also
    called by the sender once a send returns the platform id that early receipts referred to). ``locked``: the
    caller holds the message id's lock already."""
    if not msg.external_id:
        return
    if not locked:
        await serialize(session, msg.channel_id, msg.external_id)
    parked = (
        await session.scalars(
            select(DeferredUpdate)
            .where(DeferredUpdate.channel_id == msg.channel_id, DeferredUpdate.target_external_id == msg.external_id)
            .order_by(DeferredUpdate.created_at)
        )
    ).all()
    for deferred in parked:
        await _apply_to(session, msg, _from_payload(deferred.kind, deferred.payload))
        await session.delete(deferred)


def _metadata(ev: MessageEvent) -> dict[str, Any]:
    meta = dict(ev.metadata or {})
    for name in ("location", "contacts", "order", "interactive", "group"):
        value = getattr(ev, name)
        if value:
            meta[name] = value
    if ev.sender.username:
        meta.setdefault("sender_username", ev.sender.username)
    if ev.echo_marker:
        meta["echo_marker"] = ev.echo_marker
    return _jsonable(meta)


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


async def _count(
    session: AsyncSession, channel: Channel, conv: Conversation, customer: Customer, msg: Message, applied: Applied
) -> None:
    conv.message_count = (conv.message_count or 0) + 1
    conv.updated_at = utcnow()  # before the channel's UPDATE below flushes the conversation: one UPDATE of it
    if msg.timestamp > conv.last_activity:
        conv.last_activity = msg.timestamp
    if msg.direction == "inbound":
        if conv.last_inbound_at is None or msg.timestamp > conv.last_inbound_at:
            conv.last_inbound_at = msg.timestamp
        if customer.last_message_at is None or msg.timestamp > customer.last_message_at:
            customer.last_message_at = msg.timestamp
        if conv.status in ("resolved", "snoozed"):
            # a resolved or snoozed conversation reopens on a new inbound message
            events.emit(
                session,
                channel.tenant_id,
                "conversation.reopened",
                {"conversation_id": str(conv.id), "from": conv.status, "to": "open", "by": "inbound"},
            )
            conv.status, conv.snoozed_until = "open", None
        if applied.count_later:
            applied.inbound_received += 1
            applied.channel_id = channel.id
        else:
            await _raise_received(session, channel.id, 1)


async def _attribute(session: AsyncSession, channel: Channel, msg: Message, attr: Attribution) -> None:
    """Fill seed 001's source fields and link (creating on first sight) the post or ad campaign."""
    msg.message_source = attr.source
    msg.comment_id = attr.comment_id
    msg.referral_source = attr.ref or attr.source_url or attr.headline or None
    if msg.referral_source:
        msg.referral_source = msg.referral_source[:200]
    if attr.ad_id:
        ad = await _get_or_create(
            session,
            AdCampaign,
            "facebook_ad_id",
            attr.ad_id,
            campaign_name=attr.headline,
            ad_content=attr.body,
            platform=channel.channel_type,
        )
        msg.ad_id = ad.id
    if attr.post_id:
        post_type = (
            PostType.LISTING
            if channel.channel_type == "chotot"
            else (PostType.STORY if attr.source == MessageSource.story else PostType.GENERAL)
        )
        post = await _get_or_create(
            session,
            Post,
            "facebook_post_id",
            attr.post_id,
            post_type=post_type,
            post_content=attr.body or attr.headline,
            platform=channel.channel_type,
        )
        msg.post_id, msg.post_type = post.id, post.post_type
    if attr.raw or attr.ctwa_clid:
        msg.message_metadata = {**(msg.message_metadata or {}), "attribution": _jsonable({**dataclasses.asdict(attr)})}


async def _get_or_create(session: AsyncSession, model: Any, key: str, value: str, **fields: Any) -> Any:
    stmt = select(model).where(getattr(model, key) == value)
    row = await session.scalar(stmt)
    if row is not None:
        return row
    try:
        async with session.begin_nested():
            row = model(**{key: value}, **{k: v for k, v in fields.items() if v is not None})
            session.add(row)
            await session.flush()
        return row
    except IntegrityError:
        return await session.scalar(stmt)


# -- updates: reactions, edits, deletions, receipts --------------------------------------------------------------


def _target(ev: Reaction | Edit | Deletion | StatusUpdate) -> str | None:
    return ev.target_external_id


async def apply_update(session: AsyncSession, channel: Channel, ev: Reaction | Edit | Deletion | StatusUpdate) -> None:
    if isinstance(ev, StatusUpdate) and ev.target_external_id is None and ev.watermark is not None:
        await _apply_watermark(session, channel, ev)
        return
    target_id = _target(ev)
    if not target_id:
        raise SubEventFailed(f"{type(ev).__name__} without a target message")
    await serialize(session, channel.id, target_id)
    msg = await _by_external_id(session, channel, target_id)
    if msg is None:
        await _defer(session, channel, target_id, ev)
        return
    await _apply_to(session, msg, ev)


async def _apply_to(session: AsyncSession, msg: Message, ev: Event) -> None:
    changed = False
    if isinstance(ev, Reaction):
        others = [r for r in (msg.reactions or []) if r.get("sender_id") != ev.sender.external_id]
        if ev.emoji:
            others.append({"sender_id": ev.sender.external_id, "emoji": ev.emoji, "at": ev.timestamp.isoformat()})
        msg.reactions = others
        changed = True
    elif isinstance(ev, Edit):
        if ev.new_text != msg.message_text:
            msg.edit_history = [
                *(msg.edit_history or []),
                {"text": msg.message_text, "replaced_at": ev.timestamp.isoformat()},
            ]
            msg.message_text = ev.new_text
            msg.edited_at = ev.timestamp
            changed = True
    elif isinstance(ev, Deletion):
        if msg.deleted_at is None:
            msg.deleted_at = ev.timestamp  # the content stays, for the audit
            changed = True
    elif isinstance(ev, StatusUpdate):
        changed = _raise_status(msg, ev.status, ev.timestamp, code=ev.error_code, text=ev.error_message)
    if changed:
        msg.updated_at = utcnow()
        _emit_updated(session, msg)


async def _apply_watermark(session: AsyncSession, channel: Channel, ev: StatusUpdate) -> None:
    """Messenger/TikTok receipts: every outbound message of the thread sent up to the watermark."""
    assert ev.watermark is not None
    stmt = (
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.channel_id == channel.id, Message.direction == "outbound", Message.timestamp <= ev.watermark)
    )
    if ev.thread_id:
        stmt = stmt.where(Conversation.external_thread_id == ev.thread_id)
    for msg in (await session.scalars(stmt)).all():
        if _raise_status(msg, ev.status, ev.timestamp):
            msg.updated_at = utcnow()
            _emit_updated(session, msg)


async def _defer(session: AsyncSession, channel: Channel, target_id: str, ev: Event) -> None:
    kind = type(ev).__name__
    try:
        async with session.begin_nested():
            session.add(
                DeferredUpdate(
                    channel_id=channel.id,
                    target_external_id=target_id,
                    event_key=ev.key[:255],
                    kind=kind,
                    payload=_to_payload(ev),
                )
            )
            await session.flush()
    except IntegrityError:
        pass  # already waiting


_KINDS = {"Reaction": Reaction, "Edit": Edit, "Deletion": Deletion, "StatusUpdate": StatusUpdate}


def _to_payload(ev: Event) -> dict[str, Any]:
    return _jsonable(dataclasses.asdict(ev))


def _from_payload(kind: str, data: dict[str, Any]) -> Event:
    cls = _KINDS[kind]
    values = dict(data)
    for key in ("timestamp", "watermark"):
        if values.get(key):
            values[key] = datetime.fromisoformat(values[key])
    if values.get("sender"):
        values["sender"] = Party(**values["sender"])
    if "status" in values and cls is StatusUpdate:
        values["status"] = DeliveryStatus(values["status"])
    return cls(**values)


# -- WAHA session lifecycle --------------------------------------------------------------------------------------

SESSION_TO_CHANNEL = {
    "WORKING": ChannelStatus.active,
    "FAILED": ChannelStatus.error,
    "STOPPED": ChannelStatus.disconnected,
    "SCAN_QR_CODE": ChannelStatus.connecting,
    "STARTING": ChannelStatus.connecting,
    "UNAUTHORIZED": ChannelStatus.error,  # seed 004's; WAHA itself says FAILED
    # GOWS asks the phone's owner to confirm a passkey: the login is still under way
    "PASSKEY_REQUIRED": ChannelStatus.connecting,
    "PASSKEY_CONFIRMATION_REQUIRED": ChannelStatus.connecting,
}


def session_error(status: str, detail: dict[str, Any] | None = None) -> str:
    """``last_error`` for a failed session: WAHA's own words (``payload.data``) when it gave any, else the statuses
    that led to the failure."""
    detail = detail or {}
    data = detail.get("data")
    reason: Any = None
    if isinstance(data, dict):
        reason = next((data[k] for k in ("error", "message", "reason", "description") if data.get(k)), None) or data
    elif data:
        reason = data
    if reason is None:
        trail = [str(s.get("status")) for s in detail.get("statuses") or [] if isinstance(s, dict)]
        return f"WAHA session {status}" + (f" (after {' → '.join(trail[:-1])})" if len(trail) > 1 else "")
    text = reason if isinstance(reason, str) else str(_jsonable(reason))
    return f"WAHA session {status}: {text}"[:1000]


def _qr_rotated(config: dict[str, Any], ev: SessionStatus) -> bool:
    """A ``SCAN_QR_CODE`` newer than the stored QR code: WhatsApp replaced it (WAHA re-sends the status each time)."""
    from souk.channels.waha import QR_TTL, _parse_time  # the QR rules live with the session code

    expires = _parse_time(config.get("qrCodeExpiresAt"))
    return bool(config.get("qrCode")) and (expires is None or ev.timestamp > expires - QR_TTL)


async def apply_session_status(session: AsyncSession, channel: Channel, ev: SessionStatus) -> None:
    config = dict(channel.config or {})
    config["sessionStatus"] = ev.status
    if ev.status == "WORKING" or (ev.status == "SCAN_QR_CODE" and _qr_rotated(config, ev)):
        # scanned, or rotated away: the stored code is no use (the session check fetches the rotated one)
        config.pop("qrCode", None)
        config.pop("qrCodeExpiresAt", None)
    changed = config != channel.config
    channel.config = config
    target = SESSION_TO_CHANNEL.get(ev.status)
    if target == ChannelStatus.error and channel.status != ChannelStatus.inactive:
        channel.last_error, channel.last_error_at = session_error(ev.status, ev.detail), utcnow()
    if (
        target
        and target != channel.status
        and target in TRANSITIONS[ChannelStatus(channel.status)]
        and channel.status != ChannelStatus.inactive
    ):
        channel.status = target
        changed = True
    if changed:
        events.emit(
            session,
            channel.tenant_id,
            "channel.updated",
            {"channel_id": str(channel.id), "status": channel.status, "session_status": ev.status},
        )


def _payload(msg: Message) -> dict[str, Any]:
    return {
        "message_id": str(msg.id),
        "conversation_id": str(msg.conversation_id),
        "channel_id": str(msg.channel_id),
        "customer_id": str(msg.customer_id),
        "direction": msg.direction,
        "message_type": msg.message_type,
        "status": msg.status,
        "sent_by": msg.sent_by,
    }


def _emit_updated(session: AsyncSession, msg: Message) -> None:
    events.emit(session, msg.tenant_id, "message.updated", _payload(msg))


async def purge_deferred(session: AsyncSession, older_than: datetime) -> int:
    """Deferred updates whose message never came (e.g. a receipt for a message sent by another tool)."""
    result = await session.execute(delete(DeferredUpdate).where(DeferredUpdate.created_at < older_than))
    return result.rowcount or 0
