"""Sign and post platform webhooks to Souk exactly as each platform does, and wait for their processing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from souk.channels.models import Channel
from souk.messaging.models import InboundEvent, InboundStatus

FIXTURES = Path(__file__).resolve().parents[1] / "platforms"
FIXTURE_DIRS = {
    "whatsapp": "whatsapp_cloud",
    "messenger": "messenger",
    "instagram": "instagram",
    "telegram": "telegram",
    "waha": "waha",
    "tiktok": "tiktok",
    "chotot": "chotot",
}


def fixture(channel_type: str, name: str) -> bytes:
    return (FIXTURES / FIXTURE_DIRS[channel_type] / "fixtures" / f"{name}.json").read_bytes()


def fixture_names(channel_type: str) -> list[str]:
    folder = FIXTURES / FIXTURE_DIRS[channel_type] / "fixtures"
    return sorted(p.stem for p in folder.glob("*.json") if p.stem != "hmac_test_vector")


async def channel_secrets(app: FastAPI, channel_id: str | uuid.UUID) -> dict[str, Any]:
    async with app.state.db.system_session() as s:
        ch = await s.get(Channel, uuid.UUID(str(channel_id)))
        assert ch is not None
        return dict(ch.secrets)


def sign(channel_type: str, body: bytes, secrets: dict[str, Any]) -> dict[str, str]:
    if channel_type in ("whatsapp", "messenger", "instagram"):
        sig = hmac.new(secrets["appSecret"].encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={sig}", "Content-Type": "application/json"}
    if channel_type == "telegram":
        return {"X-Telegram-Bot-Api-Secret-Token": secrets["webhookSecret"], "Content-Type": "application/json"}
    if channel_type == "waha":
        sig = hmac.new(secrets["webhookSecret"].encode(), body, hashlib.sha512).hexdigest()
        return {
            "X-Webhook-Hmac": sig,
            "X-Webhook-Hmac-Algorithm": "sha512",
            "Content-Type": "application/json",
            "X-Webhook-Request-Id": uuid.uuid4().hex,
            "X-Webhook-Timestamp": str(int(time.time() * 1000)),
        }
    if channel_type == "tiktok":
        t = str(int(time.time()))
        sig = hmac.new(secrets["appSecret"].encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return {"Tiktok-Signature": f"t={t},s={sig}", "Content-Type": "application/json"}
    raise ValueError(channel_type)


async def post(
    client: httpx.AsyncClient,
    app: FastAPI,
    channel: dict[str, Any],
    body: bytes | dict | list,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    secrets = await channel_secrets(app, channel["id"])
    hdrs = sign(channel["channel_type"], raw, secrets) if headers is None else headers
    return await client.post(f"/webhooks/{channel['channel_type']}/{channel['id']}", content=raw, headers=hdrs)


async def wait_idle(app: FastAPI, *, timeout: float = 60.0) -> None:
    """Until no delivery is left ``received`` (the in-process worker drained the queue). Returns as soon as it has;
    the bound is generous because the whole suite shares two cores."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with app.state.db.system_read_session() as s:
            waiting = await s.scalar(
                select(func.count()).select_from(InboundEvent).where(InboundEvent.status == InboundStatus.received)
            )
        if not waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{waiting} inbound events still waiting after {timeout}s")
