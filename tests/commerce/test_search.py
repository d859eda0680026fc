"""Search finds products in Arabic and English, whatever the diacritics, letter variants, case or a typo."""

from __future__ import annotations

import pytest

from souk.commerce import service
from souk.commerce.search import normalize
from tests.conftest import make_tenant

pytestmark = pytest.mark.usefixtures("db_url")


def test_normalize_folds_arabic_variants_and_latin_case_and_accents():
    assert normalize("جَاكِيــتٌ شِتْوِيّ") == "جاكيت شتوي"
    assert normalize("أحذية") == normalize("احذيه") == normalize("إحذيه")
    assert normalize("مستشفى") == normalize("مستشفي")
    assert normalize("Café  JACKET!") == "cafe jacket"
    assert normalize("١٢٣") == "123"


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("جاكيت شتوي", "JKT-1"),  # the exact words
        ("جَاكِيت شِتْوي", "JKT-1"),  # with harakat
        ("جاكيــت", "JKT-1"),  # with tatweel
        ("جاكت شتوي", "JKT-1"),  # a typo (missing letter)
        ("winter jacket", "JKT-1"),
        ("WINTER Jaket", "JKT-1"),  # case and a typo
        ("احذيه رياضيه", "SHO-1"),  # no hamza, ha for ta marbuta
        ("أحذية", "SHO-1"),
        ("wallet", "WAL-1"),
        ("محفظه", "WAL-1"),
        ("فستان", "DRS-1"),
    ],
)
async def test_search_ranks_the_expected_product_first(client, tenant, catalog, query, first):
    r = await client.get("/api/v1/products", params={"q": query}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"], f"nothing found for {query!r}"
    assert body["items"][0]["sku"] == first
    assert 0 < body["items"][0]["relevance"] <= 1


async def test_unrelated_query_finds_nothing(client, tenant, catalog):
    r = await client.get("/api/v1/products", params={"q": "laptop"}, headers=tenant.headers)
    assert r.json()["total"] == 0


async def test_search_combines_with_filters_and_follows_updates(client, tenant, catalog):
    r = await client.get("/api/v1/products", params={"q": "jacket", "category": "shoes"}, headers=tenant.headers)
    assert r.json()["total"] == 0
    pid = catalog["WAL-1"]["id"]
    await client.patch(f"/api/v1/products/{pid}", json={"name": "Travel organiser"}, headers=tenant.headers)
    r = await client.get("/api/v1/products", params={"q": "organiser"}, headers=tenant.headers)
    assert [p["sku"] for p in r.json()["items"]] == ["WAL-1"]
    gone = await client.get("/api/v1/products", params={"q": "leather wallet"}, headers=tenant.headers)
    assert gone.json()["total"] == 0  # the old name left the index with the update


async def test_one_tenants_many_matches_never_hide_anothers_and_total_is_exact(app, client, tenant, catalog):
    """The index holds every tenant's rows: the tenant and the filters apply before any cut, so a crowded tenant
    cannot push another's product out, a filtered match is found behind many unfiltered ones, and ``total`` counts
    every match, not a candidate window."""
    crowd = await make_tenant(app, "crowd")
    async with app.state.db.tenant_session(crowd.id) as session:
        for i in range(40):
            category = "shoes" if i == 0 else "clothing"
            data = {"name": f"winter jacket {i}", "price": "10", "currency": "EGP", "stock": 1, "category": category}
            await service.create_product(session, crowd.id, data | {"sku": f"C{i}"})

    mine = await client.get("/api/v1/products", params={"q": "winter jacket"}, headers=tenant.headers)
    assert [p["sku"] for p in mine.json()["items"]] == ["JKT-1"] and mine.json()["total"] == 1
    theirs = await client.get(
        "/api/v1/products", params={"q": "winter jacket", "limit": 15, "page": 3}, headers=crowd.headers
    )
    assert theirs.json()["total"] == 40 and len(theirs.json()["items"]) == 10  # pages past any window are full
    shoes = await client.get("/api/v1/products", params={"q": "jacket", "category": "shoes"}, headers=crowd.headers)
    assert [p["sku"] for p in shoes.json()["items"]] == ["C0"] and shoes.json()["total"] == 1
