"""Each simulated platform, without a Souk server: the webhooks it posts pass Souk's own signature check and parse
(Chotot's broker messages, which carry no signature, parse), customer messages as messages and receipts in the order
a phone sends them (one tick, two, blue)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from souk.platforms import registry
from souk.platforms.base import Message, StatusUpdate
from souk.platforms.waha.client import WEBHOOK_EVENTS
from souk.simulate import PLATFORMS, StandIn

RECEIPTS = {
    "whatsapp": ["sent", "delivered", "read"],
    "messenger": ["delivered", "read"],
    "instagram": ["read"],  # Instagram has no delivery events
    "waha": ["sent", "delivered", "read"],
    "telegram": [],  # no receipts for bots
    "tiktok": ["read"],  # no delivery events on TikTok either
    "chotot": ["read"],  # nor on Chotot
}
HMAC_KEY = "waha-hmac-key"


def _stand_in(channel_type: str, posted: list[httpx.Request]) -> tuple[StandIn, dict[str, Any]]:
    """A stand-in posting to a recorder instead of Souk, and the channel secrets Souk would check it with."""
    stand_in = PLATFORMS[channel_type](lambda *args: None, receipt_delay=0.01)

    def record(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(200)

    stand_in._http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    stand_in.webhook_url = f"http://souk.test/webhooks/{channel_type}/1"
    secrets: dict[str, Any] = {"appSecret": getattr(stand_in, "app_secret", None)}
    if channel_type == "waha":  # what Souk configures on the session
        hook = {"url": stand_in.webhook_url, "events": list(WEBHOOK_EVENTS), "hmac": {"key": HMAC_KEY}}
        stand_in.session = {"status": "WORKING", "config": {"webhooks": [hook]}}
        secrets = {"webhookSecret": HMAC_KEY}
    if channel_type == "telegram":
        stand_in.secret = secrets["webhookSecret"] = "telegram-secret"
    if channel_type == "chotot":  # published on the broker, not posted: recorded as the same bytes

        async def publish(body: dict[str, Any], headers: Any = None) -> None:
            posted.append(httpx.Request("POST", "nats://vendors.chotot.1", content=json.dumps(body).encode()))

        stand_in.deliver = publish  # type: ignore[method-assign]
    return stand_in, secrets


def _events(channel_type: str, secrets: dict[str, Any], request: httpx.Request) -> list[Any]:
    platform = registry.get(channel_type)
    body = request.content
    json.loads(body)  # a JSON body, as sent
    if channel_type == "telegram":
        assert request.headers["x-telegram-bot-api-secret-token"] == secrets["webhookSecret"]
    elif channel_type != "chotot":  # a broker message is Souk's own subject's: nothing to sign
        platform.verify(config={}, secrets=secrets, headers=request.headers, body=body, now=datetime.now(UTC))
    return platform.parse(body, request.headers)


@pytest.mark.parametrize("channel_type", list(PLATFORMS))
async def test_webhooks_are_signed_and_receipts_come_in_order(channel_type: str) -> None:
    posted: list[httpx.Request] = []
    stand_in, secrets = _stand_in(channel_type, posted)
    customer = stand_in.customers[1]  # an English and an Arabic one are covered by the end-to-end test
    await stand_in.write(customer, "How much is the leather wallet?")
    messages = [e for e in _events(channel_type, secrets, posted[0]) if isinstance(e, Message)]
    assert messages and messages[0].text == "How much is the leather wallet?"
    assert messages[0].thread_id == customer.id

    posted.clear()
    # Souk's own client for the platform sends the reply to the stand-in, and reads the id from its answer
    stand_in.url = "http://stand-in.test"
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=Starlette(routes=stand_in.routes())))
    config = stand_in.config()
    client = registry.get(channel_type).client(config, config, api)
    marker = "souk:00000000-0000-0000-0000-000000000001"
    content = {"type": "text", "text": "199.99 EGP", "marker": marker, "client_message_id": marker}
    recipient = customer.user_id if channel_type == "chotot" else customer.id  # Chotot writes to the buyer
    result = await client.send_message(customer.id, recipient, content)
    reply_id = result.external_id
    assert reply_id or channel_type == "telegram"
    await stand_in.stop(drain=5)
    await api.aclose()
    assert stand_in.sent == {customer.id: ["199.99 EGP"]}

    events = [e for request in posted for e in _events(channel_type, secrets, request)]
    receipts = [e for e in events if isinstance(e, StatusUpdate)]
    # Messenger's delivery names the mid and carries a watermark: two updates; its read is a watermark
    expected = [
        s for s in RECEIPTS[channel_type] for _ in range(2 if (channel_type, s) == ("messenger", "delivered") else 1)
    ]
    assert [r.status.value for r in receipts] == expected
    assert all(r.target_external_id in (reply_id, None) for r in receipts)
    echoes = [e for e in events if isinstance(e, Message)]
    if channel_type in ("messenger", "instagram", "waha", "chotot"):  # the platform echoes the account's own sends
        assert len(echoes) == 1 and echoes[0].direction == "outbound" and echoes[0].sent_by.value == "souk"
    elif channel_type == "tiktok":  # echoed unmarked: the worker knows it by the message id the send was answered
        assert [(e.direction, e.external_id, e.text) for e in echoes] == [("outbound", reply_id, "199.99 EGP")]
    else:
        assert echoes == []
