"""TikTok API for Business client (Business Messaging): ``{apiBaseURL}/open_api/v1.3/business/...``.

Every answer is ``{"code", "message", "request_id", "data"}``; ``code != 0`` is a failure even with HTTP 200.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import httpx

from souk.platforms.plugin import ChannelInfo, PlatformError, SendResult, VendorClient
from souk.platforms.tiktok.config import DEFAULT_API_BASE_URL

API_PREFIX = "/open_api/v1.3"
PROFILE_FIELDS = ["username", "display_name", "profile_image"]

#: codes worth retrying later: 40064 "sending messages too fast", 40100 request-rate limit, 5xxxx TikTok-side
RETRYABLE_CODES = frozenset({40064, 40100})


class TikTokClient(VendorClient):
    vendor_type = "tiktok"

    async def get_channel_info(self, channel_id: str = "") -> ChannelInfo:
        """``GET business/get/``: proves the access token works for ``businessID``."""
        params = {"business_id": self._business_id, "fields": json.dumps(PROFILE_FIELDS)}
        data = (await self._call("GET", "/business/get/", params=params))["data"] or {}
        name = data.get("display_name") or data.get("username")
        return ChannelInfo(external_id=self._business_id, name=name, details=data)

    async def send_message(self, channel_id: str, recipient: str, content: dict[str, Any]) -> SendResult:
        """Send TEXT, or IMAGE by ``media_id`` (or a ``url`` Souk fetches and uploads first).

        ``recipient`` is the conversation id (the thread id); ``content["reply_to"]`` a TikTok message id.
        """
        payload: dict[str, Any] = {
            "business_id": self._business_id,
            "recipient_type": "CONVERSATION",
            "recipient": recipient,
        }
        kind = content.get("type", "text")
        if kind == "text":
            payload.update(message_type="TEXT", text={"body": content["text"]})
        elif kind == "image":
            media_id = content.get("media_id") or await self._upload_from_url(content["url"])
            payload.update(message_type="IMAGE", image={"media_id": media_id})
        else:
            raise PlatformError(f"TikTok cannot send content type {kind!r}", code="unsupported_content")
        if content.get("reply_to"):
            payload["referenced_message_info"] = {"referenced_message_id": content["reply_to"]}
        body = await self._call("POST", "/business/message/send/", json=payload)
        message_id = body["data"]["message"]["message_id"]
        return SendResult(external_id=str(message_id), raw=body)

    async def upload_media(self, content: bytes, filename: str, mime: str, media_type: str = "IMAGE") -> str:
        """``POST business/message/media/upload/`` (multipart) → ``media_id`` for an IMAGE send."""
        form = {"business_id": self._business_id, "media_type": media_type}
        files = {"file": (filename, content, mime)}
        body = await self._call("POST", "/business/message/media/upload/", data=form, files=files)
        return str(body["data"]["media_id"])

    async def media_download_url(
        self, conversation_id: str, message_id: str, media_id: str, media_type: str = "IMAGE"
    ) -> str:
        """``POST business/message/media/download/`` → a short-lived URL of a customer's image."""
        payload = {
            "business_id": self._business_id,
            "conversation_id": conversation_id,
            "message_id": message_id,
            "media_id": media_id,
            "media_type": media_type,
        }
        body = await self._call("POST", "/business/message/media/download/", json=payload)
        return str(body["data"]["download_url"])

    # -- plumbing -------------------------------------------------------------------------------------------

    async def _upload_from_url(self, url: str) -> str:
        try:
            response = await self.http.get(url)
        except httpx.HTTPError as exc:
            raise PlatformError(f"fetching media to upload: {type(exc).__name__}", retryable=True) from exc
        if response.status_code != 200:
            status = response.status_code
            raise PlatformError(f"fetching media to upload: HTTP {status}", status=status)
        mime = response.headers.get("content-type", "image/jpeg").split(";")[0]
        filename = url.rsplit("/", 1)[-1].split("?")[0] or "image"
        return await self.upload_media(response.content, filename, mime)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = f"{self._base}{API_PREFIX}{path}"
        try:
            response = await self.http.request(method, url, headers={"Access-Token": self._token}, **kwargs)
        except httpx.HTTPError as exc:
            raise PlatformError(f"TikTok {path}: {type(exc).__name__}", retryable=True) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict) and body.get("code") == 0:
            return body
        _raise(path, response, body)

    @property
    def _base(self) -> str:
        return str(self.config.get("apiBaseURL") or DEFAULT_API_BASE_URL).rstrip("/")

    @property
    def _business_id(self) -> str:
        business_id = self.config.get("businessID")
        if not business_id:
            raise PlatformError("channel has no businessID", code="missing_credentials")
        return str(business_id)

    @property
    def _token(self) -> str:
        token = self.secrets.get("accessToken")
        if not token:
            raise PlatformError("channel has no accessToken", code="missing_credentials")
        return str(token)


def _raise(path: str, response: httpx.Response, body: Any) -> NoReturn:
    """HTTP 429/5xx, codes 40064 and 40100, and 5xxxx codes are retryable; other failures are not."""
    status = response.status_code
    if isinstance(body, dict) and isinstance(body.get("code"), int) and body["code"] != 0:
        code = body["code"]
        retryable = code in RETRYABLE_CODES or code >= 50000 or status == 429 or status >= 500
        message = f"TikTok {path} failed: {code} {body.get('message') or ''}".rstrip()
        raise PlatformError(
            message,
            status=status,
            code=str(code),
            retryable=retryable,
            retry_after=_retry_after(response),
        )
    raise PlatformError(
        f"TikTok {path} failed: HTTP {status}",
        status=status,
        code=str(status),
        retryable=status == 429 or status >= 500,
        retry_after=_retry_after(response),
    )


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
