"""Meta webhook authentication: the ``X-Hub-Signature-256`` HMAC and the GET ``hub.*`` handshake.

The signature is HMAC-SHA256 of the raw body keyed with the *app* secret (one secret may cover many
channels), sent as ``sha256=<hex>``. Meta signs the bytes exactly as sent, so the check runs on the raw body
before any JSON parsing. The signature has no timestamp, so no replay window applies: de-duplication covers
retries.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from souk.platforms.base import HandshakeError, SignatureError

SIGNATURE_HEADER = "x-hub-signature-256"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value Meta would send for ``body``; used by the check and by tests that forge deliveries."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(*, secret: str | None, secret_key: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise :class:`SignatureError` unless ``headers`` carry a valid signature of ``body``.

    ``secret_key`` is the config key that holds the app secret, named in the error when it is not set so the
    operator knows what to configure.
    """
    if not secret:
        raise SignatureError(f"{secret_key} is not configured: set {secret_key} to verify Meta webhook signatures")
    received = headers.get(SIGNATURE_HEADER)
    if not received:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not received.startswith(_PREFIX):
        raise SignatureError(f"{SIGNATURE_HEADER} is not of the form sha256=<hex>")
    expected = sign(secret, body)
    if not hmac.compare_digest(received.strip().lower().encode(), expected.encode()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def verify_token(config: Mapping[str, Any], secrets: Mapping[str, Any]) -> str:
    """The token Meta must echo in the handshake: ``webhookToken`` when configured, else Souk's own secret.

    ``webhookToken`` is a secret field, so it normally arrives in ``secrets``; ``config`` is read too in case
    a caller passes the whole config in one dict.
    """
    token = secrets.get("webhookToken") or config.get("webhookToken") or secrets.get("webhookSecret")
    return str(token or "")


def handshake(*, config: Mapping[str, Any], secrets: Mapping[str, Any], query: Mapping[str, str]) -> str:
    """Answer Meta's GET ``?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``: the bare challenge."""
    expected = verify_token(config, secrets)
    if query.get("hub.mode") != "subscribe":
        raise HandshakeError("hub.mode is not 'subscribe'")
    received = query.get("hub.verify_token") or ""
    if not expected or not hmac.compare_digest(received.encode(), expected.encode()):
        raise HandshakeError("hub.verify_token does not match the channel's verify token")
    challenge = query.get("hub.challenge")
    if challenge is None:
        raise HandshakeError("hub.challenge is missing")
    return challenge
