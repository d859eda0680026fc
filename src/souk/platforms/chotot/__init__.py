"""Chotot (chat.chotot.com): the ``chotot`` channel type, a seed-002 vendor over an assumed partner API.

Chotot publishes no API. Messages arrive on the broker (``vendors.chotot.<channel_id>``), never on a webhook;
the client speaks the partner API written down in docs/platforms/chotot.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from souk.platforms.base import Event, SignatureError
from souk.platforms.chotot import parse as _parse
from souk.platforms.chotot.client import ChototClient
from souk.platforms.chotot.config import ChototConfig
from souk.platforms.plugin import Platform


class ChototPlatform(Platform):
    channel_type = "chotot"
    display_name = "Chợ Tốt"
    config_model = ChototConfig
    secret_fields = frozenset({"apiKey"})
    needs_webhook = False
    receives_webhooks = False
    can_register_webhook = False
    has_handshake = False
    requires_partner_credentials = True
    client_class = ChototClient

    def verify(
        self,
        *,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> None:
        raise SignatureError("chotot delivers through the broker, not webhooks", 403)

    def event_key(self, body: bytes, headers: Mapping[str, str]) -> str:
        return _parse.event_key(body)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        return _parse.parse(body)


PLATFORM = ChototPlatform()
