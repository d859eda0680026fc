"""SLA figures per conversation and the reports: conversations, response times, agent and team load, channel volume
per day, and the AI's share of replies. Every query runs in the caller's tenant session (tenant walls apply)."""

from __future__ import annotations

import statistics
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.automation.models import AgentPresence, Team, TeamMember
from souk.core.models import User
from souk.messaging.models import Conversation, Message

OPEN = ("open", "pending")


@dataclass
class Sla:
    conversation_id: uuid.UUID
    first_inbound_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_response_seconds: float | None
    resolution_seconds: float | None
    first_response_by: str | None


def replier(message_metadata: dict[str, Any] | None, sent_by: str) -> str:
    """Who wrote an outbound message: ``ai`` (the AI agent), ``automation`` (a rule) or ``human``."""
    kind = ((message_metadata or {}).get("sender") or {}).get("type")
    if kind == "agent" or sent_by == "bot":
        return "ai"
    if kind == "automation":
        return "automation"
    return "human"


async def sla_for(session: AsyncSession, conversations: list[Conversation]) -> list[Sla]:
    """First response: the first outbound message after the customer's first message; resolution: from that first
    message to ``resolved_at``."""
    ids = [c.id for c in conversations]
    if not ids:
        return []
    first_in = dict(
        (
            await session.execute(
                select(Message.conversation_id, func.min(Message.timestamp))
                .where(Message.conversation_id.in_(ids), Message.direction == "inbound")
                .group_by(Message.conversation_id)
            )
        ).all()
    )
    outbound = (
        await session.execute(
            select(Message.conversation_id, Message.timestamp, Message.message_metadata, Message.sent_by)
            .where(Message.conversation_id.in_(ids), Message.direction == "outbound")
            .order_by(Message.timestamp)
        )
    ).all()
    first_out: dict[uuid.UUID, tuple[datetime, str]] = {}
    for cid, ts, meta, sent_by in outbound:
        start = first_in.get(cid)
        if cid not in first_out and start is not None and ts >= start:
            first_out[cid] = (ts, replier(meta, sent_by))
    out = []
    for conv in conversations:
        start = first_in.get(conv.id)
        response = first_out.get(conv.id)
        out.append(
            Sla(
                conversation_id=conv.id,
                first_inbound_at=start,
                first_response_at=response[0] if response else None,
                resolved_at=conv.resolved_at,
                first_response_seconds=(response[0] - start).total_seconds() if response and start else None,
                resolution_seconds=(conv.resolved_at - start).total_seconds()
                if conv.resolved_at and start and conv.status == "resolved"
                else None,
                first_response_by=response[1] if response else None,
            )
        )
    return out


def summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "average": None, "median": None, "p90": None}
    ordered = sorted(values)
    return {
        "count": len(values),
        "average": round(sum(values) / len(values), 3),
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
    }


async def _started_in(session: AsyncSession, since: datetime, until: datetime) -> list[Conversation]:
    return list(
        (
            await session.scalars(
                select(Conversation).where(Conversation.started_at >= since, Conversation.started_at < until)
            )
        ).all()
    )


async def conversations_report(session: AsyncSession, since: datetime, until: datetime) -> dict[str, Any]:
    by_status = dict(
        (
            await session.execute(
                select(Conversation.status, func.count(Conversation.id)).group_by(Conversation.status)
            )
        ).all()
    )
    started = await session.scalar(
        select(func.count(Conversation.id)).where(Conversation.started_at >= since, Conversation.started_at < until)
    )
    resolved = await session.scalar(
        select(func.count(Conversation.id)).where(Conversation.resolved_at >= since, Conversation.resolved_at < until)
    )
    unassigned = await session.scalar(
        select(func.count(Conversation.id)).where(
            Conversation.status.in_(OPEN), Conversation.assignee_id.is_(None), Conversation.ai_agent.is_(None)
        )
    )
    return {
        "since": since,
        "until": until,
        "by_status": {s: int(by_status.get(s, 0)) for s in ("open", "pending", "snoozed", "resolved")},
        "started": int(started or 0),
        "resolved": int(resolved or 0),
        "open_unassigned": int(unassigned or 0),
    }


async def response_times_report(session: AsyncSession, since: datetime, until: datetime) -> dict[str, Any]:
    slas = await sla_for(session, await _started_in(session, since, until))
    first = [s.first_response_seconds for s in slas if s.first_response_seconds is not None]
    resolution = [s.resolution_seconds for s in slas if s.resolution_seconds is not None]
    return {
        "since": since,
        "until": until,
        "conversations": len(slas),
        "unanswered": sum(1 for s in slas if s.first_inbound_at and s.first_response_at is None),
        "first_response_seconds": summary(first),
        "resolution_seconds": summary(resolution),
    }


async def agents_report(session: AsyncSession, since: datetime, until: datetime) -> list[dict[str, Any]]:
    users = (
        await session.execute(
            select(User, AgentPresence)
            .outerjoin(AgentPresence, AgentPresence.user_id == User.id)
            .where(User.is_active.is_(True))
            .order_by(User.email)
        )
    ).all()
    load = Counter()
    for assignee, status, n in (
        await session.execute(
            select(Conversation.assignee_id, Conversation.status, func.count(Conversation.id))
            .where(Conversation.assignee_id.is_not(None))
            .group_by(Conversation.assignee_id, Conversation.status)
        )
    ).all():
        load[(assignee, status)] = int(n)
    resolved = dict(
        (
            await session.execute(
                select(Conversation.assignee_id, func.count(Conversation.id))
                .where(Conversation.resolved_at >= since, Conversation.resolved_at < until)
                .group_by(Conversation.assignee_id)
            )
        ).all()
    )
    started = await _started_in(session, since, until)
    slas = {s.conversation_id: s for s in await sla_for(session, [c for c in started if c.assignee_id])}
    firsts: dict[uuid.UUID, list[float]] = defaultdict(list)
    for conv in started:
        sla = slas.get(conv.id)
        if conv.assignee_id and sla and sla.first_response_seconds is not None:
            firsts[conv.assignee_id].append(sla.first_response_seconds)
    return [
        {
            "user_id": user.id,
            "email": user.email,
            "name": user.name,
            "role": str(user.role),
            "availability": presence.availability if presence else "offline",
            "open": load[(user.id, "open")],
            "pending": load[(user.id, "pending")],
            "snoozed": load[(user.id, "snoozed")],
            "resolved_in_period": int(resolved.get(user.id, 0)),
            "first_response_seconds": summary(firsts.get(user.id, [])),
        }
        for user, presence in users
        if str(user.role) == "agent" or load[(user.id, "open")] or resolved.get(user.id)
    ]


async def teams_report(session: AsyncSession) -> list[dict[str, Any]]:
    teams = (await session.scalars(select(Team).order_by(Team.name))).all()
    members = defaultdict(list)
    for team_id, availability in (
        await session.execute(
            select(TeamMember.team_id, AgentPresence.availability).outerjoin(
                AgentPresence, AgentPresence.user_id == TeamMember.user_id
            )
        )
    ).all():
        members[team_id].append(availability or "offline")
    counts = Counter()
    for team_id, assigned, n in (
        await session.execute(
            select(Conversation.team_id, Conversation.assignee_id.is_not(None), func.count(Conversation.id))
            .where(Conversation.team_id.is_not(None), Conversation.status.in_(OPEN))
            .group_by(Conversation.team_id, Conversation.assignee_id.is_not(None))
        )
    ).all():
        counts[(team_id, bool(assigned))] += int(n)
    return [
        {
            "team_id": t.id,
            "name": t.name,
            "assignment": t.assignment,
            "members": len(members[t.id]),
            "online": members[t.id].count("online"),
            "open_assigned": counts[(t.id, True)],
            "open_unassigned": counts[(t.id, False)],
        }
        for t in teams
    ]


async def channel_volume_report(session: AsyncSession, since: datetime, until: datetime) -> list[dict[str, Any]]:
    day = func.date(Message.timestamp)
    rows = (
        await session.execute(
            select(Message.channel_id, day, Message.direction, func.count(Message.id))
            .where(Message.timestamp >= since, Message.timestamp < until)
            .group_by(Message.channel_id, day, Message.direction)
        )
    ).all()
    volume: dict[tuple[uuid.UUID, str], dict[str, int]] = defaultdict(lambda: {"inbound": 0, "outbound": 0})
    for channel_id, d, direction, n in rows:
        key = d.isoformat() if isinstance(d, date) else str(d)[:10]
        volume[(channel_id, key)][direction] = int(n)
    return [
        {"channel_id": cid, "day": d, **counts}
        for (cid, d), counts in sorted(volume.items(), key=lambda kv: (kv[0][1], str(kv[0][0])))
    ]


async def ai_share_report(session: AsyncSession, since: datetime, until: datetime) -> dict[str, Any]:
    rows = (
        await session.execute(
            select(Message.message_metadata, Message.sent_by).where(
                Message.direction == "outbound", Message.timestamp >= since, Message.timestamp < until
            )
        )
    ).all()
    by = Counter(replier(meta, sent_by) for meta, sent_by in rows)
    total = sum(by.values())
    handled = Counter()
    for ai_agent, agent_used, assignee, handoff in (
        await session.execute(
            select(
                Conversation.ai_agent, Conversation.agent_used, Conversation.assignee_id, Conversation.handoff_at
            ).where(Conversation.started_at >= since, Conversation.started_at < until)
        )
    ).all():
        if assignee is not None or handoff is not None:
            handled["human"] += 1
        elif ai_agent or agent_used:
            handled["ai"] += 1
        else:
            handled["none"] += 1
    return {
        "since": since,
        "until": until,
        "replies": {"ai": by["ai"], "human": by["human"], "automation": by["automation"], "total": total},
        "ai_share": round(by["ai"] / total, 4) if total else None,
        "human_share": round(by["human"] / total, 4) if total else None,
        "conversations": {"ai": handled["ai"], "human": handled["human"], "unhandled": handled["none"]},
    }


def window(since: datetime | None, until: datetime | None, days: int) -> tuple[datetime, datetime]:
    from souk.db.types import utcnow

    end = until or utcnow()
    return since or end - timedelta(days=days), end
