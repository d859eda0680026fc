"""The agent API: seed 003's ``POST /api/v2/agent/invoke``, thread memory, and handing conversations between the
bot and people."""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from souk.agent import config, service
from souk.agent.language import LANGUAGES
from souk.agent.models import AgentThread, AgentTurn
from souk.agent.schemas import (
    AgentSettingsIn,
    AgentSettingsOut,
    AiAgentIn,
    HandoffIn,
    InvokeIn,
    InvokeOut,
    ThreadOut,
    TurnOut,
)
from souk.channels.models import Channel
from souk.core import audit
from souk.core import service as core_service
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import Conflict, NotFound, Unprocessable, field_error
from souk.core.secrets import mask
from souk.messaging.api import conversation_or_404, render_conversation
from souk.messaging.schemas import ConversationOut

router = APIRouter(tags=["agent"])


@router.post(
    "/api/v2/agent/invoke",
    summary="Ask the AI agent (seed 003)",
    response_model=InvokeOut,
    responses={
        404: {"description": "No such customer or thread (or another tenant's)"},
        409: {"description": "The thread belongs to another customer, or a person has taken the conversation"},
        422: {"description": "Empty or too long message, or the agent's settings are wrong (named in errors)"},
    },
)
async def invoke(body: InvokeIn, request: Request, ctx: Ctx = Depends(agent)) -> InvokeOut:
    cfg = await config.load(ctx.session)
    cfg.check()
    service.check_message(body.message)
    customer = await service.resolve_customer(ctx.session, body.customer_id, body.channel)
    conversation = await service.latest_conversation(ctx.session, customer, body.channel)
    if conversation is not None and (why := service.bot_may_answer(conversation)):
        raise Conflict(
            f"the agent does not answer this customer's conversation: {why}; release it first",
            conversation_id=str(conversation.id),
        )
    result = await service.answer(
        ctx.session,
        ctx.tenant_id,
        cfg,
        customer=customer,
        message=body.message,
        channel=body.channel,
        http=request.app.state.http,
        conversation=conversation,
        thread_id=body.thread_id,
    )
    return InvokeOut(
        reply=result.reply,
        agent_used=result.agent_used,
        tools_called=result.tools_called,
        citations=result.citations,  # type: ignore[arg-type]
        handoff=result.handoff,
        thread_id=result.thread_id,
        response_time_ms=result.response_time_ms,
        intent=result.intent,
        provider=result.provider,
        handoff_reason=result.handoff_reason,
        fallback_reason=result.fallback_reason,
        conversation_id=result.conversation_id,
    )


@router.get(
    "/api/v2/agent/threads/{thread_id}", summary="A thread's memory: its turns, oldest first", response_model=ThreadOut
)
async def get_thread(thread_id: str, ctx: Ctx = Depends(agent)) -> ThreadOut:
    thread = await ctx.session.scalar(select(AgentThread).where(AgentThread.thread_id == thread_id))
    if thread is None:
        raise NotFound(f"no thread {thread_id!r}")
    turns = await ctx.session.scalars(
        select(AgentTurn).where(AgentTurn.thread_pk == thread.id).order_by(AgentTurn.created_at, AgentTurn.id)
    )
    return ThreadOut(
        thread_id=thread.thread_id,
        customer_id=thread.customer_id,
        conversation_id=thread.conversation_id,
        channel=thread.channel,
        language=thread.language,
        turns=[TurnOut.model_validate(t) for t in turns],
    )


@router.post(
    "/api/v1/conversations/{conversation_id}/handoff",
    summary="Hand the conversation to a person: the bot stops answering it until released",
    response_model=ConversationOut,
)
async def handoff(conversation_id: uuid.UUID, body: HandoffIn, ctx: Ctx = Depends(agent)) -> ConversationOut:
    conversation = await conversation_or_404(ctx.session, conversation_id)
    await service.hand_off(ctx.session, conversation, body.reason)
    if ctx.principal.user_id is not None and conversation.assignee_id is None:
        conversation.assignee_id = ctx.principal.user_id
    audit.record(ctx, "conversation.handoff", "conversation", conversation.id, after={"reason": body.reason})
    return await render_conversation(ctx.session, conversation)


@router.post(
    "/api/v1/conversations/{conversation_id}/release",
    summary="Give the conversation back to the bot",
    response_model=ConversationOut,
)
async def release(conversation_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> ConversationOut:
    conversation = await conversation_or_404(ctx.session, conversation_id)
    service.release(ctx.session, conversation)
    audit.record(ctx, "conversation.released", "conversation", conversation.id)
    return await render_conversation(ctx.session, conversation)


@router.put(
    "/api/v1/conversations/{conversation_id}/ai-agent",
    summary="Assign an AI agent to the conversation (channels with ai_agents_enabled)",
    response_model=ConversationOut,
)
async def assign_ai_agent(conversation_id: uuid.UUID, body: AiAgentIn, ctx: Ctx = Depends(agent)) -> ConversationOut:
    conversation = await conversation_or_404(ctx.session, conversation_id)
    channel = await ctx.session.get(Channel, conversation.channel_id)
    if body.agent is not None and (channel is None or not channel.ai_agents_enabled):
        raise Unprocessable(
            "this channel does not let AI agents take conversations; set ai_agents_enabled on the channel first",
            errors=[field_error("agent", "the channel has ai_agents_enabled off")],
        )
    conversation.ai_agent = body.agent
    if body.agent is not None:
        service.release(ctx.session, conversation)
    audit.record(ctx, "conversation.ai_agent", "conversation", conversation.id, after={"agent": body.agent})
    return await render_conversation(ctx.session, conversation)


# -- settings --------------------------------------------------------------------------------------------------------

#: request field → app setting key (decision: the agent's settings stay app settings, audited like the others)
SETTING_KEYS = {name: f"ai_{name}" for name in AgentSettingsIn.model_fields}


def _public(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**p, "field": str(p.get("field", "")).removeprefix("ai_")} for p in problems]


async def _settings_out(ctx: Ctx) -> AgentSettingsOut:
    cfg = await config.load(ctx.session)
    stored = {name: await core_service.setting(ctx.session, key) for name, key in SETTING_KEYS.items()}
    key = cfg.api_key if cfg.provider == "openai" else stored["api_key"]
    return AgentSettingsOut(
        provider=cfg.provider,
        base_url=stored["base_url"],
        model=stored["model"],
        api_key=mask(key) if key else None,
        timeout_seconds=cfg.timeout_seconds,
        reply_budget=cfg.reply_budget,
        hours_mode=cfg.hours_mode,
        business_hours=stored["business_hours"],
        timezone=cfg.timezone,
        handoff_assignee=cfg.handoff_assignee,
        instructions=cfg.instructions,
        languages=list(LANGUAGES),
        problems=_public(cfg.problems),
    )


@router.get(
    "/api/v1/ai-agent/settings",
    summary="The AI agent's settings (provider, model, hours, handoff, instructions); the API key masked",
    response_model=AgentSettingsOut,
)
async def get_settings(ctx: Ctx = Depends(admin)) -> AgentSettingsOut:
    return await _settings_out(ctx)


@router.put(
    "/api/v1/ai-agent/settings",
    summary="Change the AI agent's settings: fields left out keep their value, null clears one",
    response_model=AgentSettingsOut,
    responses={422: {"description": "A value is wrong, or the result would be incomplete (each field named)"}},
)
async def put_settings(body: AgentSettingsIn, ctx: Ctx = Depends(admin)) -> AgentSettingsOut:
    errors = []
    if body.timezone:
        try:
            ZoneInfo(body.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(field_error("timezone", f"{body.timezone!r} is not an IANA time zone such as Asia/Riyadh"))
    if body.business_hours:
        try:
            config.parse_hours(body.business_hours)
        except ValueError as exc:
            errors.append(field_error("business_hours", str(exc)))
    if body.base_url and not body.base_url.startswith(("http://", "https://")):
        errors.append(field_error("base_url", "an http(s) URL, e.g. https://api.openai.com/v1"))
    if (
        body.handoff_assignee
        and await core_service.get_user_by_email(ctx.session, ctx.tenant_id, body.handoff_assignee) is None
    ):
        errors.append(field_error("handoff_assignee", "no user of this tenant has this email"))
    if errors:
        raise Unprocessable("invalid fields: " + ", ".join(e["field"] for e in errors), errors=errors)
    changed = {}
    for name in body.model_fields_set:
        key, value = SETTING_KEYS[name], getattr(body, name)
        if name == "api_key" and value is not None and "…" in value:
            continue  # the masked value sent back unchanged keeps the stored key
        if isinstance(value, str):
            value = value.strip() or None
        if name == "handoff_assignee" and value:
            value = value.lower()
        if value is None:
            row = await core_service.get_setting(ctx.session, key)
            if row is not None:
                await ctx.session.delete(row)
                await ctx.session.flush()
        else:
            await core_service.put_setting(
                ctx.session,
                key,
                str(value),
                category="ai",
                is_sensitive=name == "api_key",
                updated_by=ctx.principal.label,
            )
        changed[name] = "…" if name == "api_key" else value
    cfg = await config.load(ctx.session)
    if cfg.problems:
        problems = _public(cfg.problems)
        raise Unprocessable("the AI agent would be misconfigured: " + ", ".join(p["field"] for p in problems),
                            errors=problems)  # fmt: skip
    audit.record(ctx, "ai_agent.settings_changed", "setting", "ai_agent", after=changed)
    return await _settings_out(ctx)
