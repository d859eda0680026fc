"""The webhook secret token: Telegram's only proof of origin."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from souk.platforms.base import SignatureError
from souk.platforms.telegram import PLATFORM

SECRET = "s3cr3t-Token_generated-by-souk"
BODY = b'{"update_id": 1, "message": {}}'
NOW = datetime(2024, 11, 24, tzinfo=UTC)


def verify(headers: dict[str, str], secrets: dict[str, str] | None = None) -> None:
    secrets = {"botToken": "1:x", "webhookSecret": SECRET} if secrets is None else secrets
    PLATFORM.verify(config={}, secrets=secrets, headers=headers, body=BODY, now=NOW)


def test_matching_secret_token_passes() -> None:
    verify({"x-telegram-bot-api-secret-token": SECRET})


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"x-telegram-bot-api-secret-token": ""}, "missing"),
        ({"x-telegram-bot-api-secret-token": "wrong"}, "does not match"),
        ({"x-telegram-bot-api-secret-token": SECRET + "x"}, "does not match"),
        ({"x-telegram-bot-api-secret-token": "sécret"}, "does not match"),  # non-ASCII must not crash
    ],
)
def test_missing_or_wrong_token_is_rejected(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SignatureError, match=reason) as caught:
        verify(headers)
    assert caught.value.status == 401


def test_channel_without_a_webhook_secret_is_rejected() -> None:
    with pytest.raises(SignatureError, match="webhookSecret") as caught:
        verify({"x-telegram-bot-api-secret-token": SECRET}, secrets={"botToken": "1:x"})
    assert caught.value.status == 401
