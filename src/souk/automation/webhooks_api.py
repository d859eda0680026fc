"""HTTP for outgoing webhooks: subscriptions, their delivery log with response codes, and manual redelivery."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import select

from souk.automation import interest, webhooks
from souk.automation.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from souk.core import audit
from souk.core.auth import Ctx, admin
from souk.core.errors import NotFound
from souk.core.pagination import Page, PageParams, page_params, paginate
from souk.core.secrets import mask

router = APIRouter(prefix="/api/v1", tags=["outgoing webhooks"])


class SubscriptionIn(BaseModel):
    url: HttpUrl = Field(examples=["https://erp.example.com/souk-events"])
    events: list[str] = Field(
        min_length=1,
        max_length=100,
        description="Event types, `*` wildcards allowed: `message.created`, `conversation.*`, `*`.",
        examples=[["message.created", "conversation.assigned", "order.status_changed"]],
    )
    description: str | None = Field(None, max_length=200)
    active: bool = True


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"events": ["order.*"], "active": False}]})
    url: HttpUrl | None = None
    events: list[str] | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=200)
    active: bool | None = None


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    active: bool
    secret: str = Field(description="Shown in full once, at creation; masked afterwards.")
    created_at: datetime


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[AttemptOut] = []


def _out(sub: WebhookSubscription, *, reveal: bool = False) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id,
        url=sub.url,
        events=list(sub.events or []),
        description=sub.description,
        active=sub.active,
        secret=sub.secret if reveal else mask(sub.secret),
        created_at=sub.created_at,
    )


async def _sub(ctx: Ctx, subscription_id: uuid.UUID) -> WebhookSubscription:
    sub = await ctx.session.get(WebhookSubscription, subscription_id)
    if sub is None:
        raise NotFound("no such webhook subscription")
    return sub


async def _delivery(ctx: Ctx, delivery_id: uuid.UUID) -> WebhookDelivery:
    delivery = await ctx.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound("no such delivery")
    return delivery


async def _delivery_out(ctx: Ctx, delivery: WebhookDelivery) -> DeliveryOut:
    attempts = (
        await ctx.session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.at)
        )
    ).all()
    return DeliveryOut.model_validate(delivery).model_copy(
        update={"log": [AttemptOut.model_validate(a) for a in attempts]}
    )


@router.post("/webhooks", summary="Subscribe a URL to domain events", status_code=201, response_model=SubscriptionOut)
async def create_subscription(body: SubscriptionIn, ctx: Ctx = Depends(admin)) -> SubscriptionOut:
    sub = WebhookSubscription(
        url=str(body.url),
        events=body.events,
        description=body.description,
        active=body.active,
        secret=webhooks.new_secret(),
    )
    ctx.session.add(sub)
    await ctx.session.flush()
    interest.changed(ctx.session, ctx.tenant_id)
    audit.record(ctx, "webhook.created", "webhook", sub.id, after={"url": sub.url, "events": sub.events})
    return _out(sub, reveal=True)


@router.get("/webhooks", summary="List webhook subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(ctx: Ctx = Depends(admin)) -> list[SubscriptionOut]:
    subs = (await ctx.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.created_at))).all()
    return [_out(s) for s in subs]


@router.get("/webhooks/{subscription_id}", summary="Read a subscription", response_model=SubscriptionOut)
async def get_subscription(subscription_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> SubscriptionOut:
    return _out(await _sub(ctx, subscription_id))


@router.patch("/webhooks/{subscription_id}", summary="Change a subscription", response_model=SubscriptionOut)
async def update_subscription(
    subscription_id: uuid.UUID, body: SubscriptionPatch, ctx: Ctx = Depends(admin)
) -> SubscriptionOut:
    sub = await _sub(ctx, subscription_id)
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is not None:
            setattr(sub, name, str(value) if name == "url" else value)
    await ctx.session.flush()
    interest.changed(ctx.session, ctx.tenant_id)
    return _out(sub)


@router.delete("/webhooks/{subscription_id}", summary="Delete a subscription and its log", status_code=204)
async def delete_subscription(subscription_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> Response:
    await ctx.session.delete(await _sub(ctx, subscription_id))
    interest.changed(ctx.session, ctx.tenant_id)
    return Response(status_code=204)


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    summary="The subscription's deliveries, newest first, with every attempt's response code",
    response_model=Page[DeliveryOut],
)
async def list_deliveries(
    subscription_id: uuid.UUID,
    status: str | None = Query(None, pattern="^(pending|delivered|failed)$"),
    params: PageParams = Depends(page_params),
    ctx: Ctx = Depends(admin),
) -> Page[DeliveryOut]:
    await _sub(ctx, subscription_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    rows, total = await paginate(ctx.session, stmt.order_by(WebhookDelivery.created_at.desc()), params)
    return Page(items=[await _delivery_out(ctx, d) for d in rows], total=total, page=params.page, limit=params.limit)


@router.get("/webhook-deliveries/{delivery_id}", summary="One delivery and its attempts", response_model=DeliveryOut)
async def get_delivery(delivery_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> DeliveryOut:
    return await _delivery_out(ctx, await _delivery(ctx, delivery_id))


@router.post(
    "/webhook-deliveries/{delivery_id}/redeliver",
    summary="Send a delivery again now (delivered or failed alike); its log keeps every attempt",
    response_model=DeliveryOut,
)
async def redeliver(delivery_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> DeliveryOut:
    delivery = await _delivery(ctx, delivery_id)
    await webhooks.redeliver(ctx.session, delivery)
    audit.record(ctx, "webhook.redelivered", "webhook_delivery", delivery.id)
    await ctx.session.flush()
    return await _delivery_out(ctx, delivery)
