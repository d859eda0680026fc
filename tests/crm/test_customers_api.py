"""The customers API: search filters, PATCH with one activity per change, bad values, CSV export; both databases."""

from __future__ import annotations

import csv
import io

from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows, at


async def test_patch_writes_one_activity_per_changed_field(client, tenant: TenantFixture, rows: Rows):
    ann = await rows.customer(first_name="Ann")
    body = {"lead_stage": "NURTURE", "customer_label": "hot", "customer_type": "retail", "reason": "asked for sizes"}
    r = await client.patch(f"/api/v1/customers/{ann.id}", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["lead_stage"], out["customer_label"], out["customer_type"]) == ("NURTURE", "hot", "retail")
    kinds = sorted((a["activity_type"], a["old_value"], a["new_value"]) for a in out["activities"])
    assert kinds == [
        ("label_change", None, "hot"),
        ("stage_change", "INTAKE", "NURTURE"),
        ("type_change", None, "retail"),
    ]
    assert all(a["reason"] == "asked for sizes" and a["automated"] is False for a in out["activities"])

    # the same values again change nothing and write nothing
    r = await client.patch(f"/api/v1/customers/{ann.id}", json=body, headers=tenant.headers)
    assert len(r.json()["activities"]) == 3
    r = await client.get(f"/api/v1/customers/{ann.id}/activities", headers=tenant.headers)
    assert r.json()["total"] == 3


async def test_patch_notes_and_score_within_range(client, tenant: TenantFixture, rows: Rows):
    ann = await rows.customer()
    r = await client.patch(
        f"/api/v1/customers/{ann.id}", json={"notes": "prefers evening calls", "lead_score": 70}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["notes"] == "prefers evening calls" and r.json()["lead_score"] == 70
    assert {a["activity_type"] for a in r.json()["activities"]} == {"notes_change", "score_update"}


async def test_a_score_filter_beyond_the_column_is_a_422(client, tenant: TenantFixture):
    """Found by schemathesis: ``score_min=-33006562056540136669184`` overflowed the integer column and was a 500."""
    for name in ("score_min", "score_max"):
        r = await client.get(f"/api/v1/customers?{name}=-33006562056540136669184", headers=tenant.headers)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == f"query.{name}"


async def test_unknown_stage_label_or_type_lists_allowed_values(client, tenant: TenantFixture, rows: Rows):
    ann = await rows.customer()
    r = await client.patch(f"/api/v1/customers/{ann.id}", json={"lead_stage": "HOTTISH"}, headers=tenant.headers)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "INTAKE" in r.json()["allowed"] and r.json()["errors"][0]["field"] == "lead_stage"
    r = await client.patch(f"/api/v1/customers/{ann.id}", json={"customer_label": "meh"}, headers=tenant.headers)
    assert r.status_code == 422 and "hot" in r.json()["detail"]
    r = await client.patch(f"/api/v1/customers/{ann.id}", json={"customer_type": "alien"}, headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "customer_type"
    r = await client.patch(f"/api/v1/customers/{ann.id}", json={"colour": "red"}, headers=tenant.headers)
    assert r.status_code == 422
    r = await client.get(f"/api/v1/customers/{ann.id}/activities", headers=tenant.headers)
    assert r.json()["total"] == 0


async def test_score_outside_configured_range_is_refused(client, tenant: TenantFixture, rows: Rows):
    ann = await rows.customer()
    r = await client.patch(f"/api/v1/customers/{ann.id}", json={"lead_score": 101}, headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lead_score"
    settings = {"score_min": -10, "score_max": 10, "labels": ["gold", "silver"]}
    r = await client.put("/api/v1/crm/settings", json=settings, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == ["gold", "silver"] and "NURTURE" in r.json()["lead_stages"]
    r = await client.patch(f"/api/v1/customers/{ann.id}", json={"lead_score": 50}, headers=tenant.headers)
    assert r.status_code == 422 and "between -10 and 10" in r.json()["detail"]
    r = await client.patch(
        f"/api/v1/customers/{ann.id}", json={"lead_score": -5, "customer_label": "gold"}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["customer_label"] == "gold"
    r = await client.put("/api/v1/crm/settings", json={"score_min": 5, "score_max": 1}, headers=tenant.headers)
    assert r.status_code == 422


async def test_search_by_name_phone_identity_stage_score_channel_and_source(client, tenant: TenantFixture, rows: Rows):
    tg = await rows.channel("telegram")
    wa = await rows.channel("whatsapp")
    ann = await rows.customer(
        first_name="Ann", display_name="Ann Lee", lead_stage="NURTURE", lead_score=80, last_message_at=at(5)
    )
    bob = await rows.customer(
        first_name="Bob",
        display_name="Bob",
        phone_number="+201001234567",
        lead_score=10,
        customer_label="cold",
        last_message_at=at(1),
    )
    await rows.identity(tg, ann, "555", username="ann_tg")
    await rows.identity(wa, bob, "201001234567")
    conv = await rows.conversation(wa, bob)
    await rows.message(conv, at(1), message_source="ad")

    async def ids(**params):
        r = await client.get("/api/v1/customers", params=params, headers=tenant.headers)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await ids() == [str(ann.id), str(bob.id)]
    assert await ids(q="ann") == [str(ann.id)]
    assert await ids(q="ann_tg") == [str(ann.id)]
    assert await ids(q="1234567") == [str(bob.id)]
    assert await ids(stage="NURTURE") == [str(ann.id)]
    assert await ids(label="cold") == [str(bob.id)]
    assert await ids(score_min=50) == [str(ann.id)]
    assert await ids(score_max=50) == [str(bob.id)]
    assert await ids(channel="whatsapp") == [str(bob.id)]
    assert await ids(channel=str(tg.id)) == [str(ann.id)]
    assert await ids(source="ad") == [str(bob.id)]
    r = await client.get("/api/v1/customers", params={"stage": "NOPE"}, headers=tenant.headers)
    assert r.status_code == 422


async def test_csv_export_of_a_filtered_list(client, tenant: TenantFixture, rows: Rows):
    await rows.customer(first_name="Ann", lead_stage="NURTURE")
    await rows.customer(first_name="Bob")
    r = await client.get("/api/v1/customers/export.csv", params={"stage": "NURTURE"}, headers=tenant.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["first_name"] for row in table] == ["Ann"] and table[0]["lead_stage"] == "NURTURE"


async def test_another_tenants_customer_is_not_found(client, tenant: TenantFixture, other_rows: Rows):
    theirs = await other_rows.customer()
    r = await client.patch(f"/api/v1/customers/{theirs.id}", json={"lead_stage": "LOST"}, headers=tenant.headers)
    assert r.status_code == 404
    r = await client.get(f"/api/v1/customers/{theirs.id}", headers=tenant.headers)
    assert r.status_code == 404
