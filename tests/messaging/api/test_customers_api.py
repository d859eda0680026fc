"""A customer with seed 001's lead fields, channel identities and recent conversations; on both databases."""

from __future__ import annotations

from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows, at


async def test_customer_with_identities_and_recent_conversations(client, tenant: TenantFixture, rows: Rows):
    tg = await rows.channel("telegram", "Support bot")
    wa = await rows.channel("whatsapp", "Shop WhatsApp")
    ann = await rows.customer(
        psid="555",
        first_name="Ann",
        last_name="Lee",
        display_name="Ann Lee",
        phone_number="+201000000001",
        governorate="Cairo",
        lead_stage="NURTURE",
        lead_score=40,
        customer_label="hot",
        customer_type="retail",
        last_message_at=at(50),
    )
    await rows.identity(tg, ann, "555", display_name="Ann", username="ann_l")
    await rows.identity(wa, ann, "201000000001", phone="+201000000001")
    convs = [await rows.conversation(tg if i % 2 else wa, ann, last_activity=at(i)) for i in range(12)]
    other = await rows.customer(display_name="Someone else")
    await rows.conversation(tg, other, last_activity=at(100))

    r = await client.get(f"/api/v1/customers/{ann.id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["psid"], body["first_name"], body["last_name"], body["governorate"]) == ("555", "Ann", "Lee", "Cairo")
    assert (body["lead_stage"], body["lead_score"], body["customer_label"], body["customer_type"]) == (
        "NURTURE",
        40,
        "hot",
        "retail",
    )
    assert body["is_active"] is True and body["platform"] == "telegram" and body["merged_into_id"] is None
    assert body["last_message_at"].startswith("2026-03-01T12:50")
    tg_id, wa_id = body["identities"]
    assert (tg_id["platform"], tg_id["external_id"], tg_id["username"]) == ("telegram", "555", "ann_l")
    assert tg_id["channel"] == {"id": str(tg.id), "channel_type": "telegram", "name": "Support bot"}
    assert (wa_id["platform"], wa_id["phone"], wa_id["channel_id"]) == ("whatsapp", "+201000000001", str(wa.id))
    assert body["conversation_count"] == 12
    recent = [c["id"] for c in body["recent_conversations"]]
    assert recent == [str(c.id) for c in reversed(convs)][:10]
    assert body["recent_conversations"][0]["channel"]["name"] == "Support bot"


async def test_customer_without_anything_yet(client, tenant: TenantFixture, rows: Rows, agent_headers):
    bare = await rows.customer()
    r = await client.get(f"/api/v1/customers/{bare.id}", headers=agent_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["identities"], body["recent_conversations"], body["conversation_count"]) == ([], [], 0)
    assert body["lead_stage"] == "INTAKE"


async def test_another_tenants_customer_is_404(client, tenant: TenantFixture, other_rows: Rows):
    theirs = await other_rows.customer()
    r = await client.get(f"/api/v1/customers/{theirs.id}", headers=tenant.headers)
    assert r.status_code == 404 and r.json()["status"] == 404


async def test_bad_customer_id_is_422(client, tenant: TenantFixture):
    r = await client.get("/api/v1/customers/ann", headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.customer_id"
