"""HTTP for automation rules (per tenant) and a conversation's automation log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from souk.automation import interest, rules
from souk.automation.models import (
    AutomationRule,
    AutomationRun,
    PipelineStage,
    Team,
    WebhookSubscription,
)
from souk.core import audit
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import NotFound, field_error
from souk.core.models import User
from souk.messaging.models import Conversation

router = APIRouter(prefix="/api/v1", tags=["automations"])

EXAMPLE_CONDITIONS = [
    {"field": "message.direction", "op": "eq", "value": "inbound"},
    {"field": "message.text", "op": "regex", "value": r"\b(price|how much)\b"},
]
EXAMPLE_ACTIONS = [
    {"type": "label", "labels": ["pricing"]},
    {"type": "send_reply", "text": "Hi {{customer.first_name}}, our price list: https://shop.example/prices"},
]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, examples=["Price questions"])
    event: str = Field(examples=["message.created"], description=f"One of: {', '.join(rules.EVENTS)}.")
    conditions: list[dict[str, Any]] = Field(default_factory=list, examples=[EXAMPLE_CONDITIONS])
    actions: list[dict[str, Any]] = Field(examples=[EXAMPLE_ACTIONS])
    position: int = Field(0, description="Rules of an event run in ascending position.")
    enabled: bool = True
    minutes: int | None = Field(None, ge=1, le=525_600, description="For no_reply: minutes without an answer.")


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    event: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    position: int
    enabled: bool
    minutes: int | None
    created_at: datetime
    updated_at: datetime


class RunOut(BaseModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    rule_name: str | None
    event_id: str
    event_type: str
    outcome: str = Field(examples=["ran"], description="ran, skipped, loop_guard or failed.")
    reason: str | None
    actions_done: list[dict[str, Any]]
    at: datetime


class CatalogOut(BaseModel):
    events: dict[str, str]
    fields: dict[str, list[str]]
    actions: dict[str, list[str]]


async def _check_refs(ctx: Ctx, actions: list[dict[str, Any]]) -> None:
    """Ids in actions must be the tenant's own (another tenant's id is as unknown as a made-up one)."""
    models = {"user_id": User, "team_id": Team, "stage_id": PipelineStage, "subscription_id": WebhookSubscription}
    errors = []
    for i, action in enumerate(actions):
        for key, model in models.items():
            if action.get(key) and await ctx.session.get(model, uuid.UUID(str(action[key]))) is None:
                errors.append(field_error(f"actions.{i}.{key}", "not found in this tenant"))
    if errors:
        raise NotFound(f"unknown {', '.join(e['field'] for e in errors)}", errors=errors)


async def _validate(ctx: Ctx, body: RuleIn) -> None:
    rules.validate(body.event, body.conditions, body.actions, body.minutes)
    await _check_refs(ctx, body.actions)


async def _rule(ctx: Ctx, rule_id: uuid.UUID) -> AutomationRule:
    rule = await ctx.session.get(AutomationRule, rule_id)
    if rule is None:
        raise NotFound("no such rule")
    return rule


@router.get(
    "/automation-rules/catalog",
    summary="Events, condition fields with their operators, and actions",
    response_model=CatalogOut,
)
async def catalog(ctx: Ctx = Depends(agent)) -> CatalogOut:
    return CatalogOut(
        events=rules.EVENTS,
        fields={k: list(v) for k, v in rules.FIELDS.items()},
        actions={k: list(v) for k, v in rules.ACTIONS.items()},
    )


@router.get("/automation-rules", summary="The tenant's rules in running order", response_model=list[RuleOut])
async def list_rules(ctx: Ctx = Depends(agent)) -> list[RuleOut]:
    rows = (
        await ctx.session.scalars(
            select(AutomationRule).order_by(AutomationRule.event, AutomationRule.position, AutomationRule.created_at)
        )
    ).all()
    return [RuleOut.model_validate(r) for r in rows]


@router.post(
    "/automation-rules",
    summary="Create a rule (checked: unknown fields, actions, slow regexes → 422)",
    status_code=201,
    response_model=RuleOut,
)
async def create_rule(body: RuleIn, ctx: Ctx = Depends(admin)) -> RuleOut:
    await _validate(ctx, body)
    rule = AutomationRule(**body.model_dump())
    ctx.session.add(rule)
    await ctx.session.flush()
    await ctx.session.refresh(rule)
    interest.changed(ctx.session, ctx.tenant_id)
    audit.record(ctx, "automation_rule.created", "automation_rule", rule.id, after=body.model_dump(mode="json"))
    return RuleOut.model_validate(rule)


@router.get("/automation-rules/{rule_id}", summary="Read a rule", response_model=RuleOut)
async def get_rule(rule_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> RuleOut:
    return RuleOut.model_validate(await _rule(ctx, rule_id))


@router.put("/automation-rules/{rule_id}", summary="Replace a rule", response_model=RuleOut)
async def replace_rule(rule_id: uuid.UUID, body: RuleIn, ctx: Ctx = Depends(admin)) -> RuleOut:
    rule = await _rule(ctx, rule_id)
    await _validate(ctx, body)
    for key, value in body.model_dump().items():
        setattr(rule, key, value)
    await ctx.session.flush()
    await ctx.session.refresh(rule)
    interest.changed(ctx.session, ctx.tenant_id)
    audit.record(ctx, "automation_rule.updated", "automation_rule", rule.id, after=body.model_dump(mode="json"))
    return RuleOut.model_validate(rule)


@router.delete("/automation-rules/{rule_id}", summary="Delete a rule and its log", status_code=204)
async def delete_rule(rule_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> Response:
    await ctx.session.delete(await _rule(ctx, rule_id))
    interest.changed(ctx.session, ctx.tenant_id)
    audit.record(ctx, "automation_rule.deleted", "automation_rule", rule_id)
    return Response(status_code=204)


@router.get(
    "/conversations/{conversation_id}/automation-log",
    summary="What each rule did with this conversation's events, and why (newest first)",
    response_model=list[RunOut],
)
async def automation_log(conversation_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> list[RunOut]:
    if await ctx.session.get(Conversation, conversation_id) is None:
        raise NotFound("no such conversation")
    rows = (
        await ctx.session.execute(
            select(AutomationRun, AutomationRule.name)
            .join(AutomationRule, AutomationRule.id == AutomationRun.rule_id)
            .where(AutomationRun.conversation_id == conversation_id)
            .order_by(AutomationRun.at.desc())
            .limit(500)
        )
    ).all()
    return [
        RunOut(
            id=run.id,
            rule_id=run.rule_id,
            rule_name=name,
            event_id=run.event_id,
            event_type=run.event_type,
            outcome=run.outcome,
            reason=run.reason,
            actions_done=run.actions_done or [],
            at=run.at,
        )
        for run, name in rows
    ]
