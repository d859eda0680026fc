"""Orders: totals at order-time prices, stock reserved and released, the state machine, and customer lookups."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.commerce.conftest import create_product

pytestmark = pytest.mark.usefixtures("db_url")


async def _order(client, tenant, items, **extra):
    return await client.post("/api/v1/orders", json={"items": items, **extra}, headers=tenant.headers)


async def _stock(client, tenant, pid) -> int:
    return (await client.get(f"/api/v1/products/{pid}", headers=tenant.headers)).json()["stock"]


async def _move(client, tenant, oid, status):
    return await client.post(f"/api/v1/orders/{oid}/status", json={"status": status}, headers=tenant.headers)


async def test_order_totals_freeze_prices_and_reserve_stock(client, tenant, catalog):
    jacket, wallet = catalog["JKT-1"], catalog["WAL-1"]
    r = await _order(
        client,
        tenant,
        [{"product_id": jacket["id"], "quantity": 2}, {"product_id": wallet["id"], "quantity": 1}],
        customer_id="cust-1",
        shipping_address={"city": "Cairo"},
        notes="ring twice",
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "pending" and order["currency"] == "EGP"
    assert order["total_price"] == "2699.99"  # 2 × 1250.00 + 199.99, exact
    assert order["customer_id"] == order["instagram_user"] == "cust-1"
    assert {i["unit_price"] for i in order["items"]} == {"1250.00", "199.99"}
    assert await _stock(client, tenant, jacket["id"]) == 3
    await client.patch(f"/api/v1/products/{jacket['id']}", json={"price": "2000"}, headers=tenant.headers)
    again = (await client.get(f"/api/v1/orders/{order['id']}", headers=tenant.headers)).json()
    assert again["total_price"] == "2699.99"


async def test_full_lifecycle_and_illegal_moves_are_409(client, tenant, catalog):
    oid = (
        await _order(client, tenant, [{"product_id": catalog["SHO-1"]["id"], "quantity": 1}], customer_id="c")
    ).json()["id"]
    assert (await _move(client, tenant, oid, "shipped")).status_code == 409
    for status in ("confirmed", "paid", "shipped", "delivered"):
        r = await _move(client, tenant, oid, status)
        assert r.status_code == 200 and r.json()["status"] == status
    r = await _move(client, tenant, oid, "cancelled")
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "status"
    assert (await _move(client, tenant, oid, "refunded")).status_code == 200
    assert (await _move(client, tenant, oid, "pending")).status_code == 409
    assert await _stock(client, tenant, catalog["SHO-1"]["id"]) == 11  # shipped goods are not restocked


async def test_orders_list_the_statuses_they_may_move_to(client, tenant, catalog):
    r = await _order(client, tenant, [{"product_id": catalog["SHO-1"]["id"], "quantity": 1}], customer_id="c")
    order = r.json()
    assert order["next_statuses"] == ["confirmed", "cancelled"]
    for status, after in (("confirmed", ["paid", "cancelled"]), ("paid", ["shipped", "refunded"])):
        assert (await _move(client, tenant, order["id"], status)).json()["next_statuses"] == after
    listed = (await client.get("/api/v1/orders", params={"status": "paid"}, headers=tenant.headers)).json()
    assert [o["next_statuses"] for o in listed["items"]] == [["shipped", "refunded"]]
    assert (await _move(client, tenant, order["id"], "refunded")).json()["next_statuses"] == []


async def test_cancel_releases_reserved_stock(client, tenant, catalog):
    pid = catalog["WAL-1"]["id"]
    oid = (await _order(client, tenant, [{"product_id": pid, "quantity": 3}], customer_id="c")).json()["id"]
    assert await _stock(client, tenant, pid) == 0
    assert (await _move(client, tenant, oid, "cancelled")).status_code == 200
    assert await _stock(client, tenant, pid) == 3
    # a refund before shipping puts the goods back too (after shipping it does not: they left)
    paid = (await _order(client, tenant, [{"product_id": pid, "quantity": 2}], customer_id="c")).json()["id"]
    for status in ("confirmed", "paid"):
        assert (await _move(client, tenant, paid, status)).status_code == 200
    assert await _stock(client, tenant, pid) == 1
    assert (await _move(client, tenant, paid, "refunded")).status_code == 200
    assert await _stock(client, tenant, pid) == 3


async def test_two_orders_for_the_last_item_one_wins(client, tenant):
    last = await create_product(client, tenant.headers, name="Last one", price="10", currency="EGP", stock=1)
    results = await asyncio.gather(
        *[_order(client, tenant, [{"product_id": last["id"], "quantity": 1}], customer_id=f"c{i}") for i in range(2)]
    )
    assert sorted(r.status_code for r in results) == [201, 409]
    loser = next(r for r in results if r.status_code == 409).json()
    assert loser["errors"][0]["field"] == "items.0.quantity"
    assert await _stock(client, tenant, last["id"]) == 0
    assert (await client.get("/api/v1/orders", headers=tenant.headers)).json()["total"] == 1


async def test_bad_orders_are_refused_and_write_nothing(client, tenant, catalog):
    jacket = catalog["JKT-1"]
    await client.patch(f"/api/v1/products/{catalog['DRS-1']['id']}", json={"is_active": False}, headers=tenant.headers)
    cases = [
        ([{"product_id": jacket["id"], "quantity": 0}], "items.0.quantity", 422),
        ([{"product_id": jacket["id"], "quantity": -1}], "items.0.quantity", 422),
        ([{"product_id": str(uuid.uuid4()), "quantity": 1}], "items.0.product_id", 422),
        ([{"product_id": catalog["DRS-1"]["id"], "quantity": 1}], "items.0.product_id", 422),
        (
            [{"product_id": jacket["id"], "quantity": 1}, {"product_id": jacket["id"], "quantity": 5}],
            "items.0.quantity",
            409,
        ),
    ]
    for items, field, status in cases:
        r = await _order(client, tenant, items, customer_id="c")
        assert r.status_code == status, r.text
        assert field in [e["field"] for e in r.json()["errors"]], r.text
    assert (await _order(client, tenant, [{"product_id": jacket["id"], "quantity": 1}])).status_code == 422
    assert await _stock(client, tenant, jacket["id"]) == 5
    assert (await client.get("/api/v1/orders", headers=tenant.headers)).json()["total"] == 0


async def test_customer_history_and_stats_check_both_identifiers(client, tenant, catalog):
    pid = catalog["SHO-1"]["id"]
    new = (await _order(client, tenant, [{"product_id": pid, "quantity": 1}], customer_id="u-9")).json()
    legacy = (await _order(client, tenant, [{"product_id": pid, "quantity": 2}], instagram_user="u-9")).json()
    cancelled = (await _order(client, tenant, [{"product_id": pid, "quantity": 1}], customer_id="u-9")).json()
    await _move(client, tenant, cancelled["id"], "cancelled")
    await _order(client, tenant, [{"product_id": pid, "quantity": 1}], customer_id="someone-else")
    history = (await client.get("/api/v1/customers/u-9/orders", headers=tenant.headers)).json()
    assert history["total"] == 3
    assert {o["id"] for o in history["items"]} == {new["id"], legacy["id"], cancelled["id"]}
    stats = (await client.get("/api/v1/customers/u-9/order-stats", headers=tenant.headers)).json()
    assert stats["total_orders"] == 3
    assert stats["total_spent"] == "2697.00"  # 899 + 2 × 899; the cancelled order is not spending
    assert stats["last_order"] is not None and stats["currency"] == "EGP"
    empty = (await client.get("/api/v1/customers/nobody/order-stats", headers=tenant.headers)).json()
    assert empty == {"total_orders": 0, "total_spent": "0", "last_order": None, "currency": None}
