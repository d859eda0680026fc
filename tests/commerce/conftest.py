"""A small multilingual catalog, created through the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

CATALOG: list[dict[str, Any]] = [
    {
        "name": "جاكيت شتوي",
        "description": "Winter jacket, waterproof and warm / جاكيت شتوي دافئ ومقاوم للماء",
        "price": "1250.00",
        "currency": "EGP",
        "stock": 5,
        "category": "clothing",
        "tags": ["winter", "شتاء"],
        "is_bestseller": True,
        "sku": "JKT-1",
    },
    {
        "name": "Summer dress",
        "description": "فستان صيفي قطن",
        "price": "450.50",
        "currency": "EGP",
        "stock": 0,
        "category": "clothing",
        "tags": ["summer"],
        "sku": "DRS-1",
    },
    {
        "name": "أحذية رياضية",
        "description": "Running shoes",
        "price": "899",
        "currency": "EGP",
        "stock": 12,
        "category": "shoes",
        "tags": ["sport"],
        "sku": "SHO-1",
    },
    {
        "name": "Leather wallet",
        "description": "محفظة جلد طبيعي",
        "price": "199.99",
        "currency": "EGP",
        "stock": 3,
        "category": "accessories",
        "tags": ["gift"],
        "sku": "WAL-1",
        "external_id": "wa-catalog-77",
    },
]


async def create_product(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/products", json=fields, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def catalog(client: httpx.AsyncClient, tenant: Any) -> dict[str, dict[str, Any]]:
    return {p["sku"]: await create_product(client, tenant.headers, **p) for p in CATALOG}
