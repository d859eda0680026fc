"""HTTP for the working tools: labels, notes and mentions, canned responses, unread counts, message search."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from souk.automation import tools
from souk.automation.models import CannedResponse, ConversationNote, Label, NoteMention
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error
from souk.core.models import Role, User
from souk.crm.service import get_customer
from souk.db.types import utcnow
from souk.messaging.api import render_messages
from souk.messaging.models import Conversation
from souk.messaging.schemas import MessageOut

router = APIRouter(prefix="/api/v1", tags=["working tools"])


class LabelsIn(BaseModel):
    labels: list[str] = Field(min_length=1, max_length=50, examples=[["vip", "wholesale"]])


class LabelsOut(BaseModel):
    labels: list[str]


class LabelCount(BaseModel):
    name: str
    conversations: int
    customers: int


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000, examples=["@amal can you call her back?"])


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    conversation_id: uuid.UUID
    author_id: uuid.UUID | None
    author_label: str
    body: str
    created_at: datetime
    mentions: list[uuid.UUID] = []


class CannedIn(BaseModel):
    shortcut: str = Field(min_length=1, max_length=64, pattern=r"^/?[\w-]+$", examples=["/greet"])
    content: str = Field(min_length=1, max_length=4096, examples=["Hello {{customer.first_name}}!"])


class CannedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    shortcut: str
    content: str


class RenderIn(BaseModel):
    conversation_id: uuid.UUID
    text: str = Field(min_length=1, max_length=4096, examples=["/greet"])


class RenderOut(BaseModel):
    text: str
    shortcuts: list[str]


class UnreadItem(BaseModel):
    conversation_id: uuid.UUID
    unread: int


class UnreadOut(BaseModel):
    user_id: uuid.UUID
    total: int
    conversations: list[UnreadItem]


class SearchOut(BaseModel):
    items: list[MessageOut]
    total: int


async def _conversation(ctx: Ctx, conversation_id: uuid.UUID) -> Conversation:
    conversation = await ctx.session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("no such conversation")
    return conversation


def _names(body: LabelsIn) -> list[str]:
    return [tools.check_label(n, f"labels.{i}") for i, n in enumerate(body.labels)]


async def _target(ctx: Ctx, kind: str, target_id: uuid.UUID) -> None:
    if kind == "conversation":
        await _conversation(ctx, target_id)
    else:
        await get_customer(ctx.session, target_id)


def _label_routes(kind: str, path: str) -> None:
    @router.get(f"/{path}/{{target_id}}/labels", summary=f"Labels of a {kind}", response_model=LabelsOut)
    async def _list(target_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> LabelsOut:
        await _target(ctx, kind, target_id)
        return LabelsOut(labels=await tools.labels_of(ctx.session, kind, target_id))

    @router.post(f"/{path}/{{target_id}}/labels", summary=f"Add labels to a {kind}", response_model=LabelsOut)
    async def _add(target_id: uuid.UUID, body: LabelsIn, ctx: Ctx = Depends(agent)) -> LabelsOut:
        await _target(ctx, kind, target_id)
        return LabelsOut(labels=await tools.add_labels(ctx.session, kind, target_id, _names(body)))

    @router.delete(
        f"/{path}/{{target_id}}/labels/{{name}}", summary=f"Remove a label from a {kind}", response_model=LabelsOut
    )
    async def _remove(target_id: uuid.UUID, name: str, ctx: Ctx = Depends(agent)) -> LabelsOut:
        await _target(ctx, kind, target_id)
        return LabelsOut(labels=await tools.remove_label(ctx.session, kind, target_id, name.casefold()))


_label_routes("conversation", "conversations")
_label_routes("customer", "customers")


@router.get(
    "/labels",
    summary="Every label in use, with how many conversations and customers carry it",
    response_model=list[LabelCount],
)
async def list_labels(ctx: Ctx = Depends(agent)) -> list[LabelCount]:
    rows = (
        await ctx.session.execute(
            select(Label.name, Label.target_type, func.count(Label.id)).group_by(Label.name, Label.target_type)
        )
    ).all()
    out: dict[str, LabelCount] = {}
    for name, kind, n in rows:
        item = out.setdefault(name, LabelCount(name=name, conversations=0, customers=0))
        setattr(item, "conversations" if kind == "conversation" else "customers", int(n))
    return sorted(out.values(), key=lambda x: x.name)


# -- notes -------------------------------------------------------------------------------------------------------


async def _notes_out(ctx: Ctx, notes: list[ConversationNote]) -> list[NoteOut]:
    ids = [n.id for n in notes]
    mentions: dict[uuid.UUID, list[uuid.UUID]] = {}
    if ids:
        for note_id, user_id in (
            await ctx.session.execute(
                select(NoteMention.note_id, NoteMention.user_id).where(NoteMention.note_id.in_(ids))
            )
        ).all():
            mentions.setdefault(note_id, []).append(user_id)
    return [NoteOut.model_validate(n).model_copy(update={"mentions": mentions.get(n.id, [])}) for n in notes]


@router.post(
    "/conversations/{conversation_id}/notes",
    summary="Add a private note (never sent to the customer); @name or @email mentions a person",
    status_code=201,
    response_model=NoteOut,
)
async def add_note(conversation_id: uuid.UUID, body: NoteIn, ctx: Ctx = Depends(agent)) -> NoteOut:
    conversation = await _conversation(ctx, conversation_id)
    note, _ = await tools.add_note(
        ctx.session, conversation, body.body, author_id=ctx.principal.user_id, author_label=ctx.principal.label
    )
    (out,) = await _notes_out(ctx, [note])
    return out


@router.get(
    "/conversations/{conversation_id}/notes", summary="A conversation's private notes", response_model=list[NoteOut]
)
async def list_notes(conversation_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> list[NoteOut]:
    await _conversation(ctx, conversation_id)
    notes = (
        await ctx.session.scalars(
            select(ConversationNote)
            .where(ConversationNote.conversation_id == conversation_id)
            .order_by(ConversationNote.created_at)
        )
    ).all()
    return await _notes_out(ctx, list(notes))


def _who(ctx: Ctx, user_id: uuid.UUID | None) -> uuid.UUID:
    if user_id is None:
        if ctx.principal.user_id is None:
            raise Unprocessable("an API key is nobody: name the person", errors=[field_error("user_id", "required")])
        return ctx.principal.user_id
    if user_id != ctx.principal.user_id and ctx.principal.role.rank < Role.admin.rank:
        raise Forbidden("agents see only their own mentions and unread counts")
    return user_id


@router.get(
    "/mentions", summary="Notes that mention a person (default: the caller), newest first", response_model=list[NoteOut]
)
async def list_mentions(user_id: uuid.UUID | None = Query(None), ctx: Ctx = Depends(agent)) -> list[NoteOut]:
    who = _who(ctx, user_id)
    notes = (
        await ctx.session.scalars(
            select(ConversationNote)
            .join(NoteMention, NoteMention.note_id == ConversationNote.id)
            .where(NoteMention.user_id == who)
            .order_by(ConversationNote.created_at.desc())
            .limit(200)
        )
    ).all()
    return await _notes_out(ctx, list(notes))


# -- canned responses --------------------------------------------------------------------------------------------


@router.get("/canned-responses", summary="List canned responses", response_model=list[CannedOut])
async def list_canned(ctx: Ctx = Depends(agent)) -> list[CannedOut]:
    rows = (await ctx.session.scalars(select(CannedResponse).order_by(CannedResponse.shortcut))).all()
    return [CannedOut.model_validate(r) for r in rows]


@router.post("/canned-responses", summary="Create a canned response", status_code=201, response_model=CannedOut)
async def create_canned(body: CannedIn, ctx: Ctx = Depends(agent)) -> CannedOut:
    tools.check_variables(body.content)
    shortcut = body.shortcut.lstrip("/")
    await _shortcut_free(ctx, shortcut)
    row = CannedResponse(shortcut=shortcut, content=body.content)
    ctx.session.add(row)
    await ctx.session.flush()
    return CannedOut.model_validate(row)


async def _shortcut_free(ctx: Ctx, shortcut: str) -> None:
    """A shortcut names one canned response per tenant: taking a used one is a 409, not the unique index's 500."""
    if await ctx.session.scalar(select(CannedResponse.id).where(CannedResponse.shortcut == shortcut)):
        raise Conflict(f"/{shortcut} exists", errors=[field_error("shortcut", "taken")])


@router.put("/canned-responses/{shortcut}", summary="Replace a canned response's text", response_model=CannedOut)
async def update_canned(shortcut: str, body: CannedIn, ctx: Ctx = Depends(agent)) -> CannedOut:
    tools.check_variables(body.content)
    row = await tools.canned_by_shortcut(ctx.session, shortcut)
    wanted = body.shortcut.lstrip("/")
    if wanted != row.shortcut:
        await _shortcut_free(ctx, wanted)
    row.shortcut, row.content = wanted, body.content
    await ctx.session.flush()
    return CannedOut.model_validate(row)


@router.delete("/canned-responses/{shortcut}", summary="Delete a canned response", status_code=204)
async def delete_canned(shortcut: str, ctx: Ctx = Depends(admin)) -> Response:
    await ctx.session.delete(await tools.canned_by_shortcut(ctx.session, shortcut))
    return Response(status_code=204)


@router.post(
    "/canned-responses/render",
    summary="Expand /shortcuts and render {{customer.first_name}}-style variables for a conversation",
    response_model=RenderOut,
)
async def render_canned(body: RenderIn, ctx: Ctx = Depends(agent)) -> RenderOut:
    conversation = await _conversation(ctx, body.conversation_id)
    me = await ctx.session.get(User, ctx.principal.user_id) if ctx.principal.user_id else None
    out, used = await tools.expand(ctx.session, body.text, conversation, me)
    return RenderOut(text=out, shortcuts=used)


# -- unread and search -------------------------------------------------------------------------------------------


@router.post(
    "/conversations/{conversation_id}/read", summary="Mark the conversation read by the caller", status_code=204
)
async def mark_read(
    conversation_id: uuid.UUID, user_id: uuid.UUID | None = Query(None), ctx: Ctx = Depends(agent)
) -> Response:
    await _conversation(ctx, conversation_id)
    who = _who(ctx, user_id)
    if await ctx.session.get(User, who) is None:  # else the read marker's foreign key failed: a 500
        raise NotFound("no such agent")
    await tools.mark_read(ctx.session, who, conversation_id, utcnow())
    return Response(status_code=204)


@router.get(
    "/unread",
    summary="Unread inbound messages per conversation of a person (default: the caller)",
    response_model=UnreadOut,
)
async def unread(user_id: uuid.UUID | None = Query(None), ctx: Ctx = Depends(agent)) -> UnreadOut:
    who = _who(ctx, user_id)
    if await ctx.session.get(User, who) is None:
        raise NotFound("no such agent")
    counts = await tools.unread_counts(ctx.session, who)
    return UnreadOut(
        user_id=who,
        total=sum(n for _, n in counts),
        conversations=[UnreadItem(conversation_id=c, unread=n) for c, n in sorted(counts, key=lambda x: -x[1])],
    )


@router.get(
    "/messages/search", summary="Full-text search over message text (every word must match)", response_model=SearchOut
)
async def search(
    q: str = Query(min_length=1, max_length=200),
    conversation_id: uuid.UUID | None = Query(None),
    limit: int = Query(50, ge=1, le=200),
    ctx: Ctx = Depends(agent),
) -> SearchOut:
    rows = await tools.search_messages(ctx.session, q, limit=limit, conversation_id=conversation_id)
    return SearchOut(items=await render_messages(ctx.session, rows), total=len(rows))
