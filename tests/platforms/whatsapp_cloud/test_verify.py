"""X-Hub-Signature-256 verification and the GET hub.* handshake of a WhatsApp Cloud API channel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from souk.platforms.base import HandshakeError, SignatureError
from souk.platforms.meta.verify import sign
from souk.platforms.whatsapp_cloud import PLATFORM

APP_SECRET = "6f1c0e8a2b7d4c39a5e0f1b2c3d4e5f6"
BODY = (Path(__file__).parent / "fixtures" / "text.json").read_bytes()
NOW = datetime(2024, 8, 1, tzinfo=UTC)
SECRETS = {"accessToken": "EAAG", "appSecret": APP_SECRET, "webhookSecret": "souk-generated"}


def verify(headers: dict[str, str], secrets: dict[str, str] = SECRETS, body: bytes = BODY) -> None:
    PLATFORM.verify(config={"phoneNumberID": "106540352242922"}, secrets=secrets, headers=headers, body=body, now=NOW)


def test_valid_signature_passes() -> None:
    verify({"x-hub-signature-256": sign(APP_SECRET, BODY)})


def test_signature_is_over_the_raw_bytes_with_escaped_unicode() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[],"t":"\\u00e9"}'
    verify({"x-hub-signature-256": sign(APP_SECRET, body)}, body=body)
    with pytest.raises(SignatureError):
        verify(
            {"x-hub-signature-256": sign(APP_SECRET, body)},
            body='{"object":"whatsapp_business_account","entry":[],"t":"é"}'.encode(),
        )


def test_forged_signature_is_rejected() -> None:
    with pytest.raises(SignatureError) as caught:
        verify({"x-hub-signature-256": sign("not-the-app-secret", BODY)})
    assert caught.value.status == 401


def test_tampered_body_is_rejected() -> None:
    with pytest.raises(SignatureError):
        verify({"x-hub-signature-256": sign(APP_SECRET, BODY)}, body=BODY.replace(b"Kerry", b"Kelly"))


def test_missing_signature_is_rejected() -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify({"x-hub-signature": "sha1=0000"})


def test_signature_without_sha256_prefix_is_rejected() -> None:
    with pytest.raises(SignatureError):
        verify({"x-hub-signature-256": sign(APP_SECRET, BODY).removeprefix("sha256=")})


def test_missing_app_secret_names_the_config_key() -> None:
    with pytest.raises(SignatureError, match="appSecret") as caught:
        verify({"x-hub-signature-256": sign(APP_SECRET, BODY)}, secrets={"accessToken": "EAAG"})
    assert caught.value.status == 401


def test_handshake_answers_the_challenge_with_the_configured_verify_token() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "random-secret-token", "hub.challenge": "1158201444"}
    secrets = {**SECRETS, "webhookToken": "random-secret-token"}
    assert PLATFORM.handshake(config={}, secrets=secrets, query=query) == "1158201444"


def test_handshake_falls_back_to_the_generated_webhook_secret() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "souk-generated", "hub.challenge": "42"}
    assert PLATFORM.handshake(config={}, secrets=SECRETS, query=query) == "42"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "souk-generated", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "souk-generated"},
    ],
)
def test_handshake_refusals(query: dict[str, str]) -> None:
    with pytest.raises(HandshakeError):
        PLATFORM.handshake(config={}, secrets=SECRETS, query=query)


def test_handshake_refused_when_no_token_is_known() -> None:
    with pytest.raises(HandshakeError):
        PLATFORM.handshake(
            config={}, secrets={}, query={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
        )


def test_platform_attributes() -> None:
    assert (PLATFORM.channel_type, PLATFORM.display_name) == ("whatsapp", "WhatsApp Cloud API")
    assert (PLATFORM.has_handshake, PLATFORM.needs_webhook, PLATFORM.can_register_webhook) == (True, True, False)
    assert PLATFORM.secret_fields == {"accessToken", "webhookToken", "appSecret"}


def test_config_accepts_the_seed_example_and_fills_defaults() -> None:
    config = PLATFORM.config_model.model_validate(
        {
            "phoneNumberID": "123456789",
            "businessAccountID": "987654321",
            "accessToken": "EAAxxxxxxxxxxxxx",
            "webhookToken": "random-secret-token",
            "apiVersion": "v17.0",
        }
    )
    assert config.model_dump()["graphBaseURL"] == "https://graph.facebook.com"
    assert config.model_dump()["appSecret"] is None
    assert PLATFORM.config_model.model_validate({"phoneNumberID": "1", "accessToken": "t"}).apiVersion == "v21.0"


@pytest.mark.parametrize(
    "config",
    [{"accessToken": "t"}, {"phoneNumberID": "1"}, {"phoneNumberID": "1", "accessToken": "t", "botToken": "x"}],
)
def test_config_rejects_missing_and_unknown_keys(config: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        PLATFORM.config_model.model_validate(config)
