"""WAHA: a stand-in WAHA server with one session whose phone is already linked, and customers on it.

Souk drives WAHA itself: it creates or updates the session with its webhook and HMAC key (``GET|POST|PUT
/api/sessions…``) and sends with ``POST /api/sendText`` (``X-Api-Key``). The stand-in posts events the way WAHA does,
to the webhooks configured on the session, with ``X-Webhook-Hmac`` (HMAC-SHA512 with that webhook's key): ``message``
for what customers write, then ``message.ack`` for each reply: SERVER, DEVICE, READ.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from souk.simulate.base import Customer, StandIn

API_KEY = "SIMULATED-waha-api-key"
SESSION = "default"
ME = {"id": "15550100300@c.us", "pushName": "Souk Demo Shop"}
ENGINE = "WEBJS"
ACKS = ((1, "SERVER"), (2, "DEVICE"), (3, "READ"))
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def event_id() -> str:
    """``evt_`` and a lower-case ULID, as WAHA names its events."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "evt_" + "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def short_id() -> str:
    return "3EB0" + secrets.token_hex(8).upper()


def _error(status: int, message: str) -> JSONResponse:
    names = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 422: "Unprocessable Entity"}
    return JSONResponse({"statusCode": status, "message": message, "error": names.get(status, "Error")}, status)


class WAHAStandIn(StandIn):
    channel_type = "waha"
    label = "WAHA"
    customers = (
        Customer("201112223334@c.us", "Hana", "ar", ("مرحبا", "هل حقيبة الظهر متوفرة؟", "شكرا")),
        Customer("201223334445@c.us", "Adam", "en", ("Hi", "I want 2 leather wallets", "yes")),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session: dict[str, Any] | None = None
        self.echoes: dict[str, dict[str, Any]] = {}  # message id → the message.any WAHA emits for a message sent

    def config(self) -> dict[str, Any]:
        return {
            "baseURL": self.url,
            "sessionID": SESSION,
            "auth": {"type": "api_key", "apiKey": API_KEY},
            "importStrategy": "none",
        }

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/sessions", self.create_session, methods=["POST"]),
            Route("/api/sessions/{name}", self.session_info, methods=["GET", "PUT"]),
            Route("/api/sessions/{name}/{action}", self.session_action, methods=["POST"]),
            Route("/api/sendText", self.send_text, methods=["POST"]),
            Route("/api/{action}", self.chat_action, methods=["POST"]),
        ]

    # -- the API ----------------------------------------------------------------------------------------------------

    def _refused(self, request: Request) -> JSONResponse | None:
        if request.headers.get("x-api-key") != API_KEY:
            return _error(401, "Unauthorized")
        return None

    def _session_json(self) -> dict[str, Any]:
        assert self.session is not None
        return {
            "name": SESSION,
            "status": self.session["status"],
            "config": self.session["config"],
            "me": ME,
            "engine": {"engine": ENGINE},
        }

    async def create_session(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        if body.get("name", SESSION) != SESSION:
            return _error(422, "WAHA Core supports only the 'default' session")
        if self.session is not None:
            return _error(422, f"Session '{SESSION}' already exists")
        # the simulated phone is linked already: no QR code to scan
        self.session = {"config": body.get("config") or {}, "status": "WORKING"}
        return JSONResponse(self._session_json(), status_code=201)

    async def session_info(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        if request.path_params["name"] != SESSION or self.session is None:
            return _error(404, f"Session '{request.path_params['name']}' does not exist")
        if request.method == "PUT":
            self.session["config"] = (await request.json()).get("config") or {}
        return JSONResponse(self._session_json())

    async def session_action(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        if request.path_params["name"] != SESSION or self.session is None:
            return _error(404, f"Session '{request.path_params['name']}' does not exist")
        action = request.path_params["action"]
        self.session["status"] = "STOPPED" if action in ("stop", "logout") else "WORKING"
        return JSONResponse(self._session_json())

    async def send_text(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        chat, text = str(body.get("chatId") or ""), str(body.get("text") or "")
        if not chat or not text:
            return _error(400, "chatId and text are required")
        message_id = f"true_{chat}_{short_id()}"
        message = {
            "id": message_id,
            "timestamp": int(time.time()),
            "from": ME["id"],
            "fromMe": True,
            "source": "api",
            "to": chat,
            "participant": None,
            "body": text,
            "hasMedia": False,
            "media": None,
            "ack": 1,
            "ackName": "SERVER",
            "location": None,
            "vCards": [],
            "replyTo": None,
            "_data": {},
        }
        self.echoes[message_id] = message
        self.replied(chat, text, message_id)
        return JSONResponse(message, status_code=201)  # WEBJS answers the WAMessage

    async def chat_action(self, request: Request) -> Response:
        """``startTyping``, ``stopTyping``, ``sendSeen``: nothing to show in a simulation."""
        if refused := self._refused(request):
            return refused
        if request.path_params["action"] not in ("startTyping", "stopTyping", "sendSeen"):
            return _error(404, f"Cannot POST /api/{request.path_params['action']}")
        return JSONResponse({}, status_code=201)

    # -- events -----------------------------------------------------------------------------------------------------

    async def emit(self, event: str, payload: dict[str, Any]) -> None:
        """Post ``event`` to every webhook of the session that wants it, signed with that webhook's HMAC key."""
        if self.session is None or self.session["status"] != "WORKING":
            raise RuntimeError("the simulated WAHA session is not running: Souk did not configure it")
        for hook in self.session["config"].get("webhooks") or []:
            if event not in (hook.get("events") or []):
                continue
            envelope = {
                "id": event_id(),
                "timestamp": int(time.time() * 1000),
                "event": event,
                "session": SESSION,
                "metadata": self.session["config"].get("metadata") or {},
                "me": ME,
                "payload": payload,
                "engine": ENGINE,
                "environment": {"version": "simulated", "engine": ENGINE, "tier": "CORE"},
            }
            key = str((hook.get("hmac") or {}).get("key") or "")
            self.webhook_url = hook["url"]

            def headers(raw: bytes, key: str = key) -> dict[str, str]:
                signed = {"X-Webhook-Request-Id": uuid.uuid4().hex, "X-Webhook-Timestamp": str(int(time.time() * 1000))}
                if key:
                    signed["X-Webhook-Hmac"] = hmac.new(key.encode(), raw, hashlib.sha512).hexdigest()
                    signed["X-Webhook-Hmac-Algorithm"] = "sha512"
                return signed

            await self.deliver(envelope, headers)

    async def bodies(self, customer: Customer, text: str) -> list[bytes]:
        if self.session is None:  # offline: a session as Souk would have configured it, posting "message" only
            self.session = {"status": "WORKING", "config": {"webhooks": [{"url": "", "events": ["message"]}]}}
        return await super().bodies(customer, text)

    async def write(self, customer: Customer, text: str) -> None:
        payload = {
            "id": f"false_{customer.id}_{short_id()}",
            "timestamp": int(time.time()),
            "from": customer.id,
            "fromMe": False,
            "source": "app",
            "to": ME["id"],
            "participant": None,
            "body": text,
            "hasMedia": False,
            "media": None,
            "ack": 1,
            "ackName": "SERVER",
            "location": None,
            "vCards": [],
            "replyTo": None,
            "_data": {"notifyName": customer.name, "type": "chat"},
        }
        await self.emit("message", payload)
        await self.emit("message.any", payload)  # WAHA emits both for a message received

    async def receipts(self, customer: Customer, message_id: str) -> None:
        if message_id in self.echoes:  # every message created, the account's own too
            await self.emit("message.any", self.echoes.pop(message_id))
        for ack, name in ACKS:
            await self.pause()
            payload = {
                "id": message_id,
                "from": ME["id"],
                "fromMe": True,
                "to": customer.id,
                "participant": None,
                "ack": ack,
                "ackName": name,
                "timestamp": int(time.time()),
            }
            await self.emit("message.ack", payload)
