"""Seed 004's WAHA routes: activate with a QR code and refresh it. Bodies as the seed shows them. The history
import (WAHA and the other platforms) is in :mod:`souk.channels.history_api`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from souk.channels import service, waha
from souk.channels.models import ChannelStatus
from souk.core import audit
from souk.core.auth import Ctx, admin
from souk.core.schemas import Strict
from souk.db.types import utcnow
from souk.platforms.plugin import PlatformError

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


class ActivateWAHAIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"session_id": "default"}]})
    session_id: str | None = Field(
        None, min_length=1, max_length=100, description="WAHA session name; default: the channel's `sessionID`."
    )


class QRCodeOut(BaseModel):
    success: bool = True
    qr_code: str | None = Field(None, description="PNG data URI; null once the session is WORKING.")
    qr_code_expires_at: datetime | None
    qr_code_expires_in: int | None = Field(
        None,
        description="Seconds the QR code stays valid, counted by the server: a countdown that does not depend on the "
        "browser's clock.",
        examples=[60],
    )
    session_status: str
    message: str


def _qr_out(state: waha.QRState) -> QRCodeOut:
    expires = state.qr_code_expires_at
    return QRCodeOut(
        qr_code=state.qr_code,
        qr_code_expires_at=expires,
        qr_code_expires_in=max(0, round((expires - utcnow()).total_seconds())) if expires else None,
        session_status=state.session_status,
        message=state.message,
    )


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
