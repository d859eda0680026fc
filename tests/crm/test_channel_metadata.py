"""Seed 000's channel metadata: factory, typed and generic (polymorphic) queries, channel-aware customer creation;
on both databases (a ``commerce`` schema on PostgreSQL, the main database on SQLite)."""

from __future__ import annotations

import uuid

import pytest

from souk.core.errors import Unprocessable
from souk.crm.channel_metadata import (
    ChannelMetadataFactory,
    create_customer_from_channel,
    get_any_channel_metadata,
    get_channel_metadata,
    list_channel_metadata,
)
from souk.crm.models import TikTokOrderMetadata, WhatsAppOrderMetadata
from tests.conftest import TenantFixture


async def test_factory_and_typed_and_generic_queries(app, tenant: TenantFixture, other_tenant: TenantFixture):
    order_id = uuid.uuid4()
    async with app.state.db.tenant_session(tenant.id) as session:
        await ChannelMetadataFactory.create_metadata(
            session,
            channel_type="whatsapp",
            entity_type="order",
            entity_id=order_id,
            metadata={
                "message_id": "factory-message-id",
                "phone": "+254712345678",
                "business_account_id": "12345",
                "conversation_id": "conv-123",
                "context": {"factory_test": True},
            },
        )
        await ChannelMetadataFactory.create_metadata(
            session, "tiktok", "order", order_id, {"user_id": "tt-1", "shop_id": "shop-9", "video_id": "v-1"}
        )
    async with app.state.db.tenant_session(tenant.id) as session:
        wa = await get_channel_metadata(session, "order", order_id, "whatsapp")
        assert isinstance(wa, WhatsAppOrderMetadata)
        assert (wa.wa_phone, wa.wa_message_id, wa.wa_context["factory_test"]) == (
            "+254712345678",
            "factory-message-id",
            True,
        )
        anything = await get_any_channel_metadata(session, "order", order_id)
        assert isinstance(anything, WhatsAppOrderMetadata)
        both = await list_channel_metadata(session, "order", order_id)
        assert [type(m) for m in both] == [WhatsAppOrderMetadata, TikTokOrderMetadata]
        assert both[1].tt_shop_id == "shop-9" and both[1].tt_context == {}
        assert await get_channel_metadata(session, "order", order_id, "instagram") is None
        with pytest.raises(Unprocessable):
            await ChannelMetadataFactory.create_metadata(session, "fax", "order", order_id, {})
    async with app.state.db.tenant_session(other_tenant.id) as session:
        assert await get_any_channel_metadata(session, "order", order_id) is None


async def test_customer_from_channel_shows_its_metadata_in_the_detail(app, client, tenant: TenantFixture):
    async with app.state.db.tenant_session(tenant.id) as session:
        customer = await create_customer_from_channel(
            session,
            {"first_name": "Linh", "display_name": "Linh"},
            "instagram",
            {"user_id": "ig-77", "thread_id": "t-1", "message_id": "m-1"},
        )
    r = await client.get(f"/api/v1/customers/{customer.id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    (meta,) = r.json()["channel_metadata"]
    assert (meta["channel_type"], meta["entity_type"]) == ("instagram", "customer")
    assert meta["fields"] == {"ig_user_id": "ig-77", "ig_thread_id": "t-1", "ig_message_id": "m-1"}
