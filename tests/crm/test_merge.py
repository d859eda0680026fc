"""Merge and unmerge: rows move with an audit record and move back exactly; bad merges refused; both databases."""

from __future__ import annotations

from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows, at


async def test_merge_moves_identities_conversations_messages_and_activities_then_unmerge_restores(
    client, tenant: TenantFixture, rows: Rows
):
    tg = await rows.channel("telegram")
    wa = await rows.channel("whatsapp")
    ann = await rows.customer(first_name="Ann", last_message_at=at(1))
    dup = await rows.customer(first_name=None, phone_number="+201001234567", last_message_at=at(9))
    await rows.identity(tg, ann, "555")
    wa_identity = await rows.identity(wa, dup, "201001234567", phone="+201001234567")
    conv = await rows.conversation(wa, dup, identity_id=wa_identity.id)
    msg = await rows.message(conv, at(9), platform="whatsapp")
    r = await client.patch(f"/api/v1/customers/{dup.id}", json={"lead_stage": "NURTURE"}, headers=tenant.headers)
    assert r.status_code == 200

    r = await client.post(f"/api/v1/customers/{ann.id}/merge", json={"other_id": str(dup.id)}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    merge = r.json()
    assert merge["moved"]["conversations.customer_id"] == [str(conv.id)]
    assert merge["moved"]["messages.customer_id"] == [str(msg.id)]
    assert merge["filled"] == {"phone_number": None, "last_message_at": at(1).isoformat()}

    ann_out = (await client.get(f"/api/v1/customers/{ann.id}", headers=tenant.headers)).json()
    assert {i["external_id"] for i in ann_out["identities"]} == {"555", "201001234567"}
    assert ann_out["conversation_count"] == 1 and ann_out["phone_number"] == "+201001234567"
    assert {a["activity_type"] for a in ann_out["activities"]} == {"stage_change", "merge"}
    assert ann_out["merges"][0]["id"] == merge["id"]
    dup_out = (await client.get(f"/api/v1/customers/{dup.id}", headers=tenant.headers)).json()
    assert dup_out["merged_into_id"] == str(ann.id) and dup_out["is_active"] is False
    listed = (await client.get("/api/v1/customers", headers=tenant.headers)).json()
    assert [c["id"] for c in listed["items"]] == [str(ann.id)]
    msgs = (await client.get(f"/api/v1/conversations/{conv.id}/messages", headers=tenant.headers)).json()
    assert msgs["items"][0]["customer_id"] == str(ann.id)

    r = await client.post(f"/api/v1/customers/{ann.id}/unmerge", json={}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["undone_at"] is not None
    ann_out = (await client.get(f"/api/v1/customers/{ann.id}", headers=tenant.headers)).json()
    assert [i["external_id"] for i in ann_out["identities"]] == ["555"]
    assert ann_out["conversation_count"] == 0 and ann_out["phone_number"] is None
    assert ann_out["last_message_at"].startswith("2026-03-01T12:01")
    dup_out = (await client.get(f"/api/v1/customers/{dup.id}", headers=tenant.headers)).json()
    assert dup_out["merged_into_id"] is None and dup_out["is_active"] is True
    assert dup_out["conversation_count"] == 1 and [i["external_id"] for i in dup_out["identities"]] == ["201001234567"]
    assert [a["activity_type"] for a in dup_out["activities"]] == ["stage_change"]
    msgs = (await client.get(f"/api/v1/conversations/{conv.id}/messages", headers=tenant.headers)).json()
    assert msgs["items"][0]["customer_id"] == str(dup.id)

    r = await client.post(f"/api/v1/customers/{ann.id}/unmerge", headers=tenant.headers)
    assert r.status_code == 404


async def test_merge_into_itself_is_422_and_across_tenants_is_404(
    client, tenant: TenantFixture, rows: Rows, other_rows: Rows
):
    ann = await rows.customer()
    theirs = await other_rows.customer()
    r = await client.post(f"/api/v1/customers/{ann.id}/merge", json={"other_id": str(ann.id)}, headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "other_id"
    r = await client.post(
        f"/api/v1/customers/{ann.id}/merge", json={"other_id": str(theirs.id)}, headers=tenant.headers
    )
    assert r.status_code == 404
    r = await client.post(
        f"/api/v1/customers/{theirs.id}/merge", json={"other_id": str(ann.id)}, headers=tenant.headers
    )
    assert r.status_code == 404


async def test_merging_an_already_merged_customer_conflicts(client, tenant: TenantFixture, rows: Rows):
    a, b, c = await rows.customer(), await rows.customer(), await rows.customer()
    r = await client.post(f"/api/v1/customers/{a.id}/merge", json={"other_id": str(b.id)}, headers=tenant.headers)
    assert r.status_code == 200
    r = await client.post(f"/api/v1/customers/{c.id}/merge", json={"other_id": str(b.id)}, headers=tenant.headers)
    assert r.status_code == 409


async def test_merge_moves_rows_of_tables_added_to_the_hook(app, client, tenant: TenantFixture, rows: Rows):
    """Commerce appends (Order, "customer_id") to MERGE_MOVES; any table registered there moves the same way."""
    from souk.crm.merge import MERGE_MOVES
    from souk.crm.models import CustomerNote

    a, b = await rows.customer(), await rows.customer()
    await client.patch(f"/api/v1/customers/{b.id}", json={"notes": "vip"}, headers=tenant.headers)
    MERGE_MOVES.append((CustomerNote, "customer_id"))
    try:
        r = await client.post(f"/api/v1/customers/{a.id}/merge", json={"other_id": str(b.id)}, headers=tenant.headers)
        assert len(r.json()["moved"]["customer_notes.customer_id"]) == 1
        assert (await client.get(f"/api/v1/customers/{a.id}", headers=tenant.headers)).json()["notes"] == "vip"
        await client.post(f"/api/v1/customers/{a.id}/unmerge", headers=tenant.headers)
        assert (await client.get(f"/api/v1/customers/{b.id}", headers=tenant.headers)).json()["notes"] == "vip"
    finally:
        MERGE_MOVES.remove((CustomerNote, "customer_id"))
