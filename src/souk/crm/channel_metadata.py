"""Seed 000's channel metadata: the factory that turns a channel's plain dict into its typed row, the typed and
generic queries, and the channel-aware customer service (the order one, ``create_order_from_channel``, lives in
:mod:`souk.commerce.orders`, since orders are commerce's).

The core Customer and Order stay channel-agnostic; what only WhatsApp (a business account id, a conversation id) or
TikTok (a shop, a video) knows lives in one subclass per channel. Services flush and never commit (the caller does),
unlike the seed's sketch which committed inside the factory.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.core.errors import Unprocessable, field_error
from souk.crm.models import (
    ChannelMetadata,
    InstagramOrderMetadata,
    MessengerOrderMetadata,
    TelegramOrderMetadata,
    TikTokOrderMetadata,
    WahaOrderMetadata,
    WhatsAppOrderMetadata,
)
from souk.messaging.models import Customer

if TYPE_CHECKING:
    from souk.channels.models import Channel
    from souk.platforms.base import Party

#: channel type → (model, {plain key in the channel's dict: column}).
CHANNEL_MODELS: dict[str, tuple[type[ChannelMetadata], dict[str, str]]] = {
    "whatsapp": (
        WhatsAppOrderMetadata,
        {
            "message_id": "wa_message_id",
            "phone": "wa_phone",
            "business_account_id": "wa_business_account_id",
            "conversation_id": "wa_conversation_id",
            "context": "wa_context",
        },
    ),
    "instagram": (
        InstagramOrderMetadata,
        {"user_id": "ig_user_id", "thread_id": "ig_thread_id", "message_id": "ig_message_id"},
    ),
    "tiktok": (
        TikTokOrderMetadata,
        {
            "user_id": "tt_user_id",
            "video_id": "tt_video_id",
            "comment_id": "tt_comment_id",
            "message_id": "tt_message_id",
            "shop_id": "tt_shop_id",
            "context": "tt_context",
        },
    ),
    "telegram": (
        TelegramOrderMetadata,
        {
            "user_id": "tg_user_id",
            "chat_id": "tg_chat_id",
            "message_id": "tg_message_id",
            "username": "tg_username",
            "context": "tg_context",
        },
    ),
    "messenger": (
        MessengerOrderMetadata,
        {"psid": "fb_psid", "page_id": "fb_page_id", "message_id": "fb_message_id", "context": "fb_context"},
    ),
    "waha": (
        WahaOrderMetadata,
        {
            "session": "waha_session",
            "chat_id": "waha_chat_id",
            "message_id": "waha_message_id",
            "phone": "waha_phone",
            "context": "waha_context",
        },
    ),
}
ENTITY_TYPES = ("order", "customer")


def unsupported_channel(channel_type: str) -> Unprocessable:
    allowed = sorted(CHANNEL_MODELS)
    return Unprocessable(
        f"unsupported channel type {channel_type!r}; supported: {', '.join(allowed)}",
        errors=[field_error("channel_type", f"must be one of: {', '.join(allowed)}")],
        allowed=allowed,
    )


class ChannelMetadataFactory:
    """Creates the typed metadata row of a channel from that channel's plain dict (seed 000's factory)."""

    @staticmethod
    async def create_metadata(
        db: AsyncSession, channel_type: str, entity_type: str, entity_id: uuid.UUID, metadata: dict[str, Any]
    ) -> ChannelMetadata:
        if channel_type not in CHANNEL_MODELS:
            raise unsupported_channel(channel_type)
        if entity_type not in ENTITY_TYPES:
            raise Unprocessable(
                f"unknown entity type {entity_type!r}",
                errors=[field_error("entity_type", "must be one of: " + ", ".join(ENTITY_TYPES))],
            )
        model, columns = CHANNEL_MODELS[channel_type]
        values = {column: metadata.get(key) for key, column in columns.items()}
        if "context" in columns:
            values[columns["context"]] = metadata.get("context") or {}
        row = model(entity_type=entity_type, entity_id=entity_id, **values)
        db.add(row)
        await db.flush()
        return row


async def get_channel_metadata(
    db: AsyncSession, entity_type: str, entity_id: uuid.UUID, channel_type: str
) -> ChannelMetadata | None:
    """The typed query: one channel's metadata of an entity (a WhatsAppOrderMetadata for "whatsapp"…)."""
    if channel_type not in CHANNEL_MODELS:
        raise unsupported_channel(channel_type)
    model = CHANNEL_MODELS[channel_type][0]
    stmt = (
        select(model)
        .where(model.entity_type == entity_type, model.entity_id == entity_id)
        .order_by(model.created_at.desc())
    )
    return (await db.scalars(stmt)).first()


async def get_any_channel_metadata(db: AsyncSession, entity_type: str, entity_id: uuid.UUID) -> ChannelMetadata | None:
    """The generic query: an entity's metadata whatever the channel, returned as its channel's subclass."""
    rows = await list_channel_metadata(db, entity_type, entity_id)
    return rows[0] if rows else None


async def list_channel_metadata(db: AsyncSession, entity_type: str, entity_id: uuid.UUID) -> list[ChannelMetadata]:
    """Every channel's metadata of an entity, oldest first (a customer met on WhatsApp and then on TikTok has two)."""
    stmt = (
        select(ChannelMetadata)
        .where(ChannelMetadata.entity_type == entity_type, ChannelMetadata.entity_id == entity_id)
        .order_by(ChannelMetadata.created_at, ChannelMetadata.id)
    )
    return list((await db.scalars(stmt)).all())


def metadata_fields(row: ChannelMetadata) -> dict[str, Any]:
    """The channel-specific columns of a row, by their prefixed names (``wa_phone``…)."""
    columns = CHANNEL_MODELS[row.channel_type][1].values()
    return {column: getattr(row, column) for column in columns}


async def create_customer_from_channel(
    db: AsyncSession, customer_data: dict[str, Any], channel_type: str, channel_metadata: dict[str, Any]
) -> Customer:
    """Create a customer and its channel metadata together (seed 000's channel-aware customer service)."""
    if channel_type not in CHANNEL_MODELS:
        raise unsupported_channel(channel_type)
    customer = Customer(platform=channel_type, **customer_data)
    db.add(customer)
    await db.flush()
    await ChannelMetadataFactory.create_metadata(
        db, channel_type=channel_type, entity_type="customer", entity_id=customer.id, metadata=channel_metadata
    )
    return customer


def customer_metadata_of(channel: Channel, party: Party) -> dict[str, Any]:
    """What a channel knows of a customer it just met, as the plain dict the factory takes (seed 000's keys)."""
    config = channel.config or {}
    known: dict[str, Any] = {
        "whatsapp": {"phone": party.phone or party.external_id, "business_account_id": config.get("businessAccountID")},
        "instagram": {"user_id": party.external_id},
        "tiktok": {"user_id": party.external_id},
        "telegram": {"user_id": party.external_id, "chat_id": party.external_id, "username": party.username},
        "messenger": {"psid": party.external_id, "page_id": config.get("pageID")},
        "waha": {"session": config.get("sessionID"), "chat_id": party.external_id, "phone": party.phone},
    }
    return known.get(channel.channel_type, {})


async def record_customer_channel(
    db: AsyncSession, channel: Channel, customer_id: uuid.UUID, party: Party
) -> ChannelMetadata | None:
    """The customer's metadata row for the channel that met them (the inbound pipeline's first sight of a person);
    None for a channel type without a metadata model."""
    if channel.channel_type not in CHANNEL_MODELS:
        return None
    return await ChannelMetadataFactory.create_metadata(
        db, channel.channel_type, "customer", customer_id, customer_metadata_of(channel, party)
    )
