"""Instagram Direct (Meta Messenger Platform for Instagram): ``channel_type`` ``instagram``.

Webhooks are signed with the app secret of the app that owns the subscription (``X-Hub-Signature-256``) and
registered in the App Dashboard after a GET ``hub.*`` handshake.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from souk.platforms.base import Event
from souk.platforms.instagram.client import InstagramClient
from souk.platforms.instagram.config import InstagramConfig
from souk.platforms.instagram.parse import parse_body
from souk.platforms.meta import verify as meta_verify
from souk.platforms.plugin import Platform, VendorClient


class InstagramPlatform(Platform):
    channel_type = "instagram"
    display_name = "Instagram Direct"
    config_model = InstagramConfig
    secret_fields = frozenset({"pageAccessToken", "webhookToken", "appSecret"})
    needs_webhook = True
    can_register_webhook = False  # Meta webhooks are set in the App Dashboard
    has_handshake = True
    history_import = True
    client_class: ClassVar[type[VendorClient]] = InstagramClient

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


PLATFORM = InstagramPlatform()
