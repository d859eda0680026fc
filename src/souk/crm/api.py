"""The customers (leads) API: list and search, detail, PATCH of the lead fields, CSV export, merge and unmerge,
merge proposals and the tenant's CRM settings.

Handlers parse, call :mod:`souk.crm.service` / :mod:`souk.crm.merge`, and render; the tenant session commits when
the handler returns, so a change, its activity rows and its audit entry commit together.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.channels.models import Channel
from souk.core import audit
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import Conflict, NotFound, Unprocessable, field_error
from souk.core.pagination import PageParams, page_params, paginate
from souk.crm import service
from souk.crm.attribution import attribution_report
from souk.crm.channel_metadata import list_channel_metadata, metadata_fields
from souk.crm.config import load_config, settings_row
from souk.crm.merge import merge_customers, unmerge
from souk.crm.models import AdCampaign, CrmSettings, CustomerMerge, LeadActivity, MergeProposal, Post
from souk.crm.phone_match import match_by_phone
from souk.crm.schemas import (
    ActivityList,
    ActivityOut,
    AdCampaignIn,
    AdCampaignList,
    AdCampaignOut,
    AdCampaignPatch,
    AttributionReport,
    AttributionRow,
    ChannelMetadataOut,
    CrmSettingsIn,
    CrmSettingsOut,
    CustomerDetail,
    CustomerList,
    CustomerListItem,
    CustomerOrders,
    CustomerPatch,
    MergeIn,
    MergeOut,
    MergeProposalList,
    MergeProposalOut,
    PostIn,
    PostList,
    PostOut,
    PostPatch,
    ScoreOut,
    UnmergeIn,
)
from souk.crm.scoring import ScoringConfig, evaluate, gather_facts, recompute, scoring_of
from souk.db.types import utcnow
from souk.messaging.api import as_utc, conversations_query, render_conversations
from souk.messaging.models import ChannelIdentity, Customer, LeadStage
from souk.messaging.schemas import ChannelSummary, IdentityOut

router = APIRouter(prefix="/api/v1")

RECENT_CONVERSATIONS = 10
CSV_FIELDS = list(CustomerListItem.model_fields)
EXPORT_MAX_ROWS = 100_000


def _actor(ctx: Ctx) -> str:
    return ctx.principal.label


class Filters:
    """The list/search filters, shared by the JSON list and the CSV export."""

    def __init__(
        self,
        q: str | None = Query(None, max_length=200, description="Name, phone, psid, or an identity's id/username."),
        stage: LeadStage | None = Query(None, description="Lead stage."),
        label: str | None = Query(None, max_length=50, description="Customer label."),
        type: str | None = Query(None, max_length=50, description="Customer type."),
        score_min: int | None = Query(None, ge=-(2**31), le=2**31 - 1, description="Lowest lead score."),
        score_max: int | None = Query(None, ge=-(2**31), le=2**31 - 1, description="Highest lead score."),
        channel: str | None = Query(None, max_length=64, description="A platform (`whatsapp`) or a channel id."),
        source: str | None = Query(None, max_length=32, description="A message source: `ad`, `post_comment`…"),
        include_merged: bool = Query(False, description="Also list customers merged into others."),
    ) -> None:
        self.kwargs: dict[str, Any] = dict(
            q=q,
            stage=stage,
            label=label,
            customer_type=type,
            score_min=score_min,
            score_max=score_max,
            channel=channel,
            source=source,
            include_merged=include_merged,
        )


@router.get("/customers", tags=["customers"], summary="List and search customers (leads)", response_model=CustomerList)
async def list_customers(
    ctx: Ctx = Depends(agent), params: PageParams = Depends(page_params), filters: Filters = Depends()
) -> CustomerList:
    rows, total = await paginate(ctx.session, service.customers_query(**filters.kwargs), params)
    items = [CustomerListItem.model_validate(c) for c in rows]
    return CustomerList(items=items, total=total, page=params.page, limit=params.limit)


@router.get(
    "/customers/export.csv",
    tags=["customers"],
    summary="Export the filtered customer list as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per customer, a header row first"}},
)
async def export_customers(ctx: Ctx = Depends(agent), filters: Filters = Depends()) -> Response:
    rows = await ctx.session.scalars(service.customers_query(**filters.kwargs).limit(EXPORT_MAX_ROWS))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for customer in rows:
        data = CustomerListItem.model_validate(customer).model_dump(mode="json")
        writer.writerow({k: "" if v is None else v for k, v in data.items()})
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="customers.csv"'},
    )


@router.get(
    "/customers/merge-proposals",
    tags=["customers"],
    summary="Customers sharing a phone number, waiting to be merged or dismissed",
    response_model=MergeProposalList,
)
async def list_merge_proposals(
    ctx: Ctx = Depends(agent),
    params: PageParams = Depends(page_params),
    status: str = Query("pending", pattern="^(pending|merged|dismissed)$"),
) -> MergeProposalList:
    stmt = select(MergeProposal).where(MergeProposal.status == status).order_by(MergeProposal.created_at.desc())
    rows, total = await paginate(ctx.session, stmt, params)
    return MergeProposalList(
        items=[MergeProposalOut.model_validate(r) for r in rows], total=total, page=params.page, limit=params.limit
    )


@router.post(
    "/customers/merge-proposals/{proposal_id}/dismiss",
    tags=["customers"],
    summary="Dismiss a merge proposal (the two customers stay apart)",
    response_model=MergeProposalOut,
)
async def dismiss_merge_proposal(proposal_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> MergeProposalOut:
    row = await ctx.session.scalar(select(MergeProposal).where(MergeProposal.id == proposal_id))
    if row is None:
        raise NotFound("no such merge proposal")
    row.status = "dismissed"
    audit.record(ctx, "customer.merge_dismissed", "merge_proposal", row.id, after={"status": "dismissed"})
    await ctx.session.flush()
    return MergeProposalOut.model_validate(row)


async def _load(session: AsyncSession, model: type[Any], ids: Iterable[uuid.UUID]) -> list[Any]:
    ids = list(ids)
    if not ids:
        return []
    return list((await session.scalars(select(model).where(model.id.in_(ids)))).all())


async def customer_detail(session: AsyncSession, customer: Customer) -> CustomerDetail:
    """Everything about one customer: identities, recent conversations, notes, activities, merges and orders."""
    identities = list(
        (
            await session.scalars(
                select(ChannelIdentity)
                .where(ChannelIdentity.customer_id == customer.id)
                .order_by(ChannelIdentity.created_at, ChannelIdentity.id)
            )
        ).all()
    )
    channels = {c.id: c for c in await _load(session, Channel, {i.channel_id for i in identities})}
    conv_stmt = conversations_query(customer_id=customer.id)
    total = await session.scalar(select(func.count()).select_from(conv_stmt.order_by(None).subquery()))
    conversations = list((await session.scalars(conv_stmt.limit(RECENT_CONVERSATIONS))).all())
    out = CustomerDetail.model_validate(customer)
    out.identities = [
        IdentityOut(
            id=i.id,
            platform=i.platform,
            external_id=i.external_id,
            channel_id=i.channel_id,
            channel=ChannelSummary.model_validate(channels[i.channel_id]) if i.channel_id in channels else None,
            display_name=i.display_name,
            username=i.username,
            phone=i.phone,
            profile_pic=i.profile_pic,
            created_at=i.created_at,
        )
        for i in identities
    ]
    out.conversation_count = int(total or 0)
    out.recent_conversations = await render_conversations(session, conversations)
    notes = await service.notes_of(session, customer.id)
    out.notes = notes.notes if notes else ""
    out.activities = [ActivityOut.model_validate(a) for a in await service.activities_of(session, customer.id)]
    merges = await session.scalars(
        select(CustomerMerge).where(CustomerMerge.survivor_id == customer.id).order_by(CustomerMerge.merged_at.desc())
    )
    out.merges = [MergeOut.model_validate(m) for m in merges]
    out.channel_metadata = [
        ChannelMetadataOut(
            id=m.id,
            channel_type=m.channel_type,
            entity_type=m.entity_type,
            entity_id=m.entity_id,
            created_at=m.created_at,
            fields=metadata_fields(m),
        )
        for m in await list_channel_metadata(session, "customer", customer.id)
    ]
    for summary in service.ORDER_SUMMARIES:
        out.orders = CustomerOrders(**await summary(session, customer.id))
    return out


@router.get(
    "/customers/{customer_id}",
    tags=["customers"],
    summary="Read a customer with identities, recent conversations, notes, activities and merges",
    response_model=CustomerDetail,
)
async def get_customer(customer_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> CustomerDetail:
    return await customer_detail(ctx.session, await service.get_customer(ctx.session, customer_id))


@router.patch(
    "/customers/{customer_id}",
    tags=["customers"],
    summary="Change a customer's stage, label, type, score, region, phone or notes",
    response_model=CustomerDetail,
    responses={
        422: {
            "description": "An unknown stage, label or type (the allowed values are listed), a score "
            "outside the tenant's range, or an invalid phone number"
        }
    },
)
async def patch_customer(customer_id: uuid.UUID, body: CustomerPatch, ctx: Ctx = Depends(agent)) -> CustomerDetail:
    customer = await service.get_customer(ctx.session, customer_id)
    config = await load_config(ctx.session)
    changes = body.model_dump(exclude_unset=True)
    reason = changes.pop("reason", None)
    before = {k: getattr(customer, k) for k in changes if k != "notes"}
    written = await service.update_customer(ctx.session, customer, changes, config, reason=reason, actor=_actor(ctx))
    if written:
        after = {k: getattr(customer, k) for k in before}
        audit.record(ctx, "customer.updated", "customer", customer.id, before=_jsonable(before), after=_jsonable(after))
    if "phone_number" in changes and customer.phone_number:
        await match_by_phone(ctx.session, customer, config, actor=_actor(ctx))
    await ctx.session.flush()
    return await customer_detail(ctx.session, customer)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v if v is None or isinstance(v, int | str | bool) else str(v) for k, v in data.items()}


@router.get(
    "/customers/{customer_id}/activities",
    tags=["customers"],
    summary="A customer's lead activities, newest first",
    response_model=ActivityList,
)
async def list_activities(
    customer_id: uuid.UUID, ctx: Ctx = Depends(agent), params: PageParams = Depends(page_params)
) -> ActivityList:
    customer = await service.get_customer(ctx.session, customer_id)
    stmt = (
        select(LeadActivity)
        .where(LeadActivity.customer_id == customer.id)
        .order_by(LeadActivity.timestamp.desc(), LeadActivity.id.desc())
    )
    rows, total = await paginate(ctx.session, stmt, params)
    return ActivityList(
        items=[ActivityOut.model_validate(a) for a in rows], total=total, page=params.page, limit=params.limit
    )


@router.post(
    "/customers/{customer_id}/merge",
    tags=["customers"],
    summary="Merge another customer into this one (identities, conversations, messages, orders, activities)",
    response_model=MergeOut,
    responses={
        404: {"description": "Either customer is not in your tenant"},
        409: {"description": "One of them was already merged"},
        422: {"description": "Merging a customer into itself"},
    },
)
async def merge_customer(customer_id: uuid.UUID, body: MergeIn, ctx: Ctx = Depends(agent)) -> MergeOut:
    record = await merge_customers(ctx.session, customer_id, body.other_id, actor=_actor(ctx))
    audit.record(ctx, "customer.merged", "customer", customer_id, after={"merged_id": str(body.other_id)})
    return MergeOut.model_validate(record)


@router.post(
    "/customers/{customer_id}/unmerge",
    tags=["customers"],
    summary="Undo a merge into this customer from its audit record",
    response_model=MergeOut,
    responses={404: {"description": "No merge into this customer left to undo"}},
)
async def unmerge_customer(
    customer_id: uuid.UUID, body: UnmergeIn | None = None, ctx: Ctx = Depends(agent)
) -> MergeOut:
    record = await unmerge(ctx.session, customer_id, body.merge_id if body else None, actor=_actor(ctx))
    audit.record(ctx, "customer.unmerged", "customer", customer_id, after={"restored_id": str(record.merged_id)})
    return MergeOut.model_validate(record)


@router.get(
    "/customers/{customer_id}/score",
    tags=["customers"],
    summary="Explain a customer's lead score: the rules that fire now and their points",
    response_model=ScoreOut,
)
async def explain_score(customer_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> ScoreOut:
    customer = await service.get_customer(ctx.session, customer_id)
    config = await load_config(ctx.session)
    raw, reasons = evaluate(scoring_of(config).rules, await gather_facts(ctx.session, customer))
    computed = max(config.score_min, min(config.score_max, raw))
    return ScoreOut(lead_score=customer.lead_score, computed=computed, reasons=reasons, lead_stage=customer.lead_stage)


@router.post(
    "/customers/{customer_id}/score/recompute",
    tags=["customers"],
    summary="Recompute a customer's lead score and stage now (writes activities when they change)",
    response_model=ScoreOut,
)
async def recompute_score(customer_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> ScoreOut:
    customer = await service.get_customer(ctx.session, customer_id)
    result = await recompute(ctx.session, customer, await load_config(ctx.session), trigger="manual recompute")
    return ScoreOut(lead_score=result.score, computed=result.score, reasons=result.reasons, lead_stage=result.stage)


@router.get("/crm/scoring", tags=["crm"], summary="The tenant's scoring and stage rules", response_model=ScoringConfig)
async def get_scoring(ctx: Ctx = Depends(agent)) -> ScoringConfig:
    return scoring_of(await load_config(ctx.session))


@router.put(
    "/crm/scoring",
    tags=["crm"],
    summary="Replace the tenant's scoring and stage rules",
    response_model=ScoringConfig,
    responses={422: {"description": "An unknown signal or stage, or an unknown field in a rule"}},
)
async def put_scoring(body: ScoringConfig, ctx: Ctx = Depends(admin)) -> ScoringConfig:
    row = await settings_row(ctx.session)
    if row is None:
        row = CrmSettings()
        ctx.session.add(row)
    row.scoring_rules = body.model_dump(mode="json")
    audit.record(ctx, "crm.scoring_updated", "crm_settings", None, after=row.scoring_rules)
    await ctx.session.flush()
    return body


def _settings_out(config: Any) -> CrmSettingsOut:
    return CrmSettingsOut(
        labels=config.labels,
        customer_types=config.customer_types,
        governorates=config.governorates,
        score_min=config.score_min,
        score_max=config.score_max,
        default_region=config.default_region,
        auto_merge_by_phone=config.auto_merge_by_phone,
        lead_stages=[s.value for s in LeadStage],
    )


@router.get("/crm/settings", tags=["crm"], summary="The tenant's CRM settings", response_model=CrmSettingsOut)
async def get_crm_settings(ctx: Ctx = Depends(agent)) -> CrmSettingsOut:
    return _settings_out(await load_config(ctx.session))


@router.put(
    "/crm/settings",
    tags=["crm"],
    summary="Replace the tenant's CRM settings (labels, types, regions, score range, phone merging)",
    response_model=CrmSettingsOut,
    responses={422: {"description": "score_min above score_max, or an unknown region code"}},
)
async def put_crm_settings(body: CrmSettingsIn, ctx: Ctx = Depends(admin)) -> CrmSettingsOut:
    if body.score_min > body.score_max:
        raise Unprocessable(
            "score_min must not exceed score_max", errors=[field_error("score_min", "must be <= score_max")]
        )
    if body.default_region and body.default_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise Unprocessable(
            f"unknown region {body.default_region!r}",
            errors=[field_error("default_region", "an ISO 3166 two-letter region code such as EG or VN")],
        )
    row = await settings_row(ctx.session)
    if row is None:
        row = CrmSettings()
        ctx.session.add(row)
    data = body.model_dump()
    if data["default_region"]:
        data["default_region"] = data["default_region"].upper()
    for key, value in data.items():
        setattr(row, key, value)
    audit.record(ctx, "crm.settings_updated", "crm_settings", None, after=data)
    await ctx.session.flush()
    return _settings_out(await load_config(ctx.session))


# -- attribution: posts, ad campaigns, report -------------------------------------------------------------------


async def _one(session: AsyncSession, model: type[Any], entity_id: uuid.UUID, what: str) -> Any:
    row = await session.scalar(select(model).where(model.id == entity_id))
    if row is None:
        raise NotFound(f"no such {what}")
    return row


async def _create(ctx: Ctx, model: type[Any], data: dict[str, Any], key: str, what: str) -> Any:
    if await ctx.session.scalar(select(model.id).where(getattr(model, key) == data[key])) is not None:
        raise Conflict(f"a {what} with this {key} exists", errors=[field_error(key, "already exists")])
    row = model(**data)
    ctx.session.add(row)
    await ctx.session.flush()
    audit.record(ctx, f"{model.__tablename__[:-1]}.created", model.__tablename__[:-1], row.id, after=data)
    return row


@router.get("/posts", tags=["attribution"], summary="List posts (newest first)", response_model=PostList)
async def list_posts(ctx: Ctx = Depends(agent), params: PageParams = Depends(page_params)) -> PostList:
    rows, total = await paginate(ctx.session, select(Post).order_by(Post.created_at.desc(), Post.id), params)
    return PostList(items=[PostOut.model_validate(r) for r in rows], total=total, page=params.page, limit=params.limit)


@router.post(
    "/posts",
    tags=["attribution"],
    summary="Register a post for attribution",
    status_code=201,
    response_model=PostOut,
    responses={409: {"description": "A post with this facebook_post_id exists"}},
)
async def create_post(body: PostIn, ctx: Ctx = Depends(agent)) -> PostOut:
    return PostOut.model_validate(await _create(ctx, Post, body.model_dump(), "facebook_post_id", "post"))


@router.get("/posts/{post_id}", tags=["attribution"], summary="Read a post", response_model=PostOut)
async def get_post(post_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> PostOut:
    return PostOut.model_validate(await _one(ctx.session, Post, post_id, "post"))


@router.patch("/posts/{post_id}", tags=["attribution"], summary="Change a post", response_model=PostOut)
async def patch_post(post_id: uuid.UUID, body: PostPatch, ctx: Ctx = Depends(agent)) -> PostOut:
    row = await _one(ctx.session, Post, post_id, "post")
    for key, value in body.model_dump(exclude_unset=True).items():
        setattr(row, key, value)
    await ctx.session.flush()
    return PostOut.model_validate(row)


@router.get(
    "/ad-campaigns", tags=["attribution"], summary="List ad campaigns (newest first)", response_model=AdCampaignList
)
async def list_ad_campaigns(ctx: Ctx = Depends(agent), params: PageParams = Depends(page_params)) -> AdCampaignList:
    stmt = select(AdCampaign).order_by(AdCampaign.created_at.desc(), AdCampaign.id)
    rows, total = await paginate(ctx.session, stmt, params)
    return AdCampaignList(
        items=[AdCampaignOut.model_validate(r) for r in rows], total=total, page=params.page, limit=params.limit
    )


@router.post(
    "/ad-campaigns",
    tags=["attribution"],
    summary="Register an ad campaign for attribution",
    status_code=201,
    response_model=AdCampaignOut,
    responses={409: {"description": "An ad campaign with this facebook_ad_id exists"}},
)
async def create_ad_campaign(body: AdCampaignIn, ctx: Ctx = Depends(agent)) -> AdCampaignOut:
    row = await _create(ctx, AdCampaign, body.model_dump(), "facebook_ad_id", "ad campaign")
    return AdCampaignOut.model_validate(row)


@router.get("/ad-campaigns/{ad_id}", tags=["attribution"], summary="Read an ad campaign", response_model=AdCampaignOut)
async def get_ad_campaign(ad_id: uuid.UUID, ctx: Ctx = Depends(agent)) -> AdCampaignOut:
    return AdCampaignOut.model_validate(await _one(ctx.session, AdCampaign, ad_id, "ad campaign"))


@router.patch(
    "/ad-campaigns/{ad_id}", tags=["attribution"], summary="Change an ad campaign", response_model=AdCampaignOut
)
async def patch_ad_campaign(ad_id: uuid.UUID, body: AdCampaignPatch, ctx: Ctx = Depends(agent)) -> AdCampaignOut:
    row = await _one(ctx.session, AdCampaign, ad_id, "ad campaign")
    for key, value in body.model_dump(exclude_unset=True).items():
        setattr(row, key, value)
    await ctx.session.flush()
    return AdCampaignOut.model_validate(row)


@router.get(
    "/reports/attribution",
    tags=["reports"],
    summary="Leads, conversations, orders and revenue per ad and per post over a date range",
    response_model=AttributionReport,
    responses={422: {"description": "since is not before until"}},
)
async def report_attribution(
    ctx: Ctx = Depends(agent),
    since: datetime | None = Query(None, description="Start (inclusive, UTC if no zone); 30 days ago if omitted."),
    until: datetime | None = Query(None, description="End (exclusive, UTC if no zone); now if omitted."),
) -> AttributionReport:
    end = as_utc(until) or utcnow()
    start = as_utc(since) or end - timedelta(days=30)
    if start >= end:
        raise Unprocessable("since must be before until", errors=[field_error("query.since", "must be before until")])
    report = await attribution_report(ctx.session, start, end)
    return AttributionReport(
        since=start,
        until=end,
        ads=[AttributionRow.model_validate(r) for r in report["ads"]],
        posts=[AttributionRow.model_validate(r) for r in report["posts"]],
    )
