"""Telegram Bot API client: ``POST {apiBaseURL}/bot<token>/<method>`` with JSON, answer ``{"ok", "result"}``.

The token is part of every URL, so errors never carry the URL or the httpx exception that holds it.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

import httpx

from souk.platforms.plugin import ChannelInfo, PlatformError, SendResult, VendorClient
from souk.platforms.telegram.config import DEFAULT_API_BASE_URL
from souk.platforms.telegram.parse import message_key, split_message_key, split_thread, split_topic

#: every update kind the parser turns into an event; message_reaction and business_* must be asked for by name
ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "callback_query",
    "my_chat_member",
]

#: canonical content type → (send method, field holding the file_id or HTTPS URL)
MEDIA_METHODS = {
    "image": ("sendPhoto", "photo"),
    "video": ("sendVideo", "video"),
    "audio": ("sendAudio", "audio"),
    "voice": ("sendVoice", "voice"),
    "document": ("sendDocument", "document"),
    "sticker": ("sendSticker", "sticker"),
}

_INT = re.compile(r"-?\d+")


class TelegramClient(VendorClient):
    vendor_type = "telegram"

    # -- seed 002 Vendor interface --------------------------------------------------------------------------

    async def get_channel_info(self, channel_id: str = "") -> ChannelInfo:
        """getMe: proves the token works and names the bot."""
        me = await self.call("getMe")
        flags = (
            "can_join_groups",
            "can_read_all_group_messages",
            "supports_inline_queries",
            "can_connect_to_business",
        )
        details = {"username": me.get("username"), **{k: me[k] for k in flags if k in me}}
        return ChannelInfo(external_id=str(me["id"]), name=me.get("first_name"), details=details)

    async def send_message(self, channel_id: str, recipient: str, content: dict[str, Any]) -> SendResult:
        """Send text (``sendMessage``) or media by file_id / HTTPS URL (``sendPhoto`` ...).

        ``recipient`` is a thread id from the parser (``"<chat_id>"``, ``"<chat_id>@<business_connection_id>"``,
        or a forum topic's ``"<chat_id>/<message_thread_id>"``) or an ``@channelusername``. ``content["reply_to"]`` is a
        message external id (``"<thread>:<message_id>"``); the send does not fail if that message is gone.
        ``content["message_thread_id"]`` posts in a forum topic. ``buttons`` (``[{id, title} | {url, title}]``)
        become an inline keyboard and ``quick_replies`` (``options: [{title}]``) a one-time reply keyboard; media
        given as ``upload`` (``{data, filename, mime}``) is sent as a multipart upload.
        """
        chat, business_connection_id = split_thread(recipient)
        topic = split_topic(recipient)[1]  # a forum topic's conversation posts in its topic
        chat_id: int | str = int(chat) if _INT.fullmatch(chat) else chat
        business_connection_id = content.get("business_connection_id") or business_connection_id
        payload: dict[str, Any] = {"chat_id": chat_id}
        if business_connection_id:
            payload["business_connection_id"] = business_connection_id
        if content.get("message_thread_id") is not None:
            payload["message_thread_id"] = content["message_thread_id"]
        elif topic is not None:
            payload["message_thread_id"] = topic
        if content.get("reply_to"):
            payload["reply_parameters"] = _reply_parameters(str(content["reply_to"]), chat)
        kind = content.get("type", "text")
        markup = _reply_markup(content)
        if markup:
            payload["reply_markup"] = markup
        files = None
        if kind in ("text", "buttons", "quick_replies"):
            method = "sendMessage"
            payload["text"] = content["text"]
        elif kind in MEDIA_METHODS:
            method, field = MEDIA_METHODS[kind]
            upload = content.get("upload")
            if upload:
                files = {field: (upload.get("filename") or field, upload["data"], upload.get("mime"))}
            else:
                payload[field] = content.get("media_id") or content.get("url")
            if content.get("caption"):
                payload["caption"] = content["caption"]
        else:
            raise PlatformError(f"Telegram cannot send content type {kind!r}", code="unsupported_content")
        body = await self.request(method, payload, files=files)
        sent = body["result"]
        external_id = message_key(sent["chat"]["id"], sent["message_id"], business_connection_id)
        return SendResult(external_id=external_id, raw=body)

    # -- webhook management ---------------------------------------------------------------------------------

    async def configure_webhook(self, url: str, secret: str) -> dict[str, Any]:
        """setWebhook; Telegram then sends ``secret`` as ``X-Telegram-Bot-Api-Secret-Token`` with updates."""
        payload = {"url": url, "secret_token": secret, "allowed_updates": ALLOWED_UPDATES}
        return await self.request("setWebhook", payload)

    async def delete_webhook(self, url: str | None = None) -> None:
        """A bot has one webhook, and Souk set it: deleteWebhook."""
        await self.request("deleteWebhook", {"drop_pending_updates": False})

    async def get_webhook_info(self) -> dict[str, Any]:
        """URL, ``pending_update_count``, ``last_error_date``, ``last_error_message``: channel health."""
        return await self.call("getWebhookInfo")

    # -- extras the worker needs ----------------------------------------------------------------------------

    async def send_typing(self, recipient: str, *, message_id: str | None = None) -> bool:
        chat, topic = split_topic(recipient)
        action: dict[str, Any] = {"chat_id": split_thread(chat)[0], "action": "typing"}
        if topic is not None:
            action["message_thread_id"] = topic
        await self.call("sendChatAction", action)
        return True

    async def answer_callback_query(self, callback_query_id: str, text: str | None = None) -> None:
        """Stop the button's loading spinner (the user's client waits for this)."""
        payload: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text:
            payload["text"] = text
        await self.call("answerCallbackQuery", payload)

    async def download_media(self, file_id: str) -> bytes:
        """getFile, then ``GET {apiBaseURL}/file/bot<token>/<file_path>`` (valid for at least an hour)."""
        file = await self.call("getFile", {"file_id": file_id})
        try:
            response = await self.http.get(self.file_url(file["file_path"]))
        except httpx.HTTPError as exc:
            raise PlatformError(f"Telegram file download: {type(exc).__name__}", retryable=True) from None
        if response.status_code != 200:
            _raise("file download", response)
        return response.content

    def file_url(self, file_path: str) -> str:
        """Where getFile's ``file_path`` is downloaded. It holds the bot token: never log it or put it in errors."""
        return f"{self._base}/file/bot{self._token()}/{file_path}"

    # -- plumbing -------------------------------------------------------------------------------------------

    async def call(self, method: str, payload: dict[str, Any] | None = None) -> Any:
        """Call a Bot API method and return its ``result``."""
        return (await self.request(method, payload))["result"]

    async def request(
        self, method: str, payload: dict[str, Any] | None = None, *, files: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Call a Bot API method and return the whole ``{"ok": true, ...}`` body, or raise PlatformError.

        With ``files`` the call is multipart (an upload); object fields are then JSON-encoded, as the Bot API
        expects in form data.
        """
        url = f"{self._base}/bot{self._token()}/{method}"
        try:
            if files:
                form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (payload or {}).items()}
                response = await self.http.post(url, data=form, files=files)
            else:
                response = await self.http.post(url, json=payload or {})
        except httpx.HTTPError as exc:
            raise PlatformError(f"Telegram {method}: {type(exc).__name__}", retryable=True) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("ok") is True and response.status_code < 300:
            return body
        _raise(method, response, body)

    @property
    def _base(self) -> str:
        return str(self.config.get("apiBaseURL") or DEFAULT_API_BASE_URL).rstrip("/")

    def _token(self) -> str:
        token = self.secrets.get("botToken")
        if not token:
            raise PlatformError("channel has no botToken", code="missing_credentials")
        return str(token)


def _reply_markup(content: dict[str, Any]) -> dict[str, Any] | None:
    """An inline keyboard for ``buttons`` (one per row), a one-time reply keyboard for ``quick_replies``."""
    if content.get("buttons"):
        rows = [
            [{"text": b["title"], "url": b["url"]}]
            if b.get("url")
            else [{"text": b["title"], "callback_data": str(b.get("id") or b["title"])}]
            for b in content["buttons"]
        ]
        return {"inline_keyboard": rows}
    if content.get("options"):
        rows = [[{"text": o["title"]}] for o in content["options"]]
        return {"keyboard": rows, "one_time_keyboard": True, "resize_keyboard": True}
    return None


def _reply_parameters(reply_to: str, chat: str) -> dict[str, Any]:
    thread, message_id = split_message_key(reply_to)
    reply: dict[str, Any] = {"message_id": message_id, "allow_sending_without_reply": True}
    reply_chat = split_thread(thread)[0] if thread else chat
    if reply_chat != chat:  # quoting a message from another chat
        reply["chat_id"] = int(reply_chat) if _INT.fullmatch(reply_chat) else reply_chat
    return reply


def _raise(method: str, response: httpx.Response, body: Any = None) -> NoReturn:
    """Map ``{"ok": false, "error_code", "description", "parameters"}`` to PlatformError.

    429 (with ``parameters.retry_after``) and 5xx are retryable; 400 (bad request) and 403 (bot blocked,
    cannot initiate a conversation) are not.
    """
    status = response.status_code
    if not isinstance(body, dict):
        body = {}
    code = body.get("error_code") if isinstance(body.get("error_code"), int) else status
    description = body.get("description") or response.reason_phrase or "no description"
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    retry_after = parameters.get("retry_after") or _retry_after_header(response)
    message = f"Telegram {method} failed: {description}"
    if parameters.get("migrate_to_chat_id"):
        message += f" (the group is now chat {parameters['migrate_to_chat_id']})"
    raise PlatformError(
        message,
        status=status,
        code=str(code),
        retryable=code == 429 or status == 429 or code >= 500 or status >= 500,
        retry_after=float(retry_after) if retry_after else None,
    )


def _retry_after_header(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
