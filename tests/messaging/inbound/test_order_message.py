"""A WhatsApp catalog `order` message, received through the real webhook and worker, becomes a pending order linked
to its conversation, once."""

from __future__ import annotations

from sqlalchemy import select

from souk.commerce.models import Order
from souk.messaging.models import Conversation
from tests.support.webhooks import fixture, post, wait_idle


async def test_order_message_creates_a_pending_order(client, app, make_channel, tenant):
    for sku, price in (("SHIRT-LINEN-M", "350000"), ("HAT-STRAW", "120000")):
        r = await client.post(
            "/api/v1/products",
            headers=tenant.headers,
            json={"name": sku, "price": price, "currency": "VND", "stock": 10, "sku": sku},
        )
        assert r.status_code == 201, r.text
    ch = await make_channel("whatsapp")
    body = fixture("whatsapp", "order")
    for _ in range(2):  # a platform retry changes nothing
        assert (await post(client, app, ch, body)).status_code == 200
    await wait_idle(app)
    async with app.state.db.system_session() as s:
        orders = (await s.scalars(select(Order))).all()
        conv = await s.scalar(select(Conversation))
    assert len(orders) == 1
    order = orders[0]
    assert order.status == "pending" and order.conversation_id == conv.id
    assert order.customer_id == str(conv.customer_id) or order.customer_id == conv.customer_id
