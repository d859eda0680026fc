"""Knowledge base: CRUD, bulk import from Markdown/CSV/JSON, ranked search with snippets, inactive never found."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.usefixtures("db_url")

KB = "/api/v1/knowledge-base"

DOCS = [
    {
        "doc_id": "returns",
        "title": "Returns policy",
        "content": "You can return any item within 14 days of delivery. Refunds are paid to the original card.",
        "category": "policy",
        "tags": ["returns"],
        "metadata": {"lang": "en"},
    },
    {
        "doc_id": "shipping",
        "title": "Shipping times",
        "content": "Orders ship within two days. Delivery to Cairo takes 3 days; returns are collected by courier.",
        "category": "policy",
    },
    {
        "doc_id": "ar-shipping",
        "title": "الشحن والتوصيل",
        "content": "نقوم بالتوصيل إلى جميع المحافظات خلال ثلاثة أيام. الشحن مجاني للطلبات فوق ٥٠٠ جنيه.",
        "category": "faq",
    },
    {
        "doc_id": "old-sale",
        "title": "Summer sale returns",
        "content": "Sale items cannot be returned. This returns rule is retired.",
        "is_active": False,
    },
]


@pytest.fixture
async def docs(client, tenant):
    for d in DOCS:
        r = await client.post(KB, json=d, headers=tenant.headers)
        assert r.status_code == 201, r.text


async def _search(client, tenant, q, **params):
    r = await client.get(f"{KB}/search", params={"q": q, **params}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _upload(client, tenant, name, data):
    return await client.post(f"{KB}/import", files={"file": (name, data)}, headers=tenant.headers)


async def test_crud_and_unique_doc_id(client, tenant, docs):
    r = await client.get(f"{KB}/returns", headers=tenant.headers)
    assert r.json()["metadata"] == {"lang": "en"} and r.json()["tags"] == ["returns"]
    dup = await client.post(KB, json=DOCS[0], headers=tenant.headers)
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "doc_id"
    r = await client.patch(f"{KB}/returns", json={"title": "Return rules"}, headers=tenant.headers)
    assert r.json()["title"] == "Return rules"
    listed = (await client.get(f"{KB}?category=policy", headers=tenant.headers)).json()
    assert listed["total"] == 2
    assert (await client.delete(f"{KB}/returns", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"{KB}/returns", headers=tenant.headers)).status_code == 404


async def test_patch_with_null_for_a_required_field_is_a_422_naming_it(client, tenant, docs):
    """Found by schemathesis: ``{"is_active": null}`` reached the NOT NULL column and was a 500."""
    for field in ("is_active", "title", "content", "tags", "metadata"):
        r = await client.patch(f"{KB}/returns", json={field: None}, headers=tenant.headers)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["errors"][0]["field"] == field
    assert (await client.patch(f"{KB}/returns", json={"category": None}, headers=tenant.headers)).status_code == 200


async def test_search_ranks_and_snippets_and_never_returns_inactive(client, tenant, docs):
    hits = await _search(client, tenant, "returns")
    ids = [h["document"]["doc_id"] for h in hits]
    assert ids[0] == "returns" and "shipping" in ids and "old-sale" not in ids
    assert hits[0]["score"] >= hits[-1]["score"]
    assert "**return**" in hits[0]["snippet"].lower() or "**returns**" in hits[0]["snippet"].lower()
    assert [h["document"]["doc_id"] for h in await _search(client, tenant, "returns", category="faq")] == []


async def test_arabic_search_ignores_hamza_and_ta_marbuta(client, tenant, docs):
    hits = await _search(client, tenant, "التوصيل الي المحافظات")
    assert hits and hits[0]["document"]["doc_id"] == "ar-shipping"
    assert "**" in hits[0]["snippet"]


async def test_deactivated_document_leaves_search(client, tenant, docs):
    await client.patch(f"{KB}/shipping", json={"is_active": False}, headers=tenant.headers)
    assert "shipping" not in [h["document"]["doc_id"] for h in await _search(client, tenant, "courier")]


async def test_bulk_import_markdown_csv_json_upserts_and_reports_bad_rows(client, tenant, docs):
    md = "# Opening hours\n<!-- doc_id: hours -->\nWe answer chats from 9 to 21.\n\n# Payment\nCash on delivery.\n"
    r = await _upload(client, tenant, "faq.md", md.encode())
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 2, "updated": 0, "errors": []}
    assert (await client.get(f"{KB}/hours", headers=tenant.headers)).json()["title"] == "Opening hours"

    csv_text = "doc_id,title,content,tags\nreturns,Returns,Thirty days now.,a|b\n,No id,Body,\nwarranty,Warranty,,\n"
    r = await _upload(client, tenant, "faq.csv", csv_text.encode())
    body = r.json()
    assert body["created"] == 0 and body["updated"] == 1
    assert {(e["row"], e["field"]) for e in body["errors"]} == {(2, "doc_id"), (3, "content")}
    updated = (await client.get(f"{KB}/returns", headers=tenant.headers)).json()
    assert updated["content"] == "Thirty days now." and updated["tags"] == ["a", "b"]

    payload = [
        {"doc_id": "sizes", "title": "Sizes", "content": "S M L XL", "bogus": 1},
        {"doc_id": "gift", "title": "Gift", "content": "Wrap"},
    ]
    r = await _upload(client, tenant, "faq.json", json.dumps(payload).encode())
    assert r.json()["created"] == 1 and r.json()["errors"][0] == {
        "row": 1,
        "field": "bogus",
        "reason": "Extra inputs are not permitted",
    }


async def test_malformed_import_writes_nothing(client, tenant):
    r = await _upload(client, tenant, "faq.json", b'[{"doc_id": "a",')
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = await _upload(client, tenant, "faq.md", b"no headings here")
    assert r.status_code == 422
    assert (await client.get(KB, headers=tenant.headers)).json()["total"] == 0
