"""WhatsApp Cloud API client: one phone number, over the Graph API (protocols.md §1.7).

``send_message`` takes Souk's content vocabulary and builds the Cloud API body; the platform's message id
(``messages[0].id``, a wamid) is what every later ``statuses[]`` refers to. A content ``marker`` travels as
``biz_opaque_callback_data`` and comes back in those statuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from souk.platforms.meta.graph import GraphAPI
from souk.platforms.plugin import ChannelInfo, PlatformError, SendResult, VendorClient

_MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_CAPTIONED = ("image", "video", "document")


class WhatsAppCloudClient(VendorClient):
    vendor_type = "whatsapp"

    @property
    def graph(self) -> GraphAPI:
        return GraphAPI(
            self.http,
            token=self.secrets.get("accessToken"),
            token_key="accessToken",
            base_url=self.config.get("graphBaseURL"),
            version=self.config.get("apiVersion"),
        )

    @property
    def phone_number_id(self) -> str:
        number = self.config.get("phoneNumberID")
        if not number:
            raise PlatformError("phoneNumberID is not configured", code="not_configured")
        return str(number)

    async def get_channel_info(self, channel_id: str = "") -> ChannelInfo:
        """Look up the phone number with the token: proves both are right (``test-connection``)."""
        fields = "display_phone_number,verified_name,quality_rating,code_verification_status"
        info = await self.graph.get(self.phone_number_id, params={"fields": fields})
        return ChannelInfo(
            external_id=str(info.get("id") or self.phone_number_id),
            name=info.get("verified_name"),
            details=info,
        )

    async def send_message(self, channel_id: str, recipient: str, content: dict[str, Any]) -> SendResult:
        """Send ``content`` to the customer ``recipient`` (a wa_id); returns the wamid."""
        try:
            message = build_message(content)
        except KeyError as exc:
            raise PlatformError(
                f"content of type {content.get('type', 'text')!r} needs {exc}", code="invalid_content"
            ) from exc
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient, **message}
        if content.get("reply_to"):
            body["context"] = {"message_id": content["reply_to"]}
        if content.get("marker"):
            body["biz_opaque_callback_data"] = str(content["marker"])
        answer = await self.graph.post(f"{self.phone_number_id}/messages", json=body)
        messages = answer.get("messages") or [{}]
        return SendResult(external_id=messages[0].get("id"), raw=answer)

    async def list_templates(self) -> list[dict[str, Any]]:
        """The business account's message templates (``GET /{WABA-ID}/message_templates``, every page).

        Each has ``name``, ``language``, ``status`` (only ``APPROVED`` ones can be sent), ``category`` and
        ``components`` (the ``BODY`` text shows its ``{{n}}`` parameters).
        """
        waba = self.config.get("businessAccountID")
        if not waba:
            raise PlatformError("businessAccountID is not configured", code="not_configured")
        graph = self.graph
        path: str | None = f"{waba}/message_templates"
        params: dict[str, Any] | None = {"fields": "name,language,status,category,components", "limit": 100}
        templates: list[dict[str, Any]] = []
        while path and len(templates) < 2000:
            answer = await graph.get(path, params=params)
            templates.extend(t for t in answer.get("data") or [] if isinstance(t, dict))
            path, params = (answer.get("paging") or {}).get("next"), None
        return templates

    async def send_typing(self, recipient: str, *, message_id: str | None = None) -> bool:
        """WhatsApp shows typing only together with the blue ticks of the message being answered."""
        if not message_id:
            return False
        await self.mark_read(message_id, typing=True)
        return True

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        """Blue ticks for a customer message, optionally with a typing indicator while a reply is prepared."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        await self.graph.post(f"{self.phone_number_id}/messages", json=body)

    async def upload_media(self, data: bytes, *, mime: str, filename: str = "file") -> str:
        """Upload a file for later sends (``{"type": "image", "media_id": …}``); returns the media id."""
        answer = await self.graph.post(
            f"{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime},
            files={"file": (filename, data, mime)},
        )
        return str(answer["id"])

    async def get_media(self, media_id: str) -> dict[str, Any]:
        """A received file's ``url`` (valid for minutes), ``mime_type``, ``sha256`` and ``file_size``."""
        return await self.graph.get(media_id)

    async def download_media(self, media_id: str) -> tuple[bytes, str | None]:
        """The bytes and MIME type of a received file (the URL needs the same bearer token)."""
        info = await self.get_media(media_id)
        graph = self.graph
        try:
            response = await self.http.get(info["url"], headers={"Authorization": f"Bearer {graph.token}"})
        except httpx.TransportError as exc:
            raise PlatformError(f"media download failed: {exc!r}", retryable=True) from exc
        if response.is_error:
            raise PlatformError(
                f"media download answered HTTP {response.status_code}",
                status=response.status_code,
                retryable=response.status_code >= 500,
            )
        return response.content, info.get("mime_type")


def build_message(content: Mapping[str, Any]) -> dict[str, Any]:
    """The type-specific part of a Cloud API message for Souk's content vocabulary.

    ``text`` {text, preview_url?}; ``image|video|audio|document|sticker`` {media_id | url, caption?,
    filename?}; ``buttons`` {text, buttons: [{id, title}] ≤ 3}; ``list`` {text, button, sections};
    ``template`` {name, language, components?}; ``reaction`` {message_id, emoji}; ``location`` {latitude,
    longitude, name?, address?}.
    """
    kind = content.get("type", "text")
    if kind == "text":
        return {
            "type": "text",
            "text": {"body": content["text"], "preview_url": bool(content.get("preview_url"))},
        }
    if kind in _MEDIA_TYPES:
        media: dict[str, Any] = {"id": content["media_id"]} if content.get("media_id") else {"link": content["url"]}
        if content.get("caption") and kind in _CAPTIONED:
            media["caption"] = content["caption"]
        if content.get("filename") and kind == "document":
            media["filename"] = content["filename"]
        return {"type": kind, kind: media}
    if kind == "buttons":
        buttons = [{"type": "reply", "reply": {"id": str(b["id"]), "title": b["title"]}} for b in content["buttons"]]
        return {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": content["text"]},
                "action": {"buttons": buttons},
            },
        }
    if kind == "list":
        return {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": content["text"]},
                "action": {"button": content["button"], "sections": content["sections"]},
            },
        }
    if kind == "template":
        language = content.get("language") or "en_US"
        template: dict[str, Any] = {"name": content["name"], "language": {"code": language}}
        if content.get("components"):
            template["components"] = content["components"]
        return {"type": "template", "template": template}
    if kind == "reaction":
        return {
            "type": "reaction",
            "reaction": {"message_id": content["message_id"], "emoji": content.get("emoji", "")},
        }
    if kind == "location":
        keys = ("latitude", "longitude", "name", "address")
        return {"type": "location", "location": {k: content[k] for k in keys if content.get(k) is not None}}
    raise PlatformError(f"WhatsApp cannot send content of type {kind!r}", code="unsupported_content")
