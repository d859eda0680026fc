"""Response shapes of the read/replay API: conversations, messages (seed 001's field names), customers and inbound
events. Everything here is output; the API takes only query parameters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class MediaOut(BaseModel):
    id: uuid.UUID
    type: str = Field(description="image, video, audio, voice, document, sticker…", examples=["image"])
    mime: str | None
    size: int | None = Field(description="Bytes, when the platform or the download told us.")
    caption: str | None
    filename: str | None
    platform_media_id: str | None = Field(description="The platform's id for the file (WhatsApp media id, file_id…).")
    status: str = Field(description="pending (not fetched yet), stored, or failed.")
    error: str | None = Field(description="Why the last download failed, when it did.")
    url: str | None = Field(description="Where an authorized user downloads the bytes; set once they are stored.")


class MessageOut(BaseModel):
    """A message with seed 001's fields spelled as the seed spells them, plus threading, reactions and edits."""

    id: uuid.UUID
    external_id: str | None = Field(description="The platform's message id (unique per channel).")
    channel_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    sender_id: str
    recipient_id: str | None
    message_text: str | None
    direction: str = Field(examples=["inbound"])
    status: str = Field(examples=["delivered"])
    timestamp: datetime
    message_type: str = Field(examples=["text"])
    message_metadata: dict[str, Any]
    platform: str = Field(examples=["whatsapp"])
    message_source: str = Field(examples=["direct_message"])
    post_id: uuid.UUID | None
    post_type: str | None
    ad_id: uuid.UUID | None
    comment_id: str | None
    referral_source: str | None
    reply_to: str | None = Field(description="External id of the message this one answers.")
    reactions: list[dict[str, Any]]
    edited_at: datetime | None
    edit_history: list[dict[str, Any]] = Field(description="Earlier texts, oldest first.")
    deleted_at: datetime | None = Field(description="Set when the sender deleted it; the content is kept for audit.")
    sent_by: str = Field(examples=["customer"])
    status_at: datetime | None
    error_code: str | None
    error_message: str | None
    inbound_event_id: uuid.UUID | None = Field(description="The delivery this message was stored from.")
    media: list[MediaOut]


class MessageCursorPage(BaseModel):
    items: list[MessageOut] = Field(description="Oldest first, whichever way the page was read.")
    next_cursor: str | None = Field(
        description="Pass as `after` (when reading forward) or `before` (when reading back) for the next page; "
        "null when there is nothing further that way."
    )
    limit: int


class MessageList(BaseModel):
    items: list[MessageOut]
    total: int
    page: int
    limit: int


class ChannelSummary(Out):
    id: uuid.UUID
    channel_type: str
    name: str


class CustomerSummary(Out):
    id: uuid.UUID
    display_name: str | None
    first_name: str | None
    last_name: str | None
    phone_number: str | None
    platform: str
    profile_pic: str | None


class ReplyWindow(BaseModel):
    """The platform's customer-initiated messaging window, as it stands when the conversation is read."""

    kind: str = Field(
        description="whatsapp_customer_service (WhatsApp), standard_messaging (Messenger, Instagram) or tiktok.",
        examples=["whatsapp_customer_service"],
    )
    hours: int = Field(description="How long the window stays open after the customer's last message.")
    open: bool = Field(description="Whether any message may be sent now.")
    closes_at: datetime | None = Field(description="When it closes (or closed); null when the customer never wrote.")
    when_closed: str = Field(
        description="What can still be sent once it is closed: `template` (an approved WhatsApp template), "
        "`human_agent_tag` (Messenger/Instagram, tag HUMAN_AGENT up to 7 days) or `nothing`.",
        examples=["template"],
    )


class ConversationOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    customer_id: uuid.UUID
    identity_id: uuid.UUID | None
    external_thread_id: str = Field(description="The platform's chat or thread the conversation lives in.")
    thread_id: str | None
    status: str = Field(examples=["open"])
    is_active: bool
    started_at: datetime
    last_activity: datetime
    last_inbound_at: datetime | None
    message_count: int
    agent_used: str | None
    response_time_ms: int | None
    group: dict[str, Any] | None = Field(description="Group or forum details when the thread is not one-to-one.")
    assignee_id: uuid.UUID | None = Field(description="The person answering this conversation, if any.")
    ai_agent: str | None = Field(
        description="The AI agent assigned to this conversation (channels with ai_agents_enabled)."
    )
    handoff_at: datetime | None = Field(
        description="When the bot handed over to a person; it stays silent until released."
    )
    handoff_reason: str | None
    pipeline_id: uuid.UUID | None = Field(None, description="The pipeline the conversation was routed to.")
    stage_id: uuid.UUID | None = Field(None, description="Its stage in that pipeline.")
    team_id: uuid.UUID | None = Field(None, description="The team it belongs to, if any.")
    snoozed_until: datetime | None = Field(None, description="When a snoozed conversation reopens by itself.")
    resolved_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    channel: ChannelSummary | None
    customer: CustomerSummary | None
    reply_window: ReplyWindow | None = Field(
        None, description="The platform's messaging window; null where the platform has none (Telegram, WAHA…)."
    )


class ConversationCounts(BaseModel):
    messages: int
    inbound: int
    outbound: int
    media: int


class ConversationDetail(ConversationOut):
    counts: ConversationCounts


class ConversationList(BaseModel):
    items: list[ConversationOut]
    total: int
    page: int
    limit: int


class IdentityOut(BaseModel):
    id: uuid.UUID
    platform: str
    external_id: str
    channel_id: uuid.UUID
    channel: ChannelSummary | None
    display_name: str | None
    username: str | None
    phone: str | None
    profile_pic: str | None
    created_at: datetime


class CustomerOut(Out):
    """Seed 001's lead fields as the customer model keeps them, the identities and the latest conversations."""

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
    updated_at: datetime
    last_message_at: datetime | None
    is_active: bool
    lead_stage: str
    customer_label: str | None
    customer_type: str | None
    lead_score: int
    last_stage_change: datetime
    merged_into_id: uuid.UUID | None
    identities: list[IdentityOut] = Field(default_factory=list)
    conversation_count: int = 0
    recent_conversations: list[ConversationOut] = Field(default_factory=list, description="Newest activity first.")


class InboundEventOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    channel_type: str
    event_key: str = Field(description="The platform's key for the delivery; unique per channel.")
    source: str = Field(examples=["webhook"])
    status: str = Field(examples=["failed"], description="received, processed, failed or ignored.")
    error: str | None = Field(description="Why processing failed or the event was ignored.")
    attempts: int
    received_at: datetime
    processed_at: datetime | None
    headers: dict[str, Any] = Field(description="The request headers kept for audit; secret ones masked.")
    body_size: int
    body: str | None = Field(None, description="The raw body as text; only with include_body=true (admins).")


class InboundEventDetail(InboundEventOut):
    message_ids: list[uuid.UUID] = Field(description="Messages stored from this delivery.")


class InboundEventList(BaseModel):
    items: list[InboundEventOut]
    total: int
    page: int
    limit: int


class TypingIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"typing": True}]})
    typing: bool = Field(True, description="true while the person types; false when they stop, send or leave.")
