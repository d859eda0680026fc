"""Order status notifications: a templated text to the customer through the order's conversation (outbound path).

The text is in the customer's language, taken from what they last wrote (Arabic letters → ``ar``, else ``en``).
Templates are built in for English and Arabic; a tenant overrides one by adding a knowledge base document with
``doc_id`` ``order-template-<status>-<lang>`` (kept inactive, so it never shows in FAQ search). Placeholders:
``$order`` (short order number), ``$status``, ``$total``, ``$currency``.
"""

from __future__ import annotations

import re
from string import Template
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce.currency import quantum
from souk.commerce.models import KnowledgeBase, Order
from souk.core.errors import SoukError
from souk.messaging.models import Message
from souk.messaging.outbound import Sender, SendMessageIn, queue_message

ARABIC = re.compile("[\u0600-\u06ff]")
DEFAULTS: dict[str, dict[str, str]] = {
    "en": {
        "confirmed": "Your order $order is confirmed. Total: $total $currency.",
        "paid": "We received your payment for order $order. Thank you!",
        "shipped": "Your order $order is on its way.",
        "delivered": "Your order $order was delivered. Enjoy!",
        "cancelled": "Your order $order was cancelled.",
        "refunded": "Your order $order was refunded ($total $currency).",
    },
    "ar": {
        "confirmed": "تم تأكيد طلبك $order. الإجمالي: $total $currency.",
        "paid": "استلمنا الدفع لطلبك $order. شكرًا لك!",
        "shipped": "طلبك $order في الطريق إليك.",
        "delivered": "تم توصيل طلبك $order. نتمنى أن ينال إعجابك!",
        "cancelled": "تم إلغاء طلبك $order.",
        "refunded": "تم رد مبلغ طلبك $order ($total $currency).",
    },
}
SENDER = Sender("automation", None, "order notifications")


async def customer_language(session: AsyncSession, conversation_id: Any) -> str:
    last = await session.scalar(
        select(Message.message_text)
        .where(Message.conversation_id == conversation_id, Message.direction == "inbound")
        .where(Message.message_text.is_not(None))
        .order_by(Message.timestamp.desc())
        .limit(1)
    )
    return "ar" if last and ARABIC.search(last) else "en"


async def render(session: AsyncSession, order: Order, language: str) -> str | None:
    """The text for the order's status in ``language``; None when there is nothing to say for that status."""
    override = await session.scalar(
        select(KnowledgeBase.content).where(KnowledgeBase.doc_id == f"order-template-{order.status}-{language}")
    )
    template = override or DEFAULTS[language].get(order.status)
    if template is None:
        return None
    return Template(template).safe_substitute(
        order=str(order.id)[:8].upper(),
        status=order.status,
        total=str(order.total_price.quantize(quantum(order.currency))),
        currency=order.currency,
    )


async def notify_status(session: AsyncSession, order: Order, *, http: httpx.AsyncClient) -> dict[str, Any]:
    """Queue the notification; the outcome (queued with its message id, or why not) is returned, never raised,
    so a closed messaging window does not undo the status change."""
    if order.conversation_id is None:
        return {"queued": False, "reason": "the order is not linked to a conversation"}
    text = await render(session, order, await customer_language(session, order.conversation_id))
    if text is None:
        return {"queued": False, "reason": f"no notification for status {order.status}"}
    try:
        async with session.begin_nested():
            queued = await queue_message(
                session, order.tenant_id, order.conversation_id, SendMessageIn(text=text), sender=SENDER, http=http
            )
    except SoukError as exc:
        return {"queued": False, "reason": exc.detail}
    return {"queued": True, "message_id": str(queued.message.id), "text": text}
