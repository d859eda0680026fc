"""X-Hub-Signature-256 verification and the GET hub.* handshake of a Messenger channel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from souk.platforms.base import HandshakeError, SignatureError
from souk.platforms.messenger import PLATFORM
from souk.platforms.meta.verify import sign

APP_SECRET = "app-secret-key"
BODY = (Path(__file__).parent / "fixtures" / "text.json").read_bytes()
SECRETS = {"pageAccessToken": "EAAx", "appSecret": APP_SECRET, "webhookSecret": "souk-generated"}


def verify(headers: dict[str, str], secrets: dict[str, str] = SECRETS, body: bytes = BODY) -> None:
    PLATFORM.verify(
        config={"pageID": "1067280970047460"},
        secrets=secrets,
        headers=headers,
        body=body,
        now=datetime(2024, 8, 1, tzinfo=UTC),
    )


def test_valid_signature_passes() -> None:
    verify({"x-hub-signature-256": sign(APP_SECRET, BODY), "x-hub-signature": "sha1=ignored"})


def test_uppercase_hex_is_accepted() -> None:
    verify({"x-hub-signature-256": "sha256=" + sign(APP_SECRET, BODY).removeprefix("sha256=").upper()})


def test_forged_signature_is_rejected() -> None:
    with pytest.raises(SignatureError):
        verify({"x-hub-signature-256": sign("another-apps-secret", BODY)})


def test_missing_signature_is_rejected() -> None:
    with pytest.raises(SignatureError):
        verify({})


def test_missing_app_secret_names_the_config_key() -> None:
    with pytest.raises(SignatureError, match="appSecret"):
        verify({"x-hub-signature-256": sign(APP_SECRET, BODY)}, secrets={"pageAccessToken": "EAAx"})


def test_handshake_with_the_configured_verify_token() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "verify-token", "hub.challenge": "CHALLENGE_ACCEPTED"}
    assert (
        PLATFORM.handshake(config={}, secrets={**SECRETS, "webhookToken": "verify-token"}, query=query)
        == "CHALLENGE_ACCEPTED"
    )


def test_handshake_with_a_configured_token_refuses_the_generated_secret() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "souk-generated", "hub.challenge": "1"}
    with pytest.raises(HandshakeError):
        PLATFORM.handshake(config={}, secrets={**SECRETS, "webhookToken": "verify-token"}, query=query)


def test_platform_attributes() -> None:
    assert (PLATFORM.channel_type, PLATFORM.display_name) == ("messenger", "Facebook Messenger")
    assert (PLATFORM.has_handshake, PLATFORM.needs_webhook, PLATFORM.can_register_webhook) == (True, True, False)
    assert PLATFORM.secret_fields == {"pageAccessToken", "appSecret", "webhookToken"}


def test_config_accepts_the_seed_example() -> None:
    config = PLATFORM.config_model.model_validate(
        {
            "pageID": "123456789012345",
            "pageAccessToken": "EAAx",
            "appSecret": "app-secret-key",
            "webhookToken": "verify-token",
        }
    )
    assert (config.apiVersion, config.graphBaseURL, config.appID) == ("v21.0", "https://graph.facebook.com", None)


@pytest.mark.parametrize(
    "config",
    [
        {"pageID": "1", "pageAccessToken": "t"},  # appSecret is required for Messenger
        {"pageAccessToken": "t", "appSecret": "s"},
        {"pageID": "1", "pageAccessToken": "t", "appSecret": "s", "pageId": "typo"},
    ],
)
def test_config_rejects_missing_and_unknown_keys(config: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        PLATFORM.config_model.model_validate(config)
