"""WAHA webhook verification: ``X-Webhook-Hmac`` = hex HMAC-SHA512(key, raw body), or the API-key header.

By default (``webhookVerification: "hmac"``) Souk sets ``config.webhooks[].hmac.key`` to the channel's
``webhookSecret`` when it registers the webhook, and a request without a matching HMAC is refused. A channel whose
WAHA webhook has no HMAC key (``webhookVerification: "api_key"``) is proven by a static ``X-Api-Key`` header that
WAHA adds through ``customHeaders``: the channel's WAHA API key, or its webhook secret when WAHA is reached with
basic auth. The mode is the channel's, never the request's: a request cannot downgrade an HMAC channel
(docs/decisions/0026-waha-api-key-webhooks.md). WAHA's ``X-Webhook-Timestamp`` is not covered by the HMAC and its
retries may span hours, so there is no replay window: de-duplication on the envelope and message ids handles replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from souk.platforms.base import SignatureError

HMAC_HEADER = "x-webhook-hmac"
ALGORITHM_HEADER = "x-webhook-hmac-algorithm"
API_KEY_HEADER = "X-Api-Key"


def sign(key: str, body: bytes) -> str:
    """The value WAHA puts in ``X-Webhook-Hmac`` for ``body``."""
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest()


def api_key(secrets: Mapping[str, Any]) -> str | None:
    """The value WAHA must send in ``X-Api-Key`` for a channel verified by API key."""
    auth = secrets.get("auth") or {}
    if isinstance(auth, str):
        auth = json.loads(auth)
    if isinstance(auth, Mapping) and auth.get("type") == "api_key" and auth.get("apiKey"):
        return str(auth["apiKey"])
    key = secrets.get("webhookSecret")
    return str(key) if key else None


def verify(
    *, secrets: Mapping[str, Any], headers: Mapping[str, str], body: bytes, config: Mapping[str, Any] | None = None
) -> None:
    if (config or {}).get("webhookVerification") == "api_key":
        expected, given = api_key(secrets), headers.get(API_KEY_HEADER.lower())
        if not expected:
            raise SignatureError("channel has no WAHA API key nor webhook secret to check X-Api-Key against", 401)
        if not given:
            raise SignatureError("missing X-Api-Key header (WAHA's webhook customHeaders must carry it)", 401)
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise SignatureError("X-Api-Key does not match the channel's key", 401)
        return
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
