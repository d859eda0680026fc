"""Seed 004's Channel aggregate, with seed 002's ``vendor {channel_id, name}`` and free ``metadata``."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, validates

from souk.db.base import Base, TenantScoped, Timestamps, UUIDPk
from souk.db.types import EncryptedJSON, JSONType, utcnow


class ChannelType(enum.StrEnum):
    waha = "waha"
    whatsapp = "whatsapp"
    telegram = "telegram"
    messenger = "messenger"
    instagram = "instagram"
    tiktok = "tiktok"
    chotot = "chotot"


class ChannelStatus(enum.StrEnum):
    active = "active"  # connected and working
    inactive = "inactive"  # disabled by a user
    connecting = "connecting"  # initial setup
    disconnected = "disconnected"  # lost connection
    error = "error"  # configuration error


#: The status state machine: which status may follow which. Anything else is a 409.
TRANSITIONS: dict[ChannelStatus, frozenset[ChannelStatus]] = {
    ChannelStatus.connecting: frozenset(
        {ChannelStatus.active, ChannelStatus.inactive, ChannelStatus.error, ChannelStatus.disconnected}
    ),
    ChannelStatus.active: frozenset(
        {ChannelStatus.inactive, ChannelStatus.disconnected, ChannelStatus.error, ChannelStatus.connecting}
    ),
    ChannelStatus.inactive: frozenset({ChannelStatus.active, ChannelStatus.connecting}),
    ChannelStatus.disconnected: frozenset(
        {ChannelStatus.active, ChannelStatus.connecting, ChannelStatus.inactive, ChannelStatus.error}
    ),
    ChannelStatus.error: frozenset(
        {ChannelStatus.active, ChannelStatus.connecting, ChannelStatus.inactive, ChannelStatus.disconnected}
    ),
}


class Channel(UUIDPk, Timestamps, TenantScoped, Base):
    __tablename__ = "channels"
    __table_args__ = (
        Index("idx_channels_project", "project_id"),
        Index("idx_channels_type", "channel_type"),
        Index("idx_channels_status", "status"),
        Index("idx_channels_external", "external_id"),
        Index(
            "idx_channels_active",
            "project_id",
            "status",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index("idx_channels_webhook", "webhook_id"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    channel_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=ChannelStatus.connecting)
    #: when ``status`` last changed (by anyone): a status command that arrived before it lost a race (409)
    status_changed_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(255))
    #: non-secret configuration, in the seed's camelCase keys
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: secret configuration keys plus ``webhookSecret``, encrypted as a whole
    secrets: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)

    webhook_id: Mapped[str | None] = mapped_column(String(255))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_configured_at: Mapped[datetime | None]
    webhook_active: Mapped[bool] = mapped_column(Boolean, default=False)
    last_webhook_received_at: Mapped[datetime | None]

    pipeline_id: Mapped[uuid.UUID | None]
    default_session_timeout_minutes: Mapped[int | None] = mapped_column(Integer)

    ai_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    ai_agents_enabled: Mapped[bool] = mapped_column(Boolean, default=False)

    messages_received: Mapped[int] = mapped_column(Integer, default=0)
    messages_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_message_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    vendor_channel_id: Mapped[str | None] = mapped_column(String(255))
    vendor_name: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)

    deleted_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @validates("status")
    def _stamp_status_change(self, _key: str, value: str) -> str:
        if value != self.__dict__.get("status"):  # no lazy load (async sessions cannot do one here)
            self.status_changed_at = utcnow()
        return value
