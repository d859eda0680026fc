"""WAHA (WhatsApp HTTP API, self-hosted WhatsApp Web sessions): the ``waha`` channel type.

Souk registers its webhook (with an HMAC key) on the WAHA session itself, drives the QR-code login, and reads
history through the chats API. See docs/platforms/waha.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from souk.platforms.base import Event
from souk.platforms.plugin import Platform
from souk.platforms.waha import parse as _parse
from souk.platforms.waha import verify as _verify
from souk.platforms.waha.client import WAHAClient
from souk.platforms.waha.config import WAHAConfig


class WAHAPlatform(Platform):
    channel_type = "waha"
    display_name = "WhatsApp (WAHA)"
    config_model = WAHAConfig
    secret_fields = frozenset({"auth"})
    needs_webhook = True
    can_register_webhook = True
    has_handshake = False
    history_import = True
    client_class = WAHAClient

    def verify(
        self,
        *,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> None:
        _verify.verify(secrets=secrets, headers=headers, body=body, config=config)

    def event_key(self, body: bytes, headers: Mapping[str, str]) -> str:
        return _parse.event_key(body)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        return _parse.parse(body)


PLATFORM = WAHAPlatform()
