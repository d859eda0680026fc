"""Chotot has no webhooks: every webhook request is refused, and the plugin says why."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from souk.platforms.base import SignatureError
from souk.platforms.chotot import PLATFORM

BODY = (Path(__file__).parent / "fixtures" / "message_text.json").read_bytes()
CONFIG = {"baseURL": "https://partner.example", "partnerID": "p", "accountID": "1000001"}


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer chotot-test-key", "x-partner-id": "p"}])
def test_webhook_requests_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as err:
        PLATFORM.verify(
            config=CONFIG,
            secrets={"apiKey": "chotot-test-key", "webhookSecret": "w"},
            headers=headers,
            body=BODY,
            now=datetime.now(UTC),
        )
    assert err.value.status == 403
    assert err.value.reason == "chotot delivers through the broker, not webhooks"


def test_refused_even_without_secrets() -> None:
    with pytest.raises(SignatureError):
        PLATFORM.verify(config=CONFIG, secrets={}, headers={}, body=BODY, now=datetime.now(UTC))


def test_platform_flags() -> None:
    assert PLATFORM.channel_type == "chotot" and PLATFORM.vendor == "chotot"
    assert PLATFORM.requires_partner_credentials is True
    assert (PLATFORM.needs_webhook, PLATFORM.can_register_webhook, PLATFORM.has_handshake) == (False, False, False)
    assert PLATFORM.secret_fields == frozenset({"apiKey"})
