"""Routing a conversation: its pipeline and stage (seed 004 steps 8-9), its team, and auto-assignment.

:func:`route_new_conversation` runs inside the inbound transaction that opened the conversation, so it only does a
few indexed reads: the contact's pipeline (a contact already in a pipeline stays there), else the channel's
``pipeline_id``, else the project's default pipeline (created on demand); then the pipeline's team and, when the team
assigns automatically, one pick among its available members.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.automation.models import (
    AgentPresence,
    AssignmentMode,
    Availability,
    Pipeline,
    PipelineStage,
    StageChange,
    Team,
    TeamMember,
)
from souk.channels.models import Channel
from souk.core import events
from souk.core.errors import NotFound, Unprocessable, field_error
from souk.core.models import User
from souk.db.types import utcnow
from souk.messaging.models import Conversation, ConversationStatus, Customer

DEFAULT_PIPELINE = "Default"
DEFAULT_STAGES = ("New", "In progress", "Won", "Lost")
#: conversations that count towards an agent's load
OPEN_STATUSES = (ConversationStatus.open, ConversationStatus.pending)


async def default_pipeline(session: AsyncSession, project_id: uuid.UUID) -> Pipeline:
    """The project's default pipeline, created with the default stages on first need (safe under concurrency)."""
    stmt = (
        select(Pipeline)
        .where(Pipeline.project_id == project_id)
        .order_by(Pipeline.is_default.desc(), Pipeline.created_at)
        .limit(1)
    )
    pipeline = await session.scalar(stmt)
    if pipeline is not None:
        return pipeline
    try:
        async with session.begin_nested():
            pipeline = Pipeline(id=uuid.uuid4(), project_id=project_id, name=DEFAULT_PIPELINE, is_default=True)
            session.add(pipeline)
            await session.flush()
            for i, name in enumerate(DEFAULT_STAGES):
                session.add(PipelineStage(pipeline_id=pipeline.id, name=name, position=i))
            await session.flush()
    except IntegrityError:
        pipeline = await session.scalar(stmt)
        assert pipeline is not None
    return pipeline


async def first_stage(session: AsyncSession, pipeline_id: uuid.UUID) -> PipelineStage | None:
    return await session.scalar(
        select(PipelineStage)
        .where(PipelineStage.pipeline_id == pipeline_id)
        .order_by(PipelineStage.position, PipelineStage.created_at)
        .limit(1)
    )


async def pipeline_for(session: AsyncSession, channel: Channel, customer: Customer) -> tuple[Pipeline, str]:
    """Seed 004: the contact's pipeline, else the channel's, else the project's default. Returns (pipeline, why)."""
    if customer.pipeline_id is not None:
        pipeline = await session.get(Pipeline, customer.pipeline_id)
        if pipeline is not None:
            return pipeline, "contact"
    if channel.pipeline_id is not None:
        pipeline = await session.get(Pipeline, channel.pipeline_id)
        if pipeline is not None:
            return pipeline, "channel"
    return await default_pipeline(session, channel.project_id), "project default"


async def route_new_conversation(
    session: AsyncSession, channel: Channel, conversation: Conversation, customer: Customer
) -> None:
    """Put a just-opened conversation in its pipeline's first stage, give it to the pipeline's team, auto-assign."""
    pipeline, why = await pipeline_for(session, channel, customer)
    stage = await first_stage(session, pipeline.id)
    conversation.pipeline_id = pipeline.id
    conversation.stage_id = stage.id if stage else None
    if customer.pipeline_id is None:
        customer.pipeline_id = pipeline.id
    session.add(
        StageChange(
            conversation_id=conversation.id,
            pipeline_id=pipeline.id,
            from_stage_id=None,
            to_stage_id=conversation.stage_id,
            actor="routing",
            reason=f"routed by {why}",
        )
    )
    if pipeline.team_id is not None and conversation.assignee_id is None:
        team = await session.get(Team, pipeline.team_id)
        if team is not None:
            conversation.team_id = team.id
            if team.assignment != AssignmentMode.manual:
                await auto_assign(session, team, [conversation])


async def move_stage(
    session: AsyncSession,
    conversation: Conversation,
    stage_id: uuid.UUID,
    *,
    actor: str,
    reason: str | None = None,
) -> StageChange | None:
    """Move a conversation to a stage (of any pipeline of the tenant); the move is recorded. None when unchanged."""
    stage = await session.get(PipelineStage, stage_id)
    if stage is None:
        raise NotFound("no such stage")
    if stage.id == conversation.stage_id:
        return None
    change = StageChange(
        conversation_id=conversation.id,
        pipeline_id=stage.pipeline_id,
        from_stage_id=conversation.stage_id,
        to_stage_id=stage.id,
        actor=actor[:320],
        reason=reason[:200] if reason else None,
    )
    session.add(change)
    conversation.pipeline_id, conversation.stage_id = stage.pipeline_id, stage.id
    events.emit(
        session,
        conversation.tenant_id,
        "conversation.stage_changed",
        {
            "conversation_id": str(conversation.id),
            "pipeline_id": str(stage.pipeline_id),
            "from_stage_id": str(change.from_stage_id) if change.from_stage_id else None,
            "to_stage_id": str(stage.id),
            "stage": stage.name,
        },
    )
    return change


# -- assignment --------------------------------------------------------------------------------------------------


async def agent_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """An active person of the caller's tenant (another tenant's id is simply not found)."""
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound("no such agent")
    return user


def emit_assigned(session: AsyncSession, conversation: Conversation, by: str) -> None:
    events.emit(
        session,
        conversation.tenant_id,
        "conversation.assigned",
        {
            "conversation_id": str(conversation.id),
            "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None,
            "team_id": str(conversation.team_id) if conversation.team_id else None,
            "ai_agent": conversation.ai_agent,
            "by": by,
        },
    )


async def assign(
    session: AsyncSession,
    conversation: Conversation,
    *,
    user_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    by: str,
) -> None:
    """Give the conversation to a person and/or a team; a team alone with automatic assignment picks a member."""
    if team_id is not None:
        team = await session.get(Team, team_id)
        if team is None:
            raise NotFound("no such team")
        conversation.team_id = team.id
        if user_id is None:
            conversation.assignee_id = None
            if team.assignment != AssignmentMode.manual:
                await auto_assign(session, team, [conversation], emit=False)
    if user_id is not None:
        user = await agent_user(session, user_id)
        conversation.assignee_id = user.id
    if conversation.assignee_id is not None:
        conversation.ai_agent = None  # a person answers now
    emit_assigned(session, conversation, by)


#: automatic availability (decision 0021): online while the person used the inbox within ``IDLE``, away while it is
#: open (a heartbeat within ``GONE``; the inbox beats every minute) without use, offline once it is closed
IDLE = timedelta(minutes=5)
GONE = timedelta(minutes=2, seconds=30)


def effective(presence: AgentPresence | None, now: datetime | None = None) -> str:
    """A person's availability now: their choice, else what their inbox's heartbeats say (no row: offline)."""
    if presence is None:
        return Availability.offline
    if not presence.automatic:
        return presence.availability
    now = now or utcnow()
    if presence.active_at is not None and presence.active_at >= now - IDLE:
        return Availability.online
    if presence.seen_at is not None and presence.seen_at >= now - GONE:
        return Availability.away
    return Availability.offline


@dataclass
class Candidate:
    user_id: uuid.UUID
    open_count: int
    cap: int | None

    @property
    def has_room(self) -> bool:
        return self.cap is None or self.open_count < self.cap


async def candidates(session: AsyncSession, team: Team) -> list[Candidate]:
    """The team's members who are online, with their open-conversation counts and caps, in a stable order."""
    rows = (
        await session.execute(
            select(TeamMember.user_id, AgentPresence)
            .join(User, User.id == TeamMember.user_id)
            .outerjoin(AgentPresence, AgentPresence.user_id == TeamMember.user_id)
            .where(TeamMember.team_id == team.id, User.is_active.is_(True))
        )
    ).all()
    now = utcnow()
    online = [(uid, p.max_open) for uid, p in rows if effective(p, now) == Availability.online]
    if not online:
        return []
    counts = dict(
        (
            await session.execute(
                select(Conversation.assignee_id, func.count(Conversation.id))
                .where(
                    Conversation.assignee_id.in_([uid for uid, _ in online]),
                    Conversation.status.in_(OPEN_STATUSES),
                )
                .group_by(Conversation.assignee_id)
            )
        ).all()
    )
    out = []
    for uid, cap in sorted(online, key=lambda r: str(r[0])):
        caps = [c for c in (cap, team.max_open_per_agent) if c is not None]
        out.append(Candidate(uid, int(counts.get(uid, 0)), min(caps) if caps else None))
    return out


def _pick(team: Team, pool: list[Candidate]) -> Candidate | None:
    ready = [c for c in pool if c.has_room]
    if not ready:
        return None
    if team.assignment == AssignmentMode.least_open:
        # fewest open first; ties broken by the round-robin order so equal loads still rotate
        low = min(c.open_count for c in ready)
        ready = [c for c in ready if c.open_count == low]
    ids = [str(c.user_id) for c in pool]
    start = ids.index(str(team.last_assigned_user_id)) + 1 if str(team.last_assigned_user_id) in ids else 0
    order = {uid: (i - start) % len(ids) for i, uid in enumerate(ids)}
    return min(ready, key=lambda c: order[str(c.user_id)])


async def auto_assign(
    session: AsyncSession, team: Team, conversations: Sequence[Conversation], *, emit: bool = True
) -> int:
    """Assign ``conversations`` among the team's online members (round-robin or least-open, within each member's
    cap). Conversations nobody has room for stay with the team, unassigned. Returns how many were assigned.

    The team row is locked first (PostgreSQL; SQLite's writers are serial already) and re-read, so concurrent
    assignments see each other's choices instead of all picking the same next member."""
    await session.refresh(team, with_for_update=True)
    pool = await candidates(session, team)
    assigned = 0
    for conversation in conversations:
        chosen = _pick(team, pool)
        if chosen is None:
            break
        conversation.team_id = team.id
        conversation.assignee_id = chosen.user_id
        conversation.ai_agent = None
        chosen.open_count += 1
        team.last_assigned_user_id = chosen.user_id
        assigned += 1
        if emit:
            emit_assigned(session, conversation, f"auto:{team.assignment}")
    return assigned


def waiting(team: Team):
    """The team's open conversations that nobody has: no person, no AI agent (oldest activity first)."""
    return (
        select(Conversation)
        .where(
            Conversation.team_id == team.id,
            Conversation.assignee_id.is_(None),
            Conversation.ai_agent.is_(None),
            Conversation.status.in_(OPEN_STATUSES),
        )
        .order_by(Conversation.last_activity, Conversation.id)
    )


async def drain(session: AsyncSession, team: Team) -> int:
    """Give the team's waiting conversations to its online members while they have room; returns how many.

    Called when room appears: a member comes online, a member's conversation is resolved or snoozed, or an admin
    asks. Only as many conversations are read as there are free places."""
    if team.assignment == AssignmentMode.manual:
        return 0
    pool = await candidates(session, team)
    if not pool:
        return 0
    room = None if any(c.cap is None for c in pool) else sum(max(0, c.cap - c.open_count) for c in pool)  # type: ignore[operator]
    if room == 0:
        return 0
    stmt = waiting(team) if room is None else waiting(team).limit(room)
    return await auto_assign(session, team, (await session.scalars(stmt)).all())


async def drain_teams_of(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Room appeared for this person: drain each of their teams that assigns automatically."""
    teams = (
        await session.scalars(
            select(Team)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == user_id, Team.assignment != AssignmentMode.manual)
            .order_by(Team.name)
        )
    ).all()
    return sum([await drain(session, team) for team in teams])


# -- status ------------------------------------------------------------------------------------------------------


async def set_status(
    session: AsyncSession,
    conversation: Conversation,
    status: str,
    *,
    snoozed_until: datetime | None = None,
    by: str,
    at: datetime | None = None,
) -> None:
    """Change the status and say so (``conversation.<status>``, or ``.reopened``); ``at`` is when a resolution
    happened, when that is not now (a session that timed out). A conversation that stops counting towards its
    assignee's load (resolved, snoozed) frees a place: the assignee's teams hand out what waits for one."""
    if status == ConversationStatus.snoozed:
        if snoozed_until is None:
            raise Unprocessable(
                "a snooze needs snoozed_until", errors=[field_error("snoozed_until", "required to snooze")]
            )
        conversation.snoozed_until = snoozed_until
    else:
        conversation.snoozed_until = None
    old = conversation.status
    conversation.status = status
    if status == ConversationStatus.resolved:
        conversation.resolved_at = at or utcnow()
    if old != status:
        events.emit(
            session,
            conversation.tenant_id,
            f"conversation.{status if status != 'open' else 'reopened'}",
            {"conversation_id": str(conversation.id), "from": old, "to": status, "by": by},
        )
    if old in OPEN_STATUSES and status not in OPEN_STATUSES and conversation.assignee_id is not None:
        await session.flush()  # the conversation no longer counts towards its assignee's load
        await drain_teams_of(session, conversation.assignee_id)


async def wake_snoozed(session: AsyncSession, now=None) -> int:
    """Reopen every snoozed conversation whose time has come (the worker's sweeper calls this)."""
    now = now or utcnow()
    rows = (
        await session.scalars(
            select(Conversation).where(
                Conversation.status == ConversationStatus.snoozed, Conversation.snoozed_until <= now
            )
        )
    ).all()
    for conversation in rows:
        await set_status(session, conversation, ConversationStatus.open, by="snooze")
    return len(rows)
