"""WAHA webhook verification: HMAC-SHA512 of the raw body with the channel's webhookSecret, or, on a channel set to
``webhookVerification: api_key``, the X-Api-Key header WAHA adds through its customHeaders."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from souk.platforms.base import SignatureError
from souk.platforms.waha import PLATFORM

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2025, 3, 6, 8, 28, tzinfo=UTC)
KEY = "whsec-channel-secret"
BODY = (FIXTURES / "message_text.json").read_bytes()


def _sign(body: bytes, key: str = KEY) -> str:
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest()


def _verify(headers: dict[str, str], body: bytes = BODY, secrets: dict[str, str] | None = None) -> None:
    PLATFORM.verify(
        config={"baseURL": "http://waha", "sessionID": "default"},
        secrets={"webhookSecret": KEY} if secrets is None else secrets,
        headers=headers,
        body=body,
        now=NOW,
    )


def test_docs_test_vector_matches_our_hmac() -> None:
    vector = json.loads((FIXTURES / "hmac_test_vector.json").read_text())
    computed = _sign(vector["body"].encode(), vector["key"])
    # protocols.md shows it shortened as 208f8a55dde9…3fa89
    assert computed.startswith("208f8a55dde9") and computed.endswith("3fa89")
    assert computed == vector["hmac"]
    PLATFORM.verify(
        config={},
        secrets={"webhookSecret": vector["key"]},
        body=vector["body"].encode(),
        now=NOW,
        headers={"x-webhook-hmac": vector["hmac"], "x-webhook-hmac-algorithm": "sha512"},
    )


def test_valid_signature_passes() -> None:
    _verify({"x-webhook-hmac": _sign(BODY), "x-webhook-hmac-algorithm": "sha512"})


def test_valid_signature_without_algorithm_header_passes() -> None:
    _verify({"x-webhook-hmac": _sign(BODY)})


def test_upper_case_hex_is_accepted() -> None:
    _verify({"x-webhook-hmac": _sign(BODY).upper()})


def test_forged_signature_is_refused() -> None:
    with pytest.raises(SignatureError) as err:
        _verify({"x-webhook-hmac": _sign(BODY, "someone-else"), "x-webhook-hmac-algorithm": "sha512"})
    assert err.value.status == 401


def test_tampered_body_is_refused() -> None:
    with pytest.raises(SignatureError):
        _verify({"x-webhook-hmac": _sign(BODY)}, body=BODY.replace(b"blue", b"gold"))


def test_missing_signature_is_refused() -> None:
    with pytest.raises(SignatureError) as err:
        _verify({"x-webhook-request-id": "01jnpd", "x-webhook-timestamp": "1741249702485"})
    assert err.value.status == 401
    assert "X-Webhook-Hmac" in err.value.reason


def test_other_algorithm_is_refused() -> None:
    sha256 = hmac.new(KEY.encode(), BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError, match="sha512"):
        _verify({"x-webhook-hmac": sha256, "x-webhook-hmac-algorithm": "sha256"})


def test_missing_webhook_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="webhookSecret") as err:
        _verify({"x-webhook-hmac": _sign(BODY)}, secrets={})
    assert err.value.status == 401


def test_no_replay_window_applies() -> None:
    """WAHA's timestamp header is not signed and its retries span hours: an old delivery still verifies."""
    _verify({"x-webhook-hmac": _sign(BODY), "x-webhook-timestamp": "1000000000000"})


API_KEY = "waha-api-key"


def _verify_by_key(headers: dict[str, str], auth: dict[str, str] | None = None) -> None:
    PLATFORM.verify(
        config={"baseURL": "http://waha", "sessionID": "default", "webhookVerification": "api_key"},
        secrets={"webhookSecret": KEY, "auth": auth or {"type": "api_key", "apiKey": API_KEY}},
        headers=headers,
        body=BODY,
        now=NOW,
    )


def test_a_channel_verified_by_api_key_takes_the_header_instead_of_an_hmac() -> None:
    _verify_by_key({"x-api-key": API_KEY})
    _verify_by_key({"x-api-key": KEY}, auth={"type": "basic", "username": "u", "password": "p"})
    for headers, reason in [
        ({}, "missing X-Api-Key"),
        ({"x-api-key": "guess"}, "does not match"),
        ({"x-api-key": KEY}, "does not match"),  # with an API key, the webhook secret is not it
        ({"x-webhook-hmac": _sign(BODY)}, "missing X-Api-Key"),  # the channel's mode decides, not the request
    ]:
        with pytest.raises(SignatureError, match=reason):
            _verify_by_key(headers)


def test_an_hmac_channel_refuses_the_api_key_header() -> None:
    """No downgrade: a request cannot choose the weaker proof on a channel registered with an HMAC key."""
    with pytest.raises(SignatureError, match="missing X-Webhook-Hmac"):
        _verify({"x-api-key": KEY})


def test_platform_flags() -> None:
    assert (PLATFORM.channel_type, PLATFORM.has_handshake, PLATFORM.can_register_webhook, PLATFORM.needs_webhook) == (
        "waha",
        False,
        True,
        True,
    )
    assert PLATFORM.secret_fields == frozenset({"auth"})
