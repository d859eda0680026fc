"""Automatic replies: the agent answers inbound customer messages on channels with ``ai_enabled`` (or on
conversations an automation gave to an AI agent, on channels with ``ai_agents_enabled``), through the outbound path.

Seed 004 orders the steps of an inbound message: automations (step 10), then the automated response (step 11). So
the responder does not read ``message.created`` itself: the automation engine, once the tenant's rules for the event
have run and committed, hands the message on (:func:`after_rules`, a ``work.ai-reply`` id). A "hand to AI" rule has
given the conversation to the bot before the bot looks, and an "assign to a person" rule has silenced it. Replies go
out one message at a time, in the order the messages came, as they did when the responder read the events.

For each inbound text from a customer it checks, in order: the channel lets the bot answer; no person has the
conversation (a handoff or an assignee silences the bot until released); the tenant's hours allow it; the
conversation's reply budget is not spent. Then it shows "typing…", asks the agent, and queues the reply split to the
platform's text limit, each part under the idempotency key ``agent:<message id>:<part>``. The turn is unique per
inbound message, so a redelivered id neither asks the model again nor sends a second reply. Messages more than an
hour old (imported history, a backlog after an outage) are not answered. Echoes of our own sends, other bots and the
business's own app are never answered: only ``direction=inbound, sent_by=customer`` messages are.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.agent import config, service
from souk.agent.language import detect
from souk.agent.models import AgentTurn
from souk.agent.templates import Templates
from souk.bus.work import ConsumerSpec, consume, enqueue
from souk.channels.models import Channel, ChannelStatus
from souk.channels.service import client_for
from souk.core import events
from souk.core.errors import SoukError
from souk.core.observability import log
from souk.db.types import utcnow
from souk.messaging.models import Conversation, Message
from souk.messaging.outbound import Sender, SendMessageIn, queue_message, rules_for
from souk.worker import WorkerContext, register

MAX_DELIVERIES = 5
KIND = "ai-reply"  # work.ai-reply: "<tenant id>:<message id>", sent by the automation engine after the rules
DURABLE = "ai-responder"
#: message types with words the agent can read (a photo's caption counts: it is the message's text)
#: older messages are not answered (history imports, a backlog after a long outage)
STALE_AFTER = timedelta(hours=1)
ANSWERED_TYPES = {"text", "interactive", "button", "command", "callback_query", "story_reply", "image", "order"}


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in parts of at most ``limit`` characters: cut at the last paragraph end in the window, else the last
    line end, else the last sentence end (past a third of the window), else the last space, else hard."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = next((window.rfind(sep) for sep in ("\n\n", "\n") if window.rfind(sep) > 0), -1)
        if cut <= 0:
            ends = [window.rfind(sep) + 1 for sep in (". ", "? ", "! ", "؟ ", "。")]
            cut = max(ends) if max(ends) > limit // 3 else window.rfind(" ")
        if cut <= 0 or cut > limit:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


class Responder:
    def __init__(self, ctx: WorkerContext, http: httpx.AsyncClient) -> None:
        self.ctx = ctx
        self.http = http
        self._indicators: set[asyncio.Task[None]] = set()

    async def handle(self, work_id: str) -> None:
        tenant, _, message_ref = work_id.partition(":")
        tenant_id, message_id = uuid.UUID(tenant), uuid.UUID(message_ref)
        queued: list[uuid.UUID] = []
        async with self.ctx.db.tenant_session(tenant_id) as session:
            message = await session.get(Message, message_id)
            if (
                message is None
                or message.direction != "inbound"
                or message.sent_by != "customer"
                or message.message_type not in ANSWERED_TYPES
                or not (message.message_text or "").strip()
            ):
                return
            if message.timestamp < utcnow() - STALE_AFTER:
                return  # imported history or a long backlog: an answer now would be to a question nobody waits on
            if await session.scalar(select(AgentTurn.id).where(AgentTurn.source_message_id == message.id)):
                return  # answered already (a redelivered event)
            conversation = await session.get(Conversation, message.conversation_id)
            channel = await session.get(Channel, message.channel_id)
            if conversation is None or channel is None or (why := self._silent(channel, conversation)):
                if conversation is not None and channel is not None:
                    log.debug("agent stays silent", conversation=str(conversation.id), why=why)
                return
            cfg = await config.load(session)
            if cfg.problems:
                log.warning("AI agent settings are wrong; answering offline", problems=cfg.problems)
                cfg.provider = "offline"
            if not cfg.answers_now(utcnow()):
                return
            self._typing(channel, conversation, message)
            customer = await service.resolve_customer(session, str(message.customer_id), None)
            turns = await session.scalar(
                select(func.count(AgentTurn.id)).where(AgentTurn.conversation_id == conversation.id)
            )
            if (turns or 0) >= cfg.reply_budget:
                reason = "the bot's reply budget for this conversation is spent"
                await service.hand_off(session, conversation, reason, cfg.handoff_assignee)
                templates = await Templates.load(session)
                reply, agent_used = templates.render(detect(message.message_text or ""), "handoff"), "support"
            else:
                result = await service.answer(
                    session,
                    tenant_id,
                    cfg,
                    customer=customer,
                    message=message.message_text or "",
                    channel=channel.channel_type,
                    http=self.http,
                    conversation=conversation,
                    source_message_id=message.id,
                )
                reply, agent_used = result.reply, result.agent_used
            if not reply:
                return
            sender = Sender("agent", agent_used, f"AI {agent_used} agent")
            for i, part in enumerate(split_text(reply, rules_for(channel).text_limit)):
                try:
                    async with session.begin_nested():
                        out = await queue_message(
                            session,
                            tenant_id,
                            conversation.id,
                            SendMessageIn(text=part),
                            sender=sender,
                            http=self.http,
                            idempotency_key=f"agent:{message.id}:{i}",
                        )
                except SoukError as exc:  # closed window, channel gone inactive: the turn stays, visible in the thread
                    log.warning("agent reply not queued", conversation=str(conversation.id), reason=exc.detail)
                    break
                if not out.replayed:
                    queued.append(out.outbox.id)
        self.ctx.outbox_wake.set()
        for row_id in queued:
            with contextlib.suppress(Exception):  # the sender's sweeper publishes queued rows it finds unclaimed
                await enqueue(self.ctx.bus, "outbound", str(row_id))

    @staticmethod
    async def _may_answer_on(session: AsyncSession, channel_id: uuid.UUID) -> bool:
        """Whether the channel is active with the bot (or AI agents) on: the first of ``_silent``'s conditions."""
        row = (
            await session.execute(
                select(Channel.status, Channel.ai_enabled, Channel.ai_agents_enabled).where(Channel.id == channel_id)
            )
        ).first()
        return row is not None and row.status == ChannelStatus.active and bool(row.ai_enabled or row.ai_agents_enabled)

    @staticmethod
    def _silent(channel: Channel, conversation: Conversation) -> str | None:
        if channel.status != ChannelStatus.active:
            return "the channel is not active"
        if not (channel.ai_enabled or (channel.ai_agents_enabled and conversation.ai_agent)):
            return "AI is off for this channel"
        if conversation.group:
            return "group chats are left to people"
        return service.bot_may_answer(conversation)

    def _typing(self, channel: Channel, conversation: Conversation, message: Message) -> None:
        """Show "typing…" while the (possibly slow) answer is made: best effort, beside the answer, so a slow or
        failed indicator never delays or fails the reply."""

        async def show(client: Any, recipient: str, external_id: str | None) -> None:
            try:
                await client.send_typing(recipient, message_id=external_id)
            except Exception as exc:
                log.debug("typing indicator not shown", error=str(exc))

        try:
            client = client_for(channel, self.http)
        except Exception as exc:
            log.debug("typing indicator not shown", error=str(exc))
            return
        task = asyncio.create_task(show(client, conversation.external_thread_id, message.external_id))
        self._indicators.add(task)
        task.add_done_callback(self._indicators.discard)


async def after_rules(ctx: WorkerContext, event: dict[str, Any]) -> None:
    """The automation engine's last step for an event: an inbound customer message on a channel where the bot may
    answer goes to the responder. Called after the rules' transaction committed and before the event is
    acknowledged, so a crash in between hands the message on again (the responder answers each message once)."""
    data = event.get("data") or {}
    if event.get("type") != "message.created" or not event.get("tenant_id") or not data.get("message_id"):
        return
    if data.get("direction") != "inbound" or data.get("sent_by") != "customer" or events.is_imported(data):
        return  # imported history: nobody waits on an answer
    tenant_id = uuid.UUID(event["tenant_id"])
    if data.get("channel_id"):
        async with ctx.db.tenant_session(tenant_id) as session:
            if not await Responder._may_answer_on(session, uuid.UUID(data["channel_id"])):
                return  # most messages, on most channels: one light query, nothing queued
    await enqueue(ctx.bus, KIND, f"{tenant_id}:{data['message_id']}")


@register("ai-responder")
async def _ai_responder(ctx: WorkerContext) -> None:
    async with httpx.AsyncClient(timeout=30.0) as http:
        responder = Responder(ctx, http)
        # one at a time: a customer's messages are answered in the order they came
        # a message that fails five times is let go: by then the customer is better served by a person, and the
        # inbox shows the conversation unanswered (model failures themselves already fall back inside the agent)
        spec = ConsumerSpec(
            kind=KIND, durable=DURABLE, handler=responder.handle, batch=8, concurrency=1, max_deliver=MAX_DELIVERIES
        )
        await consume(ctx.bus, spec, ctx.stopping)
