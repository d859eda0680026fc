"""Orders: creation with stock reservation, the status state machine, and seed 003's history and statistics.

Stock is reserved by one conditional ``UPDATE … SET stock = stock - n WHERE stock >= n``: of two orders racing for
the last item, the database lets exactly one decrement through (PostgreSQL re-checks the condition after the row
lock; SQLite serializes writers), and the loser gets a 409. A status change is also a conditional update on the old
status, so two concurrent moves cannot both apply. Everything happens in the caller's transaction: an error anywhere
rolls back every reservation made for the order.
"""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from souk.channels.models import Channel
from souk.commerce.currency import quantum
from souk.commerce.models import Order, OrderItem, OrderStatus, Product
from souk.core import events
from souk.core.errors import Conflict, NotFound, Unprocessable, field_error
from souk.core.pagination import PageParams, paginate
from souk.crm.channel_metadata import CHANNEL_MODELS, ChannelMetadataFactory, unsupported_channel
from souk.db.types import utcnow
from souk.messaging.models import ChannelIdentity, Conversation

S = OrderStatus
#: the lifecycle: pending → confirmed → paid → shipped → delivered, or cancelled / refunded
TRANSITIONS: dict[str, set[str]] = {
    S.pending: {S.confirmed, S.cancelled},
    S.confirmed: {S.paid, S.cancelled},
    S.paid: {S.shipped, S.refunded},
    S.shipped: {S.delivered, S.refunded},
    S.delivered: {S.refunded},
    S.cancelled: set(),
    S.refunded: set(),
}
#: moves that put the reserved units back on the shelf (a refund after shipping does not: the goods left)
RESTOCK: set[tuple[str, str]] = {(S.pending, S.cancelled), (S.confirmed, S.cancelled), (S.paid, S.refunded)}
NOT_SPENT = (S.cancelled, S.refunded)


def next_statuses(status: str) -> list[str]:
    """Where an order in ``status`` may move, in lifecycle order (so a page can offer only legal moves)."""
    allowed = TRANSITIONS.get(status, set())
    return [s.value for s in S if s in allowed]


def _bad(field: str, message: str) -> Unprocessable:
    return Unprocessable(message, errors=[field_error(field, message)])


async def _products(session: AsyncSession, items: list[dict[str, Any]]) -> dict[uuid.UUID, Product]:
    ids = {i["product_id"] for i in items}
    found = {p.id: p for p in (await session.scalars(select(Product).where(Product.id.in_(ids)))).all()}
    for n, item in enumerate(items):
        product = found.get(item["product_id"])
        if product is None:
            raise _bad(f"items.{n}.product_id", f"product {item['product_id']} does not exist")
        if not product.is_active:
            raise _bad(f"items.{n}.product_id", f"product {product.name!r} is not for sale")
    currencies = {p.currency for p in found.values()}
    if len(currencies) > 1:
        raise _bad("items", f"an order is in one currency; these products use {', '.join(sorted(currencies))}")
    return found


async def _reserve(session: AsyncSession, items: list[dict[str, Any]], products: dict[uuid.UUID, Product]) -> None:
    wanted = Counter[uuid.UUID]()
    for item in items:
        wanted[item["product_id"]] += item["quantity"]
    for n, item in enumerate(items):
        pid = item["product_id"]
        if pid not in wanted:
            continue  # a product listed twice is reserved once, for both lines
        qty = wanted.pop(pid)
        result = await session.execute(
            update(Product)
            .where(Product.id == pid, Product.stock >= qty, Product.is_active.is_(True))
            .values(stock=Product.stock - qty)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            left = await session.scalar(select(Product.stock).where(Product.id == pid))
            raise Conflict(
                f"only {left} of {products[pid].name!r} left in stock",
                errors=[field_error(f"items.{n}.quantity", f"only {left} in stock", "out_of_stock")],
            )


async def create_order(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> Order:
    """A pending order with its lines at today's prices, its stock reserved. Both customer fields are written."""
    items: list[dict[str, Any]] = data["items"]
    conversation = None
    if data.get("conversation_id") is not None:
        conversation = await session.get(Conversation, data["conversation_id"])
        if conversation is None:
            raise _bad("conversation_id", f"conversation {data['conversation_id']} does not exist")
    customer = data.get("customer_id") or data.get("instagram_user")
    if customer is None and conversation is not None:
        customer = str(conversation.customer_id)
    if customer is None:
        raise _bad("customer_id", "say whose order this is: customer_id (or the legacy instagram_user)")
    products = await _products(session, items)
    await _reserve(session, items, products)
    currency = next(iter(products.values())).currency
    order = Order(
        tenant_id=tenant_id,
        customer_id=data.get("customer_id") or customer,
        instagram_user=data.get("instagram_user") or customer,
        status=S.pending,
        currency=currency,
        total_price=sum((products[i["product_id"]].price * i["quantity"] for i in items), Decimal(0)),
        notes=data.get("notes"),
        shipping_address=data.get("shipping_address"),
        conversation_id=conversation.id if conversation else None,
        channel_type=data.get("channel_type"),
        channel_metadata=data.get("channel_metadata") or {},
        source_message_id=data.get("source_message_id"),
    )
    session.add(order)
    await session.flush()
    for item in items:
        p = products[item["product_id"]]
        session.add(
            OrderItem(
                tenant_id=tenant_id,
                order_id=order.id,
                product_id=p.id,
                product_name=p.name,
                quantity=item["quantity"],
                unit_price=p.price,
            )
        )
    await session.flush()
    events.emit(session, tenant_id, "order.created", {"order_id": str(order.id), "customer_id": order.customer_id})
    return order


async def create_order_from_channel(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    order_data: dict[str, Any],
    channel_type: str,
    channel_metadata: dict[str, Any],
) -> Order:
    """Seed 000's channel-aware order service: the order and its typed channel metadata row, together.

    ``channel_metadata`` is the channel's plain dict (``message_id``, ``phone``, ``business_account_id``…), which
    :class:`~souk.crm.channel_metadata.ChannelMetadataFactory` maps to the channel's prefixed columns. Both rows are
    written in the caller's transaction: an unsupported channel is refused before anything is written, and a failure
    after the order exists rolls the order (and its stock reservation) back with it.
    """
    if channel_type not in CHANNEL_MODELS:
        raise unsupported_channel(channel_type)
    order = await create_order(session, tenant_id, {**order_data, "channel_type": channel_type})
    await ChannelMetadataFactory.create_metadata(
        session, channel_type=channel_type, entity_type="order", entity_id=order.id, metadata=channel_metadata
    )
    return order


async def conversation_channel(session: AsyncSession, conversation: Conversation) -> tuple[str, dict[str, Any]]:
    """The conversation's channel type and seed 000's plain metadata dict for it (the factory keeps the keys its
    channel has: ``chat_id`` for Telegram, ``psid`` and ``page_id`` for Messenger, ``phone`` for WhatsApp…)."""
    channel = await session.get(Channel, conversation.channel_id)
    if channel is None:
        raise _bad("conversation_id", f"conversation {conversation.id} has no channel")
    identity = await session.scalar(
        select(ChannelIdentity.external_id).where(
            ChannelIdentity.customer_id == conversation.customer_id, ChannelIdentity.channel_id == channel.id
        )
    )
    config, peer = channel.config or {}, conversation.external_thread_id
    user = identity or peer
    return str(channel.channel_type), {
        "user_id": user,
        "psid": user,
        "phone": user,
        "chat_id": peer,
        "thread_id": peer,
        "conversation_id": str(conversation.id),
        "business_account_id": config.get("businessAccountID"),
        "page_id": config.get("pageID"),
        "session": config.get("sessionID"),
    }


async def place_order(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> Order:
    """An order from the API or the agent, through seed 000's factory whenever its channel is known: the
    ``channel_type`` given (with ``channel_metadata`` as that channel's plain dict), else the channel of its
    conversation. A channel seed 000 has no metadata model for (a marketplace) keeps only its type on the order."""
    channel_type, plain = data.get("channel_type"), dict(data.get("channel_metadata") or {})
    if channel_type is not None and channel_type not in CHANNEL_MODELS:
        raise unsupported_channel(channel_type)
    if data.get("conversation_id") is not None:
        conversation = await session.get(Conversation, data["conversation_id"])
        if conversation is None:
            raise _bad("conversation_id", f"conversation {data['conversation_id']} does not exist")
        of_conversation, derived = await conversation_channel(session, conversation)
        if channel_type is None or channel_type == of_conversation:
            channel_type, plain = of_conversation, derived | plain
    if channel_type in CHANNEL_MODELS:
        return await create_order_from_channel(session, tenant_id, data, channel_type, plain)
    return await create_order(session, tenant_id, {**data, "channel_type": channel_type})


async def get_order(session: AsyncSession, order_id: uuid.UUID) -> Order:
    order = await session.get(Order, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


async def order_items(session: AsyncSession, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[OrderItem]]:
    rows = (await session.scalars(select(OrderItem).where(OrderItem.order_id.in_(order_ids)))).all()
    out: dict[uuid.UUID, list[OrderItem]] = {i: [] for i in order_ids}
    for row in rows:
        out[row.order_id].append(row)
    return out


async def change_status(session: AsyncSession, order_id: uuid.UUID, new: OrderStatus) -> tuple[Order, str]:
    """Move an order along its lifecycle; an illegal or concurrently lost move is a 409. Returns (order, old)."""
    order = await get_order(session, order_id)
    old = order.status
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(TRANSITIONS[old])) or "none (final)"
        raise Conflict(
            f"an order {old} cannot become {new}; allowed: {allowed}",
            errors=[field_error("status", f"{old} → {new} is not allowed", "transition")],
        )
    result = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == old)
        .values(status=new, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict("the order changed meanwhile; reload it", errors=[field_error("status", "changed meanwhile")])
    if (old, new) in RESTOCK:
        for item in (await order_items(session, [order_id]))[order_id]:
            if item.product_id is not None:
                await session.execute(
                    update(Product)
                    .where(Product.id == item.product_id)
                    .values(stock=Product.stock + item.quantity)
                    .execution_options(synchronize_session=False)
                )
    await session.refresh(order)
    # the customer rides along so the lead score follows (a cancelled or refunded order no longer counts)
    payload = {"order_id": str(order.id), "customer_id": order.customer_id or order.instagram_user}
    events.emit(session, order.tenant_id, "order.status_changed", {**payload, "from": old, "to": str(new)})
    return order, old


def _of_customer(customer_id: str) -> Any:
    """Seed 003's compatibility rule: an order belongs to a customer by either identifier."""
    return or_(Order.customer_id == customer_id, Order.instagram_user == customer_id)


async def list_orders(
    session: AsyncSession, params: PageParams, *, customer_id: str | None = None, status: str | None = None
) -> tuple[list[Order], int]:
    stmt = select(Order).order_by(Order.created_at.desc(), Order.id)
    if customer_id is not None:
        stmt = stmt.where(_of_customer(customer_id))
    if status is not None:
        stmt = stmt.where(Order.status == status)
    return await paginate(session, stmt, params)


async def order_stats(session: AsyncSession, customer_id: str) -> dict[str, Any]:
    """``total_orders`` counts every order; ``total_spent`` leaves out cancelled and refunded ones.

    ``currency`` is the customer's currency when all their spending is in one (the usual case), else None and
    ``total_spent`` is a plain sum of amounts.
    """
    mine = _of_customer(customer_id)
    row = (
        await session.execute(
            select(
                func.count(Order.id),
                func.sum(Order.total_price).filter(Order.status.not_in(NOT_SPENT)),
                func.max(Order.created_at),
            ).where(mine)
        )
    ).one()
    currencies = (
        await session.scalars(select(Order.currency).where(mine, Order.status.not_in(NOT_SPENT)).distinct())
    ).all()
    currency = currencies[0] if len(currencies) == 1 else None
    spent = Decimal(row[1] or 0)
    if currency is not None:
        spent = spent.quantize(quantum(currency))
    return {"total_orders": row[0], "total_spent": spent, "last_order": row[2], "currency": currency}
