"""Telegram Bot API platform: webhook secret-token check, Update parsing, Bot API client (protocols.md §3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from souk.platforms.base import Event
from souk.platforms.plugin import Platform
from souk.platforms.telegram.client import TelegramClient
from souk.platforms.telegram.config import TelegramConfig
from souk.platforms.telegram.parse import parse_update, update_key
from souk.platforms.telegram.verify import verify_secret_token


class TelegramPlatform(Platform):
    channel_type = "telegram"
    display_name = "Telegram"
    config_model = TelegramConfig
    secret_fields = frozenset({"botToken"})
    needs_webhook = True
    can_register_webhook = True  # setWebhook
    has_handshake = False
    no_history_reason = (
        "Telegram's Bot API gives no message history: new messages arrive live through the webhook, from the "
        "moment the bot is in the chat."
    )
    client_class = TelegramClient

    def verify(
        self,
        *,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> None:
        verify_secret_token(secrets=secrets, headers=headers)

    def event_key(self, body: bytes, headers: Mapping[str, str]) -> str:
        return update_key(body)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        return parse_update(body)


PLATFORM = TelegramPlatform()
