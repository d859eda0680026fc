"""The outbound outbox, idempotency keys for the send API, and the send rate-limit state shared by every worker.

* ``outbound_messages``: one row per outbound :class:`~souk.messaging.models.Message`, written in the same
  transaction as the message. The database row is the truth about a send (queued → sending → sent | failed); the
  bus only carries its id. ``attempt_started_at`` is recorded *before* the platform is called, so a worker killed
  between the call and the commit leaves a row that says "the outcome is unknown" instead of one that looks
  unsent (see docs/decisions: outbound exactly-once).
* ``idempotency_keys``: a client's ``Idempotency-Key`` with the hash of the request it first came with, so a
  retried request returns the first message and a different request under the same key is refused.
* ``send_rate_limits``: one GCRA cell (theoretical arrival time, epoch seconds) per rate-limit key (a channel, a
  recipient on a channel). Every worker process reserves send slots here, so limits hold across processes.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Double, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from souk.db.base import Base, TenantScoped, Timestamps, UUIDPk
from souk.db.types import JSONType, utcnow


class OutboundStatus(enum.StrEnum):
    queued = "queued"  # waiting for a worker (first try, a retry after back-off, or a resend)
    sending = "sending"  # claimed by a worker; the platform call may be in flight
    sent = "sent"  # the platform accepted it; the message has its external id
    failed = "failed"  # permanently refused, retry budget spent, or outcome unknown; re-sendable


class OutboundMessage(UUIDPk, Timestamps, TenantScoped, Base):
    """The send of one outbound message: what to send, where, and how far it got."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_messages_status_due", "status", "next_attempt_at"),
        Index("ix_outbound_messages_conversation_queue", "conversation_id", "status", "queued_at"),
    )
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=OutboundStatus.queued)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: order of sends within a conversation (reset by a resend, which goes to the back of the queue)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: set in the transaction that commits to calling the platform; NULL while a claim only waits for a slot
    attempt_started_at: Mapped[datetime | None]
    #: a claim expires here; a row still ``sending`` after it belongs to a worker that died (or gave up waiting)
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    #: the platform-neutral request: ``{"thread", "recipient", "content": {...}}`` (content as the platform client
    #: takes it, without the uploaded bytes)
    request: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: an uploaded file, kept in the database so any worker on any host can send it; dropped once sent
    upload_data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    upload_filename: Mapped[str | None] = mapped_column(String(255))
    upload_mime: Mapped[str | None] = mapped_column(String(100))
    upload_size: Mapped[int | None] = mapped_column(Integer)
    #: the platform's id for the uploaded file (WhatsApp, TikTok), so a retry does not upload it again
    platform_media_id: Mapped[str | None] = mapped_column(String(255))


class IdempotencyKey(UUIDPk, TenantScoped, Base):
    """A client's ``Idempotency-Key``: the request it first came with and the message that request created."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key"), Index("ix_idempotency_keys_created_at", "created_at"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendRateLimit(Base):
    """A GCRA cell: the next send on ``key`` is due at ``tat`` minus the key's burst tolerance (epoch seconds)."""

    __tablename__ = "send_rate_limits"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    tat: Mapped[float] = mapped_column(Double)
