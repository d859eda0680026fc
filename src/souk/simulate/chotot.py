"""Chotot (Chợ Tốt): a stand-in for the partner chat API Souk speaks, and buyers writing about the shop's listings.

Chotot has no webhooks: its chat vendor publishes every chat event on the broker, on the subject Souk gives the
channel (``vendors.chotot.<channel id>``, shown by ``webhook-info``), and Souk reads it from there. So the stand-in
connects to the same NATS server as Souk and publishes there, in the broker message shape of docs/platforms/chotot.md:
``message`` for what buyers write, then, for each of Souk's replies, the ``message`` Chotot publishes for every
message stored (the shop's own too, with the ``client_message_id`` Souk sent) and the buyer's ``read``. Chotot has no
delivery events.

Souk sends on the assumed partner API (``Authorization: Bearer <apiKey>``, ``X-Partner-ID``): ``POST
/v1/chats/{chat}/messages``, answered ``201 {"message"}`` (the same ``client_message_id`` again gives the same
message, ``200``); it checks the account with ``GET /v1/accounts/{account}`` and may look a chat room up or list its
messages.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from souk.bus.client import server_list
from souk.simulate.base import Customer, StandIn

PARTNER_ID = "SIMULATED-chotot-partner"
API_KEY = "SIMULATED-chotot-api-key"
ACCOUNT = {"id": "1000555", "name": "Souk Demo Shop", "avatar": None, "created_at": 1_700_000_000_000}
#: the listing (ad) each chat room is about: Chotot chats always start from one
LISTINGS = {
    "65f1c0ffee00000005550a01": {"list_id": 112200101, "name": "Running shoes", "price": 899},
    "65f1c0ffee00000005550a02": {"list_id": 112200102, "name": "Backpack", "price": 640},
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _now_ms() -> int:
    return int(time.time() * 1000)


class ChototStandIn(StandIn):
    channel_type = "chotot"
    label = "Chotot"
    customers = (
        Customer(
            "65f1c0ffee00000005550a01",
            "Nguyễn Minh Anh",
            "en",
            ("Are the running shoes in stock?", "How much are the running shoes?"),
            user_id="2000555101",
        ),
        Customer(
            "65f1c0ffee00000005550a02",
            "Trần Bảo",
            "en",
            ("Hello", "Do you accept cash on delivery?"),
            user_id="2000555102",
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subject: str | None = None  # the channel's broker subject, from Souk
        self.messages: dict[str, list[dict[str, Any]]] = {}  # chat room → its messages, oldest first
        self._by_client_id: dict[str, dict[str, Any]] = {}
        self._nc: NATS | None = None

    @property
    def inbound(self) -> str:
        return f"the broker subject {self.subject}" if self.subject else ""

    def config(self) -> dict[str, Any]:
        return {"baseURL": self.url, "partnerID": PARTNER_ID, "apiKey": API_KEY, "accountID": ACCOUNT["id"]}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/accounts/{account}", self.account_info, methods=["GET"]),
            Route("/v1/chats/{chat}", self.chat_info, methods=["GET"]),
            Route("/v1/chats/{chat}/messages", self.list_messages, methods=["GET"]),
            Route("/v1/chats/{chat}/messages", self.send, methods=["POST"]),
        ]

    # -- the partner API --------------------------------------------------------------------------------------------

    @staticmethod
    def _refused(request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {API_KEY}" or request.headers.get("x-partner-id") != (
            PARTNER_ID
        ):
            return _error(401, "UNAUTHORIZED", "invalid partner credentials")
        return None

    def _room(self, request: Request) -> tuple[Customer, dict[str, Any]] | JSONResponse:
        """The chat room named in the path, as Chotot describes it, or its 404."""
        chat = request.path_params["chat"]
        customer = next((c for c in self.customers if c.id == chat), None)
        if customer is None:
            return _error(404, "NOT_FOUND", f"chat {chat} not found")
        timestamps = [m["timestamp"] for m in self.messages.get(chat, [])]
        room = {
            "id": chat,
            "account_id": ACCOUNT["id"],
            "participants": [
                {"id": customer.user_id, "name": customer.name, "role": "buyer"},
                {"id": ACCOUNT["id"], "name": ACCOUNT["name"], "role": "seller"},
            ],
            "item": LISTINGS[chat],
            "created_at": min(timestamps, default=ACCOUNT["created_at"]),
            "last_message_at": max(timestamps, default=None),
        }
        return customer, room

    async def account_info(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        if request.path_params["account"] != ACCOUNT["id"]:
            return _error(403, "FORBIDDEN", "the account is not linked to this partner")
        return JSONResponse({"account": ACCOUNT})

    async def chat_info(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        found = self._room(request)
        return found if isinstance(found, JSONResponse) else JSONResponse({"chat": found[1]})

    async def list_messages(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        found = self._room(request)
        if isinstance(found, JSONResponse):
            return found
        try:
            limit = int(request.query_params.get("limit", 20))
            before = int(request.query_params["before"]) if "before" in request.query_params else None
        except ValueError:
            return _error(400, "INVALID_REQUEST", "limit and before must be integers")
        if not 1 <= limit <= 100:
            return _error(400, "INVALID_REQUEST", "limit must be between 1 and 100")
        items = [m for m in self.messages.get(found[1]["id"], []) if before is None or m["timestamp"] < before]
        items.reverse()  # newest first
        return JSONResponse({"messages": items[:limit], "has_more": len(items) > limit})

    async def send(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        found = self._room(request)
        if isinstance(found, JSONResponse):
            return found
        customer, _ = found
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "INVALID_REQUEST", "body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "INVALID_REQUEST", "body must be a JSON object")
        if body.get("sender_id") != ACCOUNT["id"]:
            return _error(403, "FORBIDDEN", "sender_id must be the partner's account")
        if body.get("recipient_id") != customer.user_id:
            return _error(400, "INVALID_REQUEST", "recipient_id is not the other participant of the chat")
        attachments = body.get("attachments") or []
        if not body.get("text") and not attachments:
            return _error(400, "INVALID_REQUEST", "text or attachments is required")
        client_id = body.get("client_message_id")
        if client_id and client_id in self._by_client_id:  # a retried send: the same message, not a new one
            return JSONResponse({"message": self._by_client_id[client_id]})
        message = self._store(customer, ACCOUNT, body.get("text"), attachments, client_id, body.get("reply_to"))
        if client_id:
            self._by_client_id[client_id] = message
        text = body.get("text") or f"[{attachments[0].get('type', 'attachment')}]"
        self.replied(customer.id, str(text), message["id"])
        return JSONResponse({"message": message}, status_code=201)

    def _store(
        self,
        customer: Customer,
        sender: dict[str, Any],
        text: str | None,
        attachments: list[dict[str, Any]] | None = None,
        client_message_id: str | None = None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """A message of the chat room, as the partner API returns it."""
        recipient = customer.user_id if sender["id"] == ACCOUNT["id"] else ACCOUNT["id"]
        message = {
            "id": secrets.token_hex(12),
            "chat_id": customer.id,
            "sender": {"id": sender["id"], "name": sender["name"]},
            "recipient": {"id": recipient},
            "text": text,
            "attachments": attachments or [],
            "reply_to": reply_to,
            "client_message_id": client_message_id,
            "timestamp": _now_ms(),
        }
        self.messages.setdefault(customer.id, []).append(message)
        return message

    # -- the broker -------------------------------------------------------------------------------------------------

    async def route(self, api: httpx.AsyncClient, channel: dict[str, Any], souk_url: str) -> None:
        """No webhook: the channel's broker subject, and a connection to the NATS server Souk reads."""
        r = await api.get(f"/api/v1/channels/{channel['id']}/webhook-info")
        r.raise_for_status()
        self.subject = r.json().get("broker_subject")
        if not self.subject:
            raise RuntimeError("Souk gave the Chotot channel no broker subject")
        if not self.broker_url:
            raise RuntimeError(
                "Chotot publishes on Souk's NATS server, and its URL was not given (--nats-url or SOUK_NATS_URL) "
                "nor found (`souk simulate` finds that of a `souk run` on the same data directory)"
            )
        if self._nc is None:
            try:
                self._nc = await nats.connect(
                    server_list(self.broker_url), connect_timeout=5, max_reconnect_attempts=3, name="souk-simulate"
                )
            except (OSError, NatsError) as exc:
                raise RuntimeError(f"Souk's NATS server {self.broker_url} is not reachable: {exc!r}") from exc

    async def deliver(self, body: dict[str, Any], headers: Any = None) -> None:
        """Publish ``body`` on the channel's subject, as Chotot's chat vendor does (the broker acknowledges it once
        stored; its message id lets the stream drop a repeat)."""
        if self._nc is None or not self.subject:
            raise RuntimeError("the simulated Chotot has no broker subject to publish on")
        raw = json.dumps(body, ensure_ascii=False).encode()
        msg_id = f"chotot:{body.get('event')}:{body.get('message_id')}:{body.get('timestamp')}"
        try:
            await self._nc.jetstream().publish(self.subject, raw, headers={"Nats-Msg-Id": msg_id})
        except NatsError as exc:  # e.g. NATS gone with Souk: the customers stop, as on a refused webhook
            raise RuntimeError(f"the broker did not take the Chotot message: {exc!r}") from exc

    async def stop(self, *, drain: float = 10.0) -> None:
        await super().stop(drain=drain)
        if self._nc is not None:
            await self._nc.close()
            self._nc = None

    def _published(self, message: dict[str, Any]) -> dict[str, Any]:
        """The broker message Chotot publishes for a stored message."""
        return {
            "event": "message",
            "message_id": message["id"],
            "channel_id": message["chat_id"],
            "account_id": ACCOUNT["id"],
            **{key: message[key] for key in ("sender", "recipient", "text", "attachments", "reply_to")},
            "client_message_id": message["client_message_id"],
            "timestamp": message["timestamp"],
            "item": LISTINGS[message["chat_id"]],
        }

    async def write(self, customer: Customer, text: str) -> None:
        buyer = {"id": customer.user_id, "name": customer.name}
        await self.deliver(self._published(self._store(customer, buyer, text)))

    async def receipts(self, customer: Customer, message_id: str) -> None:
        await self.pause()
        sent = next((m for m in self.messages.get(customer.id, []) if m["id"] == message_id), None)
        if sent is not None:  # every message stored is published, the shop's own too
            await self.deliver(self._published(sent))
        await self.pause(2)  # no delivery events on Chotot: read, or nothing
        read = {
            "event": "read",
            "channel_id": customer.id,
            "account_id": ACCOUNT["id"],
            "reader": {"id": customer.user_id},
            "message_id": message_id,
            "timestamp": _now_ms(),
        }
        await self.deliver(read)
