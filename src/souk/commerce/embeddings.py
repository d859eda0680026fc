"""Knowledge base embeddings from a tenant's OpenAI-compatible embedding provider, and their part in search.

A tenant turns embeddings on with three settings (``PUT /api/v1/settings/{key}``): :data:`BASE_URL` (the API root
that ends before ``/embeddings``, e.g. ``https://api.openai.com/v1``), :data:`MODEL` and :data:`API_KEY` (stored
with ``is_sensitive: true``, so it is encrypted at rest and masked in answers); :data:`TIMEOUT` is optional.
Without a base URL and a model nothing here runs and search is the full-text search it always was.

Documents are embedded inline when they are created or their text changes, within the timeout. A provider that
fails or is slow leaves the document without a vector: it is still found by its words, and embedded again on its
next change. A query is embedded the same way; when that fails, search falls back to full-text alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce.models import KnowledgeBase
from souk.core import service as settings_service
from souk.core.observability import log
from souk.db.types import utcnow

BASE_URL = "kb.embeddings.base_url"
MODEL = "kb.embeddings.model"
API_KEY = "kb.embeddings.api_key"
TIMEOUT = "kb.embeddings.timeout_seconds"
DEFAULT_TIMEOUT = 10.0
#: how much the vector similarity weighs in a blended score (the full-text rank, scaled to [0, 1], weighs the rest)
VECTOR_WEIGHT = 0.5
#: a document found only by its vector must be at least this similar to the query (cosine) to be shown
MIN_SIMILARITY = 0.3
#: documents an embedding-only search compares in Python on SQLite (the newest first)
SQLITE_CANDIDATES = 5000


class EmbeddingError(Exception):
    """The provider answered, but not with what the OpenAI embeddings API returns."""


@dataclass(frozen=True)
class Provider:
    base_url: str
    model: str
    api_key: str | None
    timeout: float


async def provider_of(session: AsyncSession) -> Provider | None:
    """The tenant's embedding provider, or None when it has not configured one."""
    base_url = await settings_service.setting(session, BASE_URL)
    model = await settings_service.setting(session, MODEL)
    if not base_url or not model:
        return None
    try:
        timeout = float(await settings_service.setting(session, TIMEOUT) or DEFAULT_TIMEOUT)
    except ValueError:
        timeout = DEFAULT_TIMEOUT
    api_key = await settings_service.setting(session, API_KEY)
    return Provider(base_url.rstrip("/"), model, api_key or None, max(0.1, min(timeout, 60.0)))


async def embed(http: httpx.AsyncClient | None, provider: Provider, texts: list[str]) -> list[list[float]]:
    """``POST {base_url}/embeddings`` (OpenAI's shape): one vector per text, in order."""
    headers = {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}
    body = {"model": provider.model, "input": texts}
    url = f"{provider.base_url}/embeddings"
    if http is None:
        async with httpx.AsyncClient() as own:
            response = await own.post(url, json=body, headers=headers, timeout=provider.timeout)
    else:
        response = await http.post(url, json=body, headers=headers, timeout=provider.timeout)
    response.raise_for_status()
    try:
        data = sorted(response.json()["data"], key=lambda d: d.get("index", 0))
        vectors = [[float(x) for x in d["embedding"]] for d in data]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EmbeddingError(f"not an embeddings answer: {exc}") from None
    if len(vectors) != len(texts) or any(not v for v in vectors):
        raise EmbeddingError(f"{len(vectors)} vectors for {len(texts)} texts")
    return vectors


async def try_embed(http: httpx.AsyncClient | None, provider: Provider, text: str) -> list[float] | None:
    """One text's vector, or None (logged) when the provider fails, times out or answers nonsense."""
    try:
        return (await embed(http, provider, [text]))[0]
    except (httpx.HTTPError, EmbeddingError) as exc:
        log.warning("embedding failed", provider=provider.base_url, model=provider.model, reason=repr(exc))
        return None


def document_text(doc: KnowledgeBase) -> str:
    return f"{doc.title}\n\n{doc.content}"


async def embed_document(
    session: AsyncSession, doc: KnowledgeBase, http: httpx.AsyncClient | None, *, text_changed: bool = True
) -> None:
    """Give ``doc`` the vector of its current text, when the tenant has a provider and the text needs one.

    A document whose text changed and whose new embedding failed loses its old vector (it would describe the old
    text); search still finds it by its words.
    """
    provider = await provider_of(session)
    if provider is None:
        return
    if not text_changed and doc.embedding is not None and doc.embedding_model == provider.model:
        return
    vector = await try_embed(http, provider, document_text(doc))
    if vector is None:
        if text_changed:
            doc.embedding, doc.embedding_model, doc.embedded_at = None, None, None
        return
    doc.embedding, doc.embedding_model, doc.embedded_at = vector, provider.model, utcnow()


def cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def blend(
    text_hits: list[tuple[KnowledgeBase, float]],
    vector_hits: list[tuple[KnowledgeBase, float]],
    query_vector: list[float],
    model: str,
    limit: int,
) -> list[tuple[KnowledgeBase, float]]:
    """One ranking from both: ``(1 - w) * text rank / best text rank + w * cosine``, in [0, 1].

    A full-text hit is compared with the query vector too (when it has a vector of the same model); a document only
    the vectors found must reach :data:`MIN_SIMILARITY`.
    """
    best_text = max((s for _, s in text_hits), default=0.0)
    docs: dict[Any, KnowledgeBase] = {}
    text_score: dict[Any, float] = {}
    for doc, s in text_hits:
        docs[doc.id] = doc
        text_score[doc.id] = s / best_text if best_text > 0 else 0.0
    vector_score: dict[Any, float] = {doc.id: sim for doc, sim in vector_hits}
    for doc, sim in vector_hits:
        if doc.id not in docs and sim >= MIN_SIMILARITY:
            docs[doc.id] = doc
    ranked = []
    for key, doc in docs.items():
        sim = vector_score.get(key)
        if sim is None and doc.embedding is not None and doc.embedding_model == model:
            sim = cosine(query_vector, doc.embedding)
        value = (1 - VECTOR_WEIGHT) * text_score.get(key, 0.0) + VECTOR_WEIGHT * max(sim or 0.0, 0.0)
        ranked.append((doc, value))
    ranked.sort(key=lambda ds: (-ds[1], ds[0].doc_id))
    return ranked[:limit]
