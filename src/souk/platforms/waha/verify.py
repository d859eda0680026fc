"""WAHA webhook verification: ``X-Webhook-Hmac`` = hex HMAC-SHA512(key, raw body), required.

WAHA sends no API key with its webhooks, so the HMAC is the only proof of origin. Souk always sets
``config.webhooks[].hmac.key`` to the channel's ``webhookSecret`` when it registers the webhook, so a request
without the header is refused (seed 004 says "None (internal)"; see docs/platforms/waha.md). WAHA's
``X-Webhook-Timestamp`` is not covered by the HMAC and its retries may span hours, so there is no replay
window: de-duplication on the envelope and message ids handles replays.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from souk.platforms.base import SignatureError

HMAC_HEADER = "x-webhook-hmac"
ALGORITHM_HEADER = "x-webhook-hmac-algorithm"


def sign(key: str, body: bytes) -> str:
    """The value WAHA puts in ``X-Webhook-Hmac`` for ``body``."""
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest()


def verify(*, secrets: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> None:
    key = secrets.get("webhookSecret")
    if not key:
        raise SignatureError("channel has no webhookSecret: configure the webhook again to generate one", 401)
    algorithm = headers.get(ALGORITHM_HEADER)
    if algorithm is not None and algorithm.strip().lower() != "sha512":
        raise SignatureError(f"unsupported X-Webhook-Hmac-Algorithm {algorithm!r}: expected sha512", 401)
    given = headers.get(HMAC_HEADER)
    if not given:
        raise SignatureError("missing X-Webhook-Hmac header (the webhook must be registered with an HMAC key)", 401)
    if not hmac.compare_digest(given.strip().lower().encode(), sign(str(key), body).encode()):
        raise SignatureError("X-Webhook-Hmac does not match the body", 401)
