"""The CRM's order hooks as the commerce package fills them: merge/unmerge move real orders (both customer fields),
scoring counts them, and the attribution report shows their count and revenue per ad and post."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

from souk.commerce.crm_hooks import count_orders, order_summary, order_totals
from souk.commerce.models import Order
from souk.crm.attribution import ORDER_TOTALS
from souk.crm.merge import MERGE_MOVES
from souk.crm.scoring import ORDER_COUNTERS
from souk.crm.service import ORDER_SUMMARIES
from souk.db.types import utcnow
from tests.commerce.conftest import create_product
from tests.conftest import TenantFixture
from tests.crm.conftest import scoring_consumer
from tests.messaging.api.conftest import Rows


async def _order(client, tenant: TenantFixture, product: dict, customer_id: uuid.UUID, quantity: int = 1) -> dict:
    body = {"customer_id": str(customer_id), "items": [{"product_id": product["id"], "quantity": quantity}]}
    r = await client.post("/api/v1/orders", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_the_commerce_package_registers_its_hooks_once():
    import importlib

    import souk.commerce
    from souk.commerce.crm_hooks import register

    register()
    importlib.reload(souk.commerce)
    assert MERGE_MOVES.count((Order, "customer_id")) == 1 and MERGE_MOVES.count((Order, "instagram_user")) == 1
    assert ORDER_COUNTERS.count(count_orders) == 1 and ORDER_TOTALS.count(order_totals) == 1
    assert ORDER_SUMMARIES.count(order_summary) == 1


async def test_merge_moves_orders_and_unmerge_moves_them_back(client, tenant: TenantFixture, rows: Rows):
    jacket = await create_product(client, tenant.headers, name="Jacket", price="500", currency="EGP", stock=9)
    ann, dup = await rows.customer(first_name="Ann"), await rows.customer(first_name="Dup")
    mine = await _order(client, tenant, jacket, ann.id)
    theirs = await _order(client, tenant, jacket, dup.id, 2)

    r = await client.post(f"/api/v1/customers/{ann.id}/merge", json={"other_id": str(dup.id)}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["moved"]["orders.customer_id"] == [theirs["id"]]
    assert r.json()["moved"]["orders.instagram_user"] == [theirs["id"]]
    history = (await client.get(f"/api/v1/customers/{ann.id}/orders", headers=tenant.headers)).json()
    assert {o["id"] for o in history["items"]} == {mine["id"], theirs["id"]}
    moved = next(o for o in history["items"] if o["id"] == theirs["id"])
    assert moved["customer_id"] == moved["instagram_user"] == str(ann.id)  # the legacy field follows
    stats = (await client.get(f"/api/v1/customers/{ann.id}/order-stats", headers=tenant.headers)).json()
    assert stats["total_orders"] == 2 and Decimal(stats["total_spent"]) == Decimal("1500")
    assert (await client.get(f"/api/v1/customers/{dup.id}/orders", headers=tenant.headers)).json()["total"] == 0

    r = await client.post(f"/api/v1/customers/{ann.id}/unmerge", json={}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    back = (await client.get(f"/api/v1/customers/{dup.id}/orders", headers=tenant.headers)).json()
    assert [o["id"] for o in back["items"]] == [theirs["id"]]
    assert back["items"][0]["customer_id"] == back["items"][0]["instagram_user"] == str(dup.id)
    kept = (await client.get(f"/api/v1/customers/{ann.id}/orders", headers=tenant.headers)).json()
    assert [o["id"] for o in kept["items"]] == [mine["id"]]


async def test_orders_give_points_and_move_the_stage_with_a_reason(client, tenant: TenantFixture, rows: Rows):
    jacket = await create_product(client, tenant.headers, name="Jacket", price="500", currency="EGP", stock=9)
    ann = await rows.customer()
    explained = (await client.get(f"/api/v1/customers/{ann.id}/score", headers=tenant.headers)).json()
    assert not any(line.startswith("ordered") for line in explained["reasons"])

    await _order(client, tenant, jacket, ann.id)
    explained = (await client.get(f"/api/v1/customers/{ann.id}/score", headers=tenant.headers)).json()
    assert "ordered +30 (1 orders)" in explained["reasons"]
    r = await client.post(f"/api/v1/customers/{ann.id}/score/recompute", headers=tenant.headers)
    assert r.json()["lead_stage"] == "CUSTOMER" and r.json()["lead_score"] == 30
    acts = (await client.get(f"/api/v1/customers/{ann.id}", headers=tenant.headers)).json()["activities"]
    score = next(a for a in acts if a["activity_type"] == "score_update")
    assert "ordered +30 (1 orders)" in score["reason"]

    # a cancelled order was never a sale
    second = await _order(client, tenant, jacket, ann.id)
    r = await client.post(f"/api/v1/orders/{second['id']}/status", json={"status": "cancelled"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    explained = (await client.get(f"/api/v1/customers/{ann.id}/score", headers=tenant.headers)).json()
    assert "ordered +30 (1 orders)" in explained["reasons"]


async def test_attribution_report_shows_orders_and_revenue_per_ad_and_post(client, tenant: TenantFixture, rows: Rows):
    r = await client.post(
        "/api/v1/ad-campaigns", json={"facebook_ad_id": "ad_9", "campaign_name": "Winter"}, headers=tenant.headers
    )
    ad_id = uuid.UUID(r.json()["id"])
    r = await client.post(
        "/api/v1/posts", json={"facebook_post_id": "p_9", "post_content": "Jacket"}, headers=tenant.headers
    )
    post_id = uuid.UUID(r.json()["id"])
    jacket = await create_product(client, tenant.headers, name="Jacket", price="500", currency="EGP", stock=20)
    wa = await rows.channel("whatsapp")
    ann, bob, cid = await rows.customer(), await rows.customer(), await rows.customer()
    now = utcnow()
    c1, c2, c3 = await rows.conversation(wa, ann), await rows.conversation(wa, bob), await rows.conversation(wa, cid)
    await rows.message(c1, now - timedelta(minutes=30), message_source="ad", ad_id=ad_id)
    await rows.message(c2, now - timedelta(minutes=20), message_source="ad", ad_id=ad_id)
    await rows.message(c2, now - timedelta(minutes=10), message_source="post_comment", post_id=post_id)
    await rows.message(c3, now - timedelta(minutes=5), message_source="ad")  # no ad id: attributed to nothing

    await _order(client, tenant, jacket, ann.id, 2)  # 1000
    await _order(client, tenant, jacket, bob.id)  # 500
    cancelled = await _order(client, tenant, jacket, bob.id, 3)
    await client.post(f"/api/v1/orders/{cancelled['id']}/status", json={"status": "cancelled"}, headers=tenant.headers)
    await _order(client, tenant, jacket, cid.id)  # not a lead of the ad or the post

    window = {"since": (now - timedelta(hours=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    r = await client.get("/api/v1/reports/attribution", params=window, headers=tenant.headers)
    assert r.status_code == 200, r.text
    (ad,) = r.json()["ads"]
    assert (ad["leads"], ad["orders"], Decimal(ad["revenue"])) == (2, 2, Decimal("1500"))
    (post,) = r.json()["posts"]
    assert (post["leads"], post["orders"], Decimal(post["revenue"])) == (1, 1, Decimal("500"))

    earlier = {"since": (now - timedelta(days=3)).isoformat(), "until": (now - timedelta(days=2)).isoformat()}
    r = await client.get("/api/v1/reports/attribution", params=earlier, headers=tenant.headers)
    assert (r.json()["ads"][0]["orders"], Decimal(r.json()["ads"][0]["revenue"])) == (0, Decimal("0"))


async def test_order_events_move_the_score_through_the_bus_and_the_detail_lists_the_orders(
    app, client, tenant: TenantFixture, rows: Rows
):
    jacket = await create_product(client, tenant.headers, name="Jacket", price="500", currency="EGP", stock=9)
    ann = await rows.customer()

    async def score_until(value: int) -> dict:
        for _ in range(300):  # the publisher, the consumer and the scoring share a loaded machine
            body = (await client.get(f"/api/v1/customers/{ann.id}", headers=tenant.headers)).json()
            if body["lead_score"] == value:
                return body
            await asyncio.sleep(0.1)
        raise AssertionError(f"the score stayed {body['lead_score']}, not {value}")

    async with scoring_consumer(app, tenant):
        order = await _order(client, tenant, jacket, ann.id)  # order.created, through the bus
        body = await score_until(30)
        assert body["lead_stage"] == "CUSTOMER"
        r = await client.post(
            f"/api/v1/orders/{order['id']}/status", json={"status": "cancelled"}, headers=tenant.headers
        )
        assert r.status_code == 200, r.text
        body = await score_until(0)  # order.status_changed names the customer: a cancellation lowers the score
    assert body["lead_stage"] == "CUSTOMER"  # stages only move forward
    updates = [a for a in body["activities"] if a["activity_type"] == "score_update"]
    assert [(a["old_value"], a["new_value"]) for a in updates] == [("30", "0"), ("0", "30")]  # newest first
    assert updates[0]["reason"].startswith("order.status_changed")

    second = await _order(client, tenant, jacket, ann.id, 2)
    orders = (await client.get(f"/api/v1/customers/{ann.id}", headers=tenant.headers)).json()["orders"]
    assert orders["href"] == f"/api/v1/customers/{ann.id}/orders"
    assert (orders["total_orders"], Decimal(orders["total_spent"]), orders["currency"]) == (2, Decimal(1000), "EGP")
    assert [(o["id"], o["status"]) for o in orders["recent"]] == [(second["id"], "pending"), (order["id"], "cancelled")]
    assert Decimal(orders["recent"][0]["total_price"]) == Decimal(1000)
