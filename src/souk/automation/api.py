"""Pipelines and stages, teams and members, agents' availability, and a conversation's status, assignment and stage.

Tenant walls come from the session: an id of another tenant's pipeline, team, agent or conversation is a 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select

from souk.automation import routing
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
from souk.core import audit
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error
from souk.core.models import Project, Role, User
from souk.core.service import default_project
from souk.db.types import utcnow
from souk.messaging.api import conversation_or_404, render_conversation
from souk.messaging.models import Conversation, ConversationStatus
from souk.messaging.schemas import ConversationOut

router = APIRouter(prefix="/api/v1", tags=["routing"])


# -- schemas -----------------------------------------------------------------------------------------------------


class StageIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["Qualified"])


class StageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    position: int


class PipelineIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Wholesale"])
    project_id: uuid.UUID | None = Field(None, description="Default: the tenant's default project.")
    stages: list[StageIn] = Field(default_factory=list, description="In order; default: New, In progress, Won, Lost.")
    is_default: bool = False
    team_id: uuid.UUID | None = Field(None, description="New conversations routed here go to this team.")


class PipelinePatch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Wholesale",
                    "stages": [{"name": "New"}, {"name": "Quoted"}, {"name": "Won"}, {"name": "Lost"}],
                }
            ]
        }
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    stages: list[StageIn] | None = Field(
        None, description="The full ordered list: stages named as before keep their id, others are added or removed."
    )
    is_default: bool | None = None
    team_id: uuid.UUID | None = None


class PipelineOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    is_default: bool
    team_id: uuid.UUID | None
    stages: list[StageOut]


class TeamIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["Support"])
    assignment: AssignmentMode = AssignmentMode.manual
    max_open_per_agent: int | None = Field(None, ge=1, le=10_000)
    member_ids: list[uuid.UUID] = Field(default_factory=list)


class TeamPatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"assignment": "round_robin", "max_open_per_agent": 20}]})
    name: str | None = Field(None, min_length=1, max_length=100)
    assignment: AssignmentMode | None = None
    max_open_per_agent: int | None = Field(None, ge=1, le=10_000)
    member_ids: list[uuid.UUID] | None = None


class TeamOut(BaseModel):
    id: uuid.UUID
    name: str
    assignment: str
    max_open_per_agent: int | None
    member_ids: list[uuid.UUID]


class AgentOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    role: str
    availability: str = Field(description="online, away or offline, now (automatic: from the person's inbox).")
    automatic: bool = Field(description="Availability follows the web inbox (online while used) until chosen.")
    max_open: int | None
    open_conversations: int


class PresenceIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"availability": "online", "max_open": 15}]}
    )
    availability: Availability | None = Field(None, description="A choice that holds until changed.")
    automatic: bool | None = Field(None, description="true: back to following the web inbox (online while used).")
    max_open: int | None = Field(None, ge=1, le=10_000, description="Open conversations this person takes at most.")


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"active": True}]})
    active: bool = Field(True, description="The person used the inbox since the last heartbeat.")


class AssignIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"assignee_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}]})
    assignee_id: uuid.UUID | None = Field(None, description="A person of the tenant.")
    team_id: uuid.UUID | None = Field(None, description="A team; alone, its automatic assignment picks a member.")


class StatusIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "snoozed", "snoozed_until": "2026-12-01T09:00:00Z"}]}
    )
    status: ConversationStatus
    snoozed_until: datetime | None = None


class StageMoveIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"stage_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "reason": "asked for a quote"}]
        }
    )
    stage_id: uuid.UUID
    reason: str | None = Field(None, max_length=200)


class StageChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    pipeline_id: uuid.UUID | None
    from_stage_id: uuid.UUID | None
    to_stage_id: uuid.UUID | None
    actor: str
    reason: str | None
    at: datetime


class AutoAssignOut(BaseModel):
    assigned: int
    waiting: int = Field(description="Unassigned open conversations of the team nobody had room for.")


# -- pipelines ---------------------------------------------------------------------------------------------------


async def _pipeline(ctx: Ctx, pipeline_id: uuid.UUID) -> Pipeline:
    pipeline = await ctx.session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound("no such pipeline")
    return pipeline


async def _pipeline_out(ctx: Ctx, pipeline: Pipeline) -> PipelineOut:
    stages = (
        await ctx.session.scalars(
            select(PipelineStage)
            .where(PipelineStage.pipeline_id == pipeline.id)
            .order_by(PipelineStage.position, PipelineStage.created_at)
        )
    ).all()
    return PipelineOut(
        id=pipeline.id,
        project_id=pipeline.project_id,
        name=pipeline.name,
        is_default=pipeline.is_default,
        team_id=pipeline.team_id,
        stages=[StageOut.model_validate(s) for s in stages],
    )


def _check_stage_names(stages: list[StageIn]) -> None:
    seen: set[str] = set()
    for i, stage in enumerate(stages):
        if stage.name in seen:
            raise Unprocessable(
                f"stage {stage.name!r} is listed twice", errors=[field_error(f"stages.{i}.name", "duplicate")]
            )
        seen.add(stage.name)


async def _set_stages(ctx: Ctx, pipeline: Pipeline, stages: list[StageIn]) -> None:
    _check_stage_names(stages)
    existing = {
        s.name: s
        for s in (await ctx.session.scalars(select(PipelineStage).where(PipelineStage.pipeline_id == pipeline.id)))
    }
    wanted = [s.name for s in stages]
    for name, row in existing.items():
        if name not in wanted:
            await ctx.session.delete(row)
    await ctx.session.flush()
    for i, name in enumerate(wanted):
        if name in existing:
            existing[name].position = i
        else:
            ctx.session.add(PipelineStage(pipeline_id=pipeline.id, name=name, position=i))


async def _check_team(ctx: Ctx, team_id: uuid.UUID | None) -> None:
    if team_id is not None and await ctx.session.get(Team, team_id) is None:
        raise NotFound("no such team", errors=[field_error("team_id", "not a team of this tenant")])


async def _make_default(ctx: Ctx, pipeline: Pipeline) -> None:
    others = await ctx.session.scalars(
        select(Pipeline).where(Pipeline.project_id == pipeline.project_id, Pipeline.id != pipeline.id)
    )
    for other in others:
        other.is_default = False
    pipeline.is_default = True


@router.get("/pipelines", summary="List pipelines with their ordered stages", response_model=list[PipelineOut])
async def list_pipelines(project_id: uuid.UUID | None = Query(None), ctx: Ctx = Depends(agent)) -> list[PipelineOut]:
    stmt = select(Pipeline).order_by(Pipeline.created_at, Pipeline.name)
    if project_id is not None:
        stmt = stmt.where(Pipeline.project_id == project_id)
    return [await _pipeline_out(ctx, p) for p in (await ctx.session.scalars(stmt)).all()]


@router.post("/pipelines", summary="Create a pipeline", status_code=201, response_model=PipelineOut)
async def create_pipeline(body: PipelineIn, ctx: Ctx = Depends(admin)) -> PipelineOut:
    if body.project_id is not None:
        project = await ctx.session.get(Project, body.project_id)
        if project is None:
            raise NotFound("no such project", errors=[field_error("project_id", "not a project of this tenant")])
    else:
        project = await default_project(ctx.session, ctx.tenant_id)
    await _check_team(ctx, body.team_id)
    if await ctx.session.scalar(
        select(Pipeline.id).where(Pipeline.project_id == project.id, Pipeline.name == body.name)
    ):
        raise Conflict(f"the project has a pipeline named {body.name!r}", errors=[field_error("name", "taken")])
    stages = body.stages or [StageIn(name=n) for n in routing.DEFAULT_STAGES]
    _check_stage_names(stages)
    pipeline = Pipeline(id=uuid.uuid4(), project_id=project.id, name=body.name, team_id=body.team_id)
    ctx.session.add(pipeline)
    await ctx.session.flush()
    for i, stage in enumerate(stages):
        ctx.session.add(PipelineStage(pipeline_id=pipeline.id, name=stage.name, position=i))
    if body.is_default or not await ctx.session.scalar(
        select(Pipeline.id).where(Pipeline.project_id == project.id, Pipeline.id != pipeline.id)
    ):
        await _make_default(ctx, pipeline)
    await ctx.session.flush()
    audit.record(ctx, "pipeline.created", "pipeline", pipeline.id, after={"name": body.name})
    return await _pipeline_out(ctx, pipeline)


@router.get("/pipelines/{pipeline_id}", summary="Read a pipeline", response_model=PipelineOut)
async def get_pipeline(pipeline_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> PipelineOut:
    return await _pipeline_out(ctx, await _pipeline(ctx, pipeline_id))


@router.patch(
    "/pipelines/{pipeline_id}", summary="Rename, reorder stages, set default or team", response_model=PipelineOut
)
async def update_pipeline(pipeline_id: uuid.UUID, body: PipelinePatch, ctx: Ctx = Depends(admin)) -> PipelineOut:
    pipeline = await _pipeline(ctx, pipeline_id)
    fields = body.model_fields_set
    if body.name is not None:
        pipeline.name = body.name
    if "team_id" in fields:
        await _check_team(ctx, body.team_id)
        pipeline.team_id = body.team_id
    if body.stages is not None:
        await _set_stages(ctx, pipeline, body.stages)
    if body.is_default:
        await _make_default(ctx, pipeline)
    await ctx.session.flush()
    audit.record(ctx, "pipeline.updated", "pipeline", pipeline.id, after=body.model_dump(mode="json"))
    return await _pipeline_out(ctx, pipeline)


@router.delete("/pipelines/{pipeline_id}", summary="Delete a pipeline", status_code=204)
async def delete_pipeline(pipeline_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> Response:
    pipeline = await _pipeline(ctx, pipeline_id)
    await ctx.session.delete(pipeline)
    audit.record(ctx, "pipeline.deleted", "pipeline", pipeline_id)
    return Response(status_code=204)


# -- teams -------------------------------------------------------------------------------------------------------


async def _team(ctx: Ctx, team_id: uuid.UUID) -> Team:
    team = await ctx.session.get(Team, team_id)
    if team is None:
        raise NotFound("no such team")
    return team


async def _team_out(ctx: Ctx, team: Team) -> TeamOut:
    members = (await ctx.session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team.id))).all()
    return TeamOut(
        id=team.id,
        name=team.name,
        assignment=team.assignment,
        max_open_per_agent=team.max_open_per_agent,
        member_ids=sorted(members, key=str),
    )


async def _set_members(ctx: Ctx, team: Team, member_ids: list[uuid.UUID]) -> None:
    for i, uid in enumerate(member_ids):
        try:
            await routing.agent_user(ctx.session, uid)
        except NotFound:
            raise NotFound(
                f"no such agent {uid}", errors=[field_error(f"member_ids.{i}", "not a person of this tenant")]
            ) from None
    await ctx.session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    for uid in dict.fromkeys(member_ids):
        ctx.session.add(TeamMember(team_id=team.id, user_id=uid))


@router.get("/teams", summary="List teams", response_model=list[TeamOut])
async def list_teams(ctx: Ctx = Depends(agent)) -> list[TeamOut]:
    return [await _team_out(ctx, t) for t in (await ctx.session.scalars(select(Team).order_by(Team.name))).all()]


@router.post("/teams", summary="Create a team", status_code=201, response_model=TeamOut)
async def create_team(body: TeamIn, ctx: Ctx = Depends(admin)) -> TeamOut:
    if await ctx.session.scalar(select(Team.id).where(Team.name == body.name)):
        raise Conflict(f"a team is named {body.name!r}", errors=[field_error("name", "taken")])
    team = Team(id=uuid.uuid4(), name=body.name, assignment=body.assignment, max_open_per_agent=body.max_open_per_agent)
    ctx.session.add(team)
    await ctx.session.flush()
    await _set_members(ctx, team, body.member_ids)
    await ctx.session.flush()
    audit.record(ctx, "team.created", "team", team.id, after={"name": body.name})
    return await _team_out(ctx, team)


@router.get("/teams/{team_id}", summary="Read a team", response_model=TeamOut)
async def get_team(team_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> TeamOut:
    return await _team_out(ctx, await _team(ctx, team_id))


@router.patch("/teams/{team_id}", summary="Change a team: name, assignment mode, cap, members", response_model=TeamOut)
async def update_team(team_id: uuid.UUID, body: TeamPatch, ctx: Ctx = Depends(admin)) -> TeamOut:
    team = await _team(ctx, team_id)
    if body.name is not None:
        team.name = body.name
    if body.assignment is not None:
        team.assignment = body.assignment
    if "max_open_per_agent" in body.model_fields_set:
        team.max_open_per_agent = body.max_open_per_agent
    if body.member_ids is not None:
        await _set_members(ctx, team, body.member_ids)
    await ctx.session.flush()
    audit.record(ctx, "team.updated", "team", team.id, after=body.model_dump(mode="json", exclude_unset=True))
    return await _team_out(ctx, team)


@router.delete("/teams/{team_id}", summary="Delete a team", status_code=204)
async def delete_team(team_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> Response:
    await ctx.session.delete(await _team(ctx, team_id))
    return Response(status_code=204)


@router.post(
    "/teams/{team_id}/auto-assign",
    summary="Distribute the team's unassigned open conversations among its online members",
    response_model=AutoAssignOut,
)
async def run_auto_assign(team_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> AutoAssignOut:
    team = await _team(ctx, team_id)
    if team.assignment == AssignmentMode.manual:
        raise Conflict("this team assigns by hand; set assignment to round_robin or least_open")
    assigned = await routing.drain(ctx.session, team)
    await ctx.session.flush()
    left = await ctx.session.scalar(select(func.count()).select_from(routing.waiting(team).subquery()))
    return AutoAssignOut(assigned=assigned, waiting=int(left or 0))


# -- agents ------------------------------------------------------------------------------------------------------


async def _agents(ctx: Ctx, user_ids: list[uuid.UUID] | None = None) -> list[AgentOut]:
    stmt = select(User, AgentPresence).outerjoin(AgentPresence, AgentPresence.user_id == User.id)
    stmt = stmt.where(User.is_active.is_(True))
    stmt = stmt.where(User.id.in_(user_ids)) if user_ids is not None else stmt.where(User.role == Role.agent)
    rows = (await ctx.session.execute(stmt.order_by(User.email))).all()
    counts = dict(
        (
            await ctx.session.execute(
                select(Conversation.assignee_id, func.count(Conversation.id))
                .where(Conversation.status.in_(routing.OPEN_STATUSES), Conversation.assignee_id.is_not(None))
                .group_by(Conversation.assignee_id)
            )
        ).all()
    )
    now = utcnow()
    return [
        AgentOut(
            id=u.id,
            email=u.email,
            name=u.name,
            role=str(u.role),
            availability=routing.effective(p, now),
            automatic=p.automatic if p else True,
            max_open=p.max_open if p else None,
            open_conversations=int(counts.get(u.id, 0)),
        )
        for u, p in rows
    ]


@router.get("/agents", summary="People with the agent role, their availability and load", response_model=list[AgentOut])
async def list_agents(ctx: Ctx = Depends(agent)) -> list[AgentOut]:
    return await _agents(ctx)


@router.put(
    "/agents/{user_id}/availability",
    summary="Set a person's availability (online, away, offline) and cap; people set their own, admins anyone's",
    response_model=AgentOut,
)
async def set_availability(user_id: uuid.UUID, body: PresenceIn, ctx: Ctx = Depends(agent)) -> AgentOut:
    user = await routing.agent_user(ctx.session, user_id)
    if ctx.principal.role.rank < Role.admin.rank and ctx.principal.user_id != user.id:
        raise Forbidden("agents set only their own availability")
    if body.availability is None and body.automatic is None and "max_open" not in body.model_fields_set:
        raise Unprocessable(
            "say what to set", errors=[field_error("availability", "online, away or offline (or automatic: true)")]
        )
    if body.availability is not None and body.automatic:
        raise Unprocessable(
            "a choice and automatic exclude each other",
            errors=[field_error("automatic", "give availability or automatic: true, not both")],
        )
    presence, before = await _presence(ctx, user.id)
    if body.availability is not None:
        presence.availability, presence.automatic = body.availability, False
    elif body.automatic is not None:
        presence.automatic = body.automatic
        if not body.automatic:  # keep what the inbox last made of it, as a choice
            presence.availability = before
    if "max_open" in body.model_fields_set:
        presence.max_open = body.max_open
    return await _presence_changed(ctx, presence, before, new_cap="max_open" in body.model_fields_set)


@router.post(
    "/agents/me/heartbeat",
    summary="The web inbox is open (and used): keeps an automatic availability online, or away once idle",
    response_model=AgentOut,
)
async def heartbeat(body: HeartbeatIn, ctx: Ctx = Depends(agent)) -> AgentOut:
    if ctx.principal.user_id is None:
        raise Forbidden("only a person signed in has a presence")
    user = await routing.agent_user(ctx.session, ctx.principal.user_id)
    presence, before = await _presence(ctx, user.id)
    now = utcnow()
    presence.seen_at = now
    if body.active:
        presence.active_at = now
    return await _presence_changed(ctx, presence, before)


async def _presence(ctx: Ctx, user_id: uuid.UUID) -> tuple[AgentPresence, str]:
    """The person's presence row (made on first need, automatic) and their availability before the change."""
    presence = await ctx.session.scalar(select(AgentPresence).where(AgentPresence.user_id == user_id))
    if presence is None:
        presence = AgentPresence(user_id=user_id, availability=Availability.offline, automatic=True)
        ctx.session.add(presence)
        return presence, Availability.offline
    return presence, routing.effective(presence)


async def _presence_changed(ctx: Ctx, presence: AgentPresence, before: str, *, new_cap: bool = False) -> AgentOut:
    """Save; someone who just came online (or has a new cap) takes what waits for them in their teams."""
    await ctx.session.flush()
    if routing.effective(presence) == Availability.online and (before != Availability.online or new_cap):
        await routing.drain_teams_of(ctx.session, presence.user_id)
    (out,) = await _agents(ctx, [presence.user_id])
    return out


# -- a conversation's routing ------------------------------------------------------------------------------------


@router.put(
    "/conversations/{conversation_id}/assignee",
    summary="Assign to a person and/or a team (a team alone auto-assigns when it is set to)",
    response_model=ConversationOut,
)
async def assign_conversation(conversation_id: uuid.UUID, body: AssignIn, ctx: Ctx = Depends(agent)) -> ConversationOut:
    conversation = await conversation_or_404(ctx.session, conversation_id)
    if body.assignee_id is None and body.team_id is None:
        conversation.assignee_id = None
        conversation.team_id = None
        routing.emit_assigned(ctx.session, conversation, ctx.principal.label)
    else:
        await routing.assign(
            ctx.session, conversation, user_id=body.assignee_id, team_id=body.team_id, by=ctx.principal.label
        )
    audit.record(ctx, "conversation.assigned", "conversation", conversation.id, after=body.model_dump(mode="json"))
    return await render_conversation(ctx.session, conversation)


@router.put(
    "/conversations/{conversation_id}/status",
    summary="Set the status: open, pending, snoozed (until a time) or resolved",
    response_model=ConversationOut,
)
async def set_conversation_status(
    conversation_id: uuid.UUID, body: StatusIn, ctx: Ctx = Depends(agent)
) -> ConversationOut:
    conversation = await conversation_or_404(ctx.session, conversation_id)
    await routing.set_status(
        ctx.session, conversation, body.status, snoozed_until=body.snoozed_until, by=ctx.principal.label
    )
    return await render_conversation(ctx.session, conversation)


@router.put(
    "/conversations/{conversation_id}/stage",
    summary="Move the conversation to a pipeline stage (recorded in its history)",
    response_model=ConversationOut,
)
async def move_conversation(
    conversation_id: uuid.UUID, body: StageMoveIn, ctx: Ctx = Depends(agent)
) -> ConversationOut:
    conversation = await conversation_or_404(ctx.session, conversation_id)
    await routing.move_stage(ctx.session, conversation, body.stage_id, actor=ctx.principal.label, reason=body.reason)
    return await render_conversation(ctx.session, conversation)


@router.get(
    "/conversations/{conversation_id}/stage-history",
    summary="Every move of the conversation between pipelines and stages, oldest first",
    response_model=list[StageChangeOut],
)
async def stage_history(conversation_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> list[StageChangeOut]:
    await conversation_or_404(ctx.session, conversation_id)
    rows = (
        await ctx.session.scalars(
            select(StageChange).where(StageChange.conversation_id == conversation_id).order_by(StageChange.at)
        )
    ).all()
    return [StageChangeOut.model_validate(r) for r in rows]
