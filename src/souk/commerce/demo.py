"""The demo shop: a bilingual catalog and knowledge base that `make run` loads into the demo tenant once, and that
the agent evaluation (``bench/agent_eval.py``) asks its questions about."""

from __future__ import annotations

import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce import knowledge, service
from souk.commerce.models import Product

DEMO_SHOP = Path(__file__).with_name("demo_shop.json")


@cache
def demo_shop() -> dict[str, Any]:
    """``{"products": [...], "knowledge_base": [...]}``; each product also has its ``arabic_name``."""
    return json.loads(DEMO_SHOP.read_text(encoding="utf-8"))


async def load_demo_shop(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Add the demo catalog and knowledge base to a tenant that has no products yet; returns the products added."""
    if await session.scalar(select(func.count()).select_from(Product)):
        return 0
    shop = demo_shop()
    for product in shop["products"]:
        await service.create_product(session, tenant_id, {k: v for k, v in product.items() if k != "arabic_name"})
    for doc in shop["knowledge_base"]:
        await knowledge.create_document(session, tenant_id, doc)
    return len(shop["products"])
