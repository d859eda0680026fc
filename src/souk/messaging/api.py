"""Read and replay API over what the inbound pipeline stored: conversations, their messages, customers, and the raw
inbound events with a replay for the ones that failed.

Every query runs in the caller's tenant session, so another tenant's id is simply not found (404). Message history
uses keyset cursors over ``(timestamp, id)`` instead of offsets: new messages arriving while a client pages never
shift or repeat a page, and equal timestamps (a burst from one webhook) are ordered by id.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from souk.channels.models import Channel
from souk.core import audit
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import Forbidden, NotFound, Unprocessable, field_error
from souk.core.live import publish_signal
from souk.core.models import Role
from souk.core.pagination import PageParams, page_params
from souk.core.secrets import mask
from souk.messaging.inbound_worker import replay_event
from souk.messaging.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    InboundEvent,
    InboundStatus,
    MediaStatus,
    Message,
    MessageMedia,
)
from souk.messaging.outbound import reply_window
from souk.messaging.schemas import (
    ChannelSummary,
    ConversationCounts,
    ConversationDetail,
    ConversationList,
    ConversationOut,
    CustomerSummary,
    InboundEventDetail,
    InboundEventList,
    InboundEventOut,
    MediaOut,
    MessageCursorPage,
    MessageList,
    MessageOut,
    ReplyWindow,
    TypingIn,
)

router = APIRouter(prefix="/api/v1")

#: Header names whose values are credentials (Telegram's secret token, WAHA's API key): masked even for admins.
SECRET_HEADER_HINTS = ("secret", "token", "key", "auth", "password", "cookie")


def as_utc(value: datetime | None) -> datetime | None:
    """Query datetimes without a zone are read as UTC (the columns refuse naive values)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _page(session: AsyncSession, stmt: Select[Any], params: PageParams) -> tuple[list[Any], int]:
    """Rows (whole tuples, unlike ``paginate``'s scalars) of one page, and the total of the unpaged statement."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = (await session.execute(stmt.limit(params.limit).offset(params.offset))).all()
    return list(rows), int(total or 0)


# -- cursors -------------------------------------------------------------------------------------------------------


def encode_cursor(timestamp: datetime, message_id: uuid.UUID) -> str:
    raw = f"{timestamp.astimezone(UTC).isoformat()}|{message_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str, field: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor names; anything else is a 422 naming ``field``."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        timestamp = datetime.fromisoformat(stamp)
        if timestamp.tzinfo is None:
            raise ValueError("naive")
        return timestamp, uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Unprocessable(
            f"{field} is not a cursor returned by this API",
            errors=[field_error(f"query.{field}", "not a cursor returned by this endpoint")],
        ) from None


# -- rendering -----------------------------------------------------------------------------------------------------


def media_out(media: MessageMedia) -> MediaOut:
    return MediaOut(
        id=media.id,
        type=media.kind,
        mime=media.mime,
        size=media.size,
        caption=media.caption,
        filename=media.filename,
        platform_media_id=media.platform_media_id,
        status=media.status,
        error=media.error,
        url=f"/api/v1/media/{media.id}" if media.status == MediaStatus.stored else None,
    )


async def render_messages(session: AsyncSession, messages: Sequence[Message]) -> list[MessageOut]:
    """Messages with their media, loaded in one query for the whole page."""
    by_message: dict[uuid.UUID, list[MediaOut]] = {m.id: [] for m in messages}
    if messages:
        media = await session.scalars(
            select(MessageMedia)
            .where(MessageMedia.message_id.in_(list(by_message)))
            .order_by(MessageMedia.created_at, MessageMedia.id)
        )
        for row in media:
            by_message[row.message_id].append(media_out(row))
    out = []
    for m in messages:
        data = {name: getattr(m, name) for name in MessageOut.model_fields if name != "media"}
        # rows written by raw inserts may hold NULL where the ORM default is an empty container
        data.update(
            message_metadata=m.message_metadata or {}, reactions=m.reactions or [], edit_history=m.edit_history or []
        )
        out.append(MessageOut(**data, media=by_message[m.id]))
    return out


async def render_conversations(session: AsyncSession, rows: Sequence[Conversation]) -> list[ConversationOut]:
    """Conversations with their channel and customer summaries (two batched lookups, not one per row)."""
    channel_ids = {c.channel_id for c in rows}
    customer_ids = {c.customer_id for c in rows}
    channels = {c.id: c for c in await _load(session, Channel, channel_ids)}
    customers = {c.id: c for c in await _load(session, Customer, customer_ids)}
    return [_conversation_out(c, channels.get(c.channel_id), customers.get(c.customer_id)) for c in rows]


async def _load(session: AsyncSession, model: type[Any], ids: Iterable[uuid.UUID]) -> list[Any]:
    ids = list(ids)
    if not ids:
        return []
    return list((await session.scalars(select(model).where(model.id.in_(ids)))).all())


_DERIVED = ("channel", "customer", "reply_window")


def _conversation_out(conv: Conversation, channel: Channel | None, customer: Customer | None) -> ConversationOut:
    data = {name: getattr(conv, name) for name in ConversationOut.model_fields if name not in _DERIVED}
    window = reply_window(channel, as_utc(conv.last_inbound_at), datetime.now(UTC)) if channel else None
    return ConversationOut(
        **data,
        channel=ChannelSummary.model_validate(channel) if channel else None,
        customer=CustomerSummary.model_validate(customer) if customer else None,
        reply_window=ReplyWindow(**window) if window else None,
    )


def masked_headers(headers: dict[str, Any]) -> dict[str, Any]:
    return {
        k: mask(v) if isinstance(v, str) and any(h in k.lower() for h in SECRET_HEADER_HINTS) else v
        for k, v in (headers or {}).items()
    }


def event_out(event: InboundEvent, body_size: int, *, with_body: bool) -> dict[str, Any]:
    return {
        "id": event.id,
        "channel_id": event.channel_id,
        "channel_type": event.channel_type,
        "event_key": event.event_key,
        "source": event.source,
        "status": event.status,
        "error": event.error,
        "attempts": event.attempts,
        "received_at": event.received_at,
        "processed_at": event.processed_at,
        "headers": masked_headers(event.headers),
        "body_size": body_size,
        "body": event.body.decode("utf-8", errors="replace") if with_body else None,
    }


# -- queries shared with the CLI -----------------------------------------------------------------------------------


def inbound_events_query(
    *,
    status: str | None = None,
    channel_id: uuid.UUID | None = None,
    since: datetime | None = None,
    with_body: bool = False,
) -> Select[tuple[InboundEvent, int]]:
    """Events newest first with their body size; the body itself is loaded only when asked for."""
    stmt = select(InboundEvent, func.length(InboundEvent.body)).order_by(
        InboundEvent.received_at.desc(), InboundEvent.id.desc()
    )
    if not with_body:
        stmt = stmt.options(defer(InboundEvent.body))
    if status:
        stmt = stmt.where(InboundEvent.status == status)
    if channel_id:
        stmt = stmt.where(InboundEvent.channel_id == channel_id)
    if since:
        stmt = stmt.where(InboundEvent.received_at >= as_utc(since))
    return stmt


def conversations_query(
    *,
    channel_id: uuid.UUID | None = None,
    status: str | None = None,
    customer_id: uuid.UUID | None = None,
    updated_since: datetime | None = None,
    assignee_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    pipeline_id: uuid.UUID | None = None,
    stage_id: uuid.UUID | None = None,
    label: str | None = None,
    unassigned: bool | None = None,
) -> Select[tuple[Conversation]]:
    stmt = select(Conversation).order_by(Conversation.last_activity.desc(), Conversation.id.desc())
    for column, value in (
        (Conversation.assignee_id, assignee_id),
        (Conversation.team_id, team_id),
        (Conversation.pipeline_id, pipeline_id),
        (Conversation.stage_id, stage_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if unassigned is not None:
        stmt = stmt.where(Conversation.assignee_id.is_(None) if unassigned else Conversation.assignee_id.is_not(None))
    if label:
        from souk.automation.models import Label  # labels live with the working tools

        stmt = stmt.where(
            Conversation.id.in_(
                select(Label.target_id).where(Label.target_type == "conversation", Label.name == label.casefold())
            )
        )
    if channel_id:
        stmt = stmt.where(Conversation.channel_id == channel_id)
    if status:
        stmt = stmt.where(Conversation.status == status)
    if customer_id:
        stmt = stmt.where(Conversation.customer_id == customer_id)
    if updated_since:
        since = as_utc(updated_since)
        # a new message moves last_activity; a status or assignment change moves updated_at
        stmt = stmt.where(or_(Conversation.updated_at >= since, Conversation.last_activity >= since))
    return stmt


def searched(dialect: str, q: str) -> ColumnElement[bool]:
    """Conversations whose customer's name or phone contains ``q``, or with a message having every word of it."""
    from souk.automation.tools import matching_messages  # the message search lives with the working tools

    pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    names = select(Customer.id).where(
        or_(
            *(
                column.ilike(pattern, escape="\\")
                for column in (Customer.display_name, Customer.first_name, Customer.last_name, Customer.phone_number)
            )
        )
    )
    clauses = [Conversation.customer_id.in_(names)]
    messages = matching_messages(select(Message.conversation_id), dialect, q)
    if messages is not None:
        clauses.append(Conversation.id.in_(messages))
    return or_(*clauses)


async def conversation_or_404(session: AsyncSession, conversation_id: uuid.UUID) -> Conversation:
    conv = await session.scalar(select(Conversation).where(Conversation.id == conversation_id))
    if conv is None:
        raise NotFound("no such conversation")
    return conv


async def render_conversation(session: AsyncSession, conversation: Conversation) -> ConversationOut:
    """One conversation as the API shows it, after the caller's changes (flushed and re-read)."""
    await session.flush()
    await session.refresh(conversation)
    (out,) = await render_conversations(session, [conversation])
    return out


async def _event(session: AsyncSession, event_id: uuid.UUID, *, with_body: bool) -> tuple[InboundEvent, int]:
    row = (await session.execute(inbound_events_query(with_body=with_body).where(InboundEvent.id == event_id))).first()
    if row is None:
        raise NotFound("no such inbound event")
    return row[0], int(row[1] or 0)


def _body_allowed(ctx: Ctx, include_body: bool) -> bool:
    if include_body and ctx.principal.role.rank < Role.admin.rank:
        raise Forbidden("the raw body of an inbound event needs the admin role")
    return include_body


# -- conversations -------------------------------------------------------------------------------------------------


@router.get(
    "/conversations",
    tags=["conversations"],
    summary="List conversations, most recent activity first",
    response_model=ConversationList,
)
async def list_conversations(
    ctx: Ctx = Depends(agent),
    params: PageParams = Depends(page_params),
    channel_id: uuid.UUID | None = Query(None, description="Only this channel's conversations."),
    status: ConversationStatus | None = Query(None, description="Only conversations in this status."),
    customer_id: uuid.UUID | None = Query(None, description="Only this customer's conversations."),
    updated_since: datetime | None = Query(
        None, description="Only conversations with activity or changes at or after this time (UTC if no zone)."
    ),
    assignee_id: uuid.UUID | None = Query(None, description="Only this person's conversations."),
    team_id: uuid.UUID | None = Query(None, description="Only this team's conversations."),
    pipeline_id: uuid.UUID | None = Query(None, description="Only this pipeline's conversations."),
    stage_id: uuid.UUID | None = Query(None, description="Only conversations in this stage."),
    label: str | None = Query(None, max_length=64, description="Only conversations with this label."),
    unassigned: bool | None = Query(None, description="true: nobody has them; false: somebody has."),
    q: str | None = Query(
        None,
        min_length=1,
        max_length=200,
        description="Only conversations whose customer's name or phone contains this, or with a message having "
        "every word of it.",
    ),
) -> ConversationList:
    stmt = conversations_query(
        channel_id=channel_id,
        status=status,
        customer_id=customer_id,
        updated_since=updated_since,
        assignee_id=assignee_id,
        team_id=team_id,
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        label=label,
        unassigned=unassigned,
    )
    if q:
        stmt = stmt.where(searched(ctx.session.get_bind().dialect.name, q))
    rows, total = await _page(ctx.session, stmt, params)
    items = await render_conversations(ctx.session, [r[0] for r in rows])
    return ConversationList(items=items, total=total, page=params.page, limit=params.limit)


@router.get(
    "/conversations/{conversation_id}",
    tags=["conversations"],
    summary="Read a conversation with its channel, customer and message counts",
    response_model=ConversationDetail,
)
async def get_conversation(conversation_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> ConversationDetail:
    conv = await conversation_or_404(ctx.session, conversation_id)
    (rendered,) = await render_conversations(ctx.session, [conv])
    by_direction = dict(
        (
            await ctx.session.execute(
                select(Message.direction, func.count())
                .where(Message.conversation_id == conv.id)
                .group_by(Message.direction)
            )
        ).all()
    )
    media = await ctx.session.scalar(
        select(func.count(MessageMedia.id))
        .join(Message, Message.id == MessageMedia.message_id)
        .where(Message.conversation_id == conv.id)
    )
    counts = ConversationCounts(
        messages=sum(by_direction.values()),
        inbound=by_direction.get(Direction.inbound, 0),
        outbound=by_direction.get(Direction.outbound, 0),
        media=int(media or 0),
    )
    return ConversationDetail(**rendered.model_dump(), counts=counts)


@router.get(
    "/conversations/{conversation_id}/messages",
    tags=["conversations"],
    summary="A conversation's messages, oldest first, by cursor",
    response_model=MessageCursorPage,
    responses={422: {"description": "A cursor this API did not issue, or more than one of after/before/latest"}},
)
async def conversation_messages(
    conversation_id: uuid.UUID,
    ctx: Ctx = Depends(agent),
    after: str | None = Query(
        None, max_length=200, description="Read forward: the messages after this cursor (from the start if omitted)."
    ),
    before: str | None = Query(
        None, max_length=200, description="Read back: the `limit` messages just before this cursor, newest last."
    ),
    latest: bool = Query(False, description="The newest `limit` messages, newest last (a chat view's first page)."),
    limit: int = Query(50, ge=1, le=200, description="Messages per page (at most 200)."),
) -> MessageCursorPage:
    given = [name for name, value in (("after", after), ("before", before), ("latest", latest)) if value]
    if len(given) > 1:
        raise Unprocessable(
            f"use only one of after, before and latest (got {', '.join(given)})",
            errors=[
                field_error(f"query.{name}", "cannot be combined with " + ", ".join(set(given) - {name}))
                for name in given
            ],
        )
    conv = await conversation_or_404(ctx.session, conversation_id)
    key = (Message.timestamp, Message.id)
    stmt = select(Message).where(Message.conversation_id == conv.id)
    backward = before is not None or latest
    if after is not None:
        ts, mid = decode_cursor(after, "after")
        stmt = stmt.where(or_(Message.timestamp > ts, and_(Message.timestamp == ts, Message.id > mid)))
    if before is not None:
        ts, mid = decode_cursor(before, "before")
        stmt = stmt.where(or_(Message.timestamp < ts, and_(Message.timestamp == ts, Message.id < mid)))
    stmt = stmt.order_by(*(k.desc() for k in key)) if backward else stmt.order_by(*key)
    rows = list((await ctx.session.scalars(stmt.limit(limit + 1))).all())
    more, rows = len(rows) > limit, rows[:limit]
    if backward:
        rows.reverse()
    edge = (rows[0] if backward else rows[-1]) if rows else None
    next_cursor = encode_cursor(edge.timestamp, edge.id) if more and edge else None
    return MessageCursorPage(items=await render_messages(ctx.session, rows), next_cursor=next_cursor, limit=limit)


@router.post(
    "/conversations/{conversation_id}/typing",
    tags=["conversations"],
    status_code=204,
    summary="Say that you are typing in a conversation (shown live to everyone else who has it open)",
    responses={204: {"description": "Passed on to the open inboxes; nothing is stored"}},
)
async def typing(conversation_id: uuid.UUID, body: TypingIn, request: Request, ctx: Ctx = Depends(agent)) -> Response:
    conv = await conversation_or_404(ctx.session, conversation_id)
    await publish_signal(
        request.app.state.bus,
        ctx.tenant_id,
        "conversation.typing",
        {
            "conversation_id": str(conv.id),
            "by": str(ctx.principal.user_id or ctx.principal.actor_id),
            "name": ctx.principal.label,
            "typing": body.typing,
        },
    )
    return Response(status_code=204)


# -- messages ------------------------------------------------------------------------------------------------------


@router.get(
    "/messages",
    tags=["messages"],
    summary="Find a message by its platform id on a channel",
    response_model=MessageList,
    responses={422: {"description": "channel_id and external_id are required together"}},
)
async def find_message(
    ctx: Ctx = Depends(agent),
    params: PageParams = Depends(page_params),
    channel_id: uuid.UUID | None = Query(None, description="The channel the message went through."),
    external_id: str | None = Query(
        None, min_length=1, max_length=255, description="The platform's message id (wamid, Telegram id, mid…)."
    ),
) -> MessageList:
    missing = [name for name, value in (("channel_id", channel_id), ("external_id", external_id)) if value is None]
    if missing:
        raise Unprocessable(
            "channel_id and external_id are required together; missing: " + ", ".join(missing),
            errors=[field_error(f"query.{name}", "field required", "missing") for name in missing],
        )
    stmt = select(Message).where(Message.channel_id == channel_id, Message.external_id == external_id)
    rows, total = await _page(ctx.session, stmt.order_by(Message.timestamp, Message.id), params)
    items = await render_messages(ctx.session, [r[0] for r in rows])
    return MessageList(items=items, total=total, page=params.page, limit=params.limit)


# -- inbound events ------------------------------------------------------------------------------------------------


@router.get(
    "/inbound-events",
    tags=["inbound-events"],
    summary="List inbound deliveries, newest first, with why they failed",
    response_model=InboundEventList,
    responses={403: {"description": "include_body without the admin role"}},
)
async def list_inbound_events(
    ctx: Ctx = Depends(agent),
    params: PageParams = Depends(page_params),
    status: InboundStatus | None = Query(None, description="received, processed, failed or ignored."),
    channel_id: uuid.UUID | None = Query(None, description="Only this channel's deliveries."),
    since: datetime | None = Query(
        None, description="Only deliveries received at or after this time (UTC if no zone)."
    ),
    include_body: bool = Query(False, description="Also return each raw body as text (admins only)."),
) -> InboundEventList:
    with_body = _body_allowed(ctx, include_body)
    stmt = inbound_events_query(status=status, channel_id=channel_id, since=since, with_body=with_body)
    rows, total = await _page(ctx.session, stmt, params)
    items = [InboundEventOut(**event_out(e, int(size or 0), with_body=with_body)) for e, size in rows]
    return InboundEventList(items=items, total=total, page=params.page, limit=params.limit)


@router.get(
    "/inbound-events/{event_id}",
    tags=["inbound-events"],
    summary="Read an inbound delivery and the messages stored from it",
    response_model=InboundEventDetail,
    responses={403: {"description": "include_body without the admin role"}},
)
async def get_inbound_event(
    event_id: uuid.UUID,
    ctx: Ctx = Depends(agent),
    include_body: bool = Query(False, description="Also return the raw body as text (admins only)."),
) -> InboundEventDetail:
    with_body = _body_allowed(ctx, include_body)
    event, size = await _event(ctx.session, event_id, with_body=with_body)
    message_ids = (
        await ctx.session.scalars(
            select(Message.id).where(Message.inbound_event_id == event.id).order_by(Message.timestamp, Message.id)
        )
    ).all()
    return InboundEventDetail(**event_out(event, size, with_body=with_body), message_ids=list(message_ids))


@router.post(
    "/inbound-events/{event_id}/replay",
    tags=["inbound-events"],
    summary="Process an inbound delivery again (after a fix)",
    status_code=202,
    response_model=InboundEventOut,
    responses={202: {"description": "Reset to received and queued for the worker"}},
)
async def replay_inbound_event(event_id: uuid.UUID, request: Request, ctx: Ctx = Depends(admin)) -> InboundEventOut:
    db = request.app.state.db
    # read in a session of its own, closed before replay_event writes: the request's session would hold SQLite's
    # single write lock from its first statement and the replay would wait on it
    async with db.tenant_session(ctx.tenant_id) as session:
        before, size = await _event(session, event_id, with_body=False)
        previous = {"status": before.status, "error": before.error}
    event = await replay_event(db, request.app.state.bus, ctx.tenant_id, event_id)
    audit.record(
        ctx, "inbound_event.replayed", "inbound_event", event.id, before=previous, after={"status": event.status}
    )
    return InboundEventOut(**event_out(event, size, with_body=False))
