"""Inbound events, customers and their channel identities, conversations, messages and media.

The unique keys here are what make at-least-once delivery exactly-once in effect: an inbound delivery is unique on
(channel, event key), a message on (channel, external id), an identity on (channel, external id), and a thread has
at most one active conversation.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from souk.db.base import Base, TenantScoped, Timestamps, UUIDPk
from souk.db.types import JSONType, utcnow, uuid7


class InboundStatus(enum.StrEnum):
    received = "received"  # durable, not yet processed
    processed = "processed"
    failed = "failed"  # kept with the reason; replayable
    ignored = "ignored"  # e.g. the channel is inactive


class InboundEvent(UUIDPk, TenantScoped, Base):
    """One delivery from a platform, exactly as received (raw bytes + the headers needed for audit)."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("channel_id", "event_key"),
        Index("ix_inbound_events_status_received", "status", "received_at"),
    )
    #: time-ordered (UUIDv7): new rows land at the right-hand edge of the primary-key B-tree
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    #: no index of its own: the unique key's leading column serves channel look-ups (one index less per webhook)
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    channel_type: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16), default="webhook")  # webhook | broker | import
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=InboundStatus.received)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]


class LeadStage(enum.StrEnum):
    """Seed 001 starts at INTAKE then NURTURE; the rest are the stages a sales team works through."""

    INTAKE = "INTAKE"
    NURTURE = "NURTURE"
    QUALIFIED = "QUALIFIED"
    NEGOTIATION = "NEGOTIATION"
    CUSTOMER = "CUSTOMER"
    REPEAT_CUSTOMER = "REPEAT_CUSTOMER"
    LOST = "LOST"


class Customer(UUIDPk, TenantScoped, Base):
    """One person across channels (seed 000's clean core; seed 001's lead fields)."""

    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_tenant_phone", "tenant_id", "phone_number"),)
    psid: Mapped[str | None] = mapped_column(String(255), index=True)  # the first platform id seen
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    display_name: Mapped[str | None] = mapped_column(String(200))
    profile_pic: Mapped[str | None] = mapped_column(String(500))
    governorate: Mapped[str | None] = mapped_column(String(100))
    platform: Mapped[str] = mapped_column(String(50))
    phone_number: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_message_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    lead_stage: Mapped[str] = mapped_column(String(32), default=LeadStage.INTAKE)
    customer_label: Mapped[str | None] = mapped_column(String(50))
    customer_type: Mapped[str | None] = mapped_column(String(50))
    lead_score: Mapped[int] = mapped_column(Integer, default=0)
    last_stage_change: Mapped[datetime] = mapped_column(default=utcnow)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    #: the pipeline the contact works in: its later conversations stay there whatever the channel (seed 004)
    pipeline_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipelines.id", ondelete="SET NULL"))


class ChannelIdentity(UUIDPk, TenantScoped, Base):
    """A customer's handle on one channel: PSID, wa_id, Telegram id, IGSID, TikTok open id, WAHA chat id…"""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel_id", "external_id"),)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(200))
    username: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    profile_pic: Mapped[str | None] = mapped_column(String(500))
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationStatus(enum.StrEnum):
    open = "open"
    pending = "pending"
    snoozed = "snoozed"
    resolved = "resolved"


class Conversation(UUIDPk, Timestamps, TenantScoped, Base):
    """A session with a customer on one channel thread (seed 001 + seed 003's thread and agent tracking)."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("idx_conversations_customer_created", "customer_id", "created_at"),
        Index("idx_conversations_thread_id", "thread_id", "created_at"),
        Index("ix_conversations_tenant_last_activity", "tenant_id", "last_activity"),
        Index("ix_conversations_status_snoozed_until", "status", "snoozed_until"),
        Index("ix_conversations_assignee_status", "assignee_id", "status"),
        # at most one active conversation per platform thread: concurrent first messages cannot open two
        Index(
            "uq_conversations_active_thread",
            "channel_id",
            "external_thread_id",
            unique=True,
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active = 1"),
        ),
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    identity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("channel_identities.id", ondelete="SET NULL"))
    external_thread_id: Mapped[str] = mapped_column(String(255))
    thread_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.open)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    agent_used: Mapped[str | None] = mapped_column(String(50))
    response_time_ms: Mapped[int | None] = mapped_column(Integer)
    group: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: who answers: a person (``assignee_id``) or an AI agent (``ai_agent``); a handoff stops the bot until released
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ai_agent: Mapped[str | None] = mapped_column(String(50))
    handoff_at: Mapped[datetime | None]
    handoff_reason: Mapped[str | None] = mapped_column(String(200))
    #: routing (issue 11): the pipeline and stage, the team, when a snooze ends, when it was resolved
    pipeline_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipelines.id", ondelete="SET NULL"))
    stage_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_stages.id", ondelete="SET NULL"))
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    snoozed_until: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]


class Direction(enum.StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class Message(UUIDPk, Timestamps, TenantScoped, Base):
    """Seed 001's message fields, plus the platform id, threading, reactions, edits and deletion marks."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        Index("ix_messages_conversation_ts", "conversation_id", "timestamp", "id"),
        Index("ix_messages_customer", "customer_id"),
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(255))
    sender_id: Mapped[str] = mapped_column(String(255))
    recipient_id: Mapped[str | None] = mapped_column(String(255))
    message_text: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[datetime]
    message_type: Mapped[str] = mapped_column(String(32), default="text")
    message_metadata: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    platform: Mapped[str] = mapped_column(String(32))
    message_source: Mapped[str] = mapped_column(String(32), default="direct_message")
    post_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    post_type: Mapped[str | None] = mapped_column(String(16))
    ad_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ad_campaigns.id", ondelete="SET NULL"))
    comment_id: Mapped[str | None] = mapped_column(String(100))
    referral_source: Mapped[str | None] = mapped_column(String(200))
    sent_by: Mapped[str] = mapped_column(String(16), default="customer")
    reply_to: Mapped[str | None] = mapped_column(String(255))
    reactions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    edited_at: Mapped[datetime | None]
    edit_history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    deleted_at: Mapped[datetime | None]
    status_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    inbound_event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inbound_events.id", ondelete="SET NULL"))


class MediaStatus(enum.StrEnum):
    pending = "pending"
    stored = "stored"
    failed = "failed"


class MessageMedia(UUIDPk, TenantScoped, Base):
    """A media attachment: metadata at once, bytes fetched in the background into the media store."""

    __tablename__ = "message_media"
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    caption: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(String(255))
    platform_media_id: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=MediaStatus.pending)
    storage_key: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime | None]


class DeferredUpdate(UUIDPk, TenantScoped, Base):
    """A reaction, edit, deletion or status that arrived before its message; applied when the message lands."""

    __tablename__ = "deferred_updates"
    __table_args__ = (
        UniqueConstraint("channel_id", "event_key"),
        Index("ix_deferred_updates_target", "channel_id", "target_external_id"),
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    target_external_id: Mapped[str] = mapped_column(String(255))
    event_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
