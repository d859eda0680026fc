"""Messenger client: a Facebook Page sending through the Send API (``POST /{page-id}/messages``)."""

from __future__ import annotations

from souk.platforms.meta.send_api import SendAPIClient
from souk.platforms.plugin import ChannelInfo, PlatformError


class MessengerClient(SendAPIClient):
    vendor_type = "messenger"

    @property
    def page_id(self) -> str:
        page = self.config.get("pageID")
        if not page:
            raise PlatformError("pageID is not configured", code="not_configured")
        return str(page)

    @property
    def sender_path(self) -> str:
        return self.page_id

    @property
    def history_node(self) -> str:
        """The node whose ``conversations`` edge lists this channel's threads."""
        return self.page_id

    @property
    def business_ids(self) -> frozenset[str]:
        """The ids the business side appears under in ``from``/``participants``."""
        return frozenset({self.page_id})

    async def get_channel_info(self, channel_id: str = "") -> ChannelInfo:
        """Look up the Page with its token: proves the token belongs to that Page (``test-connection``)."""
        info = await self.graph.get(self.page_id, params={"fields": "id,name,username,link"})
        return ChannelInfo(external_id=str(info.get("id") or self.page_id), name=info.get("name"), details=info)
