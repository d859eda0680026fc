"""Search finds products in Arabic and English, whatever the diacritics, letter variants, case or a typo."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import String, insert, select, type_coerce

from souk.commerce import search, service
from souk.commerce.models import Product
from souk.commerce.search import Scorer, _ranked_in_sql, _sorted, normalize, product_text, search_products, words
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


#: a catalog larger than any page and with many ties: names of three of these words (typo-near forms among them)
BULK_WORDS = ["winter", "wintery", "jacket", "jackets", "jaket", "leather", "wallet", "wallets", "cotton", "scarf"]
BULK_WORDS_AR = ["جاكيت", "شتوي", "شتويه", "محفظة", "جلد", "قطن"]


async def test_a_page_ranked_in_sql_is_the_full_scorings_page_with_the_exact_total(app, tenant, monkeypatch):
    """On PostgreSQL the scoring runs in SQL and only the rows up to the page leave the database; the page (order,
    relevance) and the total must be what :class:`Scorer` gives over every product, at the top and deeper."""
    rnd = random.Random(5)
    rows = []
    for i in range(400):
        name = " ".join(rnd.sample(BULK_WORDS, 2) + rnd.sample(BULK_WORDS_AR, 1)) + f" {i % 7}"
        rows.append(
            {"id": uuid.uuid4(), "tenant_id": tenant.id, "name": name, "price": Decimal("10"), "currency": "EGP"}
            | {"stock": 1, "images": [], "tags": [], "sku": f"B{i}", "search_text": product_text(name, None, None, [])}
        )
    async with app.state.db.tenant_session(tenant.id) as session:
        await session.execute(insert(Product).values(rows))  # one statement
        everything = (
            await session.execute(select(type_coerce(Product.id, String), Product.name, Product.search_text))
        ).all()
        stmt = select(Product).where(Product.is_active.is_(True))
        for query in ["winter jacket", "wintr jaket", "جاكيت شتوي", "leather wallets", "cotton scarfs"]:
            expected = [(uuid.UUID(str(i)), s) for i, s in _sorted(Scorer(words(query)), everything)]
            if session.get_bind().dialect.name == "postgresql":
                assert await _ranked_in_sql(session, stmt, words(query), 5) is not None  # no fallback here
            for offset, limit in [(0, 5), (0, 300), (170, 40), (380, 50)]:
                found, total = await search_products(session, stmt, query, offset=offset, limit=limit)
                assert total == len(expected) > 100, query
                assert [(p.id, s) for p, s in found] == expected[offset : offset + limit], (query, offset)
        # a short word counts beside a long one (and beside another short one) as the scorer counts it
        for query in ["scarf 3", "3 scarf", "3 5", "cotton jaket 5 xl"]:
            expected = [(uuid.UUID(str(i)), s) for i, s in _sorted(Scorer(words(query)), everything)]
            found, total = await search_products(session, stmt, query, offset=0, limit=300)
            assert total == len(expected) > 0 and [(p.id, s) for p, s in found] == expected, query
        monkeypatch.setattr(search, "VOCABULARY_MAX", 1)  # a query like too many catalog words: scored in Python
        found, total = await search_products(session, stmt, "winter jacket", offset=0, limit=5)
        expected = [(uuid.UUID(str(i)), s) for i, s in _sorted(Scorer(words("winter jacket")), everything)]
        assert [(p.id, s) for p, s in found] == expected[:5] and total == len(expected)
