"""Customers sharing a phone (E.164 via phonenumbers) are proposed for merge or merged, per tenant setting."""

from __future__ import annotations

import pytest

from souk.crm.phones import normalize_phone
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("201001234567", None, "+201001234567"),  # a WhatsApp wa_id
        ("+20 100 123 4567", None, "+201001234567"),
        ("0100 123 4567", "EG", "+201001234567"),
        ("0912345678", "VN", "+84912345678"),
        ("hello", None, None),
        ("", None, None),
    ],
)
def test_normalize_phone(raw, region, e164):
    assert normalize_phone(raw, region) == e164


async def test_same_phone_is_proposed_by_default(client, tenant: TenantFixture, rows: Rows):
    wa = await rows.channel("whatsapp")
    ann = await rows.customer(first_name="Ann")
    other = await rows.customer()
    await rows.identity(wa, other, "201001234567", phone="201001234567")
    r = await client.patch(
        f"/api/v1/customers/{ann.id}", json={"phone_number": "+20 100 123 4567"}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["phone_number"] == "+201001234567"
    r = await client.get("/api/v1/customers/merge-proposals", headers=tenant.headers)
    (proposal,) = r.json()["items"]
    assert {proposal["customer_id"], proposal["other_id"]} == {str(ann.id), str(other.id)}
    assert proposal["phone"] == "+201001234567"
    r = await client.post(f"/api/v1/customers/{ann.id}/merge", json={"other_id": str(other.id)}, headers=tenant.headers)
    assert r.status_code == 200
    assert (await client.get("/api/v1/customers/merge-proposals", headers=tenant.headers)).json()["total"] == 0


async def test_same_phone_merges_into_the_older_customer_when_the_tenant_says_so(
    client, tenant: TenantFixture, rows: Rows
):
    r = await client.put("/api/v1/crm/settings", json={"auto_merge_by_phone": True}, headers=tenant.headers)
    assert r.status_code == 200
    older = await rows.customer(phone_number="+201001234567")
    newer = await rows.customer()
    r = await client.patch(
        f"/api/v1/customers/{newer.id}", json={"phone_number": "201001234567"}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["merged_into_id"] == str(older.id)
    merges = (await client.get(f"/api/v1/customers/{older.id}", headers=tenant.headers)).json()["merges"]
    assert merges[0]["reason"] == "phone" and merges[0]["merged_id"] == str(newer.id)


async def test_invalid_phone_is_refused(client, tenant: TenantFixture, rows: Rows):
    ann = await rows.customer()
    r = await client.patch(f"/api/v1/customers/{ann.id}", json={"phone_number": "12"}, headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "phone_number"
