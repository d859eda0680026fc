"""Telegram webhook authentication: the ``secret_token`` given to setWebhook comes back in a header.

Telegram signs nothing; the shared secret in ``X-Telegram-Bot-Api-Secret-Token`` is the only proof that a
request comes from Telegram: it is compared in constant time and a missing one is a rejection, never a pass.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from souk.platforms.base import SignatureError

HEADER = "x-telegram-bot-api-secret-token"


def verify_secret_token(*, secrets: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    """Raise :class:`SignatureError` unless the header equals the channel's ``webhookSecret``."""
    expected = secrets.get("webhookSecret")
    if not expected:
        raise SignatureError("channel has no webhookSecret: run configure-webhook to create one")
    received = headers.get(HEADER)
    if not received:
        raise SignatureError("missing X-Telegram-Bot-Api-Secret-Token header")
    if not hmac.compare_digest(_bytes(received), _bytes(expected)):
        raise SignatureError("X-Telegram-Bot-Api-Secret-Token does not match the channel's webhook secret")


def _bytes(value: Any) -> bytes:
    # compare_digest refuses non-ASCII str; surrogatepass encodes any str without raising
    return str(value).encode("utf-8", "surrogatepass")
