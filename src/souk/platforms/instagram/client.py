"""Instagram client: the Send API for an Instagram professional account.

Facebook Login goes through the linked Page on graph.facebook.com; Instagram Login uses
graph.instagram.com when ``graphBaseURL`` says so.
"""

from __future__ import annotations

from souk.platforms.meta.send_api import SendAPIClient
from souk.platforms.plugin import ChannelInfo, PlatformError


class InstagramClient(SendAPIClient):
    vendor_type = "instagram"
    extra_content = frozenset({"reaction"})

    @property
    def account_id(self) -> str:
        account = self.config.get("instagramAccountID")
        if not account:
            raise PlatformError("instagramAccountID is not configured", code="not_configured")
        return str(account)

    @property
    def sender_path(self) -> str:
        """The linked Page when configured; ``me`` (the token's Page or IG user) otherwise."""
        return str(self.config.get("pageID") or "me")

    @property
    def history_node(self) -> str:
        """The linked Page (Facebook Login); ``me``, the Instagram account itself, with Instagram Login."""
        return str(self.config.get("pageID") or "me")

    @property
    def business_ids(self) -> frozenset[str]:
        """The ids the business side appears under in ``from``/``participants``."""
        return frozenset({self.account_id} | ({str(self.config["pageID"])} if self.config.get("pageID") else set()))

    async def get_channel_info(self, channel_id: str = "") -> ChannelInfo:
        """Look up the Instagram account with the token (``test-connection``)."""
        info = await self.graph.get(self.account_id, params={"fields": "id,username,name"})
        return ChannelInfo(
            external_id=str(info.get("id") or self.account_id),
            name=info.get("username") or info.get("name"),
            details=info,
        )
