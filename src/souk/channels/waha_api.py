"""Seed 004's WAHA routes: activate with a QR code, refresh the QR code, and the history import (start, progress,
cancel). Bodies as the seed shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.service import RPCError

from souk.channels import service, waha
from souk.channels.models import ChannelStatus
from souk.core import audit
from souk.core.auth import Ctx, admin, agent
from souk.core.errors import BadGateway, Unprocessable, field_error
from souk.core.schemas import Strict
from souk.platforms.plugin import PlatformError
from souk.workflows import waha_import

#: why a platform's history cannot be imported, said in the answer
NO_HISTORY = {
    "telegram": "Telegram's Bot API gives no message history: only messages sent after the bot joined arrive.",
    "messenger": "History import for Messenger (Graph conversations API) is not available yet.",
    "instagram": "History import for Instagram (Graph conversations API) is not available yet.",
}

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


class ActivateWAHAIn(Strict):
    session_id: str | None = Field(
        None, min_length=1, max_length=100, description="WAHA session name; default: the channel's `sessionID`."
    )


class QRCodeOut(BaseModel):
    success: bool = True
    qr_code: str | None = Field(None, description="PNG data URI; null once the session is WORKING.")
    qr_code_expires_at: datetime | None
    session_status: str
    message: str


class ImportHistoryIn(Strict):
    strategy: Literal["none", "new_only", "all", "recent"] = Field(
        "new_only",
        description="none: nothing; new_only: since the last import (first time: since the channel was created); "
        f"recent: the last {waha_import.RECENT_DAYS} days; all: everything WAHA has.",
    )
    limit: int = Field(100, ge=1, le=1000, description="Messages per batch.")


class ImportStarted(BaseModel):
    success: bool = True
    workflow_id: str
    message: str


class ImportProgressOut(BaseModel):
    workflow_id: str
    state: str = Field(description="running, cancelling, completed, cancelled or failed")
    strategy: str
    chats_done: int
    chats_total: int | None
    messages_done: int = Field(description="Messages read from WAHA so far.")
    messages_imported: int = Field(description="Of those, messages new to Souk (the rest were already stored).")
    messages_total: int | None = Field(description="Known once every chat is read (WAHA gives no count).")
    errors: list[str]
    error_count: int
    started_at: str | None
    finished_at: str | None


def _qr_out(state: waha.QRState) -> QRCodeOut:
    return QRCodeOut(
        qr_code=state.qr_code,
        qr_code_expires_at=state.qr_code_expires_at,
        session_status=state.session_status,
        message=state.message,
    )


async def _temporal(request: Request) -> Client:
    try:
        return await request.app.state.temporal.client()
    except (OSError, TimeoutError, RuntimeError, RPCError) as exc:
        raise BadGateway(f"Temporal unreachable: {exc}") from None


def _progress_out(progress: waha_import.Progress) -> ImportProgressOut:
    return ImportProgressOut.model_validate(progress, from_attributes=True)


async def _qr_call(ctx: Ctx, request: Request, channel_id: uuid.UUID, action: str, body: Any) -> Any:
    """Activation and refresh share their failure handling: WAHA's error is kept on the channel, which goes to
    ``error``, and answered as a 502 (the error state commits with it)."""
    channel = await service.get_channel(ctx.session, channel_id)
    waha.require_waha(channel)
    request.app.state.channel_cache.forget(channel.id)
    http: httpx.AsyncClient = request.app.state.http
    try:
        if action == "activate":
            state = await waha.activate(
                ctx.session, channel, http, request.app.state.settings.base_url, body.session_id if body else None
            )
        else:
            state = await waha.refresh_qr(ctx.session, channel, http)
    except (PlatformError, httpx.HTTPError) as exc:
        service.note_error(channel, str(exc), to_status=ChannelStatus.error)
        return service.platform_failure(exc, "WAHA").response()
    audit.record(ctx, f"channel.waha_{action}", "channel", channel.id, after={"session_status": state.session_status})
    return _qr_out(state)


@router.post(
    "/{channel_id}/activate-waha",
    summary="Start the WAHA session and get the QR code to scan",
    response_model=QRCodeOut,
    responses={422: {"description": "Not a WAHA channel"}, 502: {"description": "WAHA unreachable or refused"}},
)
async def activate_waha(
    channel_id: uuid.UUID, request: Request, body: ActivateWAHAIn | None = None, ctx: Ctx = Depends(admin)
) -> Any:
    return await _qr_call(ctx, request, channel_id, "activate", body)


@router.post(
    "/{channel_id}/refresh-qr",
    summary="A fresh QR code (restarts a stopped or failed session)",
    response_model=QRCodeOut,
    responses={422: {"description": "Not a WAHA channel"}, 502: {"description": "WAHA unreachable or refused"}},
)
async def refresh_qr(channel_id: uuid.UUID, request: Request, ctx: Ctx = Depends(admin)) -> Any:
    return await _qr_call(ctx, request, channel_id, "refresh", None)


@router.post(
    "/{channel_id}/import-history",
    summary="Import the WAHA chat history in the background (a Temporal workflow)",
    status_code=202,
    response_model=ImportStarted,
    responses={409: {"description": "An import of this channel is running (its workflow_id is in the body)"}},
)
async def import_history(
    channel_id: uuid.UUID, request: Request, body: ImportHistoryIn | None = None, ctx: Ctx = Depends(admin)
) -> ImportStarted:
    body = body or ImportHistoryIn()
    channel = await service.get_channel(ctx.session, channel_id)
    if channel.channel_type in NO_HISTORY:
        raise Unprocessable(
            NO_HISTORY[channel.channel_type],
            errors=[field_error("channel_id", "history import is not available", "channel_type")],
        )
    waha.require_waha(channel)
    client = await _temporal(request)
    workflow_id = await waha_import.start_import(
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
    return _progress_out(await waha_import.import_progress(client, channel, workflow_id))


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
    progress = await waha_import.cancel_import(client, channel, workflow_id)
    audit.record(ctx, "channel.history_import_cancelled", "channel", channel.id, after={"workflow_id": workflow_id})
    return _progress_out(progress)
