"""Catalog import (API and CLI): upsert by SKU or external id, bad rows reported by number and field, good rows kept."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from souk.commerce.models import Product
from souk.core import service
from souk.db.engine import Database
from tests.channels.conftest import fakes  # noqa: F401 - fixture
from tests.messaging.inbound.conftest import make_channel  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("db_url")

CSV = (
    "sku,name,price,currency,stock,tags,category,is_bestseller\n"
    "JKT-1,جاكيت شتوي,1250.00,EGP,5,winter|شتاء,clothing,true\n"
    "BAD-1,Broken price,-3,EGP,1,,,\n"
    "BAD-2,Odd money,10,XXQ,1,,,\n"
    "SHO-1,Running shoes,899,EGP,12,sport,shoes,false\n"
    "JKT-1,Winter jacket v2,1300,EGP,4,winter,clothing,true\n"
)


async def _import(client, tenant, name, data):
    return await client.post("/api/v1/products/import", files={"file": (name, data)}, headers=tenant.headers)


async def _finished(client, tenant, url: str) -> dict:
    """Poll an import until it is done, as a client would."""
    for _ in range(300):
        job = (await client.get(url, headers=tenant.headers)).json()
        if job["status"] in ("completed", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"import still {job['status']}: {job}")


async def _imported(client, tenant, name, data) -> dict:
    r = await _import(client, tenant, name, data)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["url"]
    return await _finished(client, tenant, r.json()["url"])


async def test_csv_import_keeps_good_rows_and_reports_bad_ones(client, tenant):
    r = await _import(client, tenant, "catalog.csv", CSV.encode())
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["status"] in ("queued", "running", "completed") and accepted["total_rows"] == 5
    report = await _finished(client, tenant, accepted["url"])
    assert report["status"] == "completed" and report["finished_at"] is not None
    assert (report["total_rows"], report["processed"], report["failed"]) == (5, 5, 2)
    assert (report["created"], report["updated"]) == (2, 1)
    assert {(e["row"], e["field"]) for e in report["errors"]} == {(2, "price"), (3, "currency")}
    listed = (await client.get("/api/v1/products/imports", headers=tenant.headers)).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == accepted["id"]
    items = (await client.get("/api/v1/products?limit=50", headers=tenant.headers)).json()["items"]
    by_sku = {p["sku"]: p for p in items}
    assert set(by_sku) == {"JKT-1", "SHO-1"}
    assert by_sku["JKT-1"]["price"] == "1300.00" and by_sku["JKT-1"]["name"] == "Winter jacket v2"
    assert by_sku["SHO-1"]["tags"] == ["sport"] and by_sku["SHO-1"]["is_bestseller"] is False
    found = (await client.get("/api/v1/products", params={"q": "winter jaket"}, headers=tenant.headers)).json()
    assert found["items"][0]["sku"] == "JKT-1"


async def test_json_import_upserts_by_external_id(client, tenant):
    rows = [{"external_id": "wa-1", "name": "Wallet", "price": "199.99", "currency": "EGP", "stock": 3}]
    assert (await _imported(client, tenant, "c.json", json.dumps(rows).encode()))["created"] == 1
    rows[0]["price"] = "149.99"
    again = await _imported(client, tenant, "c.json", json.dumps(rows).encode())
    assert (again["created"], again["updated"]) == (0, 1)
    items = (await client.get("/api/v1/products", headers=tenant.headers)).json()["items"]
    assert [(p["external_id"], p["price"]) for p in items] == [("wa-1", "149.99")]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("c.json", b'[{"name": "x",'),
        ("c.json", b'{"not": "a list"}'),
        ("c.csv", b"sku,name\nA,B,C,D\n"),
        ("c.csv", b"\xff\xfe\x00garbage"),
        ("c.txt", b"name,price"),
    ],
)
async def test_malformed_file_is_refused_whole(client, tenant, name, data):
    r = await _import(client, tenant, name, data)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] in {"file", "format"}
    assert (await client.get("/api/v1/products", headers=tenant.headers)).json()["total"] == 0
    assert (await client.get("/api/v1/products/imports", headers=tenant.headers)).json()["total"] == 0


async def test_a_large_import_shows_progress_batch_by_batch(app, client, tenant):
    """Each batch commits with the job's counters: the job is read between batches as the API shows it."""
    from souk.commerce import import_jobs

    rows = [{"sku": f"S-{i}", "name": f"Item {i}", "price": "10", "currency": "EGP"} for i in range(7)]
    rows[4]["price"] = "-1"
    async with app.state.db.tenant_session(tenant.id) as session:
        job = await import_jobs.create_job(session, tenant.id, json.dumps(rows).encode(), "json", "big.json")
    url = f"/api/v1/products/imports/{job.id}"
    assert (await client.get(url, headers=tenant.headers)).json()["status"] == "queued"
    seen = []
    for _ in range(4):  # batches of 3: 3, 6, 7 rows processed
        if await import_jobs._batch(app.state.db, tenant.id, job.id, 3):
            break
        got = (await client.get(url, headers=tenant.headers)).json()
        seen.append((got["processed"], got["created"], got["failed"]))
    assert seen == [(3, 3, 0), (6, 5, 1)]
    done = (await client.get(url, headers=tenant.headers)).json()
    assert (done["status"], done["processed"], done["created"], done["failed"]) == ("completed", 7, 6, 1)
    assert done["errors"] == [{"row": 5, "field": "price", "reason": done["errors"][0]["reason"]}]


async def test_a_job_left_running_by_a_stopped_process_is_resumed_by_the_worker_sweep(app, client, tenant):
    from datetime import timedelta

    from souk.commerce import import_jobs
    from souk.commerce.models import ProductImportJob
    from souk.db.types import utcnow

    rows = [{"sku": f"R-{i}", "name": f"Item {i}", "price": "5", "currency": "EGP"} for i in range(4)]
    async with app.state.db.tenant_session(tenant.id) as session:
        job = await import_jobs.create_job(session, tenant.id, json.dumps(rows).encode(), "json", "r.json")
    # a process imported the first two rows, then stopped: the job is "running" with an old heartbeat
    await import_jobs._claim(app.state.db, tenant.id, job.id)
    await import_jobs._batch(app.state.db, tenant.id, job.id, 2)
    async with app.state.db.tenant_session(tenant.id) as session:
        stale = await session.get(ProductImportJob, job.id)
        stale.updated_at = utcnow() - import_jobs.STALE_AFTER - timedelta(seconds=1)
    url = f"/api/v1/products/imports/{job.id}"
    assert (await client.get(url, headers=tenant.headers)).json()["processed"] == 2
    # this sweep or the worker's own (it runs in this app too) resumes it: either way it is taken once
    assert await import_jobs.sweep(app.state.db) in (0, 1)
    done = await _finished(client, tenant, url)
    assert (done["status"], done["processed"], done["created"], done["errors"]) == ("completed", 4, 4, [])
    skus = {p["sku"] for p in (await client.get("/api/v1/products", headers=tenant.headers)).json()["items"]}
    assert skus == {"R-0", "R-1", "R-2", "R-3"}
    assert await import_jobs.sweep(app.state.db) == 0  # nothing left to take


async def test_another_tenant_cannot_see_an_import(client, tenant, other_tenant):
    accepted = (await _import(client, tenant, "catalog.csv", CSV.encode())).json()
    await _finished(client, tenant, accepted["url"])
    assert (await client.get(accepted["url"], headers=other_tenant.headers)).status_code == 404
    theirs = (await client.get("/api/v1/products/imports", headers=other_tenant.headers)).json()
    assert theirs["total"] == 0


async def test_cli_import_draws_progress_and_lists_row_errors(db_url, tmp_path):
    """Run without the app in this process, so only the CLI writes to the database."""
    db = Database(db_url)
    async with db.system_session() as session:
        shop = await service.create_tenant(session, "cli-shop", "CLI shop")
    path = tmp_path / "catalog.csv"
    path.write_text(CSV, encoding="utf-8")
    env = {**os.environ, "SOUK_DATABASE_URL": db_url, "SOUK_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "souk.cli", "products", "import", str(path), "--tenant", "cli-shop"]
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr  # some rows were bad
    assert "created 2, updated 1, 2 row error(s)" in done.stdout
    assert "XXQ" in done.stdout and "importing" in done.stderr
    async with db.tenant_session(shop.id) as session:
        skus = set(await session.scalars(select(Product.sku)))
    await db.dispose()
    assert skus == {"JKT-1", "SHO-1"}


async def test_chotot_listings_feed_the_same_import(client, tenant, make_channel, fakes):  # noqa: F811
    channel = await make_channel("chotot")
    fakes["chotot"].ads.pop(fakes["chotot"].account_id, None)  # the fake is shared by the session's tests
    fakes["chotot"].add_ads(fakes["chotot"].account_id, 3)
    url = f"/api/v1/products/import/chotot?channel_id={channel['id']}"
    first = (await client.post(url, headers=tenant.headers)).json()
    assert (first["created"], first["updated"], first["errors"]) == (3, 0, [])
    again = (await client.post(url, headers=tenant.headers)).json()
    assert (again["created"], again["updated"]) == (0, 3)
    items = (await client.get("/api/v1/products?limit=10", headers=tenant.headers)).json()["items"]
    assert sorted(p["price"] for p in items) == ["100000", "200000", "300000"]
    assert {p["currency"] for p in items} == {"VND"} and all(p["external_id"].startswith("chotot:") for p in items)
