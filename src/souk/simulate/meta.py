"""Meta's Graph API stand-ins: what WhatsApp, Messenger and Instagram share, and the Messenger and Instagram ones.

Meta cannot be told a webhook through the API: a person pastes the callback URL and verify token into the App
Dashboard, and Meta then calls ``GET <url>?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``. The stand-ins do
that handshake once Souk has given the channel its URL, and sign every webhook with the app secret
(``X-Hub-Signature-256``).

Messenger and Instagram receive Souk's replies on the Send API (``POST /{version}/{page-id or me}/messages``, answered
``{"recipient_id", "message_id"}``). A Messenger reply then gets a ``delivery`` (its mid and a watermark) and a
``read`` (a watermark); Instagram has no delivery events, so its reply gets only the ``read`` of that ``mid``
(``messaging_seen``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from souk.simulate.base import Customer, StandIn


def graph_error(status: int, code: int, message: str, kind: str = "OAuthException") -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": secrets.token_urlsafe(8)}},
        status_code=status,
    )


class GraphStandIn(StandIn):
    """A Meta app with one asset (phone number, Page or Instagram account) and the secrets Souk is given."""

    app_id = 555000900900
    token = "SIMULATED-meta-access-token"
    app_secret = "SIMULATED-meta-app-secret"
    verify_token = "SIMULATED-meta-verify-token"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.callback_data: dict[str, str | None] = {}  # message id → what Souk asked to get back with it

    def refuse(self, request: Request, *nodes: str) -> JSONResponse | None:
        """The Graph error for a wrong token or an unknown node, or None when the call may proceed."""
        auth = request.headers.get("authorization", "")
        given = auth.removeprefix("Bearer ").strip() or request.query_params.get("access_token", "")
        if given != self.token:
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        node = request.path_params.get("node")
        if node not in nodes:
            return graph_error(
                400, 100, f"Unsupported request - Object with ID '{node}' does not exist", "GraphMethodException"
            )
        return None

    def sign(self, raw: bytes) -> dict[str, str]:
        return {"X-Hub-Signature-256": "sha256=" + hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()}

    async def registered(self, api: httpx.AsyncClient, answer: dict[str, Any]) -> None:
        """Meta's check of a callback URL saved in the App Dashboard: the bare challenge must come back."""
        challenge = str(secrets.randbelow(10**9))
        params = {"hub.mode": "subscribe", "hub.verify_token": self.verify_token, "hub.challenge": challenge}
        assert self._http is not None and self.webhook_url
        r = await self._http.get(self.webhook_url, params=params)
        if r.status_code != 200 or r.text != challenge:
            raise RuntimeError(f"Souk refused the simulated {self.label} webhook handshake (HTTP {r.status_code})")


class SendAPIStandIn(GraphStandIn):
    """A Page or Instagram account talking through the Send API."""

    object_type: str
    account_id: str
    mid_prefix: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.echoes: dict[str, dict[str, Any]] = {}  # mid → the echo Meta sends of a message the Page sent

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/{version}/{node}", self.lookup, methods=["GET"]),
            Route("/{version}/{node}/messages", self.send, methods=["POST"]),
        ]

    def senders(self) -> tuple[str, ...]:
        return (self.account_id, "me")

    def profile(self) -> dict[str, Any]:
        raise NotImplementedError

    async def lookup(self, request: Request) -> JSONResponse:
        if refused := self.refuse(request, *self.senders()):
            return refused
        return JSONResponse(self.profile())

    async def send(self, request: Request) -> JSONResponse:
        if refused := self.refuse(request, *self.senders()):
            return refused
        body = await request.json()
        recipient = str((body.get("recipient") or {}).get("id") or "")
        if not recipient:
            return graph_error(400, 100, "(#100) The parameter recipient is required")
        if "sender_action" in body and "message" not in body:  # typing_on, mark_seen, react
            return JSONResponse({"recipient_id": recipient})
        message = body.get("message")
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            return graph_error(400, 100, "(#100) Must send either message or sender action")
        mid = self.mid_prefix + secrets.token_urlsafe(36)
        text = message.get("text") or f"[{(message.get('attachment') or {}).get('type', 'attachment')}]"
        self.echoes[mid] = {
            "is_echo": True,
            "app_id": self.app_id,
            "mid": mid,
            **{k: message[k] for k in ("text", "attachment", "metadata") if k in message},
        }
        self.replied(recipient, str(text), mid)
        return JSONResponse({"recipient_id": recipient, "message_id": mid})

    def _envelope(self, customer: Customer, event: dict[str, Any], *, echo: bool = False) -> dict[str, Any]:
        now = int(time.time() * 1000)
        sender, recipient = (self.account_id, customer.id) if echo else (customer.id, self.account_id)
        item = {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": now, **event}
        return {"object": self.object_type, "entry": [{"id": self.account_id, "time": now, "messaging": [item]}]}

    async def echo(self, customer: Customer, mid: str) -> None:
        """Meta echoes every message the Page or account sends, with the app id and metadata of the send."""
        if mid in self.echoes:
            await self.deliver(self._envelope(customer, {"message": self.echoes.pop(mid)}, echo=True), self.sign)

    async def write(self, customer: Customer, text: str) -> None:
        mid = self.mid_prefix + secrets.token_urlsafe(36)
        await self.deliver(self._envelope(customer, {"message": {"mid": mid, "text": text}}), self.sign)


class MessengerStandIn(SendAPIStandIn):
    channel_type = "messenger"
    label = "Messenger"
    object_type = "page"
    account_id = "555000200300400"
    mid_prefix = "m_"
    customers = (
        Customer("7700100200300401", "Nora", "en", ("Hello!", "How much is the winter jacket?", "thanks!")),
        Customer("7700100200300402", "Karim", "ar", ("مساء الخير", "ما هي سياسة الاسترجاع؟")),
        Customer("7700100200300403", "Lucas", "en", ("Is the backpack in stock?", "How long does delivery take?")),
    )

    def config(self) -> dict[str, Any]:
        return {
            "pageID": self.account_id,
            "pageAccessToken": self.token,
            "appSecret": self.app_secret,
            "webhookToken": self.verify_token,
            "appID": str(self.app_id),
            "graphBaseURL": self.url,
        }

    def senders(self) -> tuple[str, ...]:
        return (self.account_id,)

    def profile(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "name": "Souk Demo Shop",
            "username": "soukdemoshop",
            "link": "https://www.facebook.com/soukdemoshop",
        }

    async def receipts(self, customer: Customer, message_id: str) -> None:
        await self.pause()
        await self.echo(customer, message_id)
        await self.pause()
        watermark = int(time.time() * 1000)
        await self.deliver(
            self._envelope(customer, {"delivery": {"mids": [message_id], "watermark": watermark}}), self.sign
        )
        await self.pause()
        await self.deliver(self._envelope(customer, {"read": {"watermark": int(time.time() * 1000)}}), self.sign)


class InstagramStandIn(SendAPIStandIn):
    channel_type = "instagram"
    label = "Instagram"
    object_type = "instagram"
    account_id = "17841400555000600"
    mid_prefix = "aWdfZAG1faWQ"
    customers = (
        Customer("6600100200300501", "Mariam", "ar", ("عندكم جاكيت شتوي؟", "كم يستغرق التوصيل؟")),
        Customer(
            "6600100200300502", "Jake", "en", ("Hi!", "What do you recommend?", "Do you accept cash on delivery?")
        ),
    )

    def config(self) -> dict[str, Any]:
        return {
            "instagramAccountID": self.account_id,
            "pageAccessToken": self.token,
            "appSecret": self.app_secret,
            "webhookToken": self.verify_token,
            "appID": str(self.app_id),
            "graphBaseURL": self.url,
        }

    def profile(self) -> dict[str, Any]:
        return {"id": self.account_id, "username": "soukdemoshop", "name": "Souk Demo Shop"}

    async def receipts(self, customer: Customer, message_id: str) -> None:
        await self.pause()
        await self.echo(customer, message_id)
        await self.pause(2)  # no delivery events on Instagram: seen, or nothing
        await self.deliver(self._envelope(customer, {"read": {"mid": message_id}}), self.sign)
