"""X-Hub-Signature-256 verification and the GET hub.* handshake of an Instagram channel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from souk.platforms.base import HandshakeError, SignatureError
from souk.platforms.instagram import PLATFORM
from souk.platforms.meta.verify import sign

APP_SECRET = "instagram-app-secret"
BODY = (Path(__file__).parent / "fixtures" / "text.json").read_bytes()
SECRETS = {"pageAccessToken": "EAAx", "appSecret": APP_SECRET, "webhookSecret": "souk-generated"}


def verify(headers: dict[str, str], secrets: dict[str, str] = SECRETS) -> None:
    PLATFORM.verify(
        config={"instagramAccountID": "17841405822304914"},
        secrets=secrets,
        headers=headers,
        body=BODY,
        now=datetime(2024, 8, 1, tzinfo=UTC),
    )


def test_valid_signature_passes() -> None:
    verify({"x-hub-signature-256": sign(APP_SECRET, BODY)})


def test_forged_signature_is_rejected() -> None:
    with pytest.raises(SignatureError):
        verify({"x-hub-signature-256": "sha256=" + "0" * 64})


def test_missing_signature_is_rejected() -> None:
    with pytest.raises(SignatureError):
        verify({"x-hub-signature-256": ""})


def test_missing_app_secret_names_the_config_key() -> None:
    """The seed's Instagram example has no appSecret: such a channel refuses webhooks until it is set."""
    with pytest.raises(SignatureError, match="appSecret"):
        verify({"x-hub-signature-256": sign(APP_SECRET, BODY)}, secrets={"pageAccessToken": "EAAx"})


def test_handshake() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "verify-token", "hub.challenge": "987"}
    assert PLATFORM.handshake(config={}, secrets={**SECRETS, "webhookToken": "verify-token"}, query=query) == "987"
    with pytest.raises(HandshakeError):
        PLATFORM.handshake(config={}, secrets=SECRETS, query=query)


def test_platform_attributes() -> None:
    assert (PLATFORM.channel_type, PLATFORM.display_name) == ("instagram", "Instagram Direct")
    assert (PLATFORM.has_handshake, PLATFORM.needs_webhook, PLATFORM.can_register_webhook) == (True, True, False)
    assert PLATFORM.secret_fields == {"pageAccessToken", "webhookToken", "appSecret"}


def test_config_accepts_the_seed_example() -> None:
    config = PLATFORM.config_model.model_validate(
        {"instagramAccountID": "123456789", "pageAccessToken": "EAAxxxxxxxxxxxxx", "webhookToken": "verify-token"}
    )
    assert (config.appSecret, config.pageID, config.apiVersion) == (None, None, "v21.0")


@pytest.mark.parametrize(
    "config",
    [
        {"pageAccessToken": "t"},
        {"instagramAccountID": "1"},
        {"instagramAccountID": "1", "pageAccessToken": "t", "accessToken": "t"},
    ],
)
def test_config_rejects_missing_and_unknown_keys(config: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        PLATFORM.config_model.model_validate(config)
