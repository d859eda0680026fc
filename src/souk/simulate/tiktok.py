"""TikTok Business Messaging: a stand-in for the API for Business calls Souk makes, and customers on TikTok.

Souk sends with ``POST /open_api/v1.3/business/message/send/`` and checks the account with ``GET
/open_api/v1.3/business/get/``, both with ``Access-Token``; every answer is TikTok's envelope ``{"code", "message",
"request_id", "data"}``, errors included (HTTP 200, ``code != 0``). TikTok cannot be told a webhook through the API (it
is pasted into the developer portal), so the stand-in posts to the URL ``configure-webhook`` gives the channel: each
customer message is an ``im_receive_msg`` signed ``Tiktok-Signature: t=…,s=…`` with the app secret. A reply is then
echoed as ``im_send_msg`` (TikTok sends one for every business-side message) and read: ``im_mark_read_msg`` from the
customer, a watermark. TikTok has no delivery events.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from souk.platforms.tiktok.client import API_PREFIX
from souk.platforms.tiktok.verify import sign
from souk.simulate.base import Customer, StandIn

BUSINESS_ID = "biz-7000000000005550001"
APP_KEY = "SIMULATED-tiktok-app-key"
APP_SECRET = "SIMULATED-tiktok-app-secret"
ACCESS_TOKEN = "act.SIMULATED-tiktok-access-token"
PROFILE = {
    "username": "soukdemoshop",
    "display_name": "Souk Demo Shop",
    "profile_image": "https://p16-sign.tiktokcdn.com/avatar/soukdemoshop.jpeg",
}
TEXT_LIMIT = 6000


def _answer(code: int = 0, message: str = "OK", data: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "request_id": uuid.uuid4().hex, "data": data or {}})


def _now_ms() -> int:
    return int(time.time() * 1000)


def conversation(user: str) -> str:
    """TikTok's conversation id of the business and one user."""
    return f"0:1:{BUSINESS_ID.removeprefix('biz-')}:{user}"


class TikTokStandIn(StandIn):
    channel_type = "tiktok"
    label = "TikTok"
    app_secret = APP_SECRET
    customers = (
        Customer(
            conversation("7311000000005550101"),
            "Lina",
            "en",
            ("Hello!", "How much is the leather wallet?"),
            user_id="-000SIMULATEDtiktokLina0000000000001",
        ),
        Customer(
            conversation("7311000000005550102"),
            "Salma",
            "ar",
            ("مرحبا", "كم سعر الجاكيت الشتوي؟"),
            user_id="-000SIMULATEDtiktokSalma000000000002",
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.echoes: dict[str, dict[str, Any]] = {}  # message id → the im_send_msg content TikTok emits for a send

    def config(self) -> dict[str, Any]:
        return {
            "businessID": BUSINESS_ID,
            "appKey": APP_KEY,
            "appSecret": APP_SECRET,
            "accessToken": ACCESS_TOKEN,
            "apiBaseURL": self.url,
        }

    def routes(self) -> list[BaseRoute]:
        return [Route(API_PREFIX + "/business/{endpoint:path}", self.handle, methods=["GET", "POST"])]

    # -- the API ----------------------------------------------------------------------------------------------------

    async def handle(self, request: Request) -> JSONResponse:
        endpoint = request.path_params["endpoint"]
        if (request.method, endpoint) not in (("GET", "get/"), ("POST", "message/send/")):
            return JSONResponse({"code": 40400, "message": "Not Found"}, status_code=404)
        if request.headers.get("access-token") != ACCESS_TOKEN:
            return _answer(40105, "Access token is incorrect or has been revoked.")
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            try:
                params.update(json.loads(await request.body() or b"{}"))
            except ValueError:
                return _answer(40002, "The request body is not JSON.")
        if str(params.get("business_id")) != BUSINESS_ID:
            return _answer(40001, "No permission to operate business_id.")
        if endpoint == "get/":
            fields = json.loads(params.get("fields") or "[]") or list(PROFILE)
            return _answer(data={k: v for k, v in PROFILE.items() if k in fields})
        return self.send(params)

    def send(self, params: dict[str, Any]) -> JSONResponse:
        recipient, kind = str(params.get("recipient") or ""), params.get("message_type")
        if params.get("recipient_type") != "CONVERSATION" or not recipient:
            return _answer(40002, "recipient_type must be CONVERSATION with a recipient conversation id.")
        if kind == "TEXT":
            text = str((params.get("text") or {}).get("body") or "")
            if not text or len(text) > TEXT_LIMIT:
                return _answer(40002, f"text.body must be 1 to {TEXT_LIMIT} characters.")
            body: dict[str, Any] = {"type": "text", "text": {"body": text}}
        elif kind == "IMAGE" and (params.get("image") or {}).get("media_id"):
            text, body = "[image]", {"type": "image", "image": {"media_id": params["image"]["media_id"]}}
        else:
            return _answer(40002, f"Unsupported message_type: {kind}.")
        message_id = "v2:" + secrets.token_urlsafe(24)
        customer = self.customer(recipient)
        self.echoes[message_id] = {
            **body,
            "message_id": message_id,
            "timestamp": _now_ms(),
            "conversation_id": recipient,
            "from": PROFILE["username"],
            "from_user": {"id": BUSINESS_ID},
            "to": customer.name,
            "to_user": {"id": customer.user_id or recipient},
        }
        self.replied(recipient, text, message_id)
        return _answer(data={"message": {"message_id": message_id}})

    # -- webhooks ---------------------------------------------------------------------------------------------------

    async def post(self, event: str, content: dict[str, Any]) -> None:
        """One webhook delivery, its content a JSON string as TikTok sends it, signed with the app secret."""
        envelope = {
            "client_key": APP_KEY,
            "event": event,
            "create_time": _now_ms(),
            "user_openid": BUSINESS_ID,
            "content": json.dumps(content),
        }
        await self.deliver(envelope, lambda raw: {"Tiktok-Signature": sign(APP_SECRET, int(time.time()), raw)})

    async def write(self, customer: Customer, text: str) -> None:
        content = {
            "type": "text",
            "message_id": "v2:" + secrets.token_urlsafe(24),
            "timestamp": _now_ms(),
            "conversation_id": customer.id,
            "text": {"body": text},
            "from": customer.name,
            "from_user": {"id": customer.user_id},
            "to": PROFILE["username"],
            "to_user": {"id": BUSINESS_ID},
        }
        await self.post("im_receive_msg", content)

    async def receipts(self, customer: Customer, message_id: str) -> None:
        await self.pause()
        if message_id in self.echoes:
            await self.post("im_send_msg", self.echoes.pop(message_id))
        await self.pause(2)  # no delivery events on TikTok: read, or nothing
        read = {
            "conversation_id": customer.id,
            "read": {"last_read_timestamp": _now_ms()},
            "from": customer.name,
            "from_user": {"id": customer.user_id},
            "to": PROFILE["username"],
            "to_user": {"id": BUSINESS_ID},
        }
        await self.post("im_mark_read_msg", read)
