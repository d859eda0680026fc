"""``souk simulate``: customers writing to the demo shop on Telegram, with no Telegram account.

It serves a small local stand-in for the Telegram Bot API (the methods Souk calls: ``getMe``, ``setWebhook``,
``deleteWebhook``, ``getWebhookInfo``, ``sendMessage``, ``sendChatAction``), points a "Demo Telegram" channel at it
through Souk's own API (created once, with ``ai_enabled``), and then plays scripted customers in English and Arabic:
each message is a real Telegram update posted to the channel's webhook with the secret token Souk registered, so it
goes through everything a real one does (verification, storage, the worker, the AI agent, the outbox). Souk's replies
arrive at the stand-in and are printed beside the questions; the inbox shows the conversations live.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

CHANNEL_NAME = "Demo Telegram (simulated)"
BOT_TOKEN = "7000000001:SIMULATED-souk-demo-bot-token_0000"
BOT = {"id": 7000000001, "is_bot": True, "first_name": "Souk demo", "username": "souk_demo_bot"}


@dataclass
class Customer:
    chat_id: int
    first_name: str
    language: str
    script: list[str]


CUSTOMERS = [
    Customer(9100001, "Layla", "ar", ["مرحبا", "كم سعر الجاكيت الشتوي؟", "ما هي سياسة الاسترجاع؟"]),
    Customer(9100002, "Tom", "en", ["Hi!", "How much is the leather wallet?", "I want 2 leather wallets", "yes"]),
    Customer(9100003, "Omar", "ar", ["هل حقيبة الظهر متوفرة؟", "كم يستغرق التوصيل؟"]),
    Customer(9100004, "Sara", "en", ["What do you recommend?", "Do you accept cash on delivery?", "thanks!"]),
]


@dataclass
class FakeTelegram:
    """What Telegram would remember: the webhook Souk set and the messages the bot sent."""

    on_reply: Callable[[int, str], None]
    webhook_url: str | None = None
    secret: str | None = None
    sent: dict[int, list[str]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

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
            chat = int(params["chat_id"])
            self.sent.setdefault(chat, []).append(str(params.get("text", "")))
            self.on_reply(chat, str(params.get("text", "")))
            message = {"message_id": next(self._ids), "from": BOT, "chat": {"id": chat, "type": "private"},
                       "date": int(time.time()), "text": params.get("text", "")}  # fmt: skip
            return self._ok(message)
        return JSONResponse(
            {"ok": False, "error_code": 400, "description": f"Bad Request: {method} is not simulated"}, status_code=400
        )

    @staticmethod
    def _ok(result: Any) -> JSONResponse:
        return JSONResponse({"ok": True, "result": result})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/{method}", self.handle, methods=["GET", "POST"])])


async def _serve(app: Starlette) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def _channel(api: httpx.AsyncClient, fake_url: str, souk_url: str) -> dict[str, Any]:
    """The demo channel, pointed at this run's stand-in (its port changes every run), webhook set, active."""
    found = (await api.get("/api/v1/channels", params={"limit": 100})).json()["items"]
    channel = next((c for c in found if c["name"] == CHANNEL_NAME and c["channel_type"] == "telegram"), None)
    config = {"botToken": BOT_TOKEN, "botUsername": BOT["username"], "apiBaseURL": fake_url}
    if channel is None:
        body = {"name": CHANNEL_NAME, "channel_type": "telegram", "config": config, "ai_enabled": True}
        r = await api.post("/api/v1/channels", json=body)
    else:
        r = await api.patch(f"/api/v1/channels/{channel['id']}", json={"config": config, "ai_enabled": True})
    r.raise_for_status()
    channel = r.json()
    r = await api.post(f"/api/v1/channels/{channel['id']}/configure-webhook", json={"webhook_url": souk_url})
    r.raise_for_status()
    if channel["status"] != "active":
        (await api.post(f"/api/v1/channels/{channel['id']}/activate")).raise_for_status()
    return channel


async def simulate(
    souk_url: str,
    api_key: str,
    *,
    rounds: int | None = 1,
    pause: float = 2.0,
    reply_timeout: float = 60.0,
    say: Callable[[str], None] = print,
) -> dict[int, list[str]]:
    """Play every customer's script ``rounds`` times (None: until cancelled); return the replies per chat."""
    replies: dict[int, asyncio.Queue[str]] = {c.chat_id: asyncio.Queue() for c in CUSTOMERS}
    names = {c.chat_id: c.first_name for c in CUSTOMERS}

    def on_reply(chat: int, text: str) -> None:
        say(f"  ← Souk to {names.get(chat, chat)}: {text}")
        if chat in replies:
            replies[chat].put_nowait(text)

    fake = FakeTelegram(on_reply)
    server, task, fake_url = await _serve(fake.app())
    update_ids = itertools.count(int(time.time() * 1000))  # never an id an earlier run used: it would be a duplicate
    try:
        async with httpx.AsyncClient(base_url=souk_url, headers={"X-API-Key": api_key}, timeout=30) as api:
            await _channel(api, fake_url, souk_url)
            if not fake.webhook_url:
                raise RuntimeError("Souk did not register its webhook with the simulated Telegram")
            say(f"Simulated Telegram at {fake_url}; customers write to {fake.webhook_url}")
            for _ in itertools.count() if rounds is None else range(rounds):
                for turn in range(max(len(c.script) for c in CUSTOMERS)):
                    for customer in CUSTOMERS:
                        if turn >= len(customer.script):
                            continue
                        text = customer.script[turn]
                        say(f"→ {customer.first_name}: {text}")
                        await _write(api, fake, customer, text, next(update_ids))
                        try:
                            await asyncio.wait_for(replies[customer.chat_id].get(), reply_timeout)
                        except TimeoutError:
                            say(f"  (no reply to {customer.first_name}: a person has the conversation, or the bot "
                                "is off; see the inbox)")  # fmt: skip
                        await asyncio.sleep(pause)
    finally:
        server.should_exit = True
        await task
    return fake.sent


async def _write(api: httpx.AsyncClient, fake: FakeTelegram, customer: Customer, text: str, update_id: int) -> None:
    user = {"id": customer.chat_id, "is_bot": False, "first_name": customer.first_name,
            "language_code": customer.language}  # fmt: skip
    update = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": user,
            "chat": {"id": customer.chat_id, "type": "private", "first_name": customer.first_name},
            "date": int(time.time()),
            "text": text,
        },
    }
    assert fake.webhook_url and fake.secret
    r = await api.post(fake.webhook_url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": fake.secret})
    r.raise_for_status()
