"""The agent API: seed 003's ``POST /api/v2/agent/invoke``, thread memory, and handing conversations between the
bot and people."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from souk.agent import config, service
from souk.agent.models import AgentThread, AgentTurn
from souk.agent.schemas import AiAgentIn, HandoffIn, InvokeIn, InvokeOut, ThreadOut, TurnOut
from souk.channels.models import Channel
from souk.core import audit
from souk.core.auth import Ctx, agent
from souk.core.errors import Conflict, NotFound, Unprocessable, field_error
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
