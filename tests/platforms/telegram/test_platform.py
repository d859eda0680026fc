"""The Telegram plugin's registration facts and config model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from souk.platforms.telegram import PLATFORM, TelegramPlatform
from souk.platforms.telegram.client import TelegramClient
from souk.platforms.telegram.config import TelegramConfig

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"


def test_plugin_attributes() -> None:
    assert isinstance(PLATFORM, TelegramPlatform)
    assert (PLATFORM.channel_type, PLATFORM.vendor, PLATFORM.display_name) == (
        "telegram",
        "telegram",
        "Telegram",
    )
    assert PLATFORM.secret_fields == {"botToken"}
    assert (PLATFORM.needs_webhook, PLATFORM.can_register_webhook, PLATFORM.has_handshake) == (
        True,
        True,
        False,
    )
    assert PLATFORM.client_class is TelegramClient


def test_seed_example_config_is_valid_and_defaults_the_api_url() -> None:
    config = TelegramConfig.model_validate(
        {
            "botToken": TOKEN,
            "botUsername": "@MyCompanyBot",
            "webhookURL": "https://crm.example.com/webhooks/telegram/abc",
        }
    )
    assert config.apiBaseURL == "https://api.telegram.org"
    assert TelegramConfig.model_validate({"botToken": TOKEN}).botUsername is None


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"botToken": "not-a-token"},
        {"botToken": TOKEN, "unknown": 1},
    ],
)
def test_invalid_configs_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TelegramConfig.model_validate(config)


def test_every_field_is_described() -> None:
    assert all(field.description for field in TelegramConfig.model_fields.values())
