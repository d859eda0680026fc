"""TikTok Business Messaging: signature check, webhook parsing, Business API client (protocols.md §6)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from souk.platforms.base import Event
from souk.platforms.plugin import Platform
from souk.platforms.tiktok.client import TikTokClient
from souk.platforms.tiktok.config import TikTokConfig
from souk.platforms.tiktok.parse import event_key, parse_event
from souk.platforms.tiktok.verify import verify_signature


class TikTokPlatform(Platform):
    channel_type = "tiktok"
    display_name = "TikTok"
    config_model = TikTokConfig
    secret_fields = frozenset({"appSecret", "accessToken"})
    needs_webhook = True
    can_register_webhook = False  # the URL is set in the TikTok developer portal
    has_handshake = False
    client_class = TikTokClient

    def verify(
        self,
        *,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> None:
        verify_signature(config=config, secrets=secrets, headers=headers, body=body, now=now)

    def event_key(self, body: bytes, headers: Mapping[str, str]) -> str:
        return event_key(body)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        return parse_event(body)


PLATFORM = TikTokPlatform()
