"""A fake Chotot partner API: exactly the assumed API of docs/platforms/chotot.md, nothing more.

Chotot publishes no API; this fake is the executable form of the contract Souk assumes (auth headers, paths,
payloads, ``{"error": {"code", "message"}}`` errors). Besides the HTTP API it produces the broker messages
Chotot would publish on ``vendors.chotot.<channel_id>`` for every message it stores (:attr:`FakeChotot.published`),
so whole-stack tests can feed them to the bus.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.servers import FakePlatformServer

ATTACHMENT_TYPES = {"image", "video", "audio", "file", "sticker"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _now_ms() -> int:
    return int(time.time() * 1000)


class FakeChotot(FakePlatformServer):
    """One partner (``partner_id`` + ``api_key``) linked to one shop account (``account_id``)."""

    def __init__(
        self,
        *,
        partner_id: str = "partner-souk",
        api_key: str = "chotot-test-key",
        account_id: str = "1000001",
        account_name: str = "Souk Shop",
    ) -> None:
        super().__init__()
        self.partner_id = partner_id
        self.api_key = api_key
        self.account_id = account_id
        self.accounts: dict[str, dict[str, Any]] = {
            account_id: {"id": account_id, "name": account_name, "avatar": None, "created_at": 1_600_000_000_000}
        }
        self.chats: dict[str, dict[str, Any]] = {}
        self.chat_messages: dict[str, list[dict[str, Any]]] = {}
        self.ads: dict[str, list[dict[str, Any]]] = {}
        self.sent: list[dict[str, Any]] = []  # messages created through POST …/messages
        self.published: list[dict[str, Any]] = []  # broker messages, as Chotot would publish them
        self._by_client_id: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()

    # -- what tests call ------------------------------------------------------------------------------------

    def add_chat(
        self,
        chat_id: str | None = None,
        *,
        buyer_id: str = "2000001",
        buyer_name: str = "Nguyễn Văn A",
        item: dict[str, Any] | None = None,
        n_messages: int = 0,
        start_ms: int = 1_700_000_000_000,
        step_ms: int = 60_000,
    ) -> dict[str, Any]:
        """A chat room between a buyer and the shop about one listing, with ``n_messages`` from the buyer."""
        with self._lock:
            chat_id = chat_id or secrets.token_hex(12)
            chat = {
                "id": chat_id,
                "account_id": self.account_id,
                "participants": [
                    {"id": buyer_id, "name": buyer_name, "role": "buyer"},
                    {"id": self.account_id, "name": self.accounts[self.account_id]["name"], "role": "seller"},
                ],
                "item": item
                or {
                    "list_id": 112233445,
                    "name": "Áo khoác xanh",
                    "price": 500000,
                    "image": "https://cdn.chotot.example/112233445.jpg",
                    "url": "https://www.chotot.com/112233445.htm",
                },
                "created_at": start_ms,
                "last_message_at": None,
            }
            self.chats[chat_id] = chat
            self.chat_messages[chat_id] = []
            for i in range(n_messages):
                self.add_message(
                    chat_id, sender_id=buyer_id, text=f"tin nhắn {i + 1}", timestamp=start_ms + i * step_ms
                )
            return chat

    def add_message(
        self,
        chat_id: str,
        *,
        sender_id: str,
        text: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        timestamp: int | None = None,
        client_message_id: str | None = None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """Store a message (e.g. the buyer writing) and publish its broker message."""
        with self._lock:
            chat = self.chats[chat_id]
            participants = {p["id"]: p for p in chat["participants"]}
            recipient = next(pid for pid in participants if pid != sender_id)
            message = {
                "id": secrets.token_hex(12),
                "chat_id": chat_id,
                "sender": {"id": sender_id, "name": participants[sender_id]["name"]},
                "recipient": {"id": recipient},
                "text": text,
                "attachments": attachments or [],
                "reply_to": reply_to,
                "client_message_id": client_message_id,
                "timestamp": timestamp if timestamp is not None else _now_ms(),
            }
            self.chat_messages[chat_id].append(message)
            chat["last_message_at"] = max(chat["last_message_at"] or 0, message["timestamp"])
            self.published.append(self.broker_message(message))
            return message

    def broker_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """The broker message for a stored message (the shape Souk's parser reads)."""
        chat = self.chats[message["chat_id"]]
        return {
            "event": "message",
            "message_id": message["id"],
            "channel_id": chat["id"],
            "account_id": self.account_id,
            "sender": dict(message["sender"]),
            "recipient": dict(message["recipient"]),
            "text": message["text"],
            "attachments": list(message["attachments"]),
            "reply_to": message["reply_to"],
            "client_message_id": message["client_message_id"],
            "timestamp": message["timestamp"],
            "item": {key: chat["item"][key] for key in ("list_id", "name", "price")},
        }

    def add_ads(self, user_id: str, n: int, *, first_list_id: int = 100_000_001) -> list[dict[str, Any]]:
        with self._lock:
            ads = [
                {
                    "list_id": first_list_id + i,
                    "subject": f"Sản phẩm {i + 1}",
                    "price": 100_000 * (i + 1),
                    "price_string": f"{100_000 * (i + 1):,} đ".replace(",", "."),
                    "status": "active",
                    "image": f"https://cdn.chotot.example/{first_list_id + i}.jpg",
                    "url": f"https://www.chotot.com/{first_list_id + i}.htm",
                }
                for i in range(n)
            ]
            self.ads.setdefault(user_id, []).extend(ads)
            return ads

    # -- HTTP -----------------------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        if (
            request.headers.get("authorization") != f"Bearer {self.api_key}"
            or request.headers.get("x-partner-id") != self.partner_id
        ):
            return _error(401, "UNAUTHORIZED", "invalid partner credentials")
        for method, pattern, name in _ROUTES:
            match = pattern.fullmatch(request.url.path)
            if method == request.method and match:
                handler: Callable[..., Awaitable[Response]] = getattr(self, name)
                try:
                    body = json.loads(await request.body()) if request.method == "POST" else None
                except ValueError:
                    return _error(400, "INVALID_REQUEST", "body is not JSON")
                with self._lock:
                    return await handler(request, body, **match.groupdict())
        return _error(404, "NOT_FOUND", f"no route {request.method} {request.url.path}")

    def _chat(self, chat_id: str) -> dict[str, Any] | JSONResponse:
        chat = self.chats.get(chat_id)
        if chat is None:
            return _error(404, "NOT_FOUND", f"chat {chat_id} not found")
        if self.account_id not in {p["id"] for p in chat["participants"]}:
            return _error(403, "FORBIDDEN", "the account is not in this chat")
        return chat

    async def _account(self, request: Request, body: Any, account_id: str) -> Response:
        if account_id not in self.accounts:
            return _error(404, "NOT_FOUND", f"account {account_id} not found")
        if account_id != self.account_id:
            return _error(403, "FORBIDDEN", "the account is not linked to this partner")
        return JSONResponse({"account": self.accounts[account_id]})

    async def _get_chat(self, request: Request, body: Any, chat_id: str) -> Response:
        chat = self._chat(chat_id)
        return chat if isinstance(chat, Response) else JSONResponse({"chat": chat})

    async def _list_messages(self, request: Request, body: Any, chat_id: str) -> Response:
        chat = self._chat(chat_id)
        if isinstance(chat, Response):
            return chat
        try:
            limit = int(request.query_params.get("limit", 20))
            before = int(request.query_params["before"]) if "before" in request.query_params else None
        except ValueError:
            return _error(400, "INVALID_REQUEST", "limit and before must be integers")
        if not 1 <= limit <= 100:
            return _error(400, "INVALID_REQUEST", "limit must be between 1 and 100")
        items = [m for m in self.chat_messages[chat_id] if before is None or m["timestamp"] < before]
        items.sort(key=lambda m: m["timestamp"], reverse=True)
        return JSONResponse({"messages": items[:limit], "has_more": len(items) > limit})

    async def _send(self, request: Request, body: Any, chat_id: str) -> Response:
        chat = self._chat(chat_id)
        if isinstance(chat, Response):
            return chat
        if not isinstance(body, dict):
            return _error(400, "INVALID_REQUEST", "body must be a JSON object")
        if body.get("sender_id") != self.account_id:
            return _error(403, "FORBIDDEN", "sender_id must be the partner's account")
        if body.get("recipient_id") not in {p["id"] for p in chat["participants"]} - {self.account_id}:
            return _error(400, "INVALID_REQUEST", "recipient_id is not the other participant of the chat")
        attachments = body.get("attachments") or []
        if not body.get("text") and not attachments:
            return _error(400, "INVALID_REQUEST", "text or attachments is required")
        if any(a.get("type") not in ATTACHMENT_TYPES or not a.get("url") for a in attachments):
            return _error(400, "INVALID_REQUEST", f"attachments need a url and a type in {sorted(ATTACHMENT_TYPES)}")
        client_id = body.get("client_message_id")
        if client_id and client_id in self._by_client_id:  # a retried send: the same message, not a new one
            return JSONResponse({"message": self._by_client_id[client_id]}, status_code=200)
        message = self.add_message(
            chat_id,
            sender_id=self.account_id,
            text=body.get("text"),
            attachments=attachments,
            client_message_id=client_id,
            reply_to=body.get("reply_to"),
        )
        if client_id:
            self._by_client_id[client_id] = message
        self.sent.append(message)
        return JSONResponse({"message": message}, status_code=201)

    async def _user_ads(self, request: Request, body: Any, user_id: str) -> Response:
        try:
            limit = int(request.query_params.get("limit", 20))
            page = int(request.query_params.get("page", 1))
        except ValueError:
            return _error(400, "INVALID_REQUEST", "limit and page must be integers")
        if not 1 <= limit <= 100 or page < 1:
            return _error(400, "INVALID_REQUEST", "limit must be 1..100 and page >= 1")
        ads = self.ads.get(user_id, [])
        start = (page - 1) * limit
        return JSONResponse({"ads": ads[start : start + limit], "total": len(ads), "page": page, "limit": limit})


_ROUTES = [
    (method, re.compile(pattern), name)
    for method, pattern, name in [
        ("GET", r"/v1/accounts/(?P<account_id>[^/]+)", "_account"),
        ("GET", r"/v1/chats/(?P<chat_id>[^/]+)", "_get_chat"),
        ("GET", r"/v1/chats/(?P<chat_id>[^/]+)/messages", "_list_messages"),
        ("POST", r"/v1/chats/(?P<chat_id>[^/]+)/messages", "_send"),
        ("GET", r"/v1/users/(?P<user_id>[^/]+)/ads", "_user_ads"),
    ]
]
