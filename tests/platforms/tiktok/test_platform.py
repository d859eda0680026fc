"""The TikTok plugin's registration facts and config model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from souk.platforms.tiktok import PLATFORM, TikTokPlatform
from souk.platforms.tiktok.client import TikTokClient
from souk.platforms.tiktok.config import TikTokConfig

REQUIRED = {"businessID": "biz-1", "appKey": "key", "appSecret": "secret", "accessToken": "act.token"}


def test_plugin_attributes() -> None:
    assert isinstance(PLATFORM, TikTokPlatform)
    assert (PLATFORM.channel_type, PLATFORM.vendor, PLATFORM.display_name) == ("tiktok", "tiktok", "TikTok")
    assert PLATFORM.secret_fields == {"appSecret", "accessToken"}
    assert (PLATFORM.needs_webhook, PLATFORM.can_register_webhook, PLATFORM.has_handshake) == (
        True,
        False,
        False,
    )
    assert PLATFORM.client_class is TikTokClient


def test_defaults() -> None:
    config = TikTokConfig.model_validate(REQUIRED)
    assert (config.apiBaseURL, config.signatureToleranceSeconds) == ("https://business-api.tiktok.com", 300)


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_each_required_key_is_required(missing: str) -> None:
    with pytest.raises(ValidationError, match=missing):
        TikTokConfig.model_validate({k: v for k, v in REQUIRED.items() if k != missing})


@pytest.mark.parametrize(
    "extra",
    [{"unknown": 1}, {"signatureToleranceSeconds": 0}, {"businessID": ""}],
)
def test_invalid_configs_are_refused(extra: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TikTokConfig.model_validate({**REQUIRED, **extra})


def test_every_field_is_described() -> None:
    assert all(field.description for field in TikTokConfig.model_fields.values())
