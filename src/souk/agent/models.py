"""The agent's memory: one thread per conversation (or per API caller's ``thread_id``) and its turns.

A turn keeps what the agent answered and why (agent, tools, citations, handoff), so a conversation can be audited and
an evaluation can compare runs. ``source_message_id`` makes the automatic reply to an inbound message idempotent: a
redelivered ``message.created`` event finds the turn already written and does not ask the model again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from souk.db.base import Base, TenantScoped, Timestamps, UUIDPk
from souk.db.types import JSONType, utcnow


class AgentThread(UUIDPk, Timestamps, TenantScoped, Base):
    __tablename__ = "agent_threads"
    __table_args__ = (UniqueConstraint("tenant_id", "thread_id"),)
    thread_id: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    channel: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    #: slots carried between turns: the order being built, the products last shown, unanswered count
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AgentTurn(UUIDPk, TenantScoped, Base):
    __tablename__ = "agent_turns"
    __table_args__ = (
        Index("ix_agent_turns_thread_created", "thread_pk", "created_at"),
        UniqueConstraint("tenant_id", "source_message_id"),
    )
    thread_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent_threads.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    source_message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    agent_used: Mapped[str] = mapped_column(String(50))
    intent: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(32))
    tools_called: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    handoff_reason: Mapped[str | None] = mapped_column(String(200))
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    response_time_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
