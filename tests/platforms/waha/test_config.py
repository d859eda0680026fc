"""The WAHA config model accepts seed 004's keys exactly and nothing else."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from souk.platforms.waha import PLATFORM
from souk.platforms.waha.config import WAHAApiKeyAuth, WAHABasicAuth, WAHAConfig

SEED_EXAMPLE = {
    "baseURL": "https://waha.example.com",
    "sessionID": "my-whatsapp",
    "auth": {"type": "basic", "username": "admin", "password": "secret"},
    "webhookURL": "https://crm.example.com/webhooks/waha/abc-123",
    "qrCode": "data:image/png;base64,iVBORw0KGgo=",
    "qrCodeExpiresAt": "2025-10-10T15:30:00Z",
    "sessionStatus": "WORKING",
    "importStrategy": "new_only",
    "importCompleted": True,
}


def test_seed_example_is_valid() -> None:
    config = WAHAConfig.model_validate(SEED_EXAMPLE)
    assert isinstance(config.auth, WAHABasicAuth) and config.auth.password == "secret"
    assert config.qrCodeExpiresAt is not None and config.importCompleted is True


def test_minimal_config_with_api_key_and_defaults() -> None:
    config = WAHAConfig.model_validate(
        {"baseURL": "http://waha:3000", "sessionID": "default", "auth": {"type": "api_key", "apiKey": "k"}}
    )
    assert isinstance(config.auth, WAHAApiKeyAuth)
    assert config.importStrategy == "new_only" and config.sessionStatus is None


@pytest.mark.parametrize("missing", ["baseURL", "sessionID", "auth"])
def test_required_keys(missing: str) -> None:
    data = {key: value for key, value in SEED_EXAMPLE.items() if key != missing}
    with pytest.raises(ValidationError) as err:
        WAHAConfig.model_validate(data)
    assert err.value.errors()[0]["loc"] == (missing,)


@pytest.mark.parametrize(
    "change",
    [
        {"baseUrl": "https://typo.example.com"},
        {"importStrategy": "everything"},
        {"auth": {"type": "token", "token": "x"}},
        {"auth": {"type": "api_key"}},
        {"auth": {"type": "basic", "username": "admin", "password": "secret", "extra": 1}},
    ],
)
def test_invalid_configs_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WAHAConfig.model_validate({**SEED_EXAMPLE, **change})


def test_every_field_is_described() -> None:
    for model in (WAHAConfig, WAHABasicAuth, WAHAApiKeyAuth):
        assert all(field.description for field in model.model_fields.values()), model


def test_platform_uses_the_model() -> None:
    assert PLATFORM.config_model is WAHAConfig
