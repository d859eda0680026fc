"""WAHA sessions (seed 004): activation with a QR code, QR refresh, the QR validity rules and the session check.

The channel's config keeps the session state the seed lists (``sessionID``, ``qrCode``, ``qrCodeExpiresAt``,
``sessionStatus``, ``webhookURL``). Status changes come from WAHA's ``session.status`` webhooks
(:func:`souk.messaging.ingest.apply_session_status`) and, for a webhook that never arrives, from
:func:`check_session`, which applies the very same mapping.
"""

from __future__ import annotations

import asyncio
import base64
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.channels.models import TRANSITIONS, Channel, ChannelStatus, ChannelType
from souk.channels.service import (
    WEBHOOK_SECRET,
    check_transition,
    client_for,
    event_payload,
    webhook_url_for,
)
from souk.core import events
from souk.core.errors import Unprocessable
from souk.core.observability import log
from souk.db.engine import Database
from souk.db.types import utcnow
from souk.messaging.ingest import SESSION_TO_CHANNEL, apply_session_status, session_error
from souk.platforms.base import SessionStatus
from souk.platforms.plugin import PlatformError
from souk.platforms.waha.client import WAHAClient
from souk.worker import WorkerContext, register

#: a WhatsApp login QR code is good for about a minute (seed 004)
QR_TTL = timedelta(seconds=60)
#: WAHA needs a moment after start before the QR exists (STARTING → SCAN_QR_CODE)
QR_WAIT_SECONDS = 15.0
#: how often the worker asks WAHA for each session's status (webhooks can be lost)
SESSION_CHECK_SECONDS = 30.0
SCAN_MESSAGE = "Scan QR code with WhatsApp mobile app"
#: the channel statuses the periodic check covers: all but ``inactive`` (switched off by a person)
CHECKED = (ChannelStatus.connecting, ChannelStatus.active, ChannelStatus.error, ChannelStatus.disconnected)


@dataclass
class QRState:
    """What activation and refresh answer (seed 004's activate-waha body)."""

    qr_code: str | None
    qr_code_expires_at: datetime | None
    session_status: str
    message: str


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def is_qr_code_valid(config: dict[str, Any], now: datetime | None = None) -> bool:
    """Seed's ``IsWAHAQRCodeValid``: a QR code is stored and its 60 s have not run out."""
    expires = _parse_time(config.get("qrCodeExpiresAt"))
    return bool(config.get("qrCode")) and expires is not None and (now or utcnow()) < expires


def needs_new_qr_code(config: dict[str, Any], now: datetime | None = None) -> bool:
    """Seed's ``NeedsNewQRCode``: the session waits for a scan and the QR shown is gone or expired."""
    waiting = config.get("sessionStatus") in ("SCAN_QR_CODE", "STARTING", None)
    return waiting and not is_qr_code_valid(config, now)


def require_waha(channel: Channel) -> None:
    if channel.channel_type != ChannelType.waha:
        raise Unprocessable(
            f"only WAHA channels have a WAHA session; this one is {channel.channel_type}",
            errors=[{"field": "channel_id", "message": "not a WAHA channel", "type": "channel_type"}],
        )


def waha_client(channel: Channel, http: httpx.AsyncClient) -> WAHAClient:
    client = client_for(channel, http)
    assert isinstance(client, WAHAClient)
    return client


async def _qr_when_ready(client: WAHAClient) -> tuple[str | None, str]:
    """``(QR data URI or None, session status)``, waiting while WAHA is still STARTING."""
    deadline = asyncio.get_running_loop().time() + QR_WAIT_SECONDS
    while True:
        status = await client.session_status()
        if status == "SCAN_QR_CODE":
            try:
                return await client.get_qr(), status
            except PlatformError as exc:
                if exc.status != 422:  # 422: the QR rotated away between the two calls; ask again
                    raise
        elif status != "STARTING" or asyncio.get_running_loop().time() > deadline:
            return None, status
        await asyncio.sleep(0.5)


async def qr_value(client: WAHAClient) -> str:
    """The text a QR code encodes (WAHA's ``format=raw``), to draw it in a terminal."""
    data = await client._json("GET", f"/api/{client._s}/auth/qr", params={"format": "raw"})
    return str((data or {}).get("value") or "")


def _store(session: AsyncSession, channel: Channel, qr: str | None, status: str) -> QRState:
    """Remember the QR code and the session status on the channel and move the channel to match."""
    config = dict(channel.config or {})
    expires = utcnow() + QR_TTL if qr else None
    if qr:
        config["qrCode"], config["qrCodeExpiresAt"] = qr, expires.isoformat() if expires else None
    else:
        config.pop("qrCode", None)
        config.pop("qrCodeExpiresAt", None)
    config["sessionStatus"] = status
    channel.config = config
    # as a session.status webhook would: a session WAHA says FAILED or STOPPED is not "connecting"
    target = SESSION_TO_CHANNEL.get(status, ChannelStatus.connecting)
    if target == ChannelStatus.error:
        channel.last_error, channel.last_error_at = session_error(status), utcnow()
    if channel.status != target and target not in TRANSITIONS[ChannelStatus(channel.status)]:
        check_transition(channel, ChannelStatus.connecting)  # a switched-off channel is switched on first
        channel.status = ChannelStatus.connecting
    if channel.status != target:
        check_transition(channel, ChannelStatus(target))
        channel.status = target
    channel.updated_at = utcnow()
    message = SCAN_MESSAGE if qr else f"WAHA session is {status}"
    if status == "WORKING":
        message = "WhatsApp is already connected"
    events.emit(session, channel.tenant_id, "channel.updated", {**event_payload(channel), "session_status": status})
    return QRState(qr, expires, status, message)


async def activate(
    session: AsyncSession, channel: Channel, http: httpx.AsyncClient, base_url: str, session_id: str | None
) -> QRState:
    """Seed's ``ActivateWAHAChannelCommand``: start the session with Souk's webhook and fetch its QR code.

    Raises :class:`PlatformError` when WAHA is unreachable or refuses (the caller records it on the channel).
    """
    require_waha(channel)
    if session_id:
        channel.config = {**(channel.config or {}), "sessionID": session_id}
    client = waha_client(channel, http)
    url = webhook_url_for(base_url, channel)
    metadata = {"souk.channel_id": str(channel.id), "souk.tenant_id": str(channel.tenant_id)}
    await client.create_or_start_session(url, channel.secrets[WEBHOOK_SECRET], metadata)
    channel.webhook_url, channel.webhook_configured_at, channel.webhook_active = url, utcnow(), True
    channel.config = {**channel.config, "webhookURL": url}
    qr, status = await _qr_when_ready(client)
    return _store(session, channel, qr, status)


async def refresh_qr(session: AsyncSession, channel: Channel, http: httpx.AsyncClient) -> QRState:
    """Seed's ``RefreshWAHASessionCommand``: a fresh QR code; a stopped or failed session is started again."""
    require_waha(channel)
    client = waha_client(channel, http)
    status = await client.session_status()
    if status in ("STOPPED", "FAILED"):
        await client.restart_session()
    qr, status = await _qr_when_ready(client)
    return _store(session, channel, qr, status)


async def check_session(session: AsyncSession, channel: Channel, http: httpx.AsyncClient) -> str | None:
    """Ask WAHA for the session status and apply it as a ``session.status`` webhook would; None if unreachable.

    A session WAHA no longer knows (404) counts as STOPPED.
    """
    try:
        status = await waha_client(channel, http).session_status()
    except PlatformError as exc:
        if exc.status != 404:
            return None
        status = "STOPPED"
    if status and status != (channel.config or {}).get("sessionStatus"):
        await apply_session_status(session, channel, SessionStatus(key="", timestamp=utcnow(), raw={}, status=status))
    if status == "SCAN_QR_CODE" and not is_qr_code_valid(channel.config or {}):
        await _refetch_qr(channel, http)
    return status


async def _refetch_qr(channel: Channel, http: httpx.AsyncClient) -> None:
    """Store the session's current QR code in place of one that rotated away or expired."""
    try:
        qr = await waha_client(channel, http).get_qr()
    except PlatformError:
        return  # rotated again between the calls, or WAHA is busy: the next check tries again
    expires = utcnow() + QR_TTL
    channel.config = {**(channel.config or {}), "qrCode": qr, "qrCodeExpiresAt": expires.isoformat()}
    channel.updated_at = utcnow()


def qr_png(data_uri: str) -> bytes:
    """The PNG bytes of a ``data:image/png;base64,…`` URI."""
    return base64.b64decode(data_uri.split(",", 1)[1])


async def check_all_sessions(db: Database, http: httpx.AsyncClient) -> int:
    """One pass of the periodic check over WAHA channels not switched off (connecting, active, and error or
    disconnected, so those recover when their session works again); returns how many changed status."""
    async with db.system_session() as session:
        rows = (
            await session.execute(
                select(Channel.id, Channel.tenant_id).where(
                    Channel.channel_type == ChannelType.waha,
                    Channel.status.in_(CHECKED),
                    Channel.deleted_at.is_(None),
                )
            )
        ).all()
    changed = 0
    for channel_id, tenant_id in rows:
        async with db.tenant_session(tenant_id) as session:
            channel = await session.get(Channel, channel_id)
            if channel is None:
                continue
            before = (channel.status, (channel.config or {}).get("sessionStatus"))
            await check_session(session, channel, http)
            changed += before != (channel.status, (channel.config or {}).get("sessionStatus"))
    return changed


@register("waha-sessions")
async def run_session_check(ctx: WorkerContext) -> None:
    """Every :data:`SESSION_CHECK_SECONDS`, WAHA's view of each session wins over a ``session.status`` webhook lost."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as http:
        while not ctx.stopping.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(ctx.stopping.wait(), SESSION_CHECK_SECONDS)
            if ctx.stopping.is_set():
                return
            try:
                await check_all_sessions(ctx.db, http)
            except Exception:  # a broken database or WAHA must not stop the next check
                log.exception("WAHA session check failed")
