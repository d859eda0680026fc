"""Catalog import: CSV or JSON rows upserted as products by SKU (else external id), row by row.

Each row runs in its own savepoint, so a row the database refuses is reported and the other rows are kept. A file
that cannot be read is refused before any row is written. ``on_progress(done, total)`` lets the CLI draw its bar.
Chotot's ``get_user_products`` listings go through the same rows (see :func:`import_rows`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.channels.models import Channel
from souk.channels.service import client_for
from souk.commerce import service
from souk.commerce.importer import Report, RowError, product_values, read_rows
from souk.commerce.models import Product
from souk.commerce.schemas import ProductIn
from souk.core.errors import BadGateway, SoukError, Unprocessable, field_error
from souk.platforms.plugin import PlatformError

Progress = Callable[[int, int], None]


async def _existing(session: AsyncSession, sku: str | None, external_id: str | None) -> Product | None:
    if sku:
        found = await session.scalar(select(Product).where(Product.sku == sku))
        if found is not None:
            return found
    if external_id:
        return await session.scalar(select(Product).where(Product.external_id == external_id))
    return None


async def _upsert(session: AsyncSession, tenant_id: uuid.UUID, product: ProductIn) -> bool:
    """True when created, False when an existing product (same SKU or external id) was updated."""
    current = await _existing(session, product.sku, product.external_id)
    if current is None:
        await service.create_product(session, tenant_id, product.model_dump())
        return True
    await service.update_product(session, current.id, product.model_dump(exclude_unset=True))
    return False


async def import_rows(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    rows: list[dict[str, Any]],
    on_progress: Progress | None = None,
    *,
    first_row: int = 1,
) -> Report:
    """Upsert ``rows``; errors name rows counting from ``first_row`` (a batch of a larger file gives its offset)."""
    report = Report()
    for number, row in enumerate(rows, start=first_row):
        try:
            product = ProductIn.model_validate(product_values(row))
            async with session.begin_nested():
                created = await _upsert(session, tenant_id, product)
            report.created += created
            report.updated += not created
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "row"
                report.errors.append(RowError(number, where, err["msg"]))
        except SoukError as exc:
            fields = [e["field"] for e in exc.errors or []] or ["row"]
            report.errors.extend(RowError(number, f, exc.detail) for f in fields)
        if on_progress is not None:
            on_progress(number - first_row + 1, len(rows))
    return report


async def import_file(
    session: AsyncSession, tenant_id: uuid.UUID, data: bytes, fmt: str, on_progress: Progress | None = None
) -> Report:
    return await import_rows(session, tenant_id, read_rows(data, fmt), on_progress)


async def import_chotot(
    session: AsyncSession, tenant_id: uuid.UUID, channel: Channel, http: httpx.AsyncClient, *, page_size: int = 50
) -> Report:
    """The shop's Chotot listings (``get_user_products``, every page) through the same upsert, by external id.

    Stock is the shop's to manage: a listing creates a product with stock 0 and never overwrites stock later.
    """
    if channel.channel_type != "chotot":
        raise Unprocessable("not a Chotot channel", errors=[field_error("channel_id", "expected a chotot channel")])
    client = client_for(channel, http)
    rows: list[dict[str, Any]] = []
    page = 1
    try:
        while True:
            listings = await client.get_user_products(str(channel.config["accountID"]), page_size, page)
            rows += [
                {
                    "external_id": f"chotot:{item.external_id}",
                    "name": item.name,
                    "price": item.price,
                    "currency": item.currency or "VND",
                    "images": [item.image] if item.image else [],
                }
                for item in listings
            ]
            if len(listings) < page_size:
                break
            page += 1
    except PlatformError as exc:
        raise BadGateway(f"Chotot refused the listing request: {exc}") from None
    return await import_rows(session, tenant_id, rows)
