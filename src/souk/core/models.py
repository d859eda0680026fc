"""Tenancy, people, keys, settings, audit and the domain-event outbox."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from souk.db.base import Base, TenantScoped, Timestamps, UUIDPk
from souk.db.types import EncryptedText, JSONType, utcnow


class Role(enum.StrEnum):
    owner = "owner"
    admin = "admin"
    agent = "agent"

    @property
    def rank(self) -> int:
        return {"agent": 1, "admin": 2, "owner": 3}[self.value]


class Tenant(UUIDPk, Timestamps, Base):
    """A business. Every other row belongs to exactly one."""

    __tablename__ = "tenants"
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Project(UUIDPk, Timestamps, TenantScoped, Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class User(UUIDPk, Timestamps, TenantScoped, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(String(16), default=Role.agent)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None]


class ApiKey(UUIDPk, Timestamps, TenantScoped, Base):
    """An API key: shown once, stored as a SHA-256 hash (keys are 256-bit random, so no slow hash is needed)."""

    __tablename__ = "api_keys"
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(String(16), default=Role.admin)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebSession(UUIDPk, TenantScoped, Base):
    """A browser login. The cookie holds a random token; only its hash is stored, so logout really ends it."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class LoginAttempt(UUIDPk, Base):
    """Failed logins, counted per account and per IP across all processes (brute-force protection)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AppSetting(UUIDPk, TenantScoped, Base):
    """Seed 001's AppSettings, per tenant. A sensitive value lives only encrypted, in ``secret_value``."""

    __tablename__ = "app_settings"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    key: Mapped[str] = mapped_column(String(100), index=True)
    value: Mapped[str | None] = mapped_column(Text)
    secret_value: Mapped[str | None] = mapped_column(EncryptedText)
    category: Mapped[str | None] = mapped_column(String(50))
    is_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="admin")


class AuditLog(UUIDPk, TenantScoped, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant_id", "at"),)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(16))  # user | api_key | system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    request_id: Mapped[str | None] = mapped_column(String(64))


class DomainEvent(UUIDPk, Base):
    """The transactional outbox of domain events: written with the change, published to NATS after commit.

    ``tenant_id`` is plain data here (not TenantScoped) because the publisher is infrastructure that drains
    every tenant's events.
    """

    __tablename__ = "domain_events"
    __table_args__ = (Index("ix_domain_events_unpublished", "published_at", "created_at"),)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]


class Invite(UUIDPk, TenantScoped, Base):
    """An invitation to join the tenant with a role. The link's token is shown once; only its hash is stored."""

    __tablename__ = "invites"
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(String(16), default=Role.agent)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invited_by_label: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
