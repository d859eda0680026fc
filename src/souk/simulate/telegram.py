"""Telegram: a stand-in for the Bot API methods Souk calls, and customers writing as Telegram updates.

Souk registers its webhook here with ``setWebhook`` (and a secret token); each customer message is an ``Update``
posted to that URL with ``X-Telegram-Bot-Api-Secret-Token``. Telegram has no delivery or read receipts for bots, so
a reply stays at one tick, as it does with the real Telegram.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from souk.simulate.base import Customer, StandIn

BOT_TOKEN = "7000000001:SIMULATED-souk-demo-bot-token_0000"
BOT = {"id": 7000000001, "is_bot": True, "first_name": "Souk demo", "username": "souk_demo_bot"}


class TelegramStandIn(StandIn):
    channel_type = "telegram"
    label = "Telegram"
    customers = (
        Customer("9100001", "Layla", "ar", ("مرحبا", "كم سعر الجاكيت الشتوي؟", "ما هي سياسة الاسترجاع؟")),
        Customer("9100002", "Tom", "en", ("Hi!", "How much is the leather wallet?", "I want 2 leather wallets", "yes")),
        Customer("9100003", "Omar", "ar", ("هل حقيبة الظهر متوفرة؟", "كم يستغرق التوصيل؟")),
        Customer("9100004", "Sara", "en", ("What do you recommend?", "Do you accept cash on delivery?", "thanks!")),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secret: str | None = None
        self._ids = itertools.count(1)
        # never an update id an earlier run used: Souk would take it for a duplicate
        self._updates = itertools.count(int(time.time() * 1000))

    def config(self) -> dict[str, Any]:
        return {"botToken": BOT_TOKEN, "botUsername": BOT["username"], "apiBaseURL": self.url}

    def routes(self) -> list[BaseRoute]:
        return [Route("/bot{token}/{method}", self.handle, methods=["GET", "POST"])]

    async def handle(self, request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"].lower()
        if token != BOT_TOKEN:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        form = await request.form() if "form" in request.headers.get("content-type", "") else None
        params: dict[str, Any] = (
            dict(form) if form is not None else (await request.json() if await request.body() else {})
        )
        if method == "getme":
            return self._ok(BOT)
        if method == "setwebhook":
            self.webhook_url, self.secret = params.get("url") or None, params.get("secret_token")
            return self._ok(True)
        if method == "deletewebhook":
            self.webhook_url = self.secret = None
            return self._ok(True)
        if method == "getwebhookinfo":
            return self._ok({"url": self.webhook_url or "", "has_custom_certificate": False, "pending_update_count": 0})
        if method == "sendchataction":
            return self._ok(True)
        if method == "sendmessage":
            chat, text = int(params["chat_id"]), str(params.get("text", ""))
            message = {
                "message_id": next(self._ids),
                "from": BOT,
                "chat": {"id": chat, "type": "private"},
                "date": int(time.time()),
                "text": text,
            }
            self.replied(str(chat), text, None)  # no receipts on Telegram
            return self._ok(message)
        return JSONResponse(
            {"ok": False, "error_code": 400, "description": f"Bad Request: {method} is not simulated"}, status_code=400
        )

    @staticmethod
    def _ok(result: Any) -> JSONResponse:
        return JSONResponse({"ok": True, "result": result})

    async def write(self, customer: Customer, text: str) -> None:
        update_id = next(self._updates)
        user = {
            "id": int(customer.id),
            "is_bot": False,
            "first_name": customer.name,
            "language_code": customer.language,
        }
        update = {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "from": user,
                "chat": {"id": int(customer.id), "type": "private", "first_name": customer.name},
                "date": int(time.time()),
                "text": text,
            },
        }
        if not self.secret:
            raise RuntimeError("Souk did not register its webhook with the simulated Telegram")
        await self.deliver(update, lambda raw: {"X-Telegram-Bot-Api-Secret-Token": self.secret or ""})

    async def bodies(self, customer: Customer, text: str) -> list[bytes]:
        self.secret = self.secret or "offline"  # offline: as if Souk had registered its webhook
        return await super().bodies(customer, text)
