"""The team's working tools: labels, private notes with @mentions, canned responses with variables, read marks and
unread counts, and full-text search over messages on both databases."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Select, and_, func, literal_column, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.automation.models import CannedResponse, ConversationNote, ConversationRead, Label, NoteMention
from souk.core import events
from souk.core.errors import NotFound, Unprocessable, field_error
from souk.core.models import User
from souk.messaging.models import Conversation, Customer, Message

LABEL = re.compile(r"^[\w][\w .:/-]{0,63}$", re.UNICODE)
MENTION = re.compile(r"(?<![\w@])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)", re.UNICODE)
VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\.([a-z_]+)\s*\}\}")
#: the variables a canned response (or an automation's reply) may use
VARIABLES = {
    "customer": ("first_name", "last_name", "display_name", "phone_number", "governorate"),
    "agent": ("name", "email"),
    "conversation": ("id",),
}


# -- labels ------------------------------------------------------------------------------------------------------


def check_label(name: str, field: str = "labels") -> str:
    name = name.strip()
    if not LABEL.match(name):
        raise Unprocessable(f"label {name!r} is not valid", errors=[field_error(field, "1-64 letters, digits, .:/- ")])
    return name.casefold()


async def add_labels(session: AsyncSession, target_type: str, target_id: uuid.UUID, names: list[str]) -> list[str]:
    for name in names:
        try:
            async with session.begin_nested():
                session.add(Label(target_type=target_type, target_id=target_id, name=name))
                await session.flush()
        except IntegrityError:
            pass  # already there
    return await labels_of(session, target_type, target_id)


async def remove_label(session: AsyncSession, target_type: str, target_id: uuid.UUID, name: str) -> list[str]:
    row = await session.scalar(
        select(Label).where(Label.target_type == target_type, Label.target_id == target_id, Label.name == name)
    )
    if row is not None:
        await session.delete(row)
        await session.flush()
    return await labels_of(session, target_type, target_id)


async def labels_of(session: AsyncSession, target_type: str, target_id: uuid.UUID) -> list[str]:
    return sorted(
        (
            await session.scalars(
                select(Label.name).where(Label.target_type == target_type, Label.target_id == target_id)
            )
        ).all()
    )


# -- notes -------------------------------------------------------------------------------------------------------


async def mentioned_users(session: AsyncSession, body: str) -> list[User]:
    """``@amal`` (an email's local part or a one-word name) or ``@amal@shop.com``, any case; unknown handles are
    left as text."""
    handles = {h.casefold().rstrip(".") for h in MENTION.findall(body)}
    if not handles:
        return []
    users = (await session.scalars(select(User).where(User.is_active.is_(True)))).all()
    found = []
    for user in users:
        email = user.email.casefold()
        keys = {email, email.split("@")[0], (user.name or "").casefold().replace(" ", "")}
        if keys & handles:
            found.append(user)
    return found


async def add_note(
    session: AsyncSession, conversation: Conversation, body: str, *, author_id: uuid.UUID | None, author_label: str
) -> tuple[ConversationNote, list[User]]:
    note = ConversationNote(
        id=uuid.uuid4(),
        conversation_id=conversation.id,
        author_id=author_id,
        author_label=author_label,
        body=body,
    )
    session.add(note)
    await session.flush()
    users = await mentioned_users(session, body)
    for user in users:
        session.add(NoteMention(note_id=note.id, user_id=user.id, conversation_id=conversation.id))
    events.emit(
        session,
        conversation.tenant_id,
        "conversation.note_added",
        {
            "conversation_id": str(conversation.id),
            "note_id": str(note.id),
            "mentions": [str(u.id) for u in users],
        },
    )
    await session.flush()
    return note, users


# -- canned responses --------------------------------------------------------------------------------------------


def check_variables(content: str, field: str = "content") -> None:
    for scope, name in VARIABLE.findall(content):
        if name not in VARIABLES.get(scope, ()):
            known = ", ".join(f"{s}.{n}" for s, names in VARIABLES.items() for n in names)
            raise Unprocessable(
                f"unknown variable {{{{{scope}.{name}}}}}; known: {known}",
                errors=[field_error(field, f"unknown variable {scope}.{name}")],
            )


def render(content: str, *, customer: Customer | None, agent: User | None, conversation: Conversation | None) -> str:
    sources: dict[str, Any] = {"customer": customer, "agent": agent, "conversation": conversation}

    def _value(m: re.Match[str]) -> str:
        obj = sources.get(m.group(1))
        value = getattr(obj, m.group(2), None) if obj is not None else None
        return "" if value is None else str(value)

    return VARIABLE.sub(_value, content)


async def canned_by_shortcut(session: AsyncSession, shortcut: str) -> CannedResponse:
    row = await session.scalar(select(CannedResponse).where(CannedResponse.shortcut == shortcut.lstrip("/")))
    if row is None:
        raise NotFound(f"no canned response /{shortcut.lstrip('/')}")
    return row


async def expand(
    session: AsyncSession, text_in: str, conversation: Conversation, agent: User | None
) -> tuple[str, list[str]]:
    """Replace every ``/shortcut`` word that names a canned response, then render the variables."""
    used: list[str] = []
    rows = {r.shortcut: r for r in (await session.scalars(select(CannedResponse))).all()}

    def _swap(m: re.Match[str]) -> str:
        row = rows.get(m.group(1))
        if row is None:
            return m.group(0)
        used.append(row.shortcut)
        return row.content

    expanded = re.sub(r"(?<!\S)/([\w-]+)", _swap, text_in)
    customer = await session.get(Customer, conversation.customer_id)
    return render(expanded, customer=customer, agent=agent, conversation=conversation), used


# -- unread ------------------------------------------------------------------------------------------------------


async def mark_read(session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID, at: datetime) -> None:
    row = await session.scalar(
        select(ConversationRead).where(
            ConversationRead.user_id == user_id, ConversationRead.conversation_id == conversation_id
        )
    )
    if row is None:
        try:
            async with session.begin_nested():
                session.add(ConversationRead(user_id=user_id, conversation_id=conversation_id, last_read_at=at))
                await session.flush()
            return
        except IntegrityError:
            row = await session.scalar(
                select(ConversationRead).where(
                    ConversationRead.user_id == user_id, ConversationRead.conversation_id == conversation_id
                )
            )
            assert row is not None
    if at > row.last_read_at:
        row.last_read_at = at


async def unread_counts(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[uuid.UUID, int]]:
    """Inbound messages newer than the person's read mark, per conversation assigned to them or mentioning them."""
    mentioned = select(NoteMention.conversation_id).where(NoteMention.user_id == user_id)
    stmt = (
        select(Message.conversation_id, func.count(Message.id))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(
            ConversationRead,
            and_(ConversationRead.conversation_id == Conversation.id, ConversationRead.user_id == user_id),
        )
        .where(
            or_(Conversation.assignee_id == user_id, Conversation.id.in_(mentioned)),
            Message.direction == "inbound",
            or_(ConversationRead.last_read_at.is_(None), Message.timestamp > ConversationRead.last_read_at),
        )
        .group_by(Message.conversation_id)
    )
    return [(cid, int(n)) for cid, n in (await session.execute(stmt)).all()]


# -- search ------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


async def search_messages(
    session: AsyncSession, query: str, *, limit: int = 50, conversation_id: uuid.UUID | None = None
) -> list[Message]:
    """Messages whose text has every word of ``query`` (FTS5 on SQLite, tsvector on PostgreSQL), newest first."""
    stmt = matching_messages(select(Message), session.get_bind().dialect.name, query)
    if stmt is None:
        return []
    if conversation_id is not None:
        stmt = stmt.where(Message.conversation_id == conversation_id)
    return list((await session.scalars(stmt.order_by(Message.timestamp.desc()).limit(limit))).all())


def matching_messages(stmt: Select[Any], dialect: str, query: str) -> Select[Any] | None:
    """``stmt`` (a select from messages) narrowed to undeleted messages whose text has every word of ``query``;
    None when the query has no word."""
    words = _WORD.findall(query.casefold())
    if not words:
        return None
    stmt = stmt.where(Message.deleted_at.is_(None))
    if dialect == "sqlite":
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        hits = (
            text("SELECT rowid AS rid FROM messages_fts WHERE messages_fts MATCH :q")
            .bindparams(q=match)
            .columns(rid=Float)
            .subquery("m")
        )
        return stmt.join(hits, literal_column("messages.rowid") == hits.c.rid)
    tsv = func.to_tsvector(literal_column("'simple'::regconfig"), func.coalesce(Message.message_text, ""))
    return stmt.where(tsv.op("@@")(func.plainto_tsquery(literal_column("'simple'::regconfig"), " ".join(words))))
