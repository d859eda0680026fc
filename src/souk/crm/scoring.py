"""Explainable lead scoring: a tenant's rules over a customer's behaviour, each contributing points with a reason.

A score is the sum of the rules that fire, clamped to the tenant's range, and every change writes a ``score_update``
activity whose reason lists each contribution ("inbound_messages +15 (5 messages)"), so a salesperson sees *why* a
lead is warm. Stage rules move a lead forward through the same path (first order → CUSTOMER), never backward and
never out of LOST, which only a person decides.

Orders live in the commerce package: it appends a counter to :data:`ORDER_COUNTERS` (count of a customer's orders),
so the ``orders`` signal works without this module importing commerce.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.crm.config import CrmConfig
from souk.crm.service import change_field
from souk.db.types import utcnow
from souk.messaging.models import Customer, Direction, LeadStage, Message

#: ``async (session, customer_id) -> number of orders``; the commerce package appends its own.
ORDER_COUNTERS: list[Callable[[AsyncSession, uuid.UUID], Awaitable[int]]] = []

#: Words that mean "what does it cost?" in the languages the seeds' shops write in (English, Arabic, Vietnamese).
PRICE_WORDS = ["price", "how much", "cost", "سعر", "السعر", "بكام", "كام", "giá", "bao nhiêu"]

Signal = Literal["inbound_messages", "replied", "price_question", "orders", "recent_activity", "source"]


class Rule(BaseModel):
    """One scoring rule: ``points`` when ``signal`` holds (``per_unit`` scales by a count, up to ``max_points``)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    signal: Signal
    points: int = Field(ge=-1000, le=1000)
    per_unit: bool = Field(False, description="Points per message/order rather than once.")
    max_points: int | None = Field(None, ge=-1000, le=1000, description="Cap of a per-unit rule.")
    at_least: int = Field(1, ge=0, description="Count needed for a counting signal to fire.")
    within_days: int | None = Field(None, ge=1, le=3650, description="recent_activity: window in days.")
    sources: list[str] = Field(default_factory=list, description="source: message sources that count (ad, post…).")


class StageRule(BaseModel):
    """Move the lead forward to ``stage`` when ``signal``'s count reaches ``at_least`` (or the score does)."""

    model_config = ConfigDict(extra="forbid")
    signal: Literal["orders", "score", "inbound_messages"]
    at_least: int
    stage: LeadStage


class ScoringConfig(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "rules": [
                        {"name": "asked the price", "signal": "price_question", "points": 20},
                        {
                            "name": "engaged",
                            "signal": "inbound_messages",
                            "points": 3,
                            "per_unit": True,
                            "max_points": 30,
                        },
                    ],
                    "stage_rules": [{"signal": "score", "at_least": 60, "stage": "QUALIFIED"}],
                }
            ]
        },
    )
    rules: list[Rule] = Field(default_factory=list, max_length=100)
    stage_rules: list[StageRule] = Field(default_factory=list, max_length=50)


DEFAULT_SCORING = ScoringConfig(
    rules=[
        Rule(name="engaged", signal="inbound_messages", points=3, per_unit=True, max_points=30),
        Rule(name="answered", signal="replied", points=10),
        Rule(name="asked the price", signal="price_question", points=20),
        Rule(name="ordered", signal="orders", points=30),
        Rule(name="active this week", signal="recent_activity", points=10, within_days=7),
        Rule(name="came from an ad or post", signal="source", points=10, sources=["ad", "post_comment", "post"]),
    ],
    stage_rules=[
        StageRule(signal="inbound_messages", at_least=2, stage=LeadStage.NURTURE),
        StageRule(signal="score", at_least=60, stage=LeadStage.QUALIFIED),
        StageRule(signal="orders", at_least=1, stage=LeadStage.CUSTOMER),
        StageRule(signal="orders", at_least=2, stage=LeadStage.REPEAT_CUSTOMER),
    ],
)


def scoring_of(config: CrmConfig) -> ScoringConfig:
    """The tenant's scoring configuration (``CrmSettings.scoring_rules`` holds it as JSON), or the defaults."""
    if not config.scoring_rules:
        return DEFAULT_SCORING
    return ScoringConfig.model_validate(config.scoring_rules)


@dataclass
class Facts:
    inbound_messages: int = 0
    replied: bool = False
    price_questions: int = 0
    orders: int = 0
    days_since_last: float | None = None
    sources: set[str] = field(default_factory=set)


async def gather_facts(session: AsyncSession, customer: Customer) -> Facts:
    """What the rules look at, in a handful of aggregate queries."""
    facts = Facts()
    by_direction = dict(
        (
            await session.execute(
                select(Message.direction, func.count())
                .where(Message.customer_id == customer.id)
                .group_by(Message.direction)
            )
        ).all()
    )
    facts.inbound_messages = int(by_direction.get(Direction.inbound, 0))
    facts.replied = int(by_direction.get(Direction.outbound, 0)) > 0
    text = func.lower(func.coalesce(Message.message_text, ""))
    facts.price_questions = int(
        await session.scalar(
            select(func.count()).where(
                Message.customer_id == customer.id,
                Message.direction == Direction.inbound,
                or_(*(text.contains(word) for word in PRICE_WORDS)),
            )
        )
        or 0
    )
    facts.sources = set(
        (
            await session.scalars(select(Message.message_source).where(Message.customer_id == customer.id).distinct())
        ).all()
    )
    last = await session.scalar(select(func.max(Message.timestamp)).where(Message.customer_id == customer.id))
    last = last or customer.last_message_at
    if last is not None:
        facts.days_since_last = (utcnow() - last) / timedelta(days=1)
    for counter in ORDER_COUNTERS:
        facts.orders += await counter(session, customer.id)
    return facts


def evaluate(rules: list[Rule], facts: Facts) -> tuple[int, list[str]]:
    """The points of every rule that fires and a line explaining each."""
    total, lines = 0, []
    for rule in rules:
        points, why = 0, ""
        if rule.signal in ("inbound_messages", "orders", "price_question"):
            count = {
                "inbound_messages": facts.inbound_messages,
                "orders": facts.orders,
                "price_question": facts.price_questions,
            }[rule.signal]
            if count >= max(rule.at_least, 1):
                points = rule.points * count if rule.per_unit else rule.points
                why = f"{count} {rule.signal.replace('_', ' ')}"
        elif rule.signal == "replied" and facts.replied:
            points, why = rule.points, "the business replied"
        elif rule.signal == "recent_activity":
            days = rule.within_days or 7
            if facts.days_since_last is not None and facts.days_since_last <= days:
                points, why = rule.points, f"active within {days} days"
        elif rule.signal == "source":
            hit = sorted(facts.sources & set(rule.sources))
            if hit:
                points, why = rule.points, "source " + ", ".join(hit)
        if rule.max_points is not None:
            points = min(points, rule.max_points) if rule.max_points >= 0 else max(points, rule.max_points)
        if points:
            total += points
            lines.append(f"{rule.name} {points:+d} ({why})")
    return total, lines


@dataclass
class ScoreResult:
    score: int
    previous: int
    reasons: list[str]
    stage: str
    previous_stage: str


STAGE_ORDER = [s.value for s in LeadStage if s is not LeadStage.LOST]


async def recompute(
    session: AsyncSession, customer: Customer, config: CrmConfig, *, trigger: str = "recompute"
) -> ScoreResult:
    """Score ``customer`` by the tenant's rules; write ``score_update``/``stage_change`` activities when they move.

    Runs in the caller's transaction, like every change of a lead field.
    """
    scoring = scoring_of(config)
    facts = await gather_facts(session, customer)
    raw, reasons = evaluate(scoring.rules, facts)
    score = max(config.score_min, min(config.score_max, raw))
    previous, previous_stage = customer.lead_score, customer.lead_stage
    if score != previous:
        why = f"{trigger}: " + ("; ".join(reasons) if reasons else "no rule applies")
        change_field(session, customer, "lead_score", score, reason=why, automated=True, actor="scoring")
    target = _stage_for(scoring.stage_rules, facts, score, customer.lead_stage)
    if target is not None:
        rule_why = f"{trigger}: stage rule reached {target}"
        change_field(session, customer, "lead_stage", target, reason=rule_why, automated=True, actor="scoring")
    await session.flush()
    return ScoreResult(score, previous, reasons, customer.lead_stage, previous_stage)


def _stage_for(rules: list[StageRule], facts: Facts, score: int, current: str) -> str | None:
    """The furthest stage the stage rules reach, if it is ahead of ``current``; LOST is left alone."""
    if current == LeadStage.LOST or current not in STAGE_ORDER:
        return None
    best = STAGE_ORDER.index(current)
    for rule in rules:
        value = {"orders": facts.orders, "score": score, "inbound_messages": facts.inbound_messages}[rule.signal]
        if value >= rule.at_least and rule.stage.value in STAGE_ORDER:
            best = max(best, STAGE_ORDER.index(rule.stage.value))
    target = STAGE_ORDER[best]
    return target if target != current else None
