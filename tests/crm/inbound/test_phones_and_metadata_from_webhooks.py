"""One person on three channels becomes one customer through signed webhooks and the worker: a WAHA sender's number,
a WhatsApp Cloud wa_id and a Telegram user's own shared contact match by phone; each channel that met the person
wrote its customer metadata row, and the merges carried those rows to the survivor."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from souk.crm.channel_metadata import get_any_channel_metadata, get_channel_metadata
from souk.crm.models import MessengerOrderMetadata, TelegramOrderMetadata, WahaOrderMetadata
from tests.conftest import TenantFixture
from tests.support.webhooks import fixture, post, wait_idle

NUMBER = "201001234567"  # a valid number: an invalid one is never matched


def _waha_from(number: str) -> bytes:
    return fixture("waha", "message_any_inbound").replace(b"15551234567", number.encode())


def _whatsapp_from(number: str) -> dict[str, Any]:
    body = json.loads(fixture("whatsapp", "text"))
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = value["messages"][0]["from"] = number
    return body


def _telegram_own_contact(number: str) -> dict[str, Any]:
    body = json.loads(fixture("telegram", "message_contact"))
    message = body["message"]
    body["update_id"] += 1
    message["message_id"] += 1
    message["contact"].update(user_id=message["from"]["id"], phone_number=number, first_name="Layla")
    return body


async def _detail(client, tenant: TenantFixture, customer_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/customers/{customer_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _until_identities(client, tenant: TenantFixture, customer_id: str, n: int) -> dict[str, Any]:
    """The crm-scoring consumer matches phones after the message is stored: wait for its merge."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = await _detail(client, tenant, customer_id)
        if len(body["identities"]) >= n:
            return body
        await asyncio.sleep(0.1)
    listed = (await client.get("/api/v1/customers", headers=tenant.headers)).json()
    raise AssertionError(f"{customer_id} never had {n} identities: {body['identities']}; all: {listed}")


async def test_one_person_on_waha_whatsapp_and_telegram_becomes_one_customer_with_each_channels_metadata(
    client, app, make_channel, tenant: TenantFixture
):
    r = await client.put("/api/v1/crm/settings", json={"auto_merge_by_phone": True}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    waha, whatsapp, telegram, messenger = [
        await make_channel(kind) for kind in ("waha", "whatsapp", "telegram", "messenger")
    ]

    assert (await post(client, app, waha, _waha_from(NUMBER))).status_code == 200
    await wait_idle(app)
    (first,) = (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"]
    assert first["phone_number"] == f"+{NUMBER}"  # WhatsApp vouches for a @c.us sender's number

    assert (await post(client, app, whatsapp, _whatsapp_from(NUMBER))).status_code == 200
    await wait_idle(app)
    body = await _until_identities(client, tenant, first["id"], 2)  # the older customer survives
    assert {i["platform"]: i["phone"] for i in body["identities"]} == {"waha": f"+{NUMBER}", "whatsapp": NUMBER}

    # on Telegram, the same person first writes, then shares their own contact (without the "+", as Telegram does)
    assert (await post(client, app, telegram, fixture("telegram", "message_text"))).status_code == 200
    await wait_idle(app)
    assert (await post(client, app, telegram, _telegram_own_contact(NUMBER))).status_code == 200
    await wait_idle(app)
    body = await _until_identities(client, tenant, first["id"], 3)
    assert {i["platform"]: i["phone"] for i in body["identities"]}["telegram"] == f"+{NUMBER}"
    assert [m["reason"] for m in body["merges"]] == ["phone", "phone"]
    assert sorted(m["channel_type"] for m in body["channel_metadata"]) == ["telegram", "waha", "whatsapp"]
    fields = {m["channel_type"]: m["fields"] for m in body["channel_metadata"]}
    assert fields["waha"] | {"waha_context": None} == {
        "waha_session": "default",
        "waha_chat_id": f"{NUMBER}@c.us",
        "waha_message_id": None,
        "waha_phone": f"+{NUMBER}",
        "waha_context": None,
    }
    assert fields["whatsapp"]["wa_phone"] == NUMBER
    assert fields["telegram"]["tg_user_id"] == fields["telegram"]["tg_chat_id"] == "5012345678"
    assert fields["telegram"]["tg_username"] == "layla_h"

    # someone else on Messenger: a customer of their own, with the Page they wrote to
    assert (await post(client, app, messenger, fixture("messenger", "text"))).status_code == 200
    await wait_idle(app)
    listed = (await client.get("/api/v1/customers", params={"channel": "messenger"}, headers=tenant.headers)).json()
    (other,) = listed["items"]
    survivor, other_id = uuid.UUID(first["id"]), uuid.UUID(other["id"])
    async with app.state.db.tenant_session(tenant.id) as session:
        waha_row = await get_channel_metadata(session, "customer", survivor, "waha")
        tg_row = await get_channel_metadata(session, "customer", survivor, "telegram")
        fb_row = await get_any_channel_metadata(session, "customer", other_id)
    assert isinstance(waha_row, WahaOrderMetadata) and waha_row.waha_phone == f"+{NUMBER}"
    assert isinstance(tg_row, TelegramOrderMetadata) and tg_row.tg_username == "layla_h"
    assert isinstance(fb_row, MessengerOrderMetadata)
    assert (fb_row.fb_psid, fb_row.fb_page_id) == ("6857413490973921", messenger["config"]["pageID"])

    # unmerging the last merge gives the Telegram customer its metadata back
    r = await client.post(f"/api/v1/customers/{first['id']}/unmerge", json={}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["moved"]["channel_metadata.entity_id"]) == 1
    body = await _detail(client, tenant, first["id"])
    assert sorted(m["channel_type"] for m in body["channel_metadata"]) == ["waha", "whatsapp"]
