"""History import routes (seed 004's ``import-history``): start, progress, cancel. One shape for every platform
whose API gives past messages (WAHA, Messenger, Instagram); the others answer 422 saying why."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client
from temporalio.service import RPCError

from souk.channels import service
from souk.core import audit
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import BadGateway, Unprocessable, field_error
from souk.core.schemas import Strict
from souk.workflows import history_import

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


class ImportHistoryIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"strategy": "recent", "limit": 100}]})
    strategy: Literal["none", "new_only", "all", "recent"] = Field(
        "new_only",
        description="none: nothing; new_only: since the last import (first time: since the channel was created); "
        f"recent: the last {history_import.RECENT_DAYS} days; all: everything the platform gives.",
    )
    limit: int = Field(100, ge=1, le=1000, description="Messages per batch.")


class ImportStarted(BaseModel):
    success: bool = True
    workflow_id: str = Field(examples=["messenger-import-0b9c…-1"])
    message: str


class ImportProgressOut(BaseModel):
    workflow_id: str
    state: str = Field(description="running, cancelling, completed, cancelled or failed")
    strategy: str
    chats_done: int = Field(description="Threads done: WAHA chats, Messenger/Instagram conversations.")
    chats_total: int | None
    messages_done: int = Field(description="Messages read from the platform so far.")
    messages_imported: int = Field(description="Of those, messages new to Souk (the rest were already stored).")
    messages_total: int | None = Field(description="Known once every thread is read (no platform gives a count).")
    errors: list[str]
    error_count: int
    started_at: str | None
    finished_at: str | None


async def _temporal(request: Request) -> Client:
    try:
        return await request.app.state.temporal.client()
    except (OSError, TimeoutError, RuntimeError, RPCError) as exc:
        raise BadGateway(f"Temporal unreachable: {exc}") from None


def _progress_out(progress: history_import.Progress) -> ImportProgressOut:
    return ImportProgressOut.model_validate(progress, from_attributes=True)


@router.post(
    "/{channel_id}/import-history",
    summary="Import the channel's message history in the background (a Temporal workflow)",
    description="WAHA chats, and Messenger or Instagram conversations (Graph Conversations API). Telegram, TikTok, "
    "Chotot and the WhatsApp Cloud API give no history: 422, their new messages arrive live.",
    status_code=202,
    response_model=ImportStarted,
    responses={
        409: {"description": "An import of this channel is running (its workflow_id is in the body)"},
        422: {"description": "The platform gives no message history"},
    },
)
async def import_history(
    channel_id: uuid.UUID, request: Request, body: ImportHistoryIn | None = None, ctx: Ctx = Depends(admin)
) -> ImportStarted:
    body = body or ImportHistoryIn()
    channel = await service.get_channel(ctx.session, channel_id)
    platform = service.platform_of(channel)
    if not platform.history_import:
        raise Unprocessable(
            platform.no_history_message(),
            errors=[field_error("channel_id", "history import is not available", "channel_type")],
        )
    client = await _temporal(request)
    workflow_id = await history_import.start_import(
        client, channel, body.strategy, body.limit, user_id=ctx.principal.user_id
    )
    audit.record(
        ctx,
        "channel.history_import_started",
        "channel",
        channel.id,
        after={"workflow_id": workflow_id, **body.model_dump()},
    )
    return ImportStarted(workflow_id=workflow_id, message="History import started in background")


@router.get(
    "/{channel_id}/import-history/{workflow_id}",
    summary="Progress of a history import",
    response_model=ImportProgressOut,
)
async def import_progress(
    channel_id: uuid.UUID, workflow_id: str, request: Request, ctx: Ctx = Depends(agent)
) -> ImportProgressOut:
    channel = await service.get_channel(ctx.session, channel_id)
    client = await _temporal(request)
    return _progress_out(await history_import.import_progress(client, channel, workflow_id))


@router.delete(
    "/{channel_id}/import-history/{workflow_id}",
    summary="Cancel a history import (what is imported stays)",
    response_model=ImportProgressOut,
)
async def cancel_import(
    channel_id: uuid.UUID, workflow_id: str, request: Request, ctx: Ctx = Depends(admin)
) -> ImportProgressOut:
    channel = await service.get_channel(ctx.session, channel_id)
    client = await _temporal(request)
    progress = await history_import.cancel_import(client, channel, workflow_id)
    audit.record(ctx, "channel.history_import_cancelled", "channel", channel.id, after={"workflow_id": workflow_id})
    return _progress_out(progress)
