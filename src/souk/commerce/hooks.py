"""What commerce does when the inbound pipeline stores a message: a WhatsApp catalog ``order`` becomes an order.

The pipeline calls :func:`on_message_created` inside its own transaction, after the message row exists. It is
idempotent (one order per message, unique on ``source_message_id``) and never fails the pipeline: an order that
cannot be placed (unknown SKUs, no stock) is logged and skipped, and the message stays in the inbox for a person.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.channels.models import Channel
from souk.commerce.models import Order, Product
from souk.commerce.orders import create_order_from_channel
from souk.core.errors import SoukError
from souk.messaging.models import Message

log = structlog.get_logger(__name__)


async def _lines(session: AsyncSession, product_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """WhatsApp's ``product_retailer_id`` is the shop's SKU (or the product's external id) in its catalog."""
    lines = []
    for item in product_items:
        retailer_id = str(item.get("product_retailer_id") or "")
        product = await session.scalar(
            select(Product).where(or_(Product.sku == retailer_id, Product.external_id == retailer_id))
        )
        if product is None:
            raise LookupError(f"no product with SKU or external id {retailer_id!r}")
        lines.append({"product_id": product.id, "quantity": int(item.get("quantity") or 1)})
    return lines


async def on_message_created(session: AsyncSession, channel: Channel, message: Message) -> Order | None:
    """A pending order for an inbound WhatsApp ``order`` message, linked to its conversation; None otherwise."""
    if message.message_type != "order" or message.direction != "inbound":
        return None
    existing = await session.scalar(select(Order).where(Order.source_message_id == message.id))
    if existing is not None:
        return existing
    wa_order = (message.message_metadata or {}).get("order") or {}
    cart = {"catalog_id": wa_order.get("catalog_id"), "product_items": wa_order.get("product_items") or []}
    config = channel.config or {}
    try:
        async with session.begin_nested():
            lines = await _lines(session, list(wa_order.get("product_items") or []))
            return await create_order_from_channel(
                session,
                message.tenant_id,
                {
                    "customer_id": str(message.customer_id),
                    "items": lines,
                    "notes": wa_order.get("text"),
                    "conversation_id": message.conversation_id,
                    # kept on the order as well: the customer's cart prices are shown with it; ours are charged
                    "channel_metadata": {"wa_message_id": message.external_id, "wa_phone": message.sender_id, **cart},
                    "source_message_id": message.id,
                },
                channel.channel_type,
                # seed 000's typed metadata row (WhatsAppOrderMetadata, or WahaOrderMetadata for a WAHA session)
                {
                    "message_id": message.external_id,
                    "phone": message.sender_id,
                    "business_account_id": config.get("businessAccountID"),
                    "conversation_id": str(message.conversation_id) if message.conversation_id else None,
                    "session": config.get("sessionID"),
                    "chat_id": message.sender_id,
                    "context": cart,
                },
            )
    except (SoukError, LookupError, ValueError) as exc:
        log.warning("whatsapp order not placed", message_id=str(message.id), reason=str(exc))
        return None
