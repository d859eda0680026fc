"""A WhatsApp catalog ``order`` message, received through the real webhook pipeline, becomes a pending order."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from souk.channels.models import Channel
from souk.commerce.hooks import on_message_created
from souk.crm.channel_metadata import list_channel_metadata
from souk.crm.models import WhatsAppOrderMetadata
from souk.messaging.models import Message
from tests.channels.conftest import fakes  # noqa: F401 - fixture
from tests.commerce.conftest import create_product
from tests.messaging.inbound.conftest import make_channel  # noqa: F401 - fixture
from tests.messaging.inbound.payloads import WA_CUSTOMER, wa_envelope
from tests.support.webhooks import post, wait_idle

pytestmark = pytest.mark.usefixtures("db_url")


def wa_order(mid: str, items: list[dict]) -> dict:
    msg = {
        "from": WA_CUSTOMER,
        "id": mid,
        "timestamp": "1732480000",
        "type": "order",
        "order": {"catalog_id": "cat-1", "text": "please deliver tomorrow", "product_items": items},
    }
    return wa_envelope({"contacts": [{"profile": {"name": "Kerry"}, "wa_id": WA_CUSTOMER}], "messages": [msg]})


async def _receive(app, client, channel, body) -> tuple[Channel, Message]:
    assert (await post(client, app, channel, body)).status_code == 200
    await wait_idle(app)
    async with app.state.db.system_session() as s:
        message = await s.scalar(select(Message).order_by(Message.created_at.desc()))
        return await s.get(Channel, message.channel_id), message


async def test_order_message_creates_one_pending_order_in_its_conversation(app, client, tenant, make_channel):  # noqa: F811
    jacket = await create_product(
        client, tenant.headers, name="Winter jacket", price="1250", currency="EGP", stock=5, sku="JKT-1"
    )
    channel = await make_channel("whatsapp")
    items = [{"product_retailer_id": "JKT-1", "quantity": 2, "item_price": 1200, "currency": "EGP"}]
    ch, message = await _receive(app, client, channel, wa_order("wamid.ORDER1", items))
    assert message.message_type == "order"
    for _ in range(2):  # a redelivered or re-processed message is still one order
        async with app.state.db.tenant_session(tenant.id) as session:
            order = await on_message_created(session, ch, message)
            assert order is not None
    listed = (await client.get("/api/v1/orders", headers=tenant.headers)).json()
    assert listed["total"] == 1
    got = listed["items"][0]
    assert got["status"] == "pending" and got["conversation_id"] == str(message.conversation_id)
    assert got["total_price"] == "2500.00"  # our catalog price, not the price in the customer's cart
    assert got["customer_id"] == got["instagram_user"] == str(message.customer_id)
    assert got["channel_type"] == "whatsapp" and got["channel_metadata"]["wa_message_id"] == "wamid.ORDER1"
    assert got["notes"] == "please deliver tomorrow"
    stock = (await client.get(f"/api/v1/products/{jacket['id']}", headers=tenant.headers)).json()["stock"]
    assert stock == 3
    # seed 000's typed metadata row, written with the order (once, like the order)
    async with app.state.db.tenant_session(tenant.id) as session:
        rows = await list_channel_metadata(session, "order", uuid.UUID(got["id"]))
    assert len(rows) == 1 and isinstance(rows[0], WhatsAppOrderMetadata)
    assert rows[0].wa_message_id == "wamid.ORDER1" and rows[0].wa_phone == message.sender_id
    assert rows[0].wa_conversation_id == str(message.conversation_id)
    assert rows[0].wa_context["catalog_id"] == "cat-1" and rows[0].wa_context["product_items"] == items
    history = (await client.get(f"/api/v1/customers/{message.customer_id}/orders", headers=tenant.headers)).json()
    assert history["total"] == 1


async def test_order_for_unknown_sku_or_beyond_stock_is_skipped(app, client, tenant, make_channel):  # noqa: F811
    await create_product(client, tenant.headers, name="Scarf", price="10", currency="EGP", stock=1, sku="SCF")
    channel = await make_channel("whatsapp")
    for mid, items in [
        ("wamid.X1", [{"product_retailer_id": "NOPE", "quantity": 1}]),
        ("wamid.X2", [{"product_retailer_id": "SCF", "quantity": 9}]),
    ]:
        ch, message = await _receive(app, client, channel, wa_order(mid, items))
        async with app.state.db.tenant_session(tenant.id) as session:
            assert await on_message_created(session, ch, message) is None
    assert (await client.get("/api/v1/orders", headers=tenant.headers)).json()["total"] == 0


async def test_other_messages_are_ignored(app, client, tenant, make_channel):  # noqa: F811
    from tests.messaging.inbound.payloads import wa_text

    channel = await make_channel("whatsapp")
    ch, message = await _receive(app, client, channel, wa_text("wamid.T1", "hello", 1732480000))
    async with app.state.db.tenant_session(tenant.id) as session:
        assert await on_message_created(session, ch, message) is None
