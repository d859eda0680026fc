"""The agent's tools: the commerce and customer services themselves, scoped to the tenant and the customer.

Both the offline agent and an LLM call these (the LLM through :data:`SCHEMAS`, OpenAI's tool format). Every call is
recorded with its arguments and a compact result; the numbers in the results are what the price guardrail accepts
in a reply, and the knowledge base documents returned are the reply's citations.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce import knowledge, orders
from souk.commerce.currency import quantum
from souk.commerce.models import Order, OrderItem, Product
from souk.commerce.search import search_products
from souk.commerce.service import product_filters
from souk.core.errors import SoukError
from souk.core.pagination import PageParams
from souk.crm.channel_metadata import CHANNEL_MODELS
from souk.messaging.models import Conversation, Customer

SEARCH_LIMIT = 5


def money(amount: Decimal, currency: str) -> str:
    return str(amount.quantize(quantum(currency)))


def order_number(order_id: uuid.UUID) -> str:
    """What a customer sees as their order number (the same short form order notifications use)."""
    return str(order_id)[:8].upper()


def product_fact(p: Product, relevance: float | None = None) -> dict[str, Any]:
    fact: dict[str, Any] = {
        "product_id": str(p.id),
        "name": p.name,
        "price": money(p.price, p.currency),
        "currency": p.currency,
        "stock": p.stock,
        "in_stock": p.stock > 0,
        "sku": p.sku,
        "category": p.category,
        "is_bestseller": p.is_bestseller,
    }
    if relevance is not None:
        fact["relevance"] = round(relevance, 3)
    return fact


@dataclass
class Toolbox:
    session: AsyncSession
    tenant_id: uuid.UUID
    customer: Customer
    conversation: Conversation | None
    channel: str | None
    calls: list[dict[str, Any]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)

    def _record(self, name: str, arguments: dict[str, Any], result: Any) -> Any:
        self.calls.append({"name": name, "arguments": arguments})
        self.results.append(result)
        return result

    def placed_order(self) -> dict[str, Any] | None:
        """The last order this turn placed (its ``create_order`` result), if any."""
        for call, result in zip(reversed(self.calls), reversed(self.results), strict=True):
            if call["name"] == "create_order" and isinstance(result, dict) and "order_id" in result:
                return result
        return None

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run a tool by name (the LLM path); unknown tools and bad arguments come back as an ``error`` result."""
        fn = TOOLS.get(name)
        if fn is None:
            return {"error": f"no tool {name!r}"}
        try:
            return await fn(self, **arguments)
        except (TypeError, ValueError, SoukError) as exc:
            return self._record(name, arguments, {"error": str(getattr(exc, "detail", exc))})

    # -- sales ---------------------------------------------------------------------------------------------------

    async def search_products(
        self, query: str, max_price: str | float | None = None, category: str | None = None
    ) -> list[dict[str, Any]]:
        dialect = self.session.get_bind().dialect.name
        stmt = product_filters(
            select(Product),
            dialect,
            category=category,
            max_price=Decimal(str(max_price)) if max_price is not None else None,
        )
        found, _ = await search_products(self.session, stmt, query, limit=SEARCH_LIMIT) if query.strip() else ([], 0)
        facts = [product_fact(p, s) for p, s in found]
        args = {"query": query, **({"max_price": str(max_price)} if max_price is not None else {})}
        return self._record("search_products", args | ({"category": category} if category else {}), facts)

    async def get_product(self, product_id: str) -> dict[str, Any]:
        product = await self.session.scalar(
            select(Product).where(
                or_(Product.id == _uuid(product_id), Product.sku == product_id), Product.is_active.is_(True)
            )
        )
        result = product_fact(product) if product else {"error": f"no product {product_id!r}"}
        return self._record("get_product", {"product_id": product_id}, result)

    async def bestsellers(self, limit: int = 5) -> list[dict[str, Any]]:
        """The products the shop marks as bestsellers, in stock, the most ordered first."""
        sold = (
            select(OrderItem.product_id, func.sum(OrderItem.quantity).label("units"))
            .group_by(OrderItem.product_id)
            .subquery()
        )
        rows = await self.session.scalars(
            select(Product)
            .outerjoin(sold, sold.c.product_id == Product.id)
            .where(Product.is_active.is_(True), Product.is_bestseller.is_(True), Product.stock > 0)
            .order_by(func.coalesce(sold.c.units, 0).desc(), Product.name)
            .limit(min(int(limit), 10))
        )
        return self._record("bestsellers", {"limit": limit}, [product_fact(p) for p in rows])

    async def create_order(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """A pending order for this customer in this conversation; stock is reserved by the commerce service."""
        lines = [{"product_id": _uuid(str(i["product_id"])), "quantity": int(i.get("quantity") or 1)} for i in items]
        async with self.session.begin_nested():
            order = await orders.place_order(
                self.session,
                self.tenant_id,
                {
                    "customer_id": str(self.customer.id),
                    "items": lines,
                    "conversation_id": self.conversation.id if self.conversation else None,
                    # with a conversation, its channel (and seed 000's metadata of it) is the order's
                    "channel_type": None if self.conversation or self.channel not in CHANNEL_MODELS else self.channel,
                    "notes": "placed through the AI agent",
                },
            )
        result = await self._order_fact(order)
        return self._record(
            "create_order", {"items": [{**i, "product_id": str(i["product_id"])} for i in lines]}, result
        )

    # -- support -------------------------------------------------------------------------------------------------

    async def order_status(self, order_number: str | None = None) -> dict[str, Any]:
        """The customer's order by number (its first 8 characters are enough), or their latest one."""
        mine = or_(Order.customer_id == str(self.customer.id), Order.instagram_user == str(self.customer.id))
        stmt = select(Order).where(mine).order_by(Order.created_at.desc()).limit(50)
        candidates = list(await self.session.scalars(stmt))
        if order_number:
            ref = order_number.strip().lstrip("#").lower()
            candidates = [o for o in candidates if str(o.id).startswith(ref)]
        result = await self._order_fact(candidates[0]) if candidates else {"error": "no such order for this customer"}
        return self._record("order_status", {"order_number": order_number} if order_number else {}, result)

    async def order_history(self, limit: int = 5) -> list[dict[str, Any]]:
        rows, _ = await orders.list_orders(
            self.session, PageParams(limit=min(int(limit), 10)), customer_id=str(self.customer.id)
        )
        return self._record("order_history", {"limit": limit}, [await self._order_fact(o) for o in rows])

    async def search_knowledge(self, query: str, category: str | None = None) -> list[dict[str, Any]]:
        found = await knowledge.search(self.session, query, category=category, limit=3)
        docs = [
            {
                "doc_id": hit["document"].doc_id,
                "title": hit["document"].title,
                "content": hit["document"].content,
                "snippet": hit["snippet"],
                "score": hit["score"],
            }
            for hit in found
        ]
        return self._record("search_knowledge", {"query": query}, docs)

    def cite(self, doc: dict[str, Any]) -> None:
        if all(c["doc_id"] != doc["doc_id"] for c in self.citations):
            self.citations.append({"doc_id": doc["doc_id"], "title": doc["title"], "snippet": doc["snippet"]})

    async def _order_fact(self, order: Order) -> dict[str, Any]:
        items = (await orders.order_items(self.session, [order.id])).get(order.id, [])
        return {
            "order_id": str(order.id),
            "order_number": order_number(order.id),
            "status": order.status,
            "total": money(order.total_price, order.currency),
            "currency": order.currency,
            "created_at": order.created_at.date().isoformat(),
            "items": [_item_fact(i, order.currency) for i in items],
        }


def _item_fact(item: OrderItem, currency: str) -> dict[str, Any]:
    return {"name": item.product_name, "quantity": item.quantity, "unit_price": money(item.unit_price, currency)}


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


TOOLS = {
    "search_products": Toolbox.search_products,
    "get_product": Toolbox.get_product,
    "bestsellers": Toolbox.bestsellers,
    "create_order": Toolbox.create_order,
    "order_status": Toolbox.order_status,
    "order_history": Toolbox.order_history,
    "search_knowledge": Toolbox.search_knowledge,
}
AGENT_TOOLS = {
    "sales": ["search_products", "get_product", "bestsellers", "create_order", "search_knowledge"],
    "support": ["order_status", "order_history", "search_knowledge", "search_products"],
}


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "search_products": _fn(
        "search_products",
        "Search the shop's active products (any language, typos tolerated). Returns name, price, currency, stock.",
        {
            "query": {"type": "string"},
            "max_price": {"type": "number"},
            "category": {"type": "string"},
        },
        ["query"],
    ),
    "get_product": _fn("get_product", "One product by id or SKU.", {"product_id": {"type": "string"}}, ["product_id"]),
    "bestsellers": _fn("bestsellers", "The shop's bestsellers in stock.", {"limit": {"type": "integer"}}, []),
    "create_order": _fn(
        "create_order",
        "Place a pending order for this customer once they confirmed the products and quantities.",
        {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"product_id": {"type": "string"}, "quantity": {"type": "integer"}},
                    "required": ["product_id", "quantity"],
                },
            }
        },
        ["items"],
    ),
    "order_status": _fn(
        "order_status",
        "Status, total and items of this customer's order by its number, or of their latest order.",
        {"order_number": {"type": "string"}},
        [],
    ),
    "order_history": _fn("order_history", "This customer's recent orders.", {"limit": {"type": "integer"}}, []),
    "search_knowledge": _fn(
        "search_knowledge",
        "Search the shop's knowledge base (policies, shipping, returns, payment, FAQ). Cite what you use.",
        {"query": {"type": "string"}, "category": {"type": "string"}},
        ["query"],
    ),
}
