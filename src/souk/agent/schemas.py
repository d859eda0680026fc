"""Request and response bodies of the agent API (seed 003's invoke contract)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class InvokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str = Field(
        min_length=1, max_length=255, description="Souk's customer id, or a platform id of one of its identities."
    )
    message: str = Field(max_length=20_000, description="What the customer wrote; at most 4,096 characters are read.")
    channel: str | None = Field(
        None, max_length=32, examples=["instagram"], description="The channel type the customer writes on."
    )
    thread_id: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Continue a thread (memory) an earlier answer returned; a new one starts when left out, and an "
        "id this tenant has no thread for is a 404.",
    )


class Citation(BaseModel):
    doc_id: str
    title: str
    snippet: str


class InvokeOut(BaseModel):
    reply: str
    agent_used: str = Field(examples=["sales", "support"])
    tools_called: list[dict[str, Any]]
    citations: list[Citation]
    handoff: bool
    thread_id: str
    response_time_ms: int
    intent: str
    provider: str = Field(description="offline, or openai; a fallback is named in fallback_reason.")
    handoff_reason: str | None = None
    fallback_reason: str | None = None
    conversation_id: uuid.UUID | None = None


class TurnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    message: str
    reply: str
    language: str
    agent_used: str
    intent: str
    provider: str
    tools_called: list[dict[str, Any]]
    citations: list[dict[str, Any]]
    handoff: bool
    handoff_reason: str | None
    fallback_reason: str | None
    response_time_ms: int
    source_message_id: uuid.UUID | None
    created_at: datetime


class ThreadOut(BaseModel):
    thread_id: str
    customer_id: uuid.UUID
    conversation_id: uuid.UUID | None
    channel: str | None
    language: str | None
    turns: list[TurnOut]


class HandoffIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "customer asked for a person"}]}
    )
    reason: str = Field("handed over by a person", min_length=1, max_length=200)


#: the AI agents a conversation can be handed to
AgentName = Literal["sales", "support"]


class AiAgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"agent": "sales"}]})
    agent: AgentName | None = Field(description="The AI agent to answer this conversation; null unassigns it.")


class AgentSettingsIn(BaseModel):
    """Fields left out keep their value; ``null`` clears one (back to its default)."""

    model_config = ConfigDict(extra="forbid")
    provider: Literal["offline", "openai"] | None = Field(
        None, description="`offline` answers from templates and tools; `openai` is any OpenAI-compatible server."
    )
    base_url: str | None = Field(None, max_length=500, examples=["https://api.openai.com/v1"])
    model: str | None = Field(None, max_length=200, examples=["gpt-4o-mini"])
    api_key: str | None = Field(None, max_length=2000, description="Write-only: stored encrypted, read back masked.")
    timeout_seconds: float | None = Field(None, gt=0, le=120)
    reply_budget: int | None = Field(None, ge=1, le=1000, description="Bot replies per conversation before handoff.")
    hours_mode: Literal["always", "outside_business_hours", "within_business_hours"] | None = None
    business_hours: str | None = Field(None, max_length=500, examples=["mon-fri 09:00-18:00; sat 10:00-14:00"])
    timezone: str | None = Field(None, max_length=64, examples=["Asia/Riyadh"])
    handoff_assignee: str | None = Field(
        None, max_length=320, description="Email of the person handed-over conversations go to."
    )
    instructions: str | None = Field(
        None, max_length=4000, description="The shop's own words for the model (tone, policies)."
    )


class AgentSettingsOut(BaseModel):
    provider: str
    base_url: str | None
    model: str | None
    api_key: str | None = Field(description="Masked; null when none is set.")
    timeout_seconds: float
    reply_budget: int
    hours_mode: str
    business_hours: str | None
    timezone: str
    handoff_assignee: str | None
    instructions: str | None
    languages: list[str] = Field(description="Languages the agent detects and answers in (read-only).")
    problems: list[dict[str, Any]] = Field(description="Settings that are wrong, named by field; empty when fine.")
