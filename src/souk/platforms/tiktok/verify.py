"""TikTok webhook signature: ``Tiktok-Signature: t=<unix s>,s=<hex HMAC-SHA256(appSecret, "<t>.<body>")>``.

The timestamp is inside the signed text, so checking it against the clock (``signatureToleranceSeconds``)
stops replays of an old, genuine delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from souk.platforms.base import SignatureError
from souk.platforms.tiktok.config import DEFAULT_SIGNATURE_TOLERANCE_SECONDS

HEADER = "tiktok-signature"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value TikTok sends for ``body`` at ``timestamp`` (also used by tests and fakes)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},s={digest}"


def verify_signature(
    *,
    config: Mapping[str, Any],
    secrets: Mapping[str, Any],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> None:
    secret = secrets.get("appSecret")
    if not secret:
        raise SignatureError("channel has no appSecret: set config key appSecret to verify TikTok webhooks")
    header = headers.get(HEADER)
    if not header:
        raise SignatureError("missing Tiktok-Signature header")
    parts = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        parts[name] = value
    timestamp, signature = parts.get("t", ""), parts.get("s", "")
    if not _TIMESTAMP.fullmatch(timestamp) or not _HEX_SHA256.fullmatch(signature):
        raise SignatureError("malformed Tiktok-Signature header: expected t=<unix seconds>,s=<hex sha256>")
    expected = sign(str(secret), int(timestamp), body).rpartition("=")[2]
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureError("Tiktok-Signature does not match the body")
    if abs(now.timestamp() - int(timestamp)) > _tolerance(config):
        raise SignatureError("stale Tiktok-Signature: its timestamp is outside signatureToleranceSeconds")


def _tolerance(config: Mapping[str, Any]) -> float:
    try:
        return float(config.get("signatureToleranceSeconds", DEFAULT_SIGNATURE_TOLERANCE_SECONDS))
    except (TypeError, ValueError):
        return DEFAULT_SIGNATURE_TOLERANCE_SECONDS
