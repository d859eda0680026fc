"""Seed 002's Chotot vendor over the assumed partner API (docs/platforms/chotot.md).

Every call carries ``Authorization: Bearer <apiKey>`` and ``X-Partner-ID``; errors are
``{"error": {"code", "message"}}``. Chat calls go to ``baseURL``, listing calls to ``productsBaseURL``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from souk.platforms.base import ts_millis
from souk.platforms.plugin import (
    ChannelInfo,
    PlatformError,
    SendResult,
    VendorClient,
    VendorMessage,
    VendorProduct,
)

#: canonical content type → attachment type of the assumed API
ATTACHMENT_TYPES = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "voice": "audio",
    "document": "file",
    "file": "file",
}


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        return max(0.0, float(headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def chotot_error(response: httpx.Response) -> PlatformError:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    message = error.get("message") or response.reason_phrase or "error"
    return PlatformError(
        f"Chotot answered HTTP {status}: {message}",
        status=status,
        code=str(error.get("code") or status),
        retryable=status == 429 or status >= 500,
        retry_after=_retry_after(response.headers),
    )


def _q(value: str) -> str:
    return quote(str(value), safe="")


class ChototClient(VendorClient):
    vendor_type = "chotot"

    def __init__(self, config: Any, secrets: Any, http: httpx.AsyncClient) -> None:
        super().__init__(config, secrets, http)
        self.base_url = str(self.config["baseURL"]).rstrip("/")
        self.products_url = str(self.config.get("productsBaseURL") or self.base_url).rstrip("/")
        self.account_id = str(self.config["accountID"])

    def _headers(self) -> dict[str, str]:
        api_key = self.secrets.get("apiKey") or self.config.get("apiKey") or ""
        return {
            "Authorization": f"Bearer {api_key}",
            "X-Partner-ID": str(self.config.get("partnerID", "")),
            "Accept": "application/json",
        }

    async def _call(
        self, method: str, url: str, *, params: dict[str, Any] | None = None, json_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self.http.request(method, url, params=params, json=json_body, headers=self._headers())
        except httpx.HTTPError as exc:
            raise PlatformError(f"Chotot unreachable: {exc!r}", code="network", retryable=True) from exc
        if response.status_code >= 400:
            raise chotot_error(response)
        try:
            data = response.json()
        except ValueError as exc:
            raise PlatformError(
                "Chotot answered with non-JSON", status=response.status_code, code="bad_response"
            ) from exc
        if not isinstance(data, dict):
            raise PlatformError(
                "Chotot answered with an unexpected shape", status=response.status_code, code="bad_response"
            )
        return data

    async def get_channel_info(self, channel_id: str = "") -> ChannelInfo:
        """The shop account (``test-connection``) or, given a chat room id, that room and its listing. The account's
        own id is the account: test-connection passes the channel's ``external_id`` once the first check stored it."""
        if not channel_id or channel_id == self.account_id:
            account = (await self._call("GET", f"{self.base_url}/v1/accounts/{_q(self.account_id)}"))["account"]
            return ChannelInfo(external_id=str(account["id"]), name=account.get("name"), details=account)
        chat = (await self._call("GET", f"{self.base_url}/v1/chats/{_q(channel_id)}"))["chat"]
        buyer = next((p for p in chat.get("participants", []) if str(p.get("id")) != self.account_id), {})
        return ChannelInfo(external_id=str(chat["id"]), name=buyer.get("name"), details=chat)

    async def list_messages(self, channel_id: str, limit: int, before_ts: datetime | None) -> list[VendorMessage]:
        """Newest first, strictly before ``before_ts``."""
        params: dict[str, Any] = {"limit": limit}
        if before_ts is not None:
            params["before"] = int(before_ts.timestamp() * 1000)
        data = await self._call("GET", f"{self.base_url}/v1/chats/{_q(channel_id)}/messages", params=params)
        return [
            VendorMessage(
                external_id=str(m["id"]),
                sender_id=str(m["sender"]["id"]),
                text=m.get("text") or None,
                timestamp=ts_millis(m["timestamp"]),
                raw=m,
            )
            for m in data.get("messages", [])
        ]

    async def send_message(self, channel_id: str, recipient: str, content: dict[str, Any]) -> SendResult:
        """Send as the shop into chat room ``channel_id``; ``client_message_id`` makes retries idempotent."""
        kind = content.get("type", "text")
        body: dict[str, Any] = {
            "sender_id": self.account_id,
            "recipient_id": recipient,
            "client_message_id": content.get("client_message_id") or str(uuid.uuid4()),
        }
        if content.get("text") or content.get("caption"):
            body["text"] = content.get("text") or content.get("caption")
        if kind != "text":
            media = content["media"] if isinstance(content.get("media"), dict) else content
            if kind not in ATTACHMENT_TYPES or not media.get("url"):
                raise PlatformError(f"Chotot cannot send {kind!r} content without a url", code="unsupported_content")
            attachment = {"type": ATTACHMENT_TYPES[kind], "url": media["url"]}
            for source, target in (("mimetype", "mime_type"), ("filename", "name")):
                if media.get(source):
                    attachment[target] = media[source]
            body["attachments"] = [attachment]
        if content.get("reply_to"):
            body["reply_to"] = content["reply_to"]
        data = await self._call("POST", f"{self.base_url}/v1/chats/{_q(channel_id)}/messages", json_body=body)
        message = data.get("message") or {}
        return SendResult(external_id=str(message["id"]) if message.get("id") else None, raw=data)

    async def get_user_products(self, user_id: str, limit: int, page: int) -> list[VendorProduct]:
        data = await self._call(
            "GET", f"{self.products_url}/v1/users/{_q(user_id)}/ads", params={"limit": limit, "page": page}
        )
        return [
            VendorProduct(
                external_id=str(ad["list_id"]),
                name=str(ad.get("subject") or ""),
                price=str(ad["price"]) if ad.get("price") is not None else None,
                currency="VND",
                url=ad.get("url"),
                image=ad.get("image"),
                raw=ad,
            )
            for ad in data.get("ads", [])
        ]
