"""WAHA HTTP API client: sessions and QR codes, sending, chats and history (docs/platforms/waha.md).

Auth is either WAHA's ``X-Api-Key`` or HTTP basic auth (a proxy in front of WAHA), from the channel's
secret ``auth`` object. WAHA errors are NestJS-shaped, ``{"statusCode", "message", "error"}`` (``message``
may be a list of validation messages), or ``{"statusCode", "exception": {"message", "name"}}`` for engine
failures.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from souk.platforms.base import ts_seconds
from souk.platforms.plugin import ChannelInfo, PlatformError, SendResult, VendorClient, VendorMessage
from souk.platforms.waha import verify as _verify
from souk.platforms.waha.parse import normalize_id, serialized

#: events Souk subscribes to; ``message.any`` brings messages typed on the phone (``fromMe``, source "app"),
#: ``presence.update`` a customer typing (shown live in the inbox, never stored as a message)
WEBHOOK_EVENTS = [
    "message",
    "message.any",
    "message.reaction",
    "message.ack",
    "message.edited",
    "message.revoked",
    "session.status",
    "presence.update",
]
WEBHOOK_RETRIES = {"policy": "exponential", "delaySeconds": 2, "attempts": 15}
#: content sent with sendFile (WAHA's sendVideo/sendVoice need converted media; sendFile takes anything)
FILE_TYPES = frozenset({"document", "file", "video", "audio", "voice"})


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        return max(0.0, float(headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def waha_error(response: httpx.Response) -> PlatformError:
    """The :class:`PlatformError` for a failed WAHA response."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    message: Any = None
    code: str | None = None
    if isinstance(body, dict):
        exception = body.get("exception") if isinstance(body.get("exception"), dict) else {}
        message = body.get("message") or exception.get("message")
        code = body.get("error") or exception.get("name")
    if isinstance(message, list):
        message = "; ".join(str(item) for item in message)
    text = str(message or response.text[:200] or response.reason_phrase or "error")
    return PlatformError(
        f"WAHA answered HTTP {status}: {text}",
        status=status,
        code=str(code or status),
        retryable=status in (408, 429) or status >= 500,
        retry_after=_retry_after(response.headers),
    )


def message_id_from_response(data: Any, chat_id: str) -> str | None:
    """The sent message's id from a send response, whichever engine answered.

    WEBJS answers a WAMessage-like object whose ``id`` is a string or ``{"_serialized": …}``; NOWEB
    answers the raw ``{"key": {"remoteJid", "fromMe", "id"}, …}``; some versions answer an empty body (None
    then: the ``message.any`` echo is matched instead).
    """
    if not isinstance(data, dict):
        return None
    value = data.get("id")
    if isinstance(value, str) and value:
        return normalize_id(value)
    if isinstance(value, dict) and value.get("_serialized"):
        return normalize_id(str(value["_serialized"]))
    key = data.get("key")
    if isinstance(key, dict) and key.get("id"):
        chat = str(key.get("remoteJid") or chat_id).replace("@s.whatsapp.net", "@c.us")
        from_me = "false" if key.get("fromMe") is False else "true"
        return f"{from_me}_{chat}_{key['id']}"
    return message_id_from_response(data.get("_data"), chat_id) if "_data" in data else None


class WAHAClient(VendorClient):
    vendor_type = "waha"

    def __init__(self, config: Any, secrets: Any, http: httpx.AsyncClient) -> None:
        super().__init__(config, secrets, http)
        self.base_url = str(self.config["baseURL"]).rstrip("/")
        self.session = str(self.config["sessionID"])
        self._s = quote(self.session, safe="")

    # -- plumbing ---------------------------------------------------------------------------------------

    def _credentials(self) -> tuple[dict[str, str], httpx.Auth | None]:
        auth = self.secrets.get("auth") or self.config.get("auth") or {}
        if isinstance(auth, str):
            auth = json.loads(auth)
        if auth.get("type") == "basic":
            return {}, httpx.BasicAuth(str(auth.get("username", "")), str(auth.get("password", "")))
        if auth.get("type") == "api_key":
            return {"X-Api-Key": str(auth.get("apiKey", ""))}, None
        return {}, None

    def media_request(self, url: str) -> tuple[str, dict[str, str], httpx.Auth | None]:
        """``(url, headers, auth)`` to fetch a webhook's ``media.url``: WAHA's ``/api/files/…`` need its credentials.

        WAHA writes the URL with the host it believes it has (often ``localhost:3000`` inside its container), so a
        files path is re-based on ``baseURL``. Credentials go only to ``baseURL``: a URL elsewhere (WAHA Plus's S3
        storage) is fetched as it is, without them.
        """
        parts = urlsplit(url)
        at = parts.path.find("/api/files/")
        if at >= 0:
            url = self.base_url + parts.path[at:] + (f"?{parts.query}" if parts.query else "")
        elif f"{parts.scheme}://{parts.netloc}" != _origin(self.base_url):
            return url, {}, None
        headers, auth = self._credentials()
        return url, headers, auth

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers, auth = self._credentials()
        headers["Accept"] = "application/json"  # also asks auth/qr for {mimetype, data} instead of a PNG
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if auth is not None:
            kwargs["auth"] = auth
        if json_body is not None:
            kwargs["json"] = json_body
        try:
            response = await self.http.request(method, self.base_url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise PlatformError(
                f"WAHA at {self.base_url} unreachable: {exc!r}", code="network", retryable=True
            ) from exc
        if response.status_code >= 400:
            raise waha_error(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise PlatformError(
                f"WAHA answered {method} {path} with non-JSON",
                status=response.status_code,
                code="bad_response",
            ) from exc

    # -- sessions ---------------------------------------------------------------------------------------

    async def send_typing(self, recipient: str, *, message_id: str | None = None) -> bool:
        await self._json("POST", "/api/startTyping", json={"session": self.session, "chatId": recipient})
        return True

    async def get_session(self) -> dict[str, Any]:
        """``GET /api/sessions/{session}``: name, status, config, me, engine."""
        return await self._json("GET", f"/api/sessions/{self._s}") or {}

    async def get_channel_info(self, channel_id: str = "") -> ChannelInfo:
        session = await self.get_session()
        me = session.get("me") if isinstance(session.get("me"), dict) else {}
        engine = session.get("engine")
        return ChannelInfo(
            external_id=str(me.get("id") or session.get("name") or self.session),
            name=me.get("pushName"),
            details={
                "session": session.get("name", self.session),
                "status": session.get("status"),
                "me": me or None,
                "engine": engine.get("engine") if isinstance(engine, dict) else engine,
            },
        )

    async def session_status(self) -> str:
        return str((await self.get_session()).get("status") or "")

    def webhook_config(self, url: str, hmac_key: str) -> dict[str, Any]:
        """Souk's webhook: signed with ``hmac_key``, or, for a channel verified by API key, carrying that key in a
        custom header instead (see :mod:`souk.platforms.waha.verify`)."""
        hook: dict[str, Any] = {"url": url, "events": list(WEBHOOK_EVENTS), "retries": dict(WEBHOOK_RETRIES)}
        if self.config.get("webhookVerification") == "api_key":
            key = _verify.api_key({**self.secrets, "webhookSecret": hmac_key}) or hmac_key
            hook["customHeaders"] = [{"name": _verify.API_KEY_HEADER, "value": key}]
        else:
            hook["hmac"] = {"key": hmac_key}
        return hook

    def _session_config(
        self, base: dict[str, Any] | None, webhook_url: str, hmac_key: str, metadata: dict[str, str] | None
    ) -> dict[str, Any]:
        """``base`` (the session's current config: proxy, engine options) with Souk's webhook and metadata.

        Souk's webhook for this channel replaces the one it set before (even under another base URL); webhooks that
        others set on the session are kept.

        PUT replaces the whole config, so the current one is the starting point. The NOWEB store is enabled
        unless no history is wanted (NOWEB keeps no history without it; other engines ignore it).
        """
        config = dict(base or {})
        others = [h for h in config.get("webhooks") or [] if not _same_channel_hook(h, webhook_url)]
        config["webhooks"] = [*others, self.webhook_config(webhook_url, hmac_key)]
        config["metadata"] = {**(config.get("metadata") or {}), **(metadata or {})}
        strategy = self.config.get("importStrategy", "new_only")
        if strategy != "none" and "noweb" not in config:
            config["noweb"] = {"store": {"enabled": True, "fullSync": strategy == "all"}}
        return config

    async def _put_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return await self._json("PUT", f"/api/sessions/{self._s}", json_body={"name": self.session, "config": config})

    async def create_or_start_session(
        self, webhook_url: str, hmac_key: str, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Create and start the session with Souk's webhook; if it exists (422/409), update and start it."""
        config = self._session_config(None, webhook_url, hmac_key, metadata)
        try:
            return await self._json(
                "POST", "/api/sessions", json_body={"name": self.session, "start": True, "config": config}
            )
        except PlatformError as exc:
            if exc.status not in (409, 422):
                raise
            exists_error = exc
        try:
            current = await self.get_session()
        except PlatformError as exc:
            if exc.status == 404:  # the 422 was something else, e.g. WAHA Core allows only "default"
                raise exists_error from exc
            raise
        await self._put_config(self._session_config(current.get("config"), webhook_url, hmac_key, metadata))
        return await self._json("POST", f"/api/sessions/{self._s}/start") or {}

    async def configure_webhook(self, url: str, secret: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """Point the session's webhook at ``url`` signed with ``secret``; creates the session if new."""
        try:
            current = await self.get_session()
        except PlatformError as exc:
            if exc.status != 404:
                raise
            config = self._session_config(None, url, secret, metadata)
            return (
                await self._json(
                    "POST",
                    "/api/sessions",
                    json_body={"name": self.session, "start": False, "config": config},
                )
                or {}
            )
        return await self._put_config(self._session_config(current.get("config"), url, secret, metadata)) or {}

    async def delete_webhook(self, url: str | None = None) -> None:
        """Remove Souk's webhook for the channel at ``url`` from the session, and only that one: the session may
        serve other webhooks that are not Souk's to remove. Without ``url`` there is nothing known to remove."""
        if not url:
            return
        current = await self.get_session()
        config = dict(current.get("config") or {})
        hooks = list(config.get("webhooks") or [])
        kept = [h for h in hooks if not _same_channel_hook(h, url)]
        if len(kept) == len(hooks):
            return
        config["webhooks"] = kept
        await self._put_config(config)

    async def get_qr(self) -> str:
        """The current QR code as a ``data:image/png;base64,…`` URI (only in SCAN_QR_CODE status)."""
        response = await self._request("GET", f"/api/{self._s}/auth/qr", params={"format": "image"})
        if response.headers.get("content-type", "").startswith("application/json"):
            data = response.json()
            return f"data:{data.get('mimetype') or 'image/png'};base64,{data['data']}"
        mime = response.headers.get("content-type", "image/png").split(";")[0].strip() or "image/png"
        return f"data:{mime};base64,{base64.b64encode(response.content).decode()}"

    async def stop_session(self) -> dict[str, Any]:
        return await self._json("POST", f"/api/sessions/{self._s}/stop") or {}

    async def restart_session(self) -> dict[str, Any]:
        return await self._json("POST", f"/api/sessions/{self._s}/restart") or {}

    async def logout_session(self) -> dict[str, Any]:
        return await self._json("POST", f"/api/sessions/{self._s}/logout") or {}

    # -- sending ----------------------------------------------------------------------------------------

    async def _send(self, endpoint: str, body: dict[str, Any]) -> SendResult:
        data = await self._json("POST", f"/api/{endpoint}", json_body={"session": self.session, **body})
        return SendResult(
            external_id=message_id_from_response(data, body["chatId"]),
            raw=data if isinstance(data, dict) else {},
        )

    async def send_text(self, chat_id: str, text: str, reply_to: str | None = None) -> SendResult:
        body: dict[str, Any] = {"chatId": chat_id, "text": text}
        if reply_to:
            body["reply_to"] = reply_to
        return await self._send("sendText", body)

    async def send_image(
        self, chat_id: str, file: dict[str, Any], caption: str | None = None, reply_to: str | None = None
    ) -> SendResult:
        """``file`` is ``{"url"|"data" (base64), "mimetype", "filename"}``."""
        return await self._send("sendImage", self._media_body(chat_id, file, caption, reply_to))

    async def send_file(
        self, chat_id: str, file: dict[str, Any], caption: str | None = None, reply_to: str | None = None
    ) -> SendResult:
        return await self._send("sendFile", self._media_body(chat_id, file, caption, reply_to))

    @staticmethod
    def _media_body(chat_id: str, file: dict[str, Any], caption: str | None, reply_to: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"chatId": chat_id, "file": file}
        if caption:
            body["caption"] = caption
        if reply_to:
            body["reply_to"] = reply_to
        return body

    async def send_message(self, channel_id: str, recipient: str, content: dict[str, Any]) -> SendResult:
        """Send to ``recipient`` (a chat id, else ``channel_id``): text, images, other media as files."""
        chat_id = recipient or channel_id
        if not chat_id:
            raise PlatformError("WAHA send needs a chat id", code="invalid_recipient")
        kind = content.get("type", "text")
        reply_to = content.get("reply_to")
        if kind == "text":
            return await self.send_text(chat_id, str(content.get("text") or ""), reply_to)
        media = content["media"] if isinstance(content.get("media"), dict) else content
        file = {key: media[key] for key in ("url", "data", "mimetype", "filename") if media.get(key)}
        if not file.get("url") and not file.get("data"):
            raise PlatformError(f"WAHA {kind} content needs a url or base64 data", code="invalid_content")
        caption = content.get("caption") or media.get("caption") or content.get("text")
        if kind == "image":
            return await self.send_image(chat_id, file, caption, reply_to)
        if kind in FILE_TYPES:
            return await self.send_file(chat_id, file, caption, reply_to)
        raise PlatformError(f"WAHA cannot send {kind!r} content", code="unsupported_content")

    # -- chats and history ------------------------------------------------------------------------------

    async def list_chats(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Chats, most recent first; each ``id`` as a string (WEBJS may answer ``{"_serialized": …}``)."""
        params = {"limit": limit, "offset": offset, "sortBy": "messageTimestamp", "sortOrder": "desc"}
        chats = await self._json("GET", f"/api/{self._s}/chats", params=params) or []
        return [{**chat, "id": serialized(chat.get("id"))} for chat in chats if isinstance(chat, dict)]

    async def list_chat_messages(
        self,
        chat_id: str,
        limit: int = 100,
        offset: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """``WAMessage`` items of one chat (media not downloaded), optionally within [since, until]."""
        params: dict[str, Any] = {"limit": limit, "offset": offset, "downloadMedia": False}
        if since is not None:
            params["filter.timestamp.gte"] = int(since.timestamp())
        if until is not None:
            params["filter.timestamp.lte"] = int(until.timestamp())
        path = f"/api/{self._s}/chats/{quote(chat_id, safe='')}/messages"
        items = await self._json("GET", path, params=params) or []
        return [item for item in items if isinstance(item, dict)]

    async def list_messages(self, channel_id: str, limit: int, before_ts: datetime | None) -> list[VendorMessage]:
        """Seed 002's ListMessages for one chat (``channel_id``): newest first, before ``before_ts``."""
        items = await self.list_chat_messages(channel_id, limit, 0, until=before_ts)
        messages = []
        for item in items:
            timestamp = ts_seconds(item.get("timestamp") or 0)
            if before_ts is not None and timestamp >= before_ts:
                continue
            sender = item.get("participant") or item.get("from") or ""
            messages.append(
                VendorMessage(
                    external_id=normalize_id(serialized(item.get("id"))),
                    sender_id=str(sender),
                    text=item.get("body") or None,
                    timestamp=timestamp,
                    raw=item,
                )
            )
        messages.sort(key=lambda message: message.timestamp, reverse=True)
        return messages[:limit]


def _same_channel_hook(hook: Any, url: str) -> bool:
    """Whether a session webhook is Souk's for the channel whose URL is ``url``: the same
    ``/webhooks/waha/<channel id>`` path, whatever base URL it was set under."""
    if not isinstance(hook, dict) or not isinstance(hook.get("url"), str):
        return False
    try:
        theirs, ours = urlsplit(hook["url"]).path.rstrip("/"), urlsplit(url).path.rstrip("/")
    except ValueError:
        return False
    segments = ours.split("/")
    if len(segments) < 4 or segments[-3:-1] != ["webhooks", "waha"]:
        return theirs == ours
    return theirs.endswith("/".join(segments[-3:]))
