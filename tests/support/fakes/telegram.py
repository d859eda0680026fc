"""A fake Telegram Bot API server: ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``.

It keeps what a test needs to assert on and what the real API would remember: sent messages (ids increase
per chat), the webhook (``webhook_secret`` is what Telegram sends back in ``X-Telegram-Bot-Api-Secret-Token``)
and stored files. Errors use the Bot API's shapes: ``throttle`` answers 429 with ``parameters.retry_after``,
``fail`` queues any ``{"ok": false, ...}`` answer for one method, ``block`` makes a chat answer 403::

    with FakeTelegram() as fake:
        client = TelegramClient({"apiBaseURL": fake.url}, {"botToken": fake.token}, http)
        fake.throttle(times=2, retry_after=5)
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import defaultdict
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.servers import FakePlatformServer

DEFAULT_TOKEN = "123456789:AAH-fake-telegram-token_for_tests00"
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_SEND_METHODS = {"sendmessage", "sendphoto", "senddocument"}
_BAD_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_DESCRIPTIONS = {"setwebhook": "Webhook was set", "deletewebhook": "Webhook was deleted"}


def error_body(code: int, description: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


class FakeTelegram(FakePlatformServer):
    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "souk_test_bot",
        require_https: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.require_https = require_https
        self.bot: dict[str, Any] = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Souk Test Bot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": True,
        }
        self.sent: list[dict[str, Any]] = []  # every sent Message, oldest first
        self.webhook: dict[str, Any] = {}  # url, allowed_updates, ... as setWebhook received them
        self.webhook_secret: str | None = None
        self.answered_callbacks: list[dict[str, Any]] = []
        self.chat_actions: list[dict[str, Any]] = []  # sendChatAction calls (typing indicators)
        self.blocked: set[str] = set()  # chat ids (as str) whose user blocked the bot
        self._lock = threading.Lock()
        self._message_ids: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._file_ids = itertools.count(1)
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self._failures: dict[str, list[list[Any]]] = defaultdict(list)  # method -> [[code, body, times]]
        self._throttled = 0
        self._retry_after = 5

    # -- what tests use -------------------------------------------------------------------------------------

    def throttle(self, times: int = 1, retry_after: int = 5) -> None:
        """Answer the next ``times`` sends (any send method) with Telegram's flood-control 429."""
        with self._lock:
            self._throttled, self._retry_after = times, retry_after

    def fail(
        self,
        method: str,
        code: int,
        description: str,
        times: int = 1,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error_code": code, ...}``."""
        with self._lock:
            self._failures[method.lower()].append([code, error_body(code, description, parameters), times])

    def block(self, chat_id: int | str) -> None:
        self.blocked.add(str(chat_id))

    def add_file(self, content: bytes, file_path: str = "documents/file.bin") -> str:
        """Store a file as if a user had sent it; returns its ``file_id`` for getFile."""
        with self._lock:
            file_id = f"FILE{next(self._file_ids):06d}"
            self._files[file_id] = (file_path, content)
        return file_id

    def messages_in(self, chat_id: int | str) -> list[dict[str, Any]]:
        return [m for m in self.sent if str(m["chat"]["id"]) == str(chat_id)]

    # -- the API --------------------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/file/bot"):
            return self._download(path)
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", path)
        if not match:
            return JSONResponse(error_body(404, "Not Found"), status_code=404)
        if match.group(1) != self.token:
            return JSONResponse(error_body(401, "Unauthorized"), status_code=401)
        method = match.group(2).lower()  # Bot API method names are case-insensitive
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return JSONResponse(error_body(404, "Not Found: method not found"), status_code=404)
        failure = self._take_failure(method)
        if failure:
            return JSONResponse(failure[1], status_code=failure[0])
        if method in _SEND_METHODS and self._take_throttle():
            retry_after = self._retry_after
            description = f"Too Many Requests: retry after {retry_after}"
            body = error_body(429, description, {"retry_after": retry_after})
            return JSONResponse(body, status_code=429)
        params = await _params(request)
        try:
            body: dict[str, Any] = {"ok": True, "result": handler(params)}
        except _ApiError as exc:
            return JSONResponse(error_body(exc.code, exc.description), status_code=exc.code)
        if method in _DESCRIPTIONS:
            body["description"] = _DESCRIPTIONS[method]
        return JSONResponse(body)

    def _m_getme(self, params: dict[str, Any]) -> Any:
        return self.bot

    def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        text = params.get("text")
        if not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        return self._store(params, {"text": text})

    def _m_sendphoto(self, params: dict[str, Any]) -> Any:
        file_id = self._file_param(params, "photo", "photos/photo.jpg")
        sizes = [
            {"file_id": f"{file_id}-s", "file_unique_id": f"u{file_id}-s", "width": 90, "height": 90},
            {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 1280, "height": 1280},
        ]
        return self._store(params, {"photo": sizes, **_caption(params)})

    def _m_senddocument(self, params: dict[str, Any]) -> Any:
        file_id = self._file_param(params, "document", "documents/file.bin")
        file_path, content = self._files[file_id]
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_path.rsplit("/", 1)[-1],
            "file_size": len(content),
        }
        return self._store(params, {"document": document, **_caption(params)})

    def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        url = params.get("url") or ""
        if url and self.require_https and not url.startswith("https://"):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        with self._lock:
            self.webhook = {k: v for k, v in params.items() if k != "secret_token"} if url else {}
            self.webhook_secret = secret if url else None
        return True

    def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        with self._lock:
            self.webhook, self.webhook_secret = {}, None
        return True

    def _m_getwebhookinfo(self, params: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        if self.webhook:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            if "allowed_updates" in self.webhook:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _m_getfile(self, params: dict[str, Any]) -> Any:
        file_id = params.get("file_id")
        if file_id not in self._files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        file_path, content = self._files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(content),
            "file_path": file_path,
        }

    def _m_sendchataction(self, params: dict[str, Any]) -> Any:
        with self._lock:
            self.chat_actions.append({"chat_id": params.get("chat_id"), "action": params.get("action")})
        return True

    def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            raise _ApiError(400, _BAD_QUERY)
        with self._lock:
            self.answered_callbacks.append(params)
        return True

    # -- plumbing -------------------------------------------------------------------------------------------

    def _download(self, path: str) -> Response:
        token, _, file_path = path.removeprefix("/file/bot").partition("/")
        if token != self.token:
            return JSONResponse(error_body(401, "Unauthorized"), status_code=401)
        content = next((c for p, c in self._files.values() if p == file_path), None)
        if content is None:
            return JSONResponse(error_body(404, "Not Found"), status_code=404)
        return Response(content, media_type="application/octet-stream")

    def _take_failure(self, method: str) -> list[Any] | None:
        with self._lock:
            queue = self._failures.get(method)
            if not queue:
                return None
            failure = queue[0]
            failure[2] -= 1
            if failure[2] == 0:
                queue.pop(0)
            return failure

    def _take_throttle(self) -> bool:
        with self._lock:
            if self._throttled <= 0:
                return False
            self._throttled -= 1
            return True

    def _file_param(self, params: dict[str, Any], field: str, default_path: str) -> str:
        value = params.get(field)
        if isinstance(value, _Upload):
            return self.add_file(value.content, f"{default_path.split('/')[0]}/{value.filename}")
        if isinstance(value, str) and value in self._files:
            return value
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self.add_file(b"", f"{default_path.split('/')[0]}/{value.rsplit('/', 1)[-1]}")
        raise _ApiError(400, f"Bad Request: wrong remote file identifier specified: {field}")

    def _store(self, params: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if str(chat_id) in self.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        chat_id = int(chat_id) if re.fullmatch(r"-?\d+", str(chat_id)) else chat_id
        business_connection_id = params.get("business_connection_id")
        with self._lock:
            message_id = next(self._message_ids[f"{chat_id}@{business_connection_id or ''}"])
            message: dict[str, Any] = {
                "message_id": message_id,
                "from": {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")},
                "chat": {
                    "id": chat_id,
                    "type": "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup",
                },
                "date": int(time.time()),
                **content,
            }
            if business_connection_id:
                message["business_connection_id"] = business_connection_id
            if params.get("message_thread_id") is not None:
                message["message_thread_id"] = int(params["message_thread_id"])
            reply = params.get("reply_parameters")
            if isinstance(reply, dict):
                message["reply_to_message"] = {"message_id": reply.get("message_id"), "chat": message["chat"]}
            self.sent.append(message)
        return message


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class _Upload:
    """A multipart file part, read eagerly so handlers stay synchronous."""

    def __init__(self, filename: str, content: bytes) -> None:
        self.filename = filename
        self.content = content


def _caption(params: dict[str, Any]) -> dict[str, Any]:
    return {"caption": params["caption"]} if params.get("caption") else {}


async def _params(request: Request) -> dict[str, Any]:
    """Query string, JSON, urlencoded or multipart, as the Bot API accepts; JSON-encoded fields decoded."""
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        if body:
            params.update(json.loads(body))
    elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                params[key] = _Upload(value.filename or key, await value.read())
            else:
                params[key] = _maybe_json(value)
    return params


def _maybe_json(value: str) -> Any:
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
