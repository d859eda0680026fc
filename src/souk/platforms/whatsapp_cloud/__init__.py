"""WhatsApp Cloud API (Meta): ``channel_type`` ``whatsapp``.

Webhooks are signed with the Meta app secret (``X-Hub-Signature-256``) and registered in the App Dashboard
after a GET ``hub.*`` handshake; Souk cannot register them through the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from souk.platforms.base import Event
from souk.platforms.meta import verify as meta_verify
from souk.platforms.plugin import Platform, VendorClient
from souk.platforms.whatsapp_cloud.client import WhatsAppCloudClient
from souk.platforms.whatsapp_cloud.config import WhatsAppCloudConfig
from souk.platforms.whatsapp_cloud.parse import parse_body


class WhatsAppCloudPlatform(Platform):
    channel_type = "whatsapp"
    display_name = "WhatsApp Cloud API"
    config_model = WhatsAppCloudConfig
    secret_fields = frozenset({"accessToken", "webhookToken", "appSecret"})
    needs_webhook = True
    can_register_webhook = False  # Meta webhooks are set in the App Dashboard
    has_handshake = True
    client_class: ClassVar[type[VendorClient]] = WhatsAppCloudClient

    def verify(
        self,
        *,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> None:
        meta_verify.verify_signature(
            secret=secrets.get("appSecret"), secret_key="appSecret", headers=headers, body=body
        )

    def handshake(self, *, config: Mapping[str, Any], secrets: Mapping[str, Any], query: Mapping[str, str]) -> str:
        return meta_verify.handshake(config=config, secrets=secrets, query=query)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        return parse_body(body)


PLATFORM = WhatsAppCloudPlatform()
