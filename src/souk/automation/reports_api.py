"""``GET /api/v1/reports/…`` and a conversation's SLA figures."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from souk.automation import reports
from souk.core.auth import Ctx, agent
from souk.core.errors import NotFound
from souk.messaging.models import Conversation

router = APIRouter(prefix="/api/v1", tags=["reports"])

SINCE = Query(None, description="Start of the period (default: `days` before `until`).")
UNTIL = Query(None, description="End of the period, exclusive (default: now).")
DAYS = Query(30, ge=1, le=366, description="Length of the default period in days.")


class Summary(BaseModel):
    count: int
    average: float | None = Field(description="Seconds.")
    median: float | None
    p90: float | None


class ConversationsReport(BaseModel):
    since: datetime
    until: datetime
    by_status: dict[str, int] = Field(examples=[{"open": 12, "pending": 3, "snoozed": 1, "resolved": 240}])
    started: int
    resolved: int
    open_unassigned: int


class ResponseTimesReport(BaseModel):
    since: datetime
    until: datetime
    conversations: int
    unanswered: int
    first_response_seconds: Summary
    resolution_seconds: Summary


class AgentLoad(BaseModel):
    user_id: uuid.UUID
    email: str
    name: str
    role: str
    availability: str
    open: int
    pending: int
    snoozed: int
    resolved_in_period: int
    first_response_seconds: Summary


class TeamLoad(BaseModel):
    team_id: uuid.UUID
    name: str
    assignment: str
    members: int
    online: int
    open_assigned: int
    open_unassigned: int


class ChannelDay(BaseModel):
    channel_id: uuid.UUID
    day: str = Field(examples=["2026-03-01"])
    inbound: int
    outbound: int


class Replies(BaseModel):
    ai: int
    human: int
    automation: int
    total: int


class Handled(BaseModel):
    ai: int
    human: int
    unhandled: int


class AiShareReport(BaseModel):
    since: datetime
    until: datetime
    replies: Replies
    ai_share: float | None = Field(examples=[0.62])
    human_share: float | None
    conversations: Handled


class SlaOut(BaseModel):
    conversation_id: uuid.UUID
    first_inbound_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_response_seconds: float | None
    resolution_seconds: float | None
    first_response_by: str | None


@router.get(
    "/conversations/{conversation_id}/sla",
    summary="First-response and resolution times of a conversation",
    response_model=SlaOut,
)
async def conversation_sla(conversation_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> SlaOut:
    conversation = await ctx.session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("no such conversation")
    (sla,) = await reports.sla_for(ctx.session, [conversation])
    return SlaOut(**sla.__dict__)


@router.get(
    "/reports/conversations",
    summary="Conversations by status, started and resolved in the period",
    response_model=ConversationsReport,
)
async def conversations(
    since: datetime | None = SINCE, until: datetime | None = UNTIL, days: int = DAYS, ctx: Ctx = Depends(agent)
) -> dict[str, Any]:
    return await reports.conversations_report(ctx.session, *reports.window(since, until, days))


@router.get(
    "/reports/response-times",
    summary="First-response and resolution times of conversations started in the period",
    response_model=ResponseTimesReport,
)
async def response_times(
    since: datetime | None = SINCE, until: datetime | None = UNTIL, days: int = DAYS, ctx: Ctx = Depends(agent)
) -> dict[str, Any]:
    return await reports.response_times_report(ctx.session, *reports.window(since, until, days))


@router.get(
    "/reports/agents",
    summary="Each agent's availability, load and first-response times",
    response_model=list[AgentLoad],
)
async def agents(
    since: datetime | None = SINCE, until: datetime | None = UNTIL, days: int = DAYS, ctx: Ctx = Depends(agent)
) -> list[dict[str, Any]]:
    return await reports.agents_report(ctx.session, *reports.window(since, until, days))


@router.get(
    "/reports/teams",
    summary="Each team's members online and open conversations, assigned or waiting",
    response_model=list[TeamLoad],
)
async def teams(ctx: Ctx = Depends(agent)) -> list[dict[str, Any]]:
    return await reports.teams_report(ctx.session)


@router.get(
    "/reports/channel-volume",
    summary="Inbound and outbound messages per channel per day (UTC)",
    response_model=list[ChannelDay],
)
async def channel_volume(
    since: datetime | None = SINCE, until: datetime | None = UNTIL, days: int = DAYS, ctx: Ctx = Depends(agent)
) -> list[dict[str, Any]]:
    return await reports.channel_volume_report(ctx.session, *reports.window(since, until, days))


@router.get(
    "/reports/ai-share",
    summary="Replies written by the AI agent, by people and by automations",
    response_model=AiShareReport,
)
async def ai_share(
    since: datetime | None = SINCE, until: datetime | None = UNTIL, days: int = DAYS, ctx: Ctx = Depends(agent)
) -> dict[str, Any]:
    return await reports.ai_share_report(ctx.session, *reports.window(since, until, days))
