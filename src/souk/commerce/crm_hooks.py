"""What commerce tells the CRM about orders: the rows a merge moves, the order counter of lead scoring and the
order totals of the attribution report.

The CRM package sits below commerce and declares these hooks without importing it; :func:`register` fills them. It
runs when the ``souk.commerce`` package is first imported (see ``souk/commerce/__init__.py``), so every process that
can see an order (the API, ``souk worker``, the CLI, Alembic) has the hooks, and registering twice adds nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce.models import Order, OrderStatus

#: orders that neither count for a lead nor bring revenue: they never became a sale
NOT_A_SALE = (OrderStatus.cancelled, OrderStatus.refunded)


async def count_orders(session: AsyncSession, customer_id: uuid.UUID) -> int:
    """A customer's orders that became sales, by the unified ``customer_id`` or the legacy ``instagram_user``."""
    ref = str(customer_id)
    return int(
        await session.scalar(
            select(func.count(Order.id)).where(
                or_(Order.customer_id == ref, Order.instagram_user == ref), Order.status.not_in(NOT_A_SALE)
            )
        )
        or 0
    )


async def order_totals(
    session: AsyncSession, customer_ids: list[uuid.UUID], since: datetime, until: datetime
) -> dict[uuid.UUID, tuple[int, Decimal]]:
    """``{customer: (orders, revenue)}`` for orders placed in ``[since, until)`` that became sales.

    Revenue is a plain sum of order totals (an attribution row mixes currencies only when the shop sells in several).
    An order is counted once even when both of its customer fields name the customer.
    """
    if not customer_ids:
        return {}
    by_ref = {str(c): c for c in customer_ids}
    rows = (
        await session.execute(
            select(Order.id, Order.customer_id, Order.instagram_user, Order.total_price).where(
                or_(Order.customer_id.in_(by_ref), Order.instagram_user.in_(by_ref)),
                Order.status.not_in(NOT_A_SALE),
                Order.created_at >= since,
                Order.created_at < until,
            )
        )
    ).all()
    out: dict[uuid.UUID, tuple[int, Decimal]] = {}
    for _, customer_ref, legacy_ref, total in rows:
        customer = by_ref.get(customer_ref or "") or by_ref.get(legacy_ref or "")
        if customer is None:
            continue
        count, revenue = out.get(customer, (0, Decimal(0)))
        out[customer] = (count + 1, revenue + Decimal(total))
    return out


#: orders shown in a customer's detail; the rest are a link away
RECENT_ORDERS = 5


async def order_summary(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any]:
    """A customer's order statistics, latest orders and the link to the full history, for the customer's detail."""
    from souk.commerce.orders import _of_customer, order_stats

    ref = str(customer_id)
    stats = await order_stats(session, ref)
    recent = (
        await session.scalars(
            select(Order).where(_of_customer(ref)).order_by(Order.created_at.desc(), Order.id).limit(RECENT_ORDERS)
        )
    ).all()
    return {
        **stats,
        "total_spent": str(stats["total_spent"]),
        "recent": [
            {
                "id": o.id,
                "status": o.status,
                "total_price": str(o.total_price),
                "currency": o.currency,
                "created_at": o.created_at,
            }
            for o in recent
        ],
        "href": f"/api/v1/customers/{customer_id}/orders",
    }


def register() -> None:
    """Fill the CRM's order hooks (idempotent)."""
    from souk.crm.attribution import ORDER_TOTALS
    from souk.crm.merge import MERGE_MOVES
    from souk.crm.scoring import ORDER_COUNTERS
    from souk.crm.service import ORDER_SUMMARIES

    # the legacy column follows too, so both fields keep naming the same customer (seed 003)
    for move in ((Order, "customer_id"), (Order, "instagram_user")):
        if move not in MERGE_MOVES:
            MERGE_MOVES.append(move)
    if count_orders not in ORDER_COUNTERS:
        ORDER_COUNTERS.append(count_orders)
    if order_totals not in ORDER_TOTALS:
        ORDER_TOTALS.append(order_totals)
    if order_summary not in ORDER_SUMMARIES:
        ORDER_SUMMARIES.append(order_summary)
