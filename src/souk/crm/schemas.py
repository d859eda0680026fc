"""Request and response shapes of the customers (leads) API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from souk.core.schemas import Strict
from souk.crm.models import PostType
from souk.messaging.schemas import CustomerOut


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CustomerPatch(Strict):
    """Only the fields sent change; each change writes one lead activity."""

    lead_stage: str | None = Field(None, examples=["NURTURE"], description="One of the LeadStage values.")
    customer_label: str | None = Field(None, max_length=50, examples=["hot"], description="A tenant label or null.")
    customer_type: str | None = Field(None, max_length=50, examples=["retail"], description="A tenant type or null.")
    lead_score: int | None = Field(None, description="A manual score within the tenant's range.")
    governorate: str | None = Field(None, max_length=100, examples=["Cairo"])
    phone_number: str | None = Field(None, max_length=40, examples=["+201001234567"])
    notes: str | None = Field(None, max_length=20000)
    reason: str | None = Field(None, max_length=2000, description="Why; kept on the activities this change writes.")


class ActivityOut(Out):
    id: uuid.UUID
    customer_id: uuid.UUID
    activity_type: str = Field(examples=["stage_change"])
    old_value: str | None
    new_value: str | None
    reason: str | None
    timestamp: datetime
    automated: bool
    actor: str | None


class ActivityList(BaseModel):
    items: list[ActivityOut]
    total: int
    page: int
    limit: int


class MergeOut(Out):
    id: uuid.UUID
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    moved: dict[str, list[str]] = Field(description="Rows moved, as `{table.column: [ids]}`.")
    filled: dict[str, Any] = Field(description="Survivor fields filled from the merged customer (previous values).")
    reason: str = Field(examples=["manual"])
    merged_at: datetime
    merged_by: str | None
    undone_at: datetime | None
    undone_by: str | None


class MergeProposalOut(Out):
    id: uuid.UUID
    customer_id: uuid.UUID
    other_id: uuid.UUID
    phone: str
    status: str = Field(examples=["pending"])
    created_at: datetime


class MergeProposalList(BaseModel):
    items: list[MergeProposalOut]
    total: int
    page: int
    limit: int


class ChannelMetadataOut(BaseModel):
    id: uuid.UUID
    channel_type: str = Field(examples=["whatsapp"])
    entity_type: str = Field(examples=["customer"])
    entity_id: uuid.UUID
    created_at: datetime
    fields: dict[str, Any] = Field(
        description="The channel's own columns, prefixed (wa_phone, ig_user_id, tt_shop_id…)."
    )


class CustomerOrderOut(BaseModel):
    id: uuid.UUID
    status: str
    total_price: str = Field(description="A decimal amount, as a string so no precision is lost.")
    currency: str
    created_at: datetime


class CustomerOrders(BaseModel):
    """The customer's orders at a glance; the full history is at ``href``."""

    total_orders: int = 0
    total_spent: str = Field("0", description="Cancelled and refunded orders left out; a decimal as a string.")
    currency: str | None = Field(None, description="The currency of total_spent, when the customer spends in one.")
    last_order: datetime | None = None
    recent: list[CustomerOrderOut] = Field(default_factory=list, description="Newest first (at most 5).")
    href: str = Field(description="The customer's full order history (paged).")


class CustomerDetail(CustomerOut):
    """The read API's customer (identities, recent conversations) plus notes, activities, merges, channel metadata
    and orders."""

    notes: str = ""
    orders: CustomerOrders | None = Field(None, description="None only where the commerce package is not installed.")
    channel_metadata: list[ChannelMetadataOut] = Field(default_factory=list)
    activities: list[ActivityOut] = Field(default_factory=list, description="Newest first (at most 50).")
    merges: list[MergeOut] = Field(default_factory=list, description="Merges into this customer, newest first.")


class CustomerListItem(Out):
    id: uuid.UUID
    psid: str | None
    first_name: str | None
    last_name: str | None
    display_name: str | None
    profile_pic: str | None
    governorate: str | None
    platform: str
    phone_number: str | None
    created_at: datetime
    last_message_at: datetime | None
    is_active: bool
    lead_stage: str
    customer_label: str | None
    customer_type: str | None
    lead_score: int
    last_stage_change: datetime
    merged_into_id: uuid.UUID | None


class CustomerList(BaseModel):
    items: list[CustomerListItem]
    total: int
    page: int
    limit: int


class MergeIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"other_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}]})
    other_id: uuid.UUID = Field(description="The customer merged into the one in the path (it is kept, inactive).")


class UnmergeIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"merge_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}]})
    merge_id: uuid.UUID | None = Field(None, description="The merge to undo; the latest one when omitted.")


class CrmSettingsIn(Strict):
    labels: list[str] | None = Field(None, max_length=100, description="Allowed customer labels; null for defaults.")
    customer_types: list[str] | None = Field(None, max_length=100)
    governorates: list[str] | None = Field(None, max_length=500, description="Allowed regions; empty allows any.")
    score_min: int = 0
    score_max: int = 100
    default_region: str | None = Field(None, min_length=2, max_length=2, examples=["EG"])
    auto_merge_by_phone: bool = Field(False, description="Merge customers sharing a phone at once (else propose).")


class CrmSettingsOut(BaseModel):
    labels: list[str]
    customer_types: list[str]
    governorates: list[str]
    score_min: int
    score_max: int
    default_region: str | None
    auto_merge_by_phone: bool
    lead_stages: list[str] = Field(description="The fixed lead stages, in order.")


class ScoreOut(BaseModel):
    lead_score: int = Field(description="The stored score.")
    computed: int = Field(description="What the tenant's rules give now (clamped to the range).")
    reasons: list[str] = Field(description="One line per rule that fires, with its points.")
    lead_stage: str


class PostIn(Strict):
    facebook_post_id: str = Field(min_length=1, max_length=100, description="The platform's post (or listing) id.")
    post_type: PostType = PostType.GENERAL
    post_content: str | None = Field(None, max_length=20000, examples=["جاكيت شتوي للبيع - 500 جنيه"])
    post_price: str | None = Field(None, max_length=100, examples=["500 EGP"])
    post_data: str | None = Field(None, max_length=20000, examples=['{"category": "winter", "size": "L"}'])
    platform: str | None = Field(None, max_length=32, examples=["messenger"])
    is_active: bool = True


class PostPatch(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"post_price": "450 EGP", "is_active": False}]})
    post_type: PostType | None = None
    post_content: str | None = Field(None, max_length=20000)
    post_price: str | None = Field(None, max_length=100)
    post_data: str | None = Field(None, max_length=20000)
    platform: str | None = Field(None, max_length=32)
    is_active: bool | None = None


class PostOut(Out):
    id: uuid.UUID
    facebook_post_id: str
    post_type: str
    post_content: str | None
    post_price: str | None
    post_data: str | None
    platform: str | None
    created_at: datetime
    is_active: bool


class PostList(BaseModel):
    items: list[PostOut]
    total: int
    page: int
    limit: int


class AdCampaignIn(Strict):
    facebook_ad_id: str = Field(min_length=1, max_length=100, description="The platform's ad id.")
    campaign_name: str | None = Field(None, max_length=200, examples=["Winter jackets"])
    ad_content: str | None = Field(None, max_length=20000)
    target_audience: str | None = Field(None, max_length=20000)
    budget: str | None = Field(None, max_length=100, examples=["1000 EGP/day"])
    status: str = Field("active", max_length=50, examples=["active"])
    platform: str | None = Field(None, max_length=32)


class AdCampaignPatch(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"budget": "1500 EGP/day", "status": "paused"}]})
    campaign_name: str | None = Field(None, max_length=200)
    ad_content: str | None = Field(None, max_length=20000)
    target_audience: str | None = Field(None, max_length=20000)
    budget: str | None = Field(None, max_length=100)
    status: str | None = Field(None, max_length=50)
    platform: str | None = Field(None, max_length=32)


class AdCampaignOut(Out):
    id: uuid.UUID
    facebook_ad_id: str
    campaign_name: str | None
    ad_content: str | None
    target_audience: str | None
    budget: str | None
    status: str
    platform: str | None
    created_at: datetime


class AdCampaignList(BaseModel):
    items: list[AdCampaignOut]
    total: int
    page: int
    limit: int


class AttributionRow(Out):
    id: uuid.UUID
    external_id: str = Field(description="facebook_ad_id or facebook_post_id.")
    name: str | None = Field(description="The campaign name, or the start of the post's text.")
    platform: str | None
    leads: int = Field(description="Distinct customers with a message attributed to it in the range.")
    conversations: int
    messages: int
    orders: int
    revenue: Decimal = Field(description="Sum of those customers' order totals in the range.")


class AttributionReport(BaseModel):
    since: datetime
    until: datetime
    ads: list[AttributionRow]
    posts: list[AttributionRow]
