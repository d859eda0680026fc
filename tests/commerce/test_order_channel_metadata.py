"""Seed 000's ``create_order_from_channel``: the order and its typed channel metadata row in one transaction, found by
the typed and the generic (polymorphic) queries, on both databases."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from souk.channels.models import Channel
from souk.commerce.models import Order
from souk.commerce.orders import create_order_from_channel
from souk.core.errors import Conflict, Unprocessable
from souk.crm.channel_metadata import get_any_channel_metadata, get_channel_metadata, list_channel_metadata
from souk.crm.models import ChannelMetadata, InstagramOrderMetadata, MessengerOrderMetadata, WhatsAppOrderMetadata
from tests.commerce.conftest import create_product

pytestmark = pytest.mark.usefixtures("db_url")

WA = {
    "message_id": "wamid.ORDER-7",
    "phone": "+254712345678",
    "business_account_id": "12345",
    "conversation_id": "conv-123",
    "context": {"flow_id": "checkout-flow"},
}


async def test_order_and_whatsapp_metadata_are_written_together(app, client, tenant):
    jacket = await create_product(client, tenant.headers, name="Jacket", price="500", currency="EGP", stock=3)
    customer = str(uuid.uuid4())
    items = [{"product_id": uuid.UUID(jacket["id"]), "quantity": 2}]
    async with app.state.db.tenant_session(tenant.id) as session:
        order = await create_order_from_channel(
            session, tenant.id, {"customer_id": customer, "items": items}, "whatsapp", WA
        )
        order_id = order.id
    async with app.state.db.tenant_session(tenant.id) as session:
        typed = await get_channel_metadata(session, "order", order_id, "whatsapp")
        assert isinstance(typed, WhatsAppOrderMetadata)
        assert (typed.wa_message_id, typed.wa_phone, typed.wa_business_account_id) == (
            "wamid.ORDER-7",
            WA["phone"],
            "12345",
        )
        assert typed.wa_conversation_id == "conv-123" and typed.wa_context == {"flow_id": "checkout-flow"}
        assert await get_channel_metadata(session, "order", order_id, "instagram") is None
        generic = await get_any_channel_metadata(session, "order", order_id)
        assert isinstance(generic, WhatsAppOrderMetadata) and generic.id == typed.id
        assert generic.tenant_id == tenant.id
    got = (await client.get(f"/api/v1/orders/{order_id}", headers=tenant.headers)).json()
    assert got["channel_type"] == "whatsapp" and got["customer_id"] == got["instagram_user"] == customer
    assert got["total_price"] == "1000.00"


async def test_instagram_order_metadata_and_the_generic_list(app, client, tenant, other_tenant):
    shoes = await create_product(client, tenant.headers, name="Shoes", price="899", currency="EGP", stock=5)
    items = [{"product_id": uuid.UUID(shoes["id"]), "quantity": 1}]
    async with app.state.db.tenant_session(tenant.id) as session:
        order = await create_order_from_channel(
            session,
            tenant.id,
            {"instagram_user": "ig_fatma", "items": items},
            "instagram",
            {"user_id": "1789", "thread_id": "t-5", "message_id": "ig-m-1"},
        )
    async with app.state.db.tenant_session(tenant.id) as session:
        (row,) = await list_channel_metadata(session, "order", order.id)
        assert isinstance(row, InstagramOrderMetadata)
        assert (row.ig_user_id, row.ig_thread_id, row.ig_message_id) == ("1789", "t-5", "ig-m-1")
    async with app.state.db.tenant_session(other_tenant.id) as session:  # walled per tenant like everything else
        assert await get_any_channel_metadata(session, "order", order.id) is None


async def test_nothing_is_written_when_the_channel_is_unsupported_or_the_order_fails(app, client, tenant):
    jacket = await create_product(client, tenant.headers, name="Jacket", price="500", currency="EGP", stock=1)
    items = [{"product_id": uuid.UUID(jacket["id"]), "quantity": 1}]
    with pytest.raises(Unprocessable) as refused:
        async with app.state.db.tenant_session(tenant.id) as session:
            await create_order_from_channel(session, tenant.id, {"customer_id": "c1", "items": items}, "fax", {})
    assert refused.value.errors[0]["field"] == "channel_type"
    too_many = [{"product_id": uuid.UUID(jacket["id"]), "quantity": 2}]
    with pytest.raises(Conflict):
        async with app.state.db.tenant_session(tenant.id) as session:
            await create_order_from_channel(
                session, tenant.id, {"customer_id": "c1", "items": too_many}, "whatsapp", WA
            )
    async with app.state.db.tenant_session(tenant.id) as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 0
        assert await session.scalar(select(func.count()).select_from(ChannelMetadata)) == 0
    stock = (await client.get(f"/api/v1/products/{jacket['id']}", headers=tenant.headers)).json()["stock"]
    assert stock == 1


async def test_orders_placed_over_http_go_through_the_factory_and_unknown_channels_are_refused(app, client, tenant):
    """``POST /api/v1/orders`` writes seed 000's typed row like a WhatsApp catalog order: from the channel_type and
    channel_metadata given, or from the order's conversation; an unknown channel_type is a 422 listing the known
    ones, with nothing written."""
    from tests.messaging.api.conftest import Rows

    shoes = await create_product(client, tenant.headers, name="Shoes", price="899", currency="EGP", stock=5)
    items = [{"product_id": shoes["id"], "quantity": 1}]
    ig = {"user_id": "1789", "thread_id": "t-5", "message_id": "ig-m-1"}
    body = {"customer_id": "c1", "items": items, "channel_type": "instagram", "channel_metadata": ig}
    r = await client.post("/api/v1/orders", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    rows = Rows(app.state.db, tenant.id)
    channel = await rows.channel("messenger")
    async with app.state.db.tenant_session(tenant.id) as session:
        (await session.get(Channel, channel.id)).config = {"pageID": "page-42"}
    customer = await rows.customer(first_name="Mona")
    await rows.identity(channel, customer, "psid-9")
    conversation = await rows.conversation(channel, customer)
    r2 = await client.post(
        "/api/v1/orders", json={"items": items, "conversation_id": str(conversation.id)}, headers=tenant.headers
    )
    assert r2.status_code == 201 and r2.json()["channel_type"] == "messenger", r2.text
    async with app.state.db.tenant_session(tenant.id) as session:
        typed = await get_channel_metadata(session, "order", uuid.UUID(r.json()["id"]), "instagram")
        assert (typed.ig_user_id, typed.ig_thread_id, typed.ig_message_id) == ("1789", "t-5", "ig-m-1")
        fb = await get_any_channel_metadata(session, "order", uuid.UUID(r2.json()["id"]))
        assert isinstance(fb, MessengerOrderMetadata) and (fb.fb_psid, fb.fb_page_id) == ("psid-9", "page-42")

    r = await client.post("/api/v1/orders", json={**body, "channel_type": "fax"}, headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "channel_type", r.text
    assert "instagram" in r.json()["errors"][0]["message"] and "whatsapp" in r.json()["errors"][0]["message"]
    assert (await client.get("/api/v1/orders", headers=tenant.headers)).json()["total"] == 2
    assert (await client.get(f"/api/v1/products/{shoes['id']}", headers=tenant.headers)).json()["stock"] == 3
