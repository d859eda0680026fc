"""CRM entities: seed 001's posts and ad campaigns (attribution), lead activities, merges, CRM settings."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from souk.db.base import Base, TenantScoped, UUIDPk
from souk.db.types import JSONType, utcnow


class PostType(enum.StrEnum):
    PRODUCT = "PRODUCT"
    PROMOTION = "PROMOTION"
    GENERAL = "GENERAL"
    STORY = "STORY"
    REEL = "REEL"
    LISTING = "LISTING"  # a marketplace listing (Chotot)


class Post(UUIDPk, TenantScoped, Base):
    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("tenant_id", "facebook_post_id"),)
    facebook_post_id: Mapped[str] = mapped_column(String(100))
    post_type: Mapped[str] = mapped_column(String(16), default=PostType.GENERAL)
    post_content: Mapped[str | None] = mapped_column(Text)
    post_price: Mapped[str | None] = mapped_column(String(100))
    post_data: Mapped[str | None] = mapped_column(Text)
    platform: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class AdCampaign(UUIDPk, TenantScoped, Base):
    __tablename__ = "ad_campaigns"
    __table_args__ = (UniqueConstraint("tenant_id", "facebook_ad_id"),)
    facebook_ad_id: Mapped[str] = mapped_column(String(100))
    campaign_name: Mapped[str | None] = mapped_column(String(200))
    ad_content: Mapped[str | None] = mapped_column(Text)
    target_audience: Mapped[str | None] = mapped_column(Text)
    budget: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(50), default="active")
    platform: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActivityType(enum.StrEnum):
    """Seed 001's four activity types, plus the merge bookkeeping and the other fields a person can change."""

    stage_change = "stage_change"
    label_change = "label_change"
    score_update = "score_update"
    type_change = "type_change"
    governorate_change = "governorate_change"
    phone_change = "phone_change"
    notes_change = "notes_change"
    merge = "merge"
    unmerge = "unmerge"


class LeadActivity(UUIDPk, TenantScoped, Base):
    """Seed 001's lead audit trail: one row per change, by a person or by automation, in the change's transaction."""

    __tablename__ = "lead_activities"
    __table_args__ = (Index("ix_lead_activities_customer_ts", "customer_id", "timestamp"),)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    activity_type: Mapped[str] = mapped_column(String(50))
    old_value: Mapped[str | None] = mapped_column(String(100))
    new_value: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str | None] = mapped_column(String(200))


class CustomerNote(UUIDPk, TenantScoped, Base):
    """The free-text notes agents keep on a customer (one text per customer; the core Customer stays clean)."""

    __tablename__ = "customer_notes"
    __table_args__ = (UniqueConstraint("customer_id"),)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200))


class CustomerMerge(UUIDPk, TenantScoped, Base):
    """The audit record of one merge: exactly which rows moved and which fields were filled, so it can be undone."""

    __tablename__ = "customer_merges"
    __table_args__ = (Index("ix_customer_merges_survivor", "survivor_id", "merged_at"),)
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    merged_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    #: ``{"<table>.<column>": [row ids]}``: the rows moved from the merged customer to the survivor
    moved: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: survivor fields that were empty and took the merged customer's value: ``{field: previous value}``
    filled: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reason: Mapped[str] = mapped_column(String(32), default="manual")  # manual | phone
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    merged_by: Mapped[str | None] = mapped_column(String(200))
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(200))


class MergeProposal(UUIDPk, TenantScoped, Base):
    """Two customers sharing a verified phone number, waiting for a person to merge or dismiss them."""

    __tablename__ = "merge_proposals"
    __table_args__ = (UniqueConstraint("customer_id", "other_id"),)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    other_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | merged | dismissed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrmSettings(UUIDPk, TenantScoped, Base):
    """A tenant's CRM configuration: allowed labels, types and regions, the score range, phone merging, scoring.

    Absent row or null list means the defaults in :mod:`souk.crm.config`.
    """

    __tablename__ = "crm_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    labels: Mapped[list[str] | None] = mapped_column(JSONType)
    customer_types: Mapped[list[str] | None] = mapped_column(JSONType)
    governorates: Mapped[list[str] | None] = mapped_column(JSONType)
    score_min: Mapped[int] = mapped_column(Integer, default=0)
    score_max: Mapped[int] = mapped_column(Integer, default=100)
    default_region: Mapped[str | None] = mapped_column(String(2))
    auto_merge_by_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    scoring_rules: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# -- seed 000: per-channel metadata by polymorphic (joined-table) inheritance ---------------------------------------

#: Seed 000 keeps channel metadata in a ``commerce`` schema. PostgreSQL has it; SQLite has no schemas, so every
#: SQLite connection maps it to the main database (see :func:`_sqlite_has_no_schemas`).
METADATA_SCHEMA = "commerce"


@event.listens_for(Engine, "engine_connect")
def _sqlite_has_no_schemas(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.execution_options(schema_translate_map={METADATA_SCHEMA: None})


class ChannelMetadata(UUIDPk, TenantScoped, Base):
    """What one channel knows about an order or a customer, keeping the core entities channel-agnostic."""

    __tablename__ = "channel_metadata"
    __table_args__ = (
        Index("ix_channel_metadata_entity", "entity_type", "entity_id"),
        {"schema": METADATA_SCHEMA},
    )
    channel_type: Mapped[str] = mapped_column(String(32))  # whatsapp, instagram, tiktok, telegram, messenger, waha
    entity_type: Mapped[str] = mapped_column(String(16))  # order, customer
    entity_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)

    # every generic query loads the subclass columns too (async sessions cannot lazy-load them later)
    __mapper_args__ = {"polymorphic_on": "channel_type", "with_polymorphic": "*"}


def _parent_id() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey(f"{METADATA_SCHEMA}.channel_metadata.id", ondelete="CASCADE"), primary_key=True)


class WhatsAppOrderMetadata(ChannelMetadata):
    __tablename__ = "whatsapp_order_metadata"
    __table_args__ = {"schema": METADATA_SCHEMA}
    id: Mapped[uuid.UUID] = _parent_id()
    wa_message_id: Mapped[str | None] = mapped_column(String(255))
    wa_phone: Mapped[str | None] = mapped_column(String(32))
    wa_business_account_id: Mapped[str | None] = mapped_column(String(64))
    wa_conversation_id: Mapped[str | None] = mapped_column(String(255))
    wa_context: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    __mapper_args__ = {"polymorphic_identity": "whatsapp"}


class InstagramOrderMetadata(ChannelMetadata):
    __tablename__ = "instagram_order_metadata"
    __table_args__ = {"schema": METADATA_SCHEMA}
    id: Mapped[uuid.UUID] = _parent_id()
    ig_user_id: Mapped[str | None] = mapped_column(String(64))
    ig_thread_id: Mapped[str | None] = mapped_column(String(255))
    ig_message_id: Mapped[str | None] = mapped_column(String(255))
    __mapper_args__ = {"polymorphic_identity": "instagram"}


class TikTokOrderMetadata(ChannelMetadata):
    __tablename__ = "tiktok_order_metadata"
    __table_args__ = {"schema": METADATA_SCHEMA}
    id: Mapped[uuid.UUID] = _parent_id()
    tt_user_id: Mapped[str | None] = mapped_column(String(128))
    tt_video_id: Mapped[str | None] = mapped_column(String(128))
    tt_comment_id: Mapped[str | None] = mapped_column(String(128))
    tt_message_id: Mapped[str | None] = mapped_column(String(255))
    tt_shop_id: Mapped[str | None] = mapped_column(String(128))
    tt_context: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    __mapper_args__ = {"polymorphic_identity": "tiktok"}


class TelegramOrderMetadata(ChannelMetadata):
    __tablename__ = "telegram_order_metadata"
    __table_args__ = {"schema": METADATA_SCHEMA}
    id: Mapped[uuid.UUID] = _parent_id()
    tg_user_id: Mapped[str | None] = mapped_column(String(64))
    tg_chat_id: Mapped[str | None] = mapped_column(String(64))
    tg_message_id: Mapped[str | None] = mapped_column(String(64))
    tg_username: Mapped[str | None] = mapped_column(String(200))
    tg_context: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    __mapper_args__ = {"polymorphic_identity": "telegram"}


class MessengerOrderMetadata(ChannelMetadata):
    __tablename__ = "messenger_order_metadata"
    __table_args__ = {"schema": METADATA_SCHEMA}
    id: Mapped[uuid.UUID] = _parent_id()
    fb_psid: Mapped[str | None] = mapped_column(String(64))
    fb_page_id: Mapped[str | None] = mapped_column(String(64))
    fb_message_id: Mapped[str | None] = mapped_column(String(255))
    fb_context: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    __mapper_args__ = {"polymorphic_identity": "messenger"}


class WahaOrderMetadata(ChannelMetadata):
    __tablename__ = "waha_order_metadata"
    __table_args__ = {"schema": METADATA_SCHEMA}
    id: Mapped[uuid.UUID] = _parent_id()
    waha_session: Mapped[str | None] = mapped_column(String(100))
    waha_chat_id: Mapped[str | None] = mapped_column(String(255))
    waha_message_id: Mapped[str | None] = mapped_column(String(255))
    waha_phone: Mapped[str | None] = mapped_column(String(32))
    waha_context: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    __mapper_args__ = {"polymorphic_identity": "waha"}
