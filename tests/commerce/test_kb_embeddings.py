"""Knowledge base embeddings through a real local OpenAI-compatible ``/v1/embeddings`` server: documents get vectors
on create and update, search blends full-text with vector similarity, and a failing provider leaves text search."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from souk.commerce.models import KnowledgeBase
from tests.support.servers import FakePlatformServer

pytestmark = pytest.mark.usefixtures("db_url")

KB = "/api/v1/knowledge-base"
API_KEY = "sk-test-embeddings-4f2c"
#: the fake model's "meaning": one dimension per concept, so words that share no letters can mean the same thing
CONCEPTS = [
    {"refund", "refunds", "money", "back", "reimburse", "reimbursed"},
    {"shipping", "delivery", "courier", "couriers", "arrive", "arrives"},
    {"size", "sizes", "fit", "measurements"},
]


def fake_vector(text: str) -> list[float]:
    words = re.findall(r"\w+", text.lower())
    return [float(sum(w in concept for w in words)) for concept in CONCEPTS] + [0.1]


class FakeEmbeddings(FakePlatformServer):
    """OpenAI's embeddings API: bearer key checked, ``input`` a string or a list, vectors in ``data[].embedding``."""

    failing = False

    async def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.url.path != "/v1/embeddings":
            return await super().handle(request)
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        if self.failing:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)} for i, t in enumerate(texts)]
        return JSONResponse({"object": "list", "data": data, "model": body["model"], "usage": {"total_tokens": 1}})


@pytest.fixture(scope="module")
def embeddings_server() -> Iterator[FakeEmbeddings]:
    with FakeEmbeddings() as server:
        yield server


@pytest.fixture
def fake(embeddings_server: FakeEmbeddings) -> Iterator[FakeEmbeddings]:
    embeddings_server.clear()
    embeddings_server.failing = False
    yield embeddings_server
    embeddings_server.failing = False


async def configure(client, tenant, fake: FakeEmbeddings) -> None:
    settings = {
        "kb.embeddings.base_url": {"value": f"{fake.url}/v1"},
        "kb.embeddings.model": {"value": "fake-embed-3"},
        "kb.embeddings.api_key": {"value": API_KEY, "is_sensitive": True},
    }
    for key, body in settings.items():
        r = await client.put(f"/api/v1/settings/{key}", json=body, headers=tenant.headers)
        assert r.status_code == 200, r.text
    shown = (await client.get("/api/v1/settings/kb.embeddings.api_key", headers=tenant.headers)).json()
    assert shown["is_sensitive"] is True and shown["value"] != API_KEY


REFUND = {
    "doc_id": "refund-policy",
    "title": "Refund policy",
    "content": "Refunds are issued to the original card within 14 days.",
}
SHIPPING = {"doc_id": "shipping", "title": "Shipping times", "content": "Couriers arrive within three days."}


async def _stored(app, tenant, doc_id: str) -> KnowledgeBase:
    async with app.state.db.tenant_session(tenant.id) as session:
        return await session.scalar(select(KnowledgeBase).where(KnowledgeBase.doc_id == doc_id))


async def _search(client, tenant, q: str) -> list[dict]:
    r = await client.get(f"{KB}/search", params={"q": q}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_without_a_provider_search_is_full_text_only(app, client, tenant, fake):
    for doc in (REFUND, SHIPPING):
        assert (await client.post(KB, json=doc, headers=tenant.headers)).status_code == 201
    assert await _search(client, tenant, "money back") == []  # no shared word
    assert (await _stored(app, tenant, "refund-policy")).embedding is None
    assert fake.requests == []


async def test_documents_are_embedded_and_search_finds_meaning_beyond_the_words(app, client, tenant, fake):
    await configure(client, tenant, fake)
    for doc in (REFUND, SHIPPING):
        assert (await client.post(KB, json=doc, headers=tenant.headers)).status_code == 201
    calls = fake.requests_to("POST", "/v1/embeddings")
    assert [c.json["model"] for c in calls] == ["fake-embed-3", "fake-embed-3"]
    stored = await _stored(app, tenant, "refund-policy")
    assert stored.embedding == fake_vector("Refund policy\n\n" + REFUND["content"])
    assert stored.embedding_model == "fake-embed-3" and stored.embedded_at is not None

    hits = await _search(client, tenant, "money back")  # shares no word with any document
    assert [h["document"]["doc_id"] for h in hits] == ["refund-policy"]
    assert 0 < hits[0]["score"] <= 1
    # a word match and a meaning match agree: the refund document is first, shipping does not reach the threshold
    hits = await _search(client, tenant, "refund")
    assert [h["document"]["doc_id"] for h in hits] == ["refund-policy"]
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert "**Refunds**" in hits[0]["snippet"]

    # a new text is embedded again; an unchanged text is not
    before = len(fake.requests)
    r = await client.patch(f"{KB}/shipping", json={"category": "policy"}, headers=tenant.headers)
    assert r.status_code == 200 and len(fake.requests) == before
    r = await client.patch(
        f"{KB}/shipping", json={"content": "Money back if the courier is late."}, headers=tenant.headers
    )
    assert r.status_code == 200 and len(fake.requests) == before + 1
    assert (await _stored(app, tenant, "shipping")).embedding[:2] == [2.0, 2.0]  # money, back; shipping, courier
    ranked = [h["document"]["doc_id"] for h in await _search(client, tenant, "money back")]
    assert ranked[0] == "shipping" and set(ranked) == {"shipping", "refund-policy"}


async def test_inactive_documents_are_never_found_by_their_vector(client, tenant, fake):
    await configure(client, tenant, fake)
    r = await client.post(KB, json={**REFUND, "is_active": False}, headers=tenant.headers)
    assert r.status_code == 201
    assert await _search(client, tenant, "money back") == []


async def test_a_failing_provider_leaves_documents_searchable_by_text(app, client, tenant, fake):
    await configure(client, tenant, fake)
    fake.failing = True
    assert (await client.post(KB, json=REFUND, headers=tenant.headers)).status_code == 201
    assert (await _stored(app, tenant, "refund-policy")).embedding is None
    hits = await _search(client, tenant, "refund")  # the query cannot be embedded either: full-text alone
    assert [h["document"]["doc_id"] for h in hits] == ["refund-policy"]
    assert len(fake.requests_to("POST", "/v1/embeddings")) == 2

    # the provider is back: the next change embeds the document, and meaning search works again
    fake.failing = False
    r = await client.patch(f"{KB}/refund-policy", json={"tags": ["money"]}, headers=tenant.headers)
    assert r.status_code == 200
    assert (await _stored(app, tenant, "refund-policy")).embedding is not None
    assert [h["document"]["doc_id"] for h in await _search(client, tenant, "money back")] == ["refund-policy"]


async def test_an_unreachable_provider_does_not_fail_the_request(app, client, tenant, fake):
    await configure(client, tenant, fake)
    r = await client.put(
        "/api/v1/settings/kb.embeddings.base_url", json={"value": "http://127.0.0.1:9/v1"}, headers=tenant.headers
    )
    assert r.status_code == 200
    assert (await client.post(KB, json=SHIPPING, headers=tenant.headers)).status_code == 201
    assert [h["document"]["doc_id"] for h in await _search(client, tenant, "couriers")] == ["shipping"]
