"""The knowledge base (seed 003): FAQ and policy documents, their bulk import and their ranked search.

Inactive documents are never returned by search, whatever the caller asks. When the tenant has an embedding
provider (:mod:`souk.commerce.embeddings`), documents carry a vector of their text and search blends the full-text
rank with vector similarity; without one, search is full-text only.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import Float, Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from souk.commerce import embeddings
from souk.commerce.importer import Report, RowError, read_markdown, read_rows, split_list
from souk.commerce.models import KnowledgeBase
from souk.commerce.schemas import DocumentIn
from souk.commerce.search import normalize, search_documents, snippet, with_stems
from souk.core.errors import Conflict, NotFound, field_error
from souk.core.pagination import PageParams, paginate


def _reindex(doc: KnowledgeBase) -> None:
    # the title twice: a word in the title weighs more than the same word once in a long answer
    doc.search_text = with_stems(normalize(f"{doc.title} {doc.title} {doc.content}"))
    doc.search_words = len(doc.search_text.split())


async def _by_doc_id(session: AsyncSession, doc_id: str) -> KnowledgeBase | None:
    return await session.scalar(select(KnowledgeBase).where(KnowledgeBase.doc_id == doc_id))


async def create_document(
    session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any], *, http: httpx.AsyncClient | None = None
) -> KnowledgeBase:
    if await _by_doc_id(session, data["doc_id"]) is not None:
        raise Conflict("doc_id already used", errors=[field_error("doc_id", "already used", "unique")])
    data = dict(data)
    doc = KnowledgeBase(tenant_id=tenant_id, extra_data=data.pop("metadata", None) or {}, **data)
    _reindex(doc)
    await embeddings.embed_document(session, doc, http)
    session.add(doc)
    await session.flush()
    return doc


async def get_document(session: AsyncSession, doc_id: str) -> KnowledgeBase:
    doc = await _by_doc_id(session, doc_id)
    if doc is None:
        raise NotFound(f"document {doc_id!r} not found")
    return doc


async def update_document(
    session: AsyncSession, doc_id: str, changes: dict[str, Any], *, http: httpx.AsyncClient | None = None
) -> KnowledgeBase:
    """Apply ``changes``; a new title or content is embedded again (so is a document that has no vector yet)."""
    doc = await get_document(session, doc_id)
    before = embeddings.document_text(doc)
    changes = dict(changes)
    if "metadata" in changes:
        doc.extra_data = changes.pop("metadata") or {}
    for key, value in changes.items():
        setattr(doc, key, value)
    _reindex(doc)
    await embeddings.embed_document(session, doc, http, text_changed=embeddings.document_text(doc) != before)
    await session.flush()
    return doc


async def delete_document(session: AsyncSession, doc_id: str) -> None:
    await session.delete(await get_document(session, doc_id))
    await session.flush()


async def list_documents(
    session: AsyncSession, params: PageParams, *, category: str | None = None, active: bool | None = None
) -> tuple[list[KnowledgeBase], int]:
    stmt = select(KnowledgeBase).order_by(KnowledgeBase.doc_id)
    if category is not None:
        stmt = stmt.where(KnowledgeBase.category == category)
    if active is not None:
        stmt = stmt.where(KnowledgeBase.is_active.is_(active))
    return await paginate(session, stmt, params)


async def search(
    session: AsyncSession,
    query: str,
    *,
    category: str | None = None,
    limit: int = 10,
    http: httpx.AsyncClient | None = None,
) -> list[dict[str, Any]]:
    """Active documents matching ``query``, best first, each with its score and a snippet around the hits.

    Without an embedding provider the score is the full-text rank (BM25, the same on both databases). With
    one, it is the blend of :func:`souk.commerce.embeddings.blend`, in [0, 1], and documents that share no word with
    the query but mean the same can be found.
    """
    stmt = select(KnowledgeBase).where(KnowledgeBase.is_active.is_(True))
    if category is not None:
        stmt = stmt.where(KnowledgeBase.category == category)
    provider = await embeddings.provider_of(session)
    query_vector = await embeddings.try_embed(http, provider, query) if provider else None
    if provider is None or query_vector is None:
        found = await search_documents(session, stmt, query, limit)
    else:
        pool = max(limit * 3, 30)
        text_hits = await search_documents(session, stmt, query, pool)
        vector_hits = await _nearest(session, stmt, query_vector, provider.model, pool)
        found = embeddings.blend(text_hits, vector_hits, query_vector, provider.model, limit)
    return [{"document": doc, "score": round(s, 6), "snippet": snippet(doc.content, query)} for doc, s in found]


async def _nearest(
    session: AsyncSession, stmt: Select[Any], vector: list[float], model: str, limit: int
) -> list[tuple[KnowledgeBase, float]]:
    """The documents of ``stmt`` whose vectors (of ``model``) are nearest ``vector``, with their cosine similarity.

    PostgreSQL orders by pgvector's cosine distance; SQLite compares the newest documents' vectors in Python.
    """
    stmt = stmt.where(KnowledgeBase.embedding.is_not(None), KnowledgeBase.embedding_model == model)
    if session.get_bind().dialect.name == "postgresql":
        query_vector = literal(vector, KnowledgeBase.embedding.type)
        distance = KnowledgeBase.embedding.op("<=>", return_type=Float)(query_vector)
        rows = (
            await session.execute(
                stmt.add_columns(distance)
                .where(func.vector_dims(KnowledgeBase.embedding) == len(vector))
                .order_by(distance)
                .limit(limit)
            )
        ).all()
        return [(doc, 1.0 - float(d)) for doc, d in rows]
    docs = (
        await session.scalars(stmt.order_by(KnowledgeBase.updated_at.desc()).limit(embeddings.SQLITE_CANDIDATES))
    ).all()
    scored = [(doc, embeddings.cosine(vector, doc.embedding or [])) for doc in docs]
    scored.sort(key=lambda ds: -ds[1])
    return scored[:limit]


async def import_documents(
    session: AsyncSession, tenant_id: uuid.UUID, data: bytes, fmt: str, *, http: httpx.AsyncClient | None = None
) -> Report:
    """Upsert documents by ``doc_id`` from a Markdown, CSV or JSON file; bad rows are reported, good rows kept."""
    rows = read_markdown(data) if fmt == "md" else read_rows(data, fmt)
    report = Report()
    for number, row in enumerate(rows, start=1):
        if "tags" in row:
            row["tags"] = split_list(row["tags"])
        try:
            doc_in = DocumentIn.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "row"
                report.errors.append(RowError(number, where, err["msg"]))
            continue
        values = doc_in.model_dump(exclude_unset=True)
        if await _by_doc_id(session, doc_in.doc_id) is None:
            await create_document(session, tenant_id, values, http=http)
            report.created += 1
        else:
            await update_document(session, doc_in.doc_id, values, http=http)
            report.updated += 1
    return report
