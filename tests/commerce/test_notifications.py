"""A status change with notify=true queues a templated text in the customer's language on the order's conversation."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from souk.messaging.models import Message
from tests.channels.conftest import fakes  # noqa: F401 - fixture
from tests.commerce.conftest import create_product
from tests.messaging.inbound.conftest import make_channel  # noqa: F401 - fixture
from tests.messaging.inbound.payloads import wa_text
from tests.support.webhooks import post, wait_idle

pytestmark = pytest.mark.usefixtures("db_url")


async def _conversation_with(app, client, make_channel, text):  # noqa: F811
    channel = await make_channel("whatsapp")
    assert (await post(client, app, channel, wa_text("wamid.IN1", text, int(time.time())))).status_code == 200
    await wait_idle(app)
    async with app.state.db.system_session() as s:
        return (await s.scalar(select(Message).where(Message.external_id == "wamid.IN1"))).conversation_id


async def _order(client, tenant, conversation_id=None):
    product = await create_product(client, tenant.headers, name="Scarf", price="10", currency="EGP", stock=5)
    body = {"items": [{"product_id": product["id"], "quantity": 1}], "customer_id": "c"}
    if conversation_id:
        body["conversation_id"] = str(conversation_id)
    r = await client.post("/api/v1/orders", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _outbound_texts(app, conversation_id) -> list[str]:
    async with app.state.db.system_session() as s:
        rows = await s.scalars(
            select(Message.message_text).where(
                Message.conversation_id == conversation_id, Message.direction == "outbound"
            )
        )
        return list(rows)


async def test_arabic_customer_is_told_in_arabic(app, client, tenant, make_channel):  # noqa: F811
    conv = await _conversation_with(app, client, make_channel, "السلام عليكم، أريد الطلب")
    oid = await _order(client, tenant, conv)
    r = await client.post(
        f"/api/v1/orders/{oid}/status", json={"status": "confirmed", "notify": True}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    note = r.json()["notification"]
    assert note["queued"] is True, note
    assert "تم تأكيد طلبك" in note["text"] and "10.00 EGP" in note["text"]
    assert await _outbound_texts(app, conv) == [note["text"]]


async def test_tenant_template_overrides_the_default(app, client, tenant, make_channel):  # noqa: F811
    conv = await _conversation_with(app, client, make_channel, "hi, I want to order")
    doc = {
        "doc_id": "order-template-confirmed-en",
        "title": "Order confirmed (notification)",
        "content": "Yay! Order $order confirmed, pay $total $currency on delivery.",
        "is_active": False,
    }
    assert (await client.post("/api/v1/knowledge-base", json=doc, headers=tenant.headers)).status_code == 201
    oid = await _order(client, tenant, conv)
    r = await client.post(
        f"/api/v1/orders/{oid}/status", json={"status": "confirmed", "notify": True}, headers=tenant.headers
    )
    text = r.json()["notification"]["text"]
    assert text.startswith("Yay! Order ") and "pay 10.00 EGP on delivery" in text


async def test_order_without_conversation_changes_status_but_says_why_nothing_was_sent(client, tenant):
    oid = await _order(client, tenant)
    r = await client.post(
        f"/api/v1/orders/{oid}/status", json={"status": "confirmed", "notify": True}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert r.json()["notification"] == {
        "queued": False,
        "message_id": None,
        "text": None,
        "reason": "the order is not linked to a conversation",
    }
