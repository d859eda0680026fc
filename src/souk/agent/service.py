"""One turn of the agent: resolve who is asking, route the message, answer through a provider, apply the guardrails,
remember the turn and, when it must, hand the conversation to a person.

Services never commit; the caller's transaction writes the turn, the conversation's ``agent_used`` and
``response_time_ms``, any order the agent placed, and the handoff, all or nothing.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.agent import llm
from souk.agent.config import AgentConfig
from souk.agent.guardrails import invented_numbers, invented_statuses
from souk.agent.intents import understand
from souk.agent.language import detect
from souk.agent.models import AgentThread, AgentTurn
from souk.agent.offline import OfflineAgent, Outcome
from souk.agent.templates import Templates
from souk.agent.tools import Toolbox
from souk.channels.models import Channel
from souk.core import events
from souk.core.errors import Conflict, NotFound, Unprocessable, field_error
from souk.core.models import User
from souk.db.types import utcnow
from souk.messaging.models import ChannelIdentity, Conversation, Customer

MAX_MESSAGE_CHARS = 4096


@dataclass
class TurnResult:
    reply: str
    agent_used: str
    tools_called: list[dict[str, Any]]
    citations: list[dict[str, Any]]
    handoff: bool
    thread_id: str
    response_time_ms: int
    intent: str
    provider: str
    handoff_reason: str | None = None
    fallback_reason: str | None = None
    conversation_id: uuid.UUID | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def check_message(message: str) -> str:
    text = message.strip()
    if not text:
        raise Unprocessable("the message is empty", errors=[field_error("message", "write something to answer")])
    if len(text) > MAX_MESSAGE_CHARS:
        raise Unprocessable(
            f"the message has {len(text)} characters; the agent reads at most {MAX_MESSAGE_CHARS}",
            errors=[field_error("message", f"at most {MAX_MESSAGE_CHARS} characters")],
        )
    return text


async def resolve_customer(session: AsyncSession, ref: str, channel: str | None) -> Customer:
    """Souk's customer id, or a platform id (PSID, wa_id, Telegram id…) of one of its identities; merges followed."""
    customer = None
    with contextlib.suppress(ValueError):
        customer = await session.get(Customer, uuid.UUID(ref))
    if customer is None:
        stmt = select(ChannelIdentity).where(ChannelIdentity.external_id == ref)
        if channel:
            stmt = stmt.where(ChannelIdentity.platform == channel)
        identity = (await session.scalars(stmt.limit(1))).first()
        if identity is not None:
            customer = await session.get(Customer, identity.customer_id)
    while customer is not None and customer.merged_into_id is not None:
        customer = await session.get(Customer, customer.merged_into_id)
    if customer is None:
        raise NotFound(
            f"no customer {ref!r}: use a customer id from /api/v1/customers or a platform id of one of its identities"
        )
    return customer


async def _thread(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer: Customer,
    conversation: Conversation | None,
    thread_id: str | None,
    channel: str | None,
) -> AgentThread:
    key = (
        thread_id
        or (conversation.thread_id if conversation else None)
        or (str(conversation.id) if conversation else uuid.uuid4().hex)
    )
    thread = await session.scalar(select(AgentThread).where(AgentThread.thread_id == key))
    if thread is None and thread_id is not None and thread_id != (conversation.thread_id if conversation else None):
        # only the server starts threads: an id the caller made up, or another tenant's, names nothing here
        raise NotFound(
            f"no thread {thread_id!r}; leave thread_id out to start a new one",
            errors=[field_error("thread_id", "no such thread")],
        )
    if thread is None:
        thread = AgentThread(
            tenant_id=tenant_id,
            thread_id=key,
            customer_id=customer.id,
            conversation_id=conversation.id if conversation else None,
            channel=channel,
            state={},
        )
        session.add(thread)
        await session.flush()
    elif thread.customer_id != customer.id:
        raise Conflict(
            f"thread {key!r} belongs to another customer; leave thread_id out to start a new one",
            errors=[field_error("thread_id", "belongs to another customer")],
        )
    return thread


async def _history(session: AsyncSession, thread: AgentThread) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(AgentTurn.message, AgentTurn.reply)
        .where(AgentTurn.thread_pk == thread.id)
        .order_by(AgentTurn.created_at.desc())
        .limit(llm.HISTORY_TURNS)
    )
    return [(m, r) for m, r in reversed(rows.all())]


async def latest_conversation(session: AsyncSession, customer: Customer, channel: str | None) -> Conversation | None:
    stmt = select(Conversation).where(Conversation.customer_id == customer.id)
    if channel:
        stmt = stmt.join(Channel, Channel.id == Conversation.channel_id).where(Channel.channel_type == channel)
    return (await session.scalars(stmt.order_by(Conversation.last_activity.desc()).limit(1))).first()


async def answer(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    cfg: AgentConfig,
    *,
    customer: Customer,
    message: str,
    channel: str | None,
    http: httpx.AsyncClient,
    conversation: Conversation | None = None,
    thread_id: str | None = None,
    source_message_id: uuid.UUID | None = None,
) -> TurnResult:
    """Answer ``message`` for ``customer`` and record the turn (see the module docstring)."""
    started = time.perf_counter()
    text = check_message(message)
    thread = await _thread(session, tenant_id, customer, conversation, thread_id, channel)
    language = detect(text, default=thread.language or "en")
    u = understand(text)
    box = Toolbox(session, tenant_id, customer, conversation, channel)
    templates = await Templates.load(session)
    offline = OfflineAgent(box, templates, language)
    provider, fallback = cfg.provider, None
    state = dict(thread.state or {})
    outcome: Outcome | None = None
    if cfg.provider == "openai" and u.intent not in {"human", "complaint"} and not u.angry:
        try:
            reply, handoff_reason = await llm.complete(
                cfg, http, box, agent=u.agent, language=language, history=await _history(session, thread), text=text
            )
        except llm.ProviderError as exc:
            fallback = str(exc)
        else:
            invented = invented_numbers(reply, box.results, text)
            if handoff_reason is not None:
                outcome = Outcome(reply or templates.render(language, "handoff"), u.intent, u.agent, u.confidence,
                                  handoff=True, handoff_reason=handoff_reason, state=state)  # fmt: skip
            elif invented:
                fallback = "the model's reply had numbers no tool returned: " + ", ".join(sorted(map(str, invented)))
            elif statuses := invented_statuses(reply, box.results):
                fallback = "the model's reply gave order statuses no tool returned: " + ", ".join(sorted(statuses))
            else:
                outcome = Outcome(reply, u.intent, u.agent, u.confidence, state=state)
    if outcome is None and (placed := box.placed_order()) is not None:
        # the model placed an order before the turn failed: the order stands, so say so, and draft nothing
        provider = "offline"
        outcome = offline.placed(u, placed, {k: v for k, v in state.items() if k != "draft"})
    if outcome is None:
        provider = "offline"
        outcome = await offline.respond(u, text, state)
    elapsed = int((time.perf_counter() - started) * 1000)
    thread.state, thread.language = outcome.state, language
    if conversation is not None and thread.conversation_id is None:
        thread.conversation_id = conversation.id
    session.add(
        AgentTurn(
            tenant_id=tenant_id,
            thread_pk=thread.id,
            conversation_id=conversation.id if conversation else None,
            source_message_id=source_message_id,
            message=text,
            reply=outcome.reply,
            language=language,
            agent_used=outcome.agent_used,
            intent=outcome.intent,
            provider=provider if fallback is None else f"{provider}→offline",
            tools_called=box.calls,
            citations=box.citations,
            handoff=outcome.handoff,
            handoff_reason=outcome.handoff_reason,
            fallback_reason=fallback,
            response_time_ms=elapsed,
        )
    )
    if conversation is not None:
        conversation.agent_used = outcome.agent_used
        conversation.response_time_ms = elapsed
        conversation.thread_id = conversation.thread_id or thread.thread_id
        if outcome.handoff:
            await hand_off(session, conversation, outcome.handoff_reason or "handoff", cfg.handoff_assignee)
    await session.flush()
    return TurnResult(
        reply=outcome.reply,
        agent_used=outcome.agent_used,
        tools_called=box.calls,
        citations=box.citations,
        handoff=outcome.handoff,
        thread_id=thread.thread_id,
        response_time_ms=elapsed,
        intent=outcome.intent,
        provider=provider,
        handoff_reason=outcome.handoff_reason,
        fallback_reason=fallback,
        conversation_id=conversation.id if conversation else None,
    )


async def hand_off(
    session: AsyncSession, conversation: Conversation, reason: str, assignee_email: str | None = None
) -> None:
    """Stop the bot on this conversation until it is released; assign it to the configured person, if any."""
    if conversation.handoff_at is None:
        conversation.handoff_at = utcnow()
    conversation.handoff_reason = reason[:200]
    conversation.ai_agent = None
    if assignee_email and conversation.assignee_id is None:
        user = await session.scalar(select(User).where(User.email == assignee_email, User.is_active.is_(True)))
        conversation.assignee_id = user.id if user else None
    events.emit(
        session,
        conversation.tenant_id,
        "conversation.handoff",
        {
            "conversation_id": str(conversation.id),
            "customer_id": str(conversation.customer_id),
            "reason": conversation.handoff_reason,
            "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None,
        },
    )


def release(session: AsyncSession, conversation: Conversation) -> None:
    """Give the conversation back to the bot (a person finished, or took it by mistake)."""
    conversation.handoff_at = None
    conversation.handoff_reason = None
    conversation.assignee_id = None
    events.emit(session, conversation.tenant_id, "conversation.released", {"conversation_id": str(conversation.id)})


def bot_may_answer(conversation: Conversation) -> str | None:
    """Why the bot must stay silent on this conversation, or None."""
    if conversation.handoff_at is not None:
        return "handed over to a person"
    if conversation.assignee_id is not None:
        return "a person took the conversation"
    return None
