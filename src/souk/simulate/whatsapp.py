"""WhatsApp Cloud API: a stand-in for the Graph API calls Souk makes for a phone number, and customers on WhatsApp.

Souk sends to ``POST /{version}/{phone-number-id}/messages`` and looks the number up with ``GET
/{version}/{phone-number-id}``; both answer as Meta does. Customer messages arrive as ``whatsapp_business_account``
webhooks signed with the app secret (``X-Hub-Signature-256``), after the GET handshake Meta does when a callback URL
is saved. Each reply's wamid then gets its ``statuses``: sent, delivered, read.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from souk.simulate.base import Customer
from souk.simulate.meta import GraphStandIn, graph_error

PHONE_NUMBER_ID = "555000100200300"
WABA_ID = "555000100200399"
DISPLAY_NUMBER = "15550100200"


def wamid() -> str:
    return "wamid.HBgL" + base64.b64encode(secrets.token_bytes(27)).decode()


class WhatsAppStandIn(GraphStandIn):
    channel_type = "whatsapp"
    label = "WhatsApp"
    customers = (
        Customer(
            "201001234567", "Youssef", "ar", ("السلام عليكم", "كم سعر المحفظة الجلد؟", "هل الدفع عند الاستلام متاح؟")
        ),
        Customer("447700900123", "Emma", "en", ("Hello", "Is the backpack in stock?", "How long does delivery take?")),
        Customer("971501234567", "Fatima", "ar", ("أريد جاكيت شتوي", "ما هي سياسة الاسترجاع؟")),
    )

    def config(self) -> dict[str, Any]:
        return {
            "phoneNumberID": PHONE_NUMBER_ID,
            "businessAccountID": WABA_ID,
            "accessToken": self.token,
            "webhookToken": self.verify_token,
            "appSecret": self.app_secret,
            "graphBaseURL": self.url,
        }

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/{version}/{node}", self.lookup, methods=["GET"]),
            Route("/{version}/{node}/messages", self.send, methods=["POST"]),
        ]

    async def lookup(self, request: Request) -> JSONResponse:
        if refused := self.refuse(request, PHONE_NUMBER_ID):
            return refused
        return JSONResponse(
            {
                "id": PHONE_NUMBER_ID,
                "display_phone_number": "+1 555-010-0200",
                "verified_name": "Souk Demo Shop",
                "quality_rating": "GREEN",
                "code_verification_status": "VERIFIED",
            }
        )

    async def send(self, request: Request) -> JSONResponse:
        if refused := self.refuse(request, PHONE_NUMBER_ID):
            return refused
        body = await request.json()
        if body.get("messaging_product") != "whatsapp":
            return graph_error(400, 100, "(#100) The parameter messaging_product is required.")
        if body.get("status") == "read":  # blue ticks for the customer's message (and a typing indicator)
            return JSONResponse({"success": True})
        to, kind = str(body.get("to") or ""), body.get("type", "text")
        if not to or not isinstance(body.get(kind), dict):
            return graph_error(400, 100, f"(#100) The parameter {'to' if not to else kind} is required.")
        text = body[kind].get("body") if kind == "text" else f"[{kind}]"
        message_id = wamid()
        self.callback_data[message_id] = body.get("biz_opaque_callback_data")
        self.replied(to, str(text or ""), message_id)
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": message_id}],
            }
        )

    def _envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
            **value,
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
        }

    async def write(self, customer: Customer, text: str) -> None:
        message = {
            "from": customer.id,
            "id": wamid(),
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": text},
        }
        contact = {"profile": {"name": customer.name}, "wa_id": customer.id}
        await self.deliver(self._envelope({"contacts": [contact], "messages": [message]}), self.sign)

    async def receipts(self, customer: Customer, message_id: str) -> None:
        for status in ("sent", "delivered", "read"):
            await self.pause()
            item: dict[str, Any] = {
                "id": message_id,
                "status": status,
                "timestamp": str(int(time.time())),
                "recipient_id": customer.id,
            }
            if status != "read":
                item["pricing"] = {
                    "billable": False,
                    "pricing_model": "PMP",
                    "category": "service",
                    "type": "free_customer_service",
                }
            if self.callback_data.get(message_id):
                item["biz_opaque_callback_data"] = self.callback_data[message_id]
            await self.deliver(self._envelope({"statuses": [item]}), self.sign)
