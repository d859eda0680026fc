"""Running automation rules in the worker: once per event, in order, with a loop guard and a log.

A durable consumer of the domain events rules listen to (and a sweeper for ``no_reply``). For each event it takes
the tenant's enabled rules for that event by ``position`` and, for each rule, in one transaction:

* **once per event**: a rule that already has a run for this event id is skipped (``automation_runs`` is unique on
  rule + event, so a redelivered event does nothing twice);
* **loop guard**: the domain events a rule's actions raise carry ``automation: {rules, depth}``; a rule never runs
  on an event its own actions caused (directly or through other rules), and nothing runs past ``MAX_DEPTH``;
* conditions are checked against the current rows; the first that fails is the reason logged as ``skipped``;
* actions run in order inside a savepoint: one that fails rolls back that rule's actions and is logged ``failed``.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.agent import config as agent_config
from souk.agent import responder
from souk.agent import service as agent_service
from souk.agent.language import detect
from souk.automation import interest, routing, tools, webhooks
from souk.automation.models import AutomationRule, AutomationRun, CannedResponse, WebhookSubscription
from souk.automation.rules import EVENTS, compile_regex
from souk.bus.subscribe import consume_events
from souk.bus.work import enqueue
from souk.channels.models import Channel
from souk.commerce.models import Order
from souk.core import events
from souk.core.observability import log
from souk.crm.service import change_field
from souk.db.types import utcnow
from souk.messaging.models import Conversation, ConversationStatus, Customer, Message
from souk.messaging.outbound import Sender, SendMessageIn, TemplateIn, queue_message
from souk.worker import WorkerContext, register

DURABLE = "automations"
SUBJECTS = [
    "souk.*.message.created",
    "souk.*.conversation.created",
    "souk.*.conversation.resolved",
    "souk.*.customer.updated",
    "souk.*.order.status_changed",
]
MAX_DEPTH = 4


def rule_event(event_type: str, data: dict[str, Any]) -> str | None:
    if event_type == "customer.updated":
        return "customer.stage_changed" if data.get("field") == "lead_stage" else None
    return event_type if event_type in EVENTS else None


@dataclass
class Facts:
    tenant_id: uuid.UUID
    event_id: str
    kind: str
    data: dict[str, Any]
    chain: list[str] = field(default_factory=list)
    depth: int = 0
    message: Message | None = None
    conversation: Conversation | None = None
    customer: Customer | None = None
    channel: Channel | None = None
    order: Order | None = None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def gather(session: AsyncSession, facts: Facts) -> None:
    data = facts.data
    if mid := _uuid(data.get("message_id")):
        facts.message = await session.get(Message, mid)
    if oid := _uuid(data.get("order_id")):
        facts.order = await session.get(Order, oid)
    conv_id = _uuid(data.get("conversation_id")) or (facts.message.conversation_id if facts.message else None)
    if conv_id:
        facts.conversation = await session.get(Conversation, conv_id)
    customer_id = (
        _uuid(data.get("customer_id"))
        or (facts.conversation.customer_id if facts.conversation else None)
        or (_uuid(facts.order.customer_id) if facts.order else None)
    )
    if customer_id:
        facts.customer = await session.get(Customer, customer_id)
    if facts.conversation is None and facts.customer is not None:
        facts.conversation = await session.scalar(
            select(Conversation)
            .where(Conversation.customer_id == facts.customer.id)
            .order_by(Conversation.is_active.desc(), Conversation.last_activity.desc())
            .limit(1)
        )
    if facts.conversation is not None:
        facts.channel = await session.get(Channel, facts.conversation.channel_id)


# -- conditions --------------------------------------------------------------------------------------------------


class Missing(Exception):
    """The event has no such thing (no message for ``message.text``…): the condition does not hold."""


async def _actual(session: AsyncSession, facts: Facts, cond: dict[str, Any]) -> Any:
    name = cond["field"]
    msg, conv, cust, chan = facts.message, facts.conversation, facts.customer, facts.channel

    def need(obj: Any, what: str) -> Any:
        if obj is None:
            raise Missing(f"the event has no {what}")
        return obj

    if name == "channel.id":
        return str(need(chan, "channel").id)
    if name == "channel.type":
        return need(chan, "channel").channel_type
    if name == "message.text":
        return need(msg, "message").message_text or ""
    if name == "message.language":
        return detect(need(msg, "message").message_text or "")
    if name == "message.direction":
        return need(msg, "message").direction
    if name == "message.sent_by":
        return need(msg, "message").sent_by
    if name == "customer.stage":
        return need(cust, "customer").lead_stage
    if name == "customer.type":
        return need(cust, "customer").customer_type
    if name == "customer.score":
        return need(cust, "customer").lead_score
    if name == "customer.label":
        customer = need(cust, "customer")
        labels = await tools.labels_of(session, "customer", customer.id)
        return labels + ([customer.customer_label.casefold()] if customer.customer_label else [])
    if name == "conversation.label":
        return await tools.labels_of(session, "conversation", need(conv, "conversation").id)
    if name == "conversation.status":
        return need(conv, "conversation").status
    if name == "order.status":
        return need(facts.order, "order").status
    if name == "attribution.source":
        if msg is not None and msg.direction == "inbound":
            return msg.message_source
        first = await session.scalar(
            select(Message.message_source)
            .where(Message.conversation_id == need(conv, "conversation").id, Message.direction == "inbound")
            .order_by(Message.timestamp)
            .limit(1)
        )
        return need(first, "inbound message")
    if name == "business_hours":
        if cond.get("hours"):
            hours, tz = agent_config.parse_hours(cond["hours"]), cond.get("timezone") or "UTC"
        else:
            cfg = await agent_config.load(session)
            hours, tz = cfg.hours, cond.get("timezone") or cfg.timezone
        local = utcnow().astimezone(ZoneInfo(tz))
        return any(start <= local.time() < end for start, end in hours.get(local.weekday(), []))
    raise Missing(f"unknown field {name}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return str(a).casefold() == str(b).casefold()
    return a == b


def compare(op: str, actual: Any, value: Any) -> bool:
    if op == "eq" or op == "is":
        return _same(actual, value)
    if op == "neq":
        return not _same(actual, value)
    if op == "in":
        return any(_same(actual, v) for v in value)
    if op == "not_in":
        return not any(_same(actual, v) for v in value)
    if op in ("gt", "gte", "lt", "lte"):
        if actual is None:
            return False
        return {"gt": actual > value, "gte": actual >= value, "lt": actual < value, "lte": actual <= value}[op]
    if op in ("has", "not_has"):
        found = str(value).casefold() in [str(x).casefold() for x in actual]
        return found if op == "has" else not found
    text = str(actual or "")
    if op == "contains":
        return str(value).casefold() in text.casefold()
    if op == "not_contains":
        return str(value).casefold() not in text.casefold()
    if op == "starts_with":
        return text.casefold().startswith(str(value).casefold())
    if op == "regex":
        return compile_regex(value).search(text) is not None
    raise ValueError(op)


async def check(session: AsyncSession, facts: Facts, conditions: list[dict[str, Any]]) -> str | None:
    """None when every condition holds, else why not."""
    for i, cond in enumerate(conditions):
        try:
            actual = await _actual(session, facts, cond)
        except Missing as exc:
            return f"condition {i} ({cond['field']}): {exc}"
        if not compare(cond["op"], actual, cond.get("value")):
            return f"condition {i} ({cond['field']} {cond['op']} {cond.get('value')!r}) is false: got {actual!r}"
    return None


# -- actions -----------------------------------------------------------------------------------------------------


@dataclass
class Effects:
    outbound: list[uuid.UUID] = field(default_factory=list)


class ActionFailed(Exception):
    pass


async def act(
    session: AsyncSession,
    facts: Facts,
    rule: AutomationRule,
    action: dict[str, Any],
    http: httpx.AsyncClient,
    effects: Effects,
) -> dict[str, Any]:
    kind = action["type"]
    conv = facts.conversation
    by = f"rule:{rule.name}"
    if kind not in ("label", "set_stage", "send_webhook") and conv is None:
        raise ActionFailed(f"{kind}: the event has no conversation")
    if kind == "assign":
        assert conv is not None
        await routing.assign(
            session, conv, user_id=_uuid(action.get("user_id")), team_id=_uuid(action.get("team_id")), by=by
        )
        return {"type": kind, "assignee_id": str(conv.assignee_id) if conv.assignee_id else None}
    if kind == "label":
        target = action.get("target", "conversation")
        obj = conv if target == "conversation" else facts.customer
        if obj is None:
            raise ActionFailed(f"label: the event has no {target}")
        names = [tools.check_label(str(n)) for n in action["labels"]]
        return {"type": kind, target: await tools.add_labels(session, target, obj.id, names)}
    if kind == "set_stage":
        if action.get("stage_id"):
            if conv is None:
                raise ActionFailed("set_stage: the event has no conversation")
            await routing.move_stage(session, conv, uuid.UUID(str(action["stage_id"])), actor=by, reason=rule.name)
            return {"type": kind, "stage_id": str(conv.stage_id)}
        if facts.customer is None:
            raise ActionFailed("set_stage: the event has no customer")
        change_field(session, facts.customer, "lead_stage", action["lead_stage"], automated=True, actor=by)
        return {"type": kind, "lead_stage": action["lead_stage"]}
    if kind == "send_reply":
        assert conv is not None
        if action.get("template"):
            body = SendMessageIn(template=TemplateIn.model_validate(action["template"]))
        else:
            content = action.get("text")
            if action.get("canned"):
                row = await session.scalar(
                    select(CannedResponse).where(CannedResponse.shortcut == str(action["canned"]).lstrip("/"))
                )
                if row is None:
                    raise ActionFailed(f"send_reply: no canned response /{action['canned']}")
                content = row.content
            text = tools.render(str(content), customer=facts.customer, agent=None, conversation=conv)
            body = SendMessageIn(text=text)
        out = await queue_message(
            session,
            facts.tenant_id,
            conv.id,
            body,
            sender=Sender("automation", str(rule.id), rule.name),
            http=http,
            idempotency_key=f"rule:{rule.id}:{facts.event_id}"[:200],
        )
        if not out.replayed:
            effects.outbound.append(out.outbox.id)
        return {"type": kind, "message_id": str(out.message.id)}
    if kind == "hand_to_ai":
        assert conv is not None
        if facts.channel is None or not facts.channel.ai_agents_enabled:
            raise ActionFailed("hand_to_ai: the channel has ai_agents_enabled off")
        agent_service.release(session, conv)
        conv.ai_agent = str(action["agent"])[:50]
        routing.emit_assigned(session, conv, by)
        return {"type": kind, "ai_agent": conv.ai_agent}
    if kind == "send_webhook":
        sub = await session.get(WebhookSubscription, uuid.UUID(str(action["subscription_id"])))
        if sub is None:
            raise ActionFailed("send_webhook: the subscription is gone")
        payload = {
            **facts.data,
            "rule_id": str(rule.id),
            "rule": rule.name,
            "event": facts.kind,
            "conversation_id": str(conv.id) if conv else None,
        }
        payload.pop("automation", None)
        await webhooks.enqueue(session, sub, f"{facts.event_id}:{rule.id}"[:100], f"automation.{facts.kind}", payload)
        return {"type": kind, "subscription_id": str(sub.id)}
    if kind == "snooze":
        assert conv is not None
        until = utcnow() + timedelta(minutes=int(action["minutes"]))
        await routing.set_status(session, conv, ConversationStatus.snoozed, snoozed_until=until, by=by)
        return {"type": kind, "until": until.isoformat()}
    if kind == "resolve":
        assert conv is not None
        await routing.set_status(session, conv, ConversationStatus.resolved, by=by)
        return {"type": kind}
    raise ActionFailed(f"unknown action {kind}")


# -- running -----------------------------------------------------------------------------------------------------


async def run_rules(
    session: AsyncSession,
    facts: Facts,
    http: httpx.AsyncClient,
    *,
    only: AutomationRule | None = None,
) -> Effects:
    effects = Effects()
    if only is not None:
        rules = [only]
    else:
        rules = list(
            (
                await session.scalars(
                    select(AutomationRule)
                    .where(AutomationRule.event == facts.kind, AutomationRule.enabled.is_(True))
                    .order_by(AutomationRule.position, AutomationRule.created_at)
                )
            ).all()
        )
    if not rules:
        return effects
    await gather(session, facts)
    for rule in rules:
        if await session.scalar(
            select(AutomationRun.id).where(AutomationRun.rule_id == rule.id, AutomationRun.event_id == facts.event_id)
        ):
            continue  # ran already: a redelivered event
        run = AutomationRun(
            rule_id=rule.id,
            event_id=facts.event_id,
            event_type=facts.kind,
            conversation_id=facts.conversation.id if facts.conversation else None,
            actions_done=[],
        )
        if str(rule.id) in facts.chain or facts.depth >= MAX_DEPTH:
            run.outcome = "loop_guard"
            run.reason = (
                "this event was caused by this rule's own actions"
                if str(rule.id) in facts.chain
                else f"{facts.depth} automations deep: stopped"
            )
        elif why := await check(session, facts, rule.conditions or []):
            run.outcome, run.reason = "skipped", why
        else:
            done: list[dict[str, Any]] = []
            mark = len(effects.outbound)
            token = events.CAUSED_BY.set({"rules": [*facts.chain, str(rule.id)], "depth": facts.depth + 1})
            try:
                async with session.begin_nested():
                    for action in rule.actions or []:
                        done.append(await act(session, facts, rule, action, http, effects))
                    await session.flush()
                run.outcome, run.reason, run.actions_done = "ran", "every condition held", done
            except Exception as exc:
                del effects.outbound[mark:]
                reason = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
                step = min(len(done), len(rule.actions) - 1)
                run.outcome, run.reason = "failed", f"action {step} ({rule.actions[step]['type']}): {reason}"
                run.actions_done = done
                await gather(session, facts)  # the rolled-back savepoint expired what it touched
            finally:
                events.CAUSED_BY.reset(token)
        session.add(run)
        await session.flush()
    return effects


async def handle_event(ctx: WorkerContext, http: httpx.AsyncClient, event: dict[str, Any]) -> None:
    data = event.get("data") or {}
    kind = rule_event(event.get("type", ""), data)
    if kind is None or not event.get("tenant_id") or events.is_imported(data):
        return  # imported history is not news: no rule answers or acts on it
    if kind not in await interest.rule_events(ctx.db, uuid.UUID(event["tenant_id"])):
        return  # no rule listens to it: no transaction at all
    chain = (data.get("automation") or {}).get("rules") or []
    depth = int((data.get("automation") or {}).get("depth") or 0)
    facts = Facts(uuid.UUID(event["tenant_id"]), str(event["id"]), kind, data, list(chain), depth)
    async with ctx.db.tenant_session(facts.tenant_id) as session:
        effects = await run_rules(session, facts, http)
    await _after_commit(ctx, effects)


async def _after_commit(ctx: WorkerContext, effects: Effects) -> None:
    ctx.outbox_wake.set()
    for row_id in effects.outbound:
        with contextlib.suppress(Exception):  # the sender's sweeper publishes queued rows it finds unclaimed
            await enqueue(ctx.bus, "outbound", str(row_id))


# -- no reply within N minutes -----------------------------------------------------------------------------------


#: how long after it fell due a ``no_reply`` rule still fires: older silence (imported history, messages from before
#: the rule existed, a worker down for days) is not news, and writing to those customers now could get a WhatsApp
#: number banned
NO_REPLY_HORIZON = timedelta(hours=24)


async def sweep_no_reply(ctx: WorkerContext, http: httpx.AsyncClient, now: datetime | None = None) -> int:
    """Fire each ``no_reply`` rule once per unanswered customer message older than its ``minutes`` (and due for
    less than :data:`NO_REPLY_HORIZON`)."""
    now = now or utcnow()
    fired = 0
    async with ctx.db.system_session() as session:
        rules = (
            await session.scalars(
                select(AutomationRule).where(AutomationRule.event == "no_reply", AutomationRule.enabled.is_(True))
            )
        ).all()
        todo = [(r.tenant_id, r.id, r.minutes or 1) for r in rules]
    for tenant_id, rule_id, minutes in todo:
        async with ctx.db.tenant_session(tenant_id) as session:
            rule = await session.get(AutomationRule, rule_id)
            if rule is None:
                continue
            answered = exists().where(
                Message.conversation_id == Conversation.id,
                Message.direction == "outbound",
                Message.timestamp >= Conversation.last_inbound_at,
            )
            fired_already = exists().where(
                and_(
                    AutomationRun.rule_id == rule.id,
                    AutomationRun.conversation_id == Conversation.id,
                    AutomationRun.at >= Conversation.last_inbound_at,
                )
            )
            convs = (
                await session.scalars(
                    select(Conversation)
                    .where(
                        Conversation.status.in_(routing.OPEN_STATUSES),
                        Conversation.last_inbound_at.is_not(None),
                        Conversation.last_inbound_at <= now - timedelta(minutes=minutes),
                        Conversation.last_inbound_at > now - timedelta(minutes=minutes) - NO_REPLY_HORIZON,
                        ~answered,
                        ~fired_already,
                    )
                    .order_by(Conversation.last_inbound_at)
                    .limit(100)
                )
            ).all()
            effects = Effects()
            for conv in convs:
                stamp = int(conv.last_inbound_at.timestamp()) if conv.last_inbound_at else 0
                facts = Facts(
                    tenant_id,
                    f"no_reply:{conv.id}:{stamp}",
                    "no_reply",
                    {"conversation_id": str(conv.id), "minutes": minutes},
                )
                got = await run_rules(session, facts, http, only=rule)
                effects.outbound += got.outbound
                fired += 1
        await _after_commit(ctx, effects)
    return fired


@register("automations")
async def _automations(ctx: WorkerContext) -> None:
    async with httpx.AsyncClient() as http:

        async def handle(event: dict[str, Any]) -> None:
            await handle_event(ctx, http, event)
            await responder.after_rules(ctx, event)  # seed 004: automations (step 10), then the bot (step 11)

        await consume_events(ctx.bus, ctx.stopping, durable=DURABLE, subjects=SUBJECTS, handler=handle)


@register("automations-no-reply")
async def _no_reply(ctx: WorkerContext) -> None:
    import asyncio

    async with httpx.AsyncClient() as http:
        while not ctx.stopping.is_set():
            try:
                await sweep_no_reply(ctx, http)
            except Exception as exc:
                log.warning("no-reply sweep failed; will retry", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stopping.wait(), timeout=ctx.settings.automation_poll_seconds)
