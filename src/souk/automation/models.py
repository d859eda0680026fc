"""Pipelines and stages, teams and availability, labels, notes, canned responses, read marks, automation rules and
their log, outgoing webhook subscriptions and deliveries."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from souk.db.base import Base, TenantScoped, Timestamps, UUIDPk
from souk.db.types import EncryptedText, JSONType, utcnow


class Pipeline(UUIDPk, Timestamps, TenantScoped, Base):
    """Ordered stages a project's conversations move through (seed 004: a channel's ``pipeline_id``)."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    #: new conversations routed here are given to this team (and auto-assigned when the team says so)
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))


class PipelineStage(UUIDPk, TenantScoped, Base):
    __tablename__ = "pipeline_stages"
    __table_args__ = (UniqueConstraint("pipeline_id", "name"),)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StageChange(UUIDPk, TenantScoped, Base):
    """One move of a conversation between pipelines or stages (the history)."""

    __tablename__ = "stage_changes"
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    pipeline_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipelines.id", ondelete="SET NULL"))
    from_stage_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_stages.id", ondelete="SET NULL"))
    to_stage_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_stages.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(320), default="system")
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AssignmentMode(enum.StrEnum):
    manual = "manual"
    round_robin = "round_robin"
    least_open = "least_open"


class Team(UUIDPk, Timestamps, TenantScoped, Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(100))
    assignment: Mapped[str] = mapped_column(String(16), default=AssignmentMode.manual)
    max_open_per_agent: Mapped[int | None] = mapped_column(Integer)
    #: round-robin cursor: the member assigned last
    last_assigned_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class TeamMember(UUIDPk, TenantScoped, Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class Availability(enum.StrEnum):
    online = "online"
    away = "away"
    offline = "offline"


class AgentPresence(UUIDPk, TenantScoped, Base):
    """A person's availability and open-conversation cap (no row: offline, no cap).

    ``automatic`` (until the person chooses): availability follows the web inbox's heartbeats, ``seen_at`` (the inbox
    is open) and ``active_at`` (the person used it); see :func:`souk.automation.routing.effective`. A choice
    (``availability``) holds until it is changed or set back to automatic."""

    __tablename__ = "agent_presence"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    availability: Mapped[str] = mapped_column(String(16), default=Availability.offline)
    max_open: Mapped[int | None] = mapped_column(Integer)
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    seen_at: Mapped[datetime | None]
    active_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Label(UUIDPk, TenantScoped, Base):
    """A label on a conversation or a customer."""

    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("target_type", "target_id", "name"),
        Index("ix_labels_tenant_name", "tenant_id", "name"),
    )
    target_type: Mapped[str] = mapped_column(String(16))  # conversation | customer
    target_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationNote(UUIDPk, TenantScoped, Base):
    """A private note: seen by the team, never sent to the customer."""

    __tablename__ = "conversation_notes"
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_label: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoteMention(UUIDPk, TenantScoped, Base):
    __tablename__ = "note_mentions"
    __table_args__ = (UniqueConstraint("note_id", "user_id"),)
    note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversation_notes.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CannedResponse(UUIDPk, Timestamps, TenantScoped, Base):
    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("tenant_id", "shortcut"),)
    shortcut: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)


class ConversationRead(UUIDPk, TenantScoped, Base):
    """How far a person has read a conversation (unread counts)."""

    __tablename__ = "conversation_reads"
    __table_args__ = (UniqueConstraint("user_id", "conversation_id"),)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    last_read_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- automations and outgoing webhooks ----------------------------------------------------------------------------


class AutomationRule(UUIDPk, Timestamps, TenantScoped, Base):
    __tablename__ = "automation_rules"
    __table_args__ = (Index("ix_automation_rules_tenant_event", "tenant_id", "event", "position"),)
    name: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(64))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: for the ``no_reply`` event: minutes without an answer
    minutes: Mapped[int | None] = mapped_column(Integer)


class AutomationRun(UUIDPk, TenantScoped, Base):
    """What a rule did with one event, and why (unique per rule and event: once per event)."""

    __tablename__ = "automation_runs"
    __table_args__ = (UniqueConstraint("rule_id", "event_id"),)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))  # ran | skipped | loop_guard | failed
    reason: Mapped[str | None] = mapped_column(Text)
    actions_done: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookSubscription(UUIDPk, Timestamps, TenantScoped, Base):
    __tablename__ = "webhook_subscriptions"
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    secret: Mapped[str] = mapped_column(EncryptedText)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(200))


class WebhookDelivery(UUIDPk, TenantScoped, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(UUIDPk, TenantScoped, Base):
    __tablename__ = "webhook_attempts"
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
