"""Posts and ad campaigns by API, and the attribution report over a date range with orders from the commerce hook."""

from __future__ import annotations

import uuid
from decimal import Decimal

from souk.crm.attribution import ORDER_TOTALS
from tests.conftest import TenantFixture
from tests.messaging.api.conftest import Rows, at


async def test_posts_and_ad_campaigns_crud(client, tenant: TenantFixture, other_tenant: TenantFixture):
    post = {
        "facebook_post_id": "post_123",
        "post_type": "PRODUCT",
        "post_content": "جاكيت شتوي للبيع - 500 جنيه",
        "post_price": "500 EGP",
        "post_data": '{"category": "winter", "size": "L"}',
    }
    r = await client.post("/api/v1/posts", json=post, headers=tenant.headers)
    assert r.status_code == 201, r.text
    post_id = r.json()["id"]
    assert r.json()["post_price"] == "500 EGP" and r.json()["is_active"] is True
    r = await client.post("/api/v1/posts", json=post, headers=tenant.headers)
    assert r.status_code == 409
    r = await client.post("/api/v1/posts", json={**post, "post_type": "MEME"}, headers=tenant.headers)
    assert r.status_code == 422
    r = await client.patch(f"/api/v1/posts/{post_id}", json={"is_active": False}, headers=tenant.headers)
    assert r.json()["is_active"] is False
    assert (await client.get("/api/v1/posts", headers=tenant.headers)).json()["total"] == 1
    assert (await client.get(f"/api/v1/posts/{post_id}", headers=other_tenant.headers)).status_code == 404

    ad = {"facebook_ad_id": "ad_1", "campaign_name": "Winter", "budget": "1000 EGP/day", "target_audience": "Cairo"}
    r = await client.post("/api/v1/ad-campaigns", json=ad, headers=tenant.headers)
    assert r.status_code == 201 and r.json()["status"] == "active"
    ad_id = r.json()["id"]
    r = await client.patch(f"/api/v1/ad-campaigns/{ad_id}", json={"status": "paused"}, headers=tenant.headers)
    assert r.json()["status"] == "paused"
    assert (await client.get("/api/v1/ad-campaigns", headers=tenant.headers)).json()["items"][0]["id"] == ad_id


async def test_report_counts_leads_conversations_orders_and_revenue_in_range(client, tenant: TenantFixture, rows: Rows):
    r = await client.post(
        "/api/v1/ad-campaigns", json={"facebook_ad_id": "ad_1", "campaign_name": "Winter"}, headers=tenant.headers
    )
    ad_id = uuid.UUID(r.json()["id"])
    r = await client.post(
        "/api/v1/posts", json={"facebook_post_id": "p_1", "post_content": "Jacket"}, headers=tenant.headers
    )
    post_id = uuid.UUID(r.json()["id"])
    wa = await rows.channel("whatsapp")
    ann, bob, cid = await rows.customer(), await rows.customer(), await rows.customer()
    c1, c2, c3 = await rows.conversation(wa, ann), await rows.conversation(wa, bob), await rows.conversation(wa, cid)
    await rows.message(c1, at(10), message_source="ad", ad_id=ad_id)
    await rows.message(c1, at(11), message_source="ad", ad_id=ad_id)
    await rows.message(c2, at(12), message_source="ad", ad_id=ad_id)
    await rows.message(c2, at(13), message_source="post_comment", post_id=post_id)
    await rows.message(c3, at(500), message_source="ad", ad_id=ad_id)  # outside the range

    async def totals(session, customer_ids, since, until):
        return {ann.id: (1, Decimal("500.00"))} if ann.id in customer_ids else {}

    ORDER_TOTALS.append(totals)
    try:
        r = await client.get(
            "/api/v1/reports/attribution",
            params={"since": at(0).isoformat(), "until": at(60).isoformat()},
            headers=tenant.headers,
        )
    finally:
        ORDER_TOTALS.remove(totals)
    assert r.status_code == 200, r.text
    (ad,) = r.json()["ads"]
    assert (ad["name"], ad["leads"], ad["conversations"], ad["messages"], ad["orders"]) == ("Winter", 2, 2, 3, 1)
    assert Decimal(ad["revenue"]) == Decimal("500")
    (post,) = r.json()["posts"]
    assert (post["leads"], post["orders"], post["name"]) == (1, 0, "Jacket")
    r = await client.get(
        "/api/v1/reports/attribution",
        params={"since": at(60).isoformat(), "until": at(0).isoformat()},
        headers=tenant.headers,
    )
    assert r.status_code == 422
