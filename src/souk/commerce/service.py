"""Product catalog services: create, read, update, delete and filtered, multilingual listing.

Services take a tenant session and plain values; they flush but never commit (the request or job does).
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce.currency import quantum
from souk.commerce.models import Product
from souk.commerce.search import product_text, search_products
from souk.core.errors import Conflict, NotFound, Unprocessable, field_error
from souk.core.pagination import PageParams, paginate


def money(amount: Decimal, currency: str, field: str = "price") -> Decimal:
    """``amount`` at ``currency``'s precision; more decimals than the currency has is refused, not rounded."""
    q = quantum(currency)
    rounded = amount.quantize(q)
    if rounded != amount:
        raise Unprocessable(
            f"{currency} amounts have at most {-q.as_tuple().exponent} decimals",
            errors=[field_error(field, f"too many decimals for {currency}")],
        )
    return rounded


def _reindex(product: Product) -> None:
    product.search_text = product_text(product.name, product.description, product.category, product.tags or [])


async def _flush_unique(session: AsyncSession, product: Product) -> None:
    """Flush, turning a duplicate SKU or external id into a 409 naming the field."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        msg = str(exc.orig).lower()
        field = "sku" if "sku" in msg else "external_id" if "external_id" in msg else None
        if field is None:
            raise
        raise Conflict(
            f"another product has this {field}", errors=[field_error(field, "already used", "unique")]
        ) from None


async def create_product(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> Product:
    data = dict(data)
    data["price"] = money(Decimal(data["price"]), data["currency"])
    product = Product(tenant_id=tenant_id, **data)
    _reindex(product)
    session.add(product)
    await _flush_unique(session, product)
    return product


async def get_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found")
    return product


async def update_product(session: AsyncSession, product_id: uuid.UUID, changes: dict[str, Any]) -> Product:
    product = await get_product(session, product_id)
    for key, value in changes.items():
        setattr(product, key, value)
    product.price = money(Decimal(product.price), product.currency)
    _reindex(product)
    await _flush_unique(session, product)
    return product


async def delete_product(session: AsyncSession, product_id: uuid.UUID) -> None:
    """Deleting keeps past orders intact: their lines carry the name and price they were sold at."""
    await session.delete(await get_product(session, product_id))
    await session.flush()


def _has_tag(tag: str, dialect: str) -> Any:
    """JSON list membership, spelled per database (JSONB containment uses its GIN-able operator)."""
    if dialect == "postgresql":
        return text("products.tags @> CAST(:tag_json AS jsonb)").bindparams(tag_json=json.dumps([tag]))
    return text("EXISTS (SELECT 1 FROM json_each(products.tags) WHERE json_each.value = :tag)").bindparams(tag=tag)


def product_filters(
    stmt: Select[Any],
    dialect: str,
    *,
    category: str | None = None,
    tag: str | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    bestseller: bool | None = None,
    in_stock: bool | None = None,
    active: bool | None = True,
) -> Select[Any]:
    if category is not None:
        stmt = stmt.where(Product.category == category)
    if tag is not None:
        stmt = stmt.where(_has_tag(tag, dialect))
    if min_price is not None:
        stmt = stmt.where(Product.price >= min_price)
    if max_price is not None:
        stmt = stmt.where(Product.price <= max_price)
    if bestseller is not None:
        stmt = stmt.where(Product.is_bestseller.is_(bestseller))
    if in_stock is not None:
        stmt = stmt.where(Product.stock > 0 if in_stock else Product.stock == 0)
    if active is not None:
        stmt = stmt.where(Product.is_active.is_(active))
    return stmt


async def list_products(
    session: AsyncSession, params: PageParams, *, q: str | None = None, **filters: Any
) -> tuple[list[tuple[Product, float | None]], int]:
    """One page of products; with ``q``, ordered by relevance, otherwise newest first."""
    dialect = session.get_bind().dialect.name
    stmt = product_filters(select(Product), dialect, **filters)
    if q:
        found, total = await search_products(session, stmt, q, offset=params.offset, limit=params.limit)
        return [(p, round(s, 4)) for p, s in found], total
    rows, total = await paginate(session, stmt.order_by(Product.created_at.desc(), Product.id), params)
    return [(p, None) for p in rows], total
