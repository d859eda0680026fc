"""A small shop for the agent: the commerce tests' multilingual catalog, a knowledge base, and a customer who
writes on Telegram (ORM rows for the customer side, the REST API for the shop)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from souk.channels.models import Channel
from souk.messaging.models import Conversation, Customer
from souk.settings import Settings
from tests.commerce.conftest import CATALOG, create_product
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows

DOCS = [
    {
        "doc_id": "returns-en",
        "title": "Returns and refunds",
        "content": "You can return any item within 14 days of delivery for a full refund, unused and in its box.",
        "category": "policy",
    },
    {
        "doc_id": "shipping-en",
        "title": "Shipping and delivery",
        "content": "We deliver in 2 to 4 working days. Shipping is free above 1000 EGP; cash on delivery is accepted.",
        "category": "policy",
    },
    {
        "doc_id": "returns-ar",
        "title": "سياسة الاسترجاع",
        "content": "يمكنك إرجاع أي منتج خلال 14 يوماً من الاستلام واسترداد المبلغ كاملاً.",
        "category": "policy",
    },
]


@dataclass
class Shop:
    products: dict[str, dict[str, Any]]
    channel: Channel
    customer: Customer
    conversation: Conversation


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_worker_in_process": False})


@pytest.fixture
async def shop(app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture) -> Shop:
    products = {p["sku"]: await create_product(client, tenant.headers, **p) for p in CATALOG}
    for doc in DOCS:
        r = await client.post("/api/v1/knowledge-base", json=doc, headers=tenant.headers)
        assert r.status_code == 201, r.text
    rows = Rows(app.state.db, tenant.id)
    channel = await rows.channel("telegram")
    customer = await rows.customer(first_name="Ahmed")
    await rows.identity(channel, customer, "5550001")
    conversation = await rows.conversation(channel, customer)
    return Shop(products, channel, customer, conversation)


async def put_setting(client: httpx.AsyncClient, headers: dict[str, str], key: str, value: str, **kw: Any) -> None:
    r = await client.put(f"/api/v1/settings/{key}", json={"value": value, **kw}, headers=headers)
    assert r.status_code in (200, 201), r.text
