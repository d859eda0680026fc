"""The commerce REST API: products, orders, customer order history and the knowledge base. Handlers stay thin."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from decimal import Decimal

from fastapi import APIRouter, BackgroundTasks, Depends, File, Query, Response, UploadFile

from souk.channels.service import get_channel
from souk.commerce import catalog, import_jobs, knowledge, notify, orders, service
from souk.commerce.importer import Report, format_of
from souk.commerce.models import KnowledgeBase, Order, OrderStatus, Product, ProductImportJob
from souk.commerce.schemas import (
    DocumentHit,
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentPatch,
    DocumentSearch,
    ImportJobList,
    ImportJobOut,
    ImportReport,
    NotificationOut,
    OrderIn,
    OrderList,
    OrderOut,
    OrderStats,
    OrderStatusIn,
    ProductIn,
    ProductList,
    ProductOut,
    ProductPatch,
)
from souk.core import audit
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import NotFound
from souk.core.pagination import PageParams, page_params
from souk.messaging.models import Customer

router = APIRouter(prefix="/api/v1", tags=["commerce"])


def product_out(product: Product, relevance: float | None = None) -> ProductOut:
    out = ProductOut.model_validate(product)
    out.relevance = relevance
    return out


@router.post("/products", summary="Create a product", status_code=201, response_model=ProductOut)
async def create_product(body: ProductIn, ctx: Ctx = Depends(admin)) -> ProductOut:
    product = await service.create_product(ctx.session, ctx.tenant_id, body.model_dump())
    audit.record(ctx, "product.created", "product", product.id, after={"name": product.name, "sku": product.sku})
    return product_out(product)


@router.get("/products", summary="List and search products", response_model=ProductList)
async def list_products(
    q: str | None = Query(None, max_length=200, description="Search words, any language; typos tolerated."),
    category: str | None = Query(None),
    tag: str | None = Query(None),
    min_price: Decimal | None = Query(None, ge=0, max_digits=12, decimal_places=3),
    max_price: Decimal | None = Query(None, ge=0, max_digits=12, decimal_places=3),
    bestseller: bool | None = Query(None),
    in_stock: bool | None = Query(None, description="true: stock > 0; false: sold out."),
    include_inactive: bool = Query(False, description="Also list deactivated products."),
    params: PageParams = Depends(page_params),
    ctx: Ctx = Depends(agent),
) -> ProductList:
    rows, total = await service.list_products(
        ctx.session,
        params,
        q=q,
        category=category,
        tag=tag,
        min_price=min_price,
        max_price=max_price,
        bestseller=bestseller,
        in_stock=in_stock,
        active=None if include_inactive else True,
    )
    return ProductList(items=[product_out(p, r) for p, r in rows], total=total, page=params.page, limit=params.limit)


def job_out(job: ProductImportJob) -> ImportJobOut:
    data = {c: getattr(job, c) for c in ImportJobOut.model_fields if c not in ("url", "errors")}
    return ImportJobOut.model_validate({**data, "url": f"/api/v1/products/imports/{job.id}", "errors": job.errors})


@router.post(
    "/products/import",
    summary="Import products from a CSV or JSON file in the background (upsert by SKU, else external id)",
    status_code=202,
    response_model=ImportJobOut,
    responses={
        202: {"description": "Accepted: follow the import at `url` (also in the Location header)"},
        422: {"description": "The file cannot be read; nothing was written and no import was started"},
    },
)
async def import_products(
    response: Response,
    background: BackgroundTasks,
    file: UploadFile = File(
        description="A .csv (lists separated by '|') or .json (array of products) file.",
        examples=["sku,name,price,currency,stock,tags\nJK-001,Winter jacket,500,EGP,12,winter|jackets\n"],
    ),
    ctx: Ctx = Depends(admin),
) -> ImportJobOut:
    fmt = format_of(file.filename, file.content_type)
    job = await import_jobs.create_job(ctx.session, ctx.tenant_id, await file.read(), fmt, file.filename)
    audit.record(ctx, "product.import_started", "product_import_job", job.id, after={"rows": job.total_rows})
    # runs once the response is on its way, i.e. after this request's transaction (and so the job) committed
    background.add_task(ctx.request.app.state.imports.start, ctx.tenant_id, job.id)
    out = job_out(job)
    response.headers["Location"] = out.url
    return out


@router.get("/products/imports", summary="List catalog imports, newest first", response_model=ImportJobList)
async def list_imports(params: PageParams = Depends(page_params), ctx: Ctx = Depends(agent)) -> ImportJobList:
    rows, total = await import_jobs.list_jobs(ctx.session, params)
    return ImportJobList(items=[job_out(j) for j in rows], total=total, page=params.page, limit=params.limit)


@router.get(
    "/products/imports/{import_id}",
    summary="A catalog import's progress and per-row error report",
    response_model=ImportJobOut,
    responses={404: {"description": "No such import in this tenant"}},
)
async def get_import(import_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> ImportJobOut:
    return job_out(await import_jobs.get_job(ctx.session, import_id))


@router.post(
    "/products/import/chotot",
    summary="Import the shop's Chotot listings as products (upsert by external id)",
    response_model=ImportReport,
    responses={502: {"description": "Chotot refused the request"}},
)
async def import_chotot_products(
    channel_id: uuid.UUID = Query(description="The Chotot channel whose account's listings to import."),
    ctx: Ctx = Depends(admin),
) -> ImportReport:
    channel = await get_channel(ctx.session, channel_id)
    report = await catalog.import_chotot(ctx.session, ctx.tenant_id, channel, ctx.request.app.state.http)
    audit.record(ctx, "product.imported", "channel", channel.id, after={"created": report.created})
    return report_out(report)


@router.get("/products/{product_id}", summary="Get a product", response_model=ProductOut)
async def get_product(product_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> ProductOut:
    return product_out(await service.get_product(ctx.session, product_id))


@router.patch("/products/{product_id}", summary="Update a product", response_model=ProductOut)
async def update_product(product_id: uuid.UUID, body: ProductPatch, ctx: Ctx = Depends(admin)) -> ProductOut:
    changes = body.model_dump(exclude_unset=True)
    product = await service.update_product(ctx.session, product_id, changes)
    audit.record(ctx, "product.updated", "product", product.id, after={k: str(v) for k, v in changes.items()})
    return product_out(product)


@router.delete("/products/{product_id}", summary="Delete a product", status_code=204, response_class=Response)
async def delete_product(product_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> Response:
    await service.delete_product(ctx.session, product_id)
    audit.record(ctx, "product.deleted", "product", product_id)
    return Response(status_code=204)


NOT_COLUMNS = ("items", "next_statuses", "notification")


async def orders_out(ctx: Ctx, rows: list[Order]) -> list[OrderOut]:
    items = await orders.order_items(ctx.session, [o.id for o in rows])
    return [
        OrderOut.model_validate(
            {
                **{c: getattr(o, c) for c in OrderOut.model_fields if c not in NOT_COLUMNS},
                "items": items[o.id],
                "next_statuses": orders.next_statuses(o.status),
            }
        )
        for o in rows
    ]


@router.post(
    "/orders",
    summary="Place an order (reserves stock)",
    status_code=201,
    response_model=OrderOut,
    responses={409: {"description": "Not enough stock"}, 422: {"description": "Unknown or inactive product"}},
)
async def create_order(body: OrderIn, ctx: Ctx = Depends(agent)) -> OrderOut:
    order = await orders.place_order(ctx.session, ctx.tenant_id, body.model_dump())
    audit.record(ctx, "order.created", "order", order.id, after={"total_price": str(order.total_price)})
    return (await orders_out(ctx, [order]))[0]


@router.get("/orders", summary="List orders", response_model=OrderList)
async def list_orders(
    customer_id: str | None = Query(None, description="Matches customer_id or the legacy instagram_user."),
    status: OrderStatus | None = Query(None),
    params: PageParams = Depends(page_params),
    ctx: Ctx = Depends(agent),
) -> OrderList:
    rows, total = await orders.list_orders(ctx.session, params, customer_id=customer_id, status=status)
    return OrderList(items=await orders_out(ctx, rows), total=total, page=params.page, limit=params.limit)


@router.get("/orders/{order_id}", summary="Get an order", response_model=OrderOut)
async def get_order(order_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> OrderOut:
    return (await orders_out(ctx, [await orders.get_order(ctx.session, order_id)]))[0]


@router.post(
    "/orders/{order_id}/status",
    summary="Move an order along its lifecycle",
    response_model=OrderOut,
    responses={409: {"description": "Illegal transition"}},
)
async def change_order_status(order_id: uuid.UUID, body: OrderStatusIn, ctx: Ctx = Depends(agent)) -> OrderOut:
    order, old = await orders.change_status(ctx.session, order_id, body.status)
    audit.record(ctx, "order.status_changed", "order", order.id, before={"status": old}, after={"status": order.status})
    out = (await orders_out(ctx, [order]))[0]
    if body.notify:
        sent = await notify.notify_status(ctx.session, order, http=ctx.request.app.state.http)
        out.notification = NotificationOut(**sent)
    return out


@router.get("/customers/{customer_id}/orders", summary="A customer's order history", response_model=OrderList)
async def customer_orders(
    customer_id: str, params: PageParams = Depends(page_params), ctx: Ctx = Depends(agent)
) -> OrderList:
    rows, total = await orders.list_orders(ctx.session, params, customer_id=customer_id)
    if not total:
        await _known_customer(ctx, customer_id)
    return OrderList(items=await orders_out(ctx, rows), total=total, page=params.page, limit=params.limit)


@router.get("/customers/{customer_id}/order-stats", summary="A customer's order statistics", response_model=OrderStats)
async def customer_order_stats(customer_id: str, ctx: Ctx = Depends(agent)) -> OrderStats:
    stats = await orders.order_stats(ctx.session, customer_id)
    if not stats["total_orders"]:
        await _known_customer(ctx, customer_id)
    return OrderStats(**stats)


async def _known_customer(ctx: Ctx, customer_id: str) -> None:
    """No orders: an empty history for a customer of this tenant or a legacy identifier (seed 003's
    ``instagram_user`` strings are free text), but a 404 for a Souk customer id that is not this tenant's."""
    try:
        souk_id = uuid.UUID(customer_id)
    except ValueError:
        return
    if await ctx.session.get(Customer, souk_id) is None:
        raise NotFound(f"no customer {customer_id}")


def document_out(doc: KnowledgeBase) -> DocumentOut:
    data = {c: getattr(doc, c) for c in DocumentOut.model_fields if c != "metadata"}
    return DocumentOut.model_validate({**data, "metadata": doc.extra_data or {}})


def report_out(report: Report) -> ImportReport:
    return ImportReport.model_validate(asdict(report))


KB = "/knowledge-base"


@router.post(KB, summary="Add a knowledge base document", status_code=201, response_model=DocumentOut)
async def create_document(body: DocumentIn, ctx: Ctx = Depends(admin)) -> DocumentOut:
    doc = await knowledge.create_document(
        ctx.session, ctx.tenant_id, body.model_dump(), http=ctx.request.app.state.http
    )
    audit.record(ctx, "knowledge.created", "knowledge_base", doc.id, after={"doc_id": doc.doc_id})
    return document_out(doc)


@router.get(KB, summary="List knowledge base documents", response_model=DocumentList)
async def list_documents(
    category: str | None = Query(None),
    is_active: bool | None = Query(None, description="Only active (true) or inactive (false) documents."),
    params: PageParams = Depends(page_params),
    ctx: Ctx = Depends(agent),
) -> DocumentList:
    rows, total = await knowledge.list_documents(ctx.session, params, category=category, active=is_active)
    return DocumentList(items=[document_out(d) for d in rows], total=total, page=params.page, limit=params.limit)


@router.get(f"{KB}/search", summary="Search the knowledge base (ranked, with snippets)", response_model=DocumentSearch)
async def search_documents(
    q: str = Query(min_length=1, max_length=500),
    category: str | None = Query(None),
    limit: int = Query(10, ge=1, le=50),
    ctx: Ctx = Depends(agent),
) -> DocumentSearch:
    hits = await knowledge.search(ctx.session, q, category=category, limit=limit, http=ctx.request.app.state.http)
    items = [DocumentHit(document=document_out(h["document"]), score=h["score"], snippet=h["snippet"]) for h in hits]
    return DocumentSearch(items=items, query=q)


@router.post(
    f"{KB}/import",
    summary="Bulk import documents (Markdown, CSV or JSON), upserting by doc_id",
    response_model=ImportReport,
    responses={422: {"description": "The file cannot be read; nothing was written"}},
)
async def import_documents(
    file: UploadFile = File(
        description="A .md (one document per '# heading'), .csv or .json file.",
        examples=["# Opening hours\nWe answer chats from 9 to 21.\n\n# Payment\nCash on delivery or card.\n"],
    ),
    ctx: Ctx = Depends(admin),
) -> ImportReport:
    fmt = format_of(file.filename, file.content_type)
    report = await knowledge.import_documents(
        ctx.session, ctx.tenant_id, await file.read(), fmt, http=ctx.request.app.state.http
    )
    audit.record(ctx, "knowledge.imported", "knowledge_base", None, after={"created": report.created})
    return report_out(report)


@router.get(f"{KB}/{{doc_id}}", summary="Get a knowledge base document", response_model=DocumentOut)
async def get_document(doc_id: str, ctx: Ctx = Depends(agent)) -> DocumentOut:
    return document_out(await knowledge.get_document(ctx.session, doc_id))


@router.patch(f"{KB}/{{doc_id}}", summary="Update a knowledge base document", response_model=DocumentOut)
async def update_document(doc_id: str, body: DocumentPatch, ctx: Ctx = Depends(admin)) -> DocumentOut:
    doc = await knowledge.update_document(
        ctx.session, doc_id, body.model_dump(exclude_unset=True), http=ctx.request.app.state.http
    )
    audit.record(ctx, "knowledge.updated", "knowledge_base", doc.id)
    return document_out(doc)


@router.delete(f"{KB}/{{doc_id}}", summary="Delete a knowledge base document", status_code=204, response_class=Response)
async def delete_document(doc_id: str, ctx: Ctx = Depends(admin)) -> Response:
    await knowledge.delete_document(ctx.session, doc_id)
    audit.record(ctx, "knowledge.deleted", "knowledge_base", doc_id)
    return Response(status_code=204)
